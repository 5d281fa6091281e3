#!/usr/bin/env bash
# Provisions everything rep's tests and examples need on a Debian machine, idempotently:
#   - packages: docker.io, docker-registry, podman, debootstrap, busybox-static, graphviz;
#     skopeo and umoci (independent readers of the OCI archive rep publishes);
#     uidmap and slirp4netns (rootless podman: newuidmap/newgidmap, user-mode networking)
#   - a Docker engine (dockerd --iptables=false) and a registry on 127.0.0.1:5000
#   - base images made locally (nothing is pulled): busybox:latest from busybox-static,
#     debian:bookworm-slim from debootstrap --variant=minbase, in Docker and in Podman.
# Run as root. Safe to run again: each part is skipped when already in place.
set -euo pipefail

STATE=${REP_PROVISION_DIR:-/var/lib/rep-provision}
DOCKER=${REP_DOCKER:-/usr/bin/docker}
REGISTRY_ADDR=127.0.0.1:5000
MIRROR=${REP_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
mkdir -p "$STATE"

say() { printf 'provision: %s\n' "$*" >&2; }

need_pkgs=()
for p in docker.io docker-registry podman debootstrap busybox-static graphviz curl redis-server skopeo umoci uidmap slirp4netns; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- Docker engine -----------------------------------------------------------
if ! "$DOCKER" info >/dev/null 2>&1; then
  say "starting dockerd"
  mkdir -p /var/log
  setsid nohup dockerd --iptables=false >/var/log/rep-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    "$DOCKER" info >/dev/null 2>&1 && break
    sleep 0.5
  done
  "$DOCKER" info >/dev/null 2>&1 || { say "dockerd did not start; see /var/log/rep-dockerd.log"; tail -n 20 /var/log/rep-dockerd.log >&2; exit 1; }
fi

# --- registry on 127.0.0.1:5000 ---------------------------------------------
if ! curl -sf "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
  say "starting registry on $REGISTRY_ADDR"
  mkdir -p "$STATE/registry"
  cat > "$STATE/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
YAML
  setsid nohup docker-registry serve "$STATE/registry.yml" >/var/log/rep-registry.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    curl -sf "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -sf "http://$REGISTRY_ADDR/v2/" >/dev/null || { say "registry did not start; see /var/log/rep-registry.log"; exit 1; }
fi

# --- base image tarballs (made once, kept in $STATE) ------------------------
busybox_tar=$STATE/busybox-rootfs.tar
if [ ! -s "$busybox_tar" ]; then
  say "making busybox rootfs"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/usr/bin" "$root/usr/sbin" "$root/sbin"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
  tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$root" -cf "$busybox_tar.tmp" .
  mv "$busybox_tar.tmp" "$busybox_tar"
  rm -rf "$root"
fi

debian_tar=$STATE/debian-bookworm-rootfs.tar
if [ ! -s "$debian_tar" ]; then
  say "debootstrap bookworm (minbase) from $MIRROR"
  root=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$STATE/debootstrap.log" 2>&1 || { tail -n 20 "$STATE/debootstrap.log" >&2; exit 1; }
  # the same sources and slimming a -slim image has
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  tar --numeric-owner -C "$root" -cf "$debian_tar.tmp" .
  mv "$debian_tar.tmp" "$debian_tar"
  rm -rf "$root"
fi

# --- images in each engine -----------------------------------------------------
import_docker() { # tag tar cmd
  if ! "$DOCKER" image inspect "$1" >/dev/null 2>&1; then
    say "docker import $1"
    "$DOCKER" import --change "CMD [\"$3\"]" "$2" "$1" >/dev/null
  fi
}
import_podman() {
  if ! podman image exists "$1" 2>/dev/null; then
    say "podman import $1"
    podman import -q --change "CMD [\"$3\"]" "$2" "$1" >/dev/null
  fi
}
import_docker busybox:latest "$busybox_tar" sh
import_docker debian:bookworm-slim "$debian_tar" bash
if command -v podman >/dev/null; then
  import_podman docker.io/library/busybox:latest "$busybox_tar" sh
  import_podman docker.io/library/debian:bookworm-slim "$debian_tar" bash
fi
say "ready: $("$DOCKER" version --format 'docker {{.Server.Version}}'), registry $REGISTRY_ADDR, images busybox:latest debian:bookworm-slim"
