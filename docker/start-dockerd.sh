#!/usr/bin/env bash
# Start a Docker engine if none answers. No bridge, no iptables: containers use
# host networking only (see docs in README "Containers").
set -eu
if docker info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null || { echo "dockerd missing: apt-get install docker.io" >&2; exit 1; }
mkdir -p /var/log/media-edge
nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/media-edge/dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not start; see /var/log/media-edge/dockerd.log" >&2
tail -n 20 /var/log/media-edge/dockerd.log >&2
exit 1
