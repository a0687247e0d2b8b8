#!/usr/bin/env bash
# Start a local apt cache (apt-cacher-ng on port 3142) shared by the sandbox
# and Molecule containers; they find it on their network gateway through
# images/systemd/apt-proxy-detect.sh and go direct when it does not answer.
# Optional: where it cannot be installed (not root, not Debian) this says so
# in one line and the containers download packages themselves.
set -euo pipefail
log() { printf '[apt-cache] %s\n' "$*"; }

port=3142
answers() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; }

if [ "$(id -u)" -ne 0 ] || [ ! -r /etc/debian_version ]; then
  answers || log "no apt cache on port $port (optional: install apt-cacher-ng to speed up container builds)"
  exit 0
fi
if [ ! -x /usr/sbin/apt-cacher-ng ]; then
  log "installing apt-cacher-ng"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends apt-cacher-ng >/dev/null \
    || { log "could not install apt-cacher-ng; containers download packages directly"; exit 0; }
fi

# apt-cacher-ng fetches Debian packages from the mirrors in backends_debian,
# falling back to ftp.debian.org. Point it at the mirror this machine's apt
# already uses, which is known to be reachable.
mirror="$(grep -rhoE '(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
          | awk '{print $2}' | head -n1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
mirror="${mirror%/}/"
restart=false
if [ "$(grep -v '^#' /etc/apt-cacher-ng/backends_debian 2>/dev/null | tr -d '[:space:]')" != "$mirror" ]; then
  printf '# Written by opsbook.stack scripts/ensure-apt-cache.sh: the mirror of this machine.\n%s\n' "$mirror" \
    > /etc/apt-cacher-ng/backends_debian
  restart=true
fi

# The daemon runs as apt-cacher-ng; keep its cache writable for it.
if id apt-cacher-ng >/dev/null 2>&1 && [ -d /var/cache/apt-cacher-ng ] \
   && [ -n "$(find /var/cache/apt-cacher-ng ! -user apt-cacher-ng -print -quit 2>/dev/null)" ]; then
  chown -R apt-cacher-ng:apt-cacher-ng /var/cache/apt-cacher-ng
fi

if answers && [ "$restart" = false ]; then
  exit 0
fi
if [ -d /run/systemd/system ]; then
  systemctl restart apt-cacher-ng || true
else
  /etc/init.d/apt-cacher-ng stop >/dev/null 2>&1 || true
  pkill -x apt-cacher-ng 2>/dev/null || true
  /etc/init.d/apt-cacher-ng start >/dev/null 2>&1 || true
fi
for _ in $(seq 1 20); do
  if answers; then
    log "apt cache answers on port $port (backend $mirror)"
    exit 0
  fi
  sleep 0.5
done
log "apt-cacher-ng did not start; containers download packages directly"
