#!/usr/bin/env bash
# Before `vitest run`: make sure the system packages are there (as root on
# Debian/Ubuntu they are installed; otherwise the exact apt-get line is
# printed), and build the container images when a Docker engine answers.
# Without Docker the containerized suite is skipped with a message, unless
# MEDIA_EDGE_REQUIRE_DOCKER=1 (CI), which makes that a failure.
set -eu
cd "$(dirname "$0")/.."
node dist/cli.mjs deps --test
if docker info >/dev/null 2>&1; then
  docker/build-images.sh
elif [ "${MEDIA_EDGE_REQUIRE_DOCKER:-}" = 1 ]; then
  echo "MEDIA_EDGE_REQUIRE_DOCKER=1 but no Docker engine answers (start one with docker/start-dockerd.sh)" >&2
  exit 1
else
  echo "Docker engine not available: the containerized suite (Debian 12/13 nginx) will be skipped." >&2
  echo "  To run it: apt-get install docker.io debootstrap && docker/start-dockerd.sh" >&2
fi
