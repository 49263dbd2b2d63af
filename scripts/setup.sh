#!/usr/bin/env bash
# Idempotent set-up of a Debian/Ubuntu machine for onekit (`make setup`):
#   1. Debian packages that are missing (libvirt, QEMU, MariaDB, Python build deps)
#   2. libvirtd running (systemd when it is the init, else `libvirtd -d`)
#   3. .venv with onekit installed editable, re-done when pyproject.toml changes
#   4. collections/ansible_collections/onekit/cloud -> the repository root
# A second run does nothing and takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  libvirt-daemon-system libvirt-clients libvirt-dev pkg-config qemu-system-x86
  mariadb-server python3-venv python3-dev gcc
  pacemaker corosync pacemaker-cli-utils resource-agents fence-agents
  nginx-light openssl
)

say() { printf 'setup: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else say "needs root for: $*"; exit 1
  fi
}

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

libvirt_up() { virsh -c qemu:///system version >/dev/null 2>&1; }

# Where /dev/kvm is usable by root only (some CI machines), QEMU run as libvirt-qemu makes
# libvirt rebuild its capability cache at every start (~44 s per domain): run it as root.
qemu_as_root_if_needed() {
  [ "$(id -u)" -eq 0 ] && [ -e /dev/kvm ] || return 1
  runuser -u libvirt-qemu -- test -r /dev/kvm -a -w /dev/kvm 2>/dev/null && return 1
  grep -qE '^\s*user\s*=\s*"root"' /etc/libvirt/qemu.conf && return 1
  say "/dev/kvm is root-only here: QEMU domains will run as root (/etc/libvirt/qemu.conf)"
  printf '\n# onekit setup: /dev/kvm is root-only on this machine\nuser = "root"\ngroup = "root"\n' \
    >> /etc/libvirt/qemu.conf
}

start_libvirt() {
  local restart=0
  qemu_as_root_if_needed && restart=1
  if libvirt_up && [ $restart -eq 0 ]; then return; fi
  if [ -d /run/systemd/system ]; then
    as_root systemctl restart libvirtd
  else
    if [ -f /var/run/libvirtd.pid ] && kill -0 "$(cat /var/run/libvirtd.pid)" 2>/dev/null; then
      as_root kill "$(cat /var/run/libvirtd.pid)"; sleep 1
    fi
    pgrep -x virtlogd >/dev/null || as_root virtlogd -d
    as_root libvirtd -d
  fi
  for _ in $(seq 50); do libvirt_up && { say "libvirtd is running"; return; }; sleep 0.2; done
  say "libvirtd did not come up (see journalctl -u libvirtd or /var/log/libvirt)"; exit 1
}

make_venv() {
  local stamp=.venv/.onekit-installed
  [ -x .venv/bin/python ] || { say "creating .venv"; "${PYTHON:-python3}" -m venv .venv; }
  if [ ! -f $stamp ] || [ pyproject.toml -nt $stamp ]; then
    say "installing onekit into .venv (pip install -e '.[test]')"
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
    touch $stamp
  fi
}

link_collection() {
  mkdir -p collections/ansible_collections/onekit
  [ -L collections/ansible_collections/onekit/cloud ] ||
    ln -sfn ../../.. collections/ansible_collections/onekit/cloud
}

install_packages
start_libvirt
link_collection
make_venv
