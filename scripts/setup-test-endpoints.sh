#!/usr/bin/env bash
# Install and prepare what the remote-device tests run against (idempotent; CI calls it every time):
#   adb (the real client) . OpenSSH server + client . socat . qemu-user-static + binfmt_misc
#   . mmdebstrap . the cached arm64 rootfs (scripts/build-rootfs.sh, ~4 min the first time).
# Without root nothing is installed: tests that need a missing piece skip and say why.
# EDGEBENCH_SKIP_ROOTFS=1 skips the rootfs (the rpi-test device then skips).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "setup-test-endpoints: $*" >&2; }
started=$(date +%s)

# command -> Debian package
declare -A wanted=(
    [adb]=adb [ssh]=openssh-client [sftp]=openssh-client [/usr/sbin/sshd]=openssh-server
    [ssh-keygen]=openssh-client [socat]=socat [qemu-aarch64-static]=qemu-user-static
    [mmdebstrap]=mmdebstrap [arch-test]=arch-test [unshare]=util-linux [ip]=iproute2
)
missing=()
for cmd in "${!wanted[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || missing+=("${wanted[$cmd]}")
done
if [ "$(id -u)" != 0 ]; then
    [ ${#missing[@]} -eq 0 ] || log "not root: cannot install ${missing[*]}; the tests needing them will skip"
    exit 0
fi
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p /run/sshd
bash "$here/binfmt-aarch64.sh"

if [ "${EDGEBENCH_SKIP_ROOTFS:-}" = 1 ]; then
    log "EDGEBENCH_SKIP_ROOTFS=1: no arm64 rootfs"
else
    rootfs=$(bash "$here/build-rootfs.sh")
    # the stand-in must really run aarch64 code
    arch=$(chroot "$rootfs" /usr/bin/uname -m)
    [ "$arch" = aarch64 ] || { log "the rootfs runs as $arch, not aarch64"; exit 1; }
    log "arm64 rootfs ready: $rootfs"
fi
log "done in $(( $(date +%s) - started )) s"
