#!/usr/bin/env bash
# Prints a kernel build directory that builds sch_tdma *with* BTF for the
# Debian kernel KVER, to pass to make as KDIR:
#
#   make KDIR="$(tdma-qdisc/module/btf-kdir.sh 6.1.0-56-amd64 /tmp/kdir)"
#
# kbuild gives a module BTF (split BTF: its types on top of the kernel's, so
# it must be made against exactly the running kernel's) only when the build
# directory holds a `vmlinux` to take the kernel's BTF from; otherwise it
# says "Skipping BTF generation ... due to unavailability of vmlinux" and the
# module has no BTF (no fentry on its functions). Debian's 6.12 headers ship
# such a vmlinux (its BTF only): then /lib/modules/KVER/build is printed as
# it is. Debian's 6.1 headers do not: then DIR is made (afresh) into an
# overlay of the build directory, every entry a symlink to the real one, plus
#   vmlinux   an ELF holding the .BTF section of /boot/vmlinuz-KVER, the very
#             image the guest boots, uncompressed here;
#   tools/bpf/resolve_btfids/resolve_btfids
#             if the headers lack it (6.1): a stand-in that accepts a module
#             with no BTF IDs to resolve (no .BTF_ids section: sch_tdma) and
#             refuses any other.
# kbuild then runs pahole itself, with the flags it would use for its own
# modules. Needs pahole (dwarves), objcopy and readelf (binutils), and xz or
# zstd for the image.
set -euo pipefail

die() {
  printf 'btf-kdir: error: %s\n' "$*" >&2
  exit 1
}
(($# == 2)) || {
  printf 'usage: %s KVER DIR (see the head of the script)\n' "$0" >&2
  exit 2
}
kver=$1
out=$2
kdir=/lib/modules/$kver/build
image=/boot/vmlinuz-$kver
[[ -f $kdir/Makefile ]] || die "no headers for $kver in $kdir"
if [[ -f $kdir/vmlinux ]]; then
  echo "$kdir"
  exit 0
fi
[[ -r $image ]] || die "no kernel image $image to take the BTF of $kver from"
for tool in pahole objcopy readelf; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup.sh"
done

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The bzImage's payload, as its boot header gives it: at (setup_sects + 1) *
# 512 + payload_offset, payload_length bytes, the last 4 of which are the
# uncompressed size (not part of the compressed stream).
u_at() { # OFFSET BYTES -> the little-endian unsigned number there
  od -An -tu"$2" -j "$1" -N "$2" "$image" | tr -d ' '
}
[[ $(od -An -c -j $((0x202)) -N 4 "$image" | tr -d ' ') == HdrS ]] ||
  die "$image is not an x86 bzImage"
setup_sects=$(u_at $((0x1f1)) 1)
((setup_sects)) || setup_sects=4
payload_at=$(((setup_sects + 1) * 512 + $(u_at $((0x248)) 4)))
payload_len=$(u_at $((0x24c)) 4)
payload() {
  dd if="$image" iflag=skip_bytes,count_bytes skip="$payload_at" count=$((payload_len - 4)) bs=1M status=none
}
case $(od -An -tx1 -j "$payload_at" -N 4 "$image" | tr -d ' ') in
fd377a58) decompress=(xz -dc) ;;
28b52ffd) decompress=(zstd -qdc) ;;
*) die "$image: the kernel is compressed with neither xz nor zstd" ;;
esac
command -v "${decompress[0]}" >/dev/null || die "${decompress[0]} is missing: run scripts/setup.sh"
payload | "${decompress[@]}" >"$out/vmlinux.full" || die "cannot decompress the kernel in $image"
size=$(u_at $((payload_at + payload_len - 4)) 4)
[[ $(stat -c %s "$out/vmlinux.full") == "$size" ]] || die "$image: the uncompressed kernel is not $size bytes"

# Its BTF alone (the rest is ~60 MB kbuild does not read), as an ELF section.
objcopy -O binary --only-section=.BTF "$out/vmlinux.full" "$out/vmlinux.btf"
rm -f "$out/vmlinux.full"
[[ -s $out/vmlinux.btf ]] || die "the kernel in $image has no .BTF section (CONFIG_DEBUG_INFO_BTF unset?)"
(cd "$out" && objcopy -I binary -O elf64-x86-64 \
  --rename-section .data=.BTF,alloc,load,readonly,data,contents vmlinux.btf vmlinux)
rm -f "$out/vmlinux.btf"

for entry in "$kdir"/* "$kdir"/.[!.]*; do
  [[ -e $entry ]] || continue
  name=${entry##*/}
  [[ $name != tools ]] || continue
  ln -s "$entry" "$out/$name"
done
mkdir -p "$out/tools/bpf/resolve_btfids"
for entry in "$kdir"/tools/*; do
  [[ -e $entry && ${entry##*/} != bpf ]] || continue
  ln -s "$entry" "$out/tools/${entry##*/}"
done
btfids=$kdir/tools/bpf/resolve_btfids/resolve_btfids
if [[ -x $btfids ]]; then
  ln -s "$btfids" "$out/tools/bpf/resolve_btfids/resolve_btfids"
else
  # kbuild runs it as `resolve_btfids -b vmlinux MODULE.ko`.
  cat >"$out/tools/bpf/resolve_btfids/resolve_btfids" <<EOF
#!/bin/sh
# Written by btf-kdir.sh: the headers of $kver ship no resolve_btfids.
for ko; do :; done
if readelf -S -W "\$ko" | grep -q ' \.BTF_ids '; then
  echo "btf-kdir: \$ko has BTF IDs to resolve, and the headers of $kver ship no resolve_btfids" >&2
  exit 1
fi
EOF
  chmod 755 "$out/tools/bpf/resolve_btfids/resolve_btfids"
fi
echo "$out"
