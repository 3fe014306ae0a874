#!/usr/bin/env bash
# Build the Debian package dist/njs-media-edge_<version>_all.deb with Debian's
# own dpkg-deb, from what `npm run build` made: the njs bundles and the
# `media-edge` command, the nginx templates, the settings reference, and an
# example settings file for /etc/media-edge/ (a conffile). It depends on
# Debian's nginx and njs modules and on nodejs for the command; it changes no
# file of nginx's (`media-edge install` prints the include lines to add).
# Usage: packaging/build-deb.sh   (prints the path of the package)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$repo"
for f in dist/cli.mjs dist/media-edge-http.js dist/media-edge-viewer.js dist/media-edge-space.js dist/media-edge-stream.js dist/media-edge-status.html; do
  [ -s "$f" ] || { echo "$f missing: run 'npm run build' first" >&2; exit 1; }
done
version=$(node -p 'require("./package.json").version')
out="dist/njs-media-edge_${version}_all.deb"
root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT

share="$root/usr/share/media-edge"
install -d "$share/dist" "$share/bin" "$share/nginx/examples" "$share/docs" \
  "$root/usr/bin" "$root/etc/media-edge" "$root/usr/share/doc/njs-media-edge" "$root/DEBIAN"
install -m 0644 dist/cli.mjs dist/media-edge-http.js dist/media-edge-viewer.js dist/media-edge-space.js dist/media-edge-stream.js dist/media-edge-status.html "$share/dist/"
install -m 0755 bin/media-edge.mjs "$share/bin/"
install -m 0644 nginx/*.conf "$share/nginx/"
install -m 0644 nginx/examples/* "$share/nginx/examples/"
install -m 0644 docs/settings.md "$share/docs/"
# The version (media_edge_build_info) is read from it.
install -m 0644 package.json "$share/"
ln -s ../share/media-edge/bin/media-edge.mjs "$root/usr/bin/media-edge"
# 0640: the settings hold secrets once edited (only root's media-edge install reads them).
install -m 0640 nginx/examples/edge.json "$root/etc/media-edge/edge.json"
install -m 0644 packaging/deb/copyright "$root/usr/share/doc/njs-media-edge/copyright"
install -m 0644 README.md "$root/usr/share/doc/njs-media-edge/README.md"

install -m 0644 packaging/deb/conffiles "$root/DEBIAN/conffiles"
install -m 0755 packaging/deb/postrm "$root/DEBIAN/postrm"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/deb/control > "$root/DEBIAN/control"

dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
