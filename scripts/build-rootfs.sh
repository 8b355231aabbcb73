#!/usr/bin/env bash
# Build (once) and cache the arm64 Debian userland that stands in for a Raspberry Pi in the tests:
# aarch64 Python 3.11 with the aarch64 wheels of numpy, onnxruntime and ai-edge-litert, run on this
# x86-64 host through qemu-user + binfmt_misc.
#
#   bash scripts/build-rootfs.sh        # prints the rootfs directory on stdout
#
# Cache: $EDGEBENCH_ROOTFS_CACHE (default ~/.cache/edgebench/rootfs) holds rootfs-<key>.tar and its
# extracted copy <key>/, where <key> is the hash of this script: edit the script, get a new rootfs.
# Needs root (chroot, device nodes) and the packages mmdebstrap, qemu-user-static, arch-test.
set -euo pipefail

SUITE=bookworm
MIRROR=${EDGEBENCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-pip,ca-certificates,procps,coreutils,util-linux
PIP_PINS="numpy==2.4.6 onnxruntime==1.32.0 ai-edge-litert==2.3.0"

here=$(cd "$(dirname "$0")" && pwd)
key=$(sha256sum "$here/build-rootfs.sh" | cut -c1-16)
cache=${EDGEBENCH_ROOTFS_CACHE:-$HOME/.cache/edgebench/rootfs}
target="$cache/$key"
tarball="$cache/rootfs-$key.tar"

log() { echo "build-rootfs: $*" >&2; }

if [ -f "$target/.edgebench-rootfs" ]; then
    echo "$target"
    exit 0
fi
[ "$(id -u)" = 0 ] || { log "needs root (chroot and device nodes)"; exit 1; }
bash "$here/binfmt-aarch64.sh"

mkdir -p "$cache"
chmod 755 "$cache"  # sshd's ChrootDirectory wants every parent root-owned and not group/world-writable
if [ ! -f "$tarball" ]; then
    started=$(date +%s)
    log "building $tarball (mmdebstrap $SUITE arm64 + pip $PIP_PINS)"
    wheels=$(mktemp -d)
    partial="$cache/partial-$key.tar"
    trap 'rm -rf "$wheels" "$partial"' EXIT
    # The aarch64 wheels are fetched by the host's pip (fast, and it knows the host's TLS set-up);
    # pip inside the rootfs then installs them under qemu with --no-index.
    tags=""
    for v in 17 24 27 28 31 34 35 36; do tags="$tags --platform manylinux_2_${v}_aarch64"; done
    python3 -m pip download --quiet --disable-pip-version-check --no-cache-dir --only-binary=:all: \
        $tags --platform manylinux2014_aarch64 --platform any --python-version 3.11 --implementation cp \
        --abi cp311 --abi abi3 --abi none -d "$wheels" $PIP_PINS >&2
    # /sys stays unmounted (DESIGN: don't mount /sys into it); dpkg skips fsync, docs and man pages.
    mmdebstrap --arch=arm64 --variant=minbase --include="$PACKAGES" \
        --skip=chroot/mount/sys \
        --aptopt='Acquire::Languages "none"' \
        --dpkgopt='force-unsafe-io' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --customize-hook="mkdir -p \"\$1/tmp/wheels\" && cp \"$wheels\"/*.whl \"\$1/tmp/wheels/\"" \
        --customize-hook="chroot \"\$1\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            python3 -m pip install --quiet --no-index --find-links /tmp/wheels --no-cache-dir \
            --break-system-packages --no-warn-script-location --root-user-action=ignore $PIP_PINS" \
        --customize-hook='rm -rf "$1/tmp/wheels"' \
        --customize-hook='mkdir -p "$1/data/local/tmp" "$1/sdcard" "$1/system/bin" && chmod 1777 "$1/data/local/tmp"' \
        --customize-hook='echo edgebench-rpi > "$1/etc/hostname"' \
        "$SUITE" "$partial" "$MIRROR" >&2
    mv "$partial" "$tarball"
    rm -rf "$wheels"
    trap - EXIT
    log "built in $(( $(date +%s) - started )) s"
fi
rm -rf "$target.part"
mkdir -p "$target.part"
tar -C "$target.part" -xf "$tarball"
chmod 755 "$target.part"
touch "$target.part/.edgebench-rootfs"
rm -rf "$target"
mv "$target.part" "$target"
# older keys are dead weight (each is a few hundred MB)
for old in "$cache"/rootfs-*.tar; do
    [ "$old" = "$tarball" ] || rm -f "$old"
done
for stamp in "$cache"/*/.edgebench-rootfs; do  # only folders this script made
    [ -e "$stamp" ] || continue
    [ "$(dirname "$stamp")" = "$target" ] || rm -rf "$(dirname "$stamp")"
done
echo "$target"
