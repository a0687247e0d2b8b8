#!/usr/bin/env bash
# Build the sandbox / molecule host images opsbook/debian-systemd:<codename>.
# Base image: a local debian:<codename> image, else a pull, else a minimal
# debootstrap of the Debian mirror this machine's apt already uses.
# Usage: scripts/build-images.sh [bookworm] [trixie]
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
log() { printf '[build-images] %s\n' "$*"; }
die() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }

repo="${OPSBOOK_IMAGE_REPO:-opsbook/debian-systemd}"
mirror="${OPSBOOK_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(grep -rhoE '(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
            | awk '{print $2}' | head -n1 || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi
ca_bundle="${OPSBOOK_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
[ -r "$ca_bundle" ] || die "CA bundle $ca_bundle not readable; set OPSBOOK_CA_BUNDLE to your control node's bundle"

codenames=("$@")
[ "${#codenames[@]}" -gt 0 ] || codenames=(bookworm)

# The build context's hash labels the image, so a changed Dockerfile rebuilds
# and an unchanged one is reused (make demo twice is fast).
ctx_hash="$( (cat "$here"/images/systemd/*; cat "$ca_bundle") | sha256sum | cut -c1-16)"

base_image() {
  local codename="$1" base="debian:$1" built="opsbook/debian-base:$1"
  if docker image inspect "$base" >/dev/null 2>&1; then echo "$base"; return; fi
  if docker image inspect "$built" >/dev/null 2>&1; then echo "$built"; return; fi
  if timeout 120 docker pull -q "$base" >/dev/null 2>&1; then echo "$base"; return; fi
  command -v debootstrap >/dev/null 2>&1 || {
    [ "$(id -u)" -eq 0 ] || die "cannot pull $base and debootstrap is missing; install debootstrap (root) or make $base available"
    log "installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  [ "$(id -u)" -eq 0 ] || die "cannot pull $base; building it with debootstrap needs root"
  local dir; dir="$(mktemp -d /var/tmp/opsbook-debootstrap.XXXXXX)"
  log "building $built with debootstrap from $mirror (about 30 s)" >&2
  if ! debootstrap --variant=minbase "$codename" "$dir" "$mirror" >"$dir.log" 2>&1; then
    tail -n 20 "$dir.log" >&2; rm -rf "$dir"
    die "debootstrap of $codename from $mirror failed (log above)"
  fi
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  if ! tar -C "$dir" -c . | docker import - "$built" >/dev/null; then
    rm -rf "$dir" "$dir.log"
    die "docker import of $built failed"
  fi
  rm -rf "$dir" "$dir.log"
  echo "$built"
}

for codename in "${codenames[@]}"; do
  case "$codename" in bookworm|trixie) ;; *) die "unsupported Debian codename '$codename' (use bookworm or trixie)";; esac
  image="$repo:$codename"
  have="$(docker image inspect -f '{{ index .Config.Labels "opsbook.context" }}' "$image" 2>/dev/null || true)"
  if [ "$have" = "$ctx_hash" ]; then
    log "$image is up to date"
    continue
  fi
  base="$(base_image "$codename")" || exit 1
  ctx="$(mktemp -d)"
  cp "$here"/images/systemd/* "$ctx"/
  cp "$ca_bundle" "$ctx/ca-certificates.crt"
  log "building $image from $base"
  if ! docker build -q --network host --build-arg "BASE_IMAGE=$base" \
        --label "opsbook.context=$ctx_hash" -t "$image" "$ctx" >"$ctx/build.log" 2>&1; then
    tail -n 30 "$ctx/build.log" >&2; rm -rf "$ctx"
    die "docker build of $image failed (log above)"
  fi
  rm -rf "$ctx"
  log "built $image"
done
