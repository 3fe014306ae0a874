#!/usr/bin/env bash
# Build the edge images for the containerized test suite and for users:
#   media-edge:bookworm  (Debian 12: nginx 1.22.1 + njs 0.7.9)
#   media-edge:trixie    (Debian 13: nginx 1.26.3 + njs 0.8.9)
#   media-edge:sid       (Debian sid: nginx 1.30.x + njs 1.0.x with QuickJS)
# each with the Debian package (packaging/build-deb.sh) installed, and
# media-edge-stock:<suite>, the same stock nginx without it (the drop-in test).
# No registry is reachable here, so base images are made from Debian packages
# with debootstrap and `docker import`d; the rootfs tarballs are cached in
# $MEDIA_EDGE_IMAGE_CACHE so that a machine builds each only once.
# Usage: docker/build-images.sh [bookworm] [trixie] [sid]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# Not /var/cache/media-edge: that is the package's example cache_dir.
cache=${MEDIA_EDGE_IMAGE_CACHE:-/var/cache/media-edge-images}
suites=${*:-bookworm trixie sid}
mkdir -p "$cache"
[ -d "$repo/dist" ] || { echo "run 'npm run build' first" >&2; exit 1; }
deb=$("$repo/packaging/build-deb.sh")

for suite in $suites; do
  base="media-edge-base:$suite"
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    tarball="$cache/rootfs-$suite.tar"
    if [ ! -s "$tarball" ]; then
      command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
      root=$(mktemp -d "$cache/rootfs-$suite.XXXX")
      echo "debootstrap $suite (about a minute)..."
      debootstrap --variant=minbase "$suite" "$root" http://deb.debian.org/debian >"$cache/debootstrap-$suite.log" 2>&1 \
        || { tail -n 20 "$cache/debootstrap-$suite.log" >&2; exit 1; }
      tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
      rm -rf "$root"
    fi
    docker import "$tarball" "$base" >/dev/null
  fi
  echo "building media-edge:$suite"
  # A mirror's sid Release can be past its Valid-Until (sid is a moving
  # snapshot); stable suites carry no expiry, so only sid skips that check.
  apt_opts=""
  [ "$suite" = sid ] && apt_opts="-o Acquire::Check-Valid-Until=false"
  docker build -q --network host --build-arg "BASE=$base" --build-arg "APT_OPTS=$apt_opts" --target stock -t "media-edge-stock:$suite" -f "$here/Dockerfile" "$repo" >/dev/null
  docker build -q --network host --build-arg "BASE=$base" --build-arg "APT_OPTS=$apt_opts" --build-arg "DEB=$deb" --target edge -t "media-edge:$suite" -f "$here/Dockerfile" "$repo" >/dev/null
done
