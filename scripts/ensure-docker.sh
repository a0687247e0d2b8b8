#!/usr/bin/env bash
# Make sure a Docker engine answers. On Debian as root: install Debian's
# docker.io and start dockerd when none answers. Elsewhere: one clear line.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*"; }
die() { printf '[ensure-docker] ERROR: %s\n' "$*" >&2; exit 1; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    die "no Docker engine answers and dockerd is not installed; install Docker (Debian: 'sudo apt-get install docker.io') or run as root so this script can"
  fi
  if [ ! -r /etc/debian_version ]; then
    die "no Docker engine answers; install and start Docker for your OS (https://docs.docker.com/engine/install/), then rerun"
  fi
  log "installing Debian's docker.io, containerd, runc, iptables"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends docker.io containerd runc iptables >/dev/null
fi

if [ "$(id -u)" -ne 0 ]; then
  die "no Docker engine answers; start it ('sudo systemctl start docker') or add your user to the docker group, then rerun"
fi

# A systemd host starts the service; a container or CI machine without
# systemd as PID 1 gets dockerd started in the background.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl start docker || true
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /var/log/opsbook-dockerd.log)"
  nohup /usr/sbin/dockerd >/var/log/opsbook-dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "Docker engine is up"
    exit 0
  fi
  sleep 0.5
done
die "dockerd did not answer within 30 s; see /var/log/opsbook-dockerd.log"
