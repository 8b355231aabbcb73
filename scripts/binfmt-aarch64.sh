#!/usr/bin/env bash
# Make the kernel run aarch64 ELF binaries through qemu-aarch64-static (idempotent, needs root).
# The 'F' flag opens the interpreter now, so it also works inside a chroot that lacks it.
set -euo pipefail
dir=/proc/sys/fs/binfmt_misc
if [ ! -e "$dir/register" ]; then
    mount -t binfmt_misc binfmt_misc "$dir"
fi
if [ -e "$dir/qemu-aarch64" ]; then
    grep -q '^enabled' "$dir/qemu-aarch64" && exit 0
    echo 1 > "$dir/qemu-aarch64"
    exit 0
fi
qemu=$(command -v qemu-aarch64-static || true)
[ -n "$qemu" ] || { echo "binfmt-aarch64: qemu-aarch64-static is not installed" >&2; exit 1; }
magic='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
echo ":qemu-aarch64:M::$magic:$mask:$qemu:OCF" > "$dir/register"
