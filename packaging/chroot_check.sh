#!/usr/bin/env bash
# Installs the packages into a clean Debian 12 chroot as a user would
# (apt install ./*.deb) and runs them there: the record in packaging/README.md.
# Needs root and Debian's mirror; takes a few minutes (LibTorch and Qt are downloaded).
#
#   bash packaging/chroot_check.sh [CHROOT] [DEB...]
#   defaults: /var/tmp/depthlab-chroot and build/packages/*.deb
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${1:-/var/tmp/depthlab-chroot}"
shift || true
debs=("$@")
[ ${#debs[@]} -gt 0 ] || debs=("$here"/build/packages/*.deb)
mirror=http://deb.debian.org/debian
say() { printf '\033[1m[chroot]\033[0m %s\n' "$*"; }

if [ ! -x "$root/usr/bin/apt-get" ]; then
  say "debootstrap --variant=minbase bookworm $root"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
fi
# As on an installed machine: the point-release updates and security fixes too.
cat >"$root/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

mkdir -p "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
in_root apt-get update -qq
before="$(in_root dpkg-query -W -f '${Package}\n' | wc -l)"
say "packages before: $before"
in_root bash -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/debs/*.deb' >/dev/null
after="$(in_root dpkg-query -W -f '${Package}\n' | wc -l)"
say "packages after: $after ($((after - before)) installed, Recommends included)"
in_root dpkg-query -W -f '${Package} ${Version}\n' dlab depthlab

say "dlab --version: $(in_root dlab --version)"
in_root bash -c 'rm -rf /root/work && mkdir /root/work && cd /root/work && dlab train --preset tiny'
in_root bash -c 'cd /root/work && QT_QPA_PLATFORM=offscreen depthlab --screenshot /root/shots runs/tiny'
mkdir -p "$here/build/chroot-shots"
cp "$root"/root/shots/*.png "$here/build/chroot-shots/"
say "screenshots: $(ls "$here/build/chroot-shots" | tr '\n' ' ') (copied to build/chroot-shots)"
# After the count: minbase has no man-db, and bash-completion is optional.
in_root bash -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db bash-completion' >/dev/null
say "man -w dlab-train: $(in_root man -w dlab-train)"
say "man dlab-serve: $(in_root bash -c 'MANWIDTH=100 man dlab-serve 2>/dev/null | sed -n 4p' | sed 's/^ *//')"
say "completion: $(in_root bash -c 'source /usr/share/bash-completion/bash_completion &&
  source /usr/share/bash-completion/completions/dlab && complete -p dlab')"
say "ok"
