#!/usr/bin/env bash
# Installs everything pkttrace needs to build and test on a fresh Debian machine.
# Idempotent: each step checks first and does nothing when already done.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

# Debian packages: traffic and tracing tools for the live tests, benchmarks and
# fixture recordings (nftables and ethtool: tests/data/record.sh packets;
# tcpdump: the reference pkttrace's packets and ARP descriptions are checked
# against),
# and the QEMU guests: Debian's stock kernels with fentry/kprobes/modules, 6.1
# (linux-image-amd64) and 6.12 (FPROBE, so kprobe-multi), each with its
# headers to build sch_tdma against, and pahole to give it BTF for them.
APT_PACKAGES=(
  iproute2 iputils-ping netcat-openbsd iperf3 tmux bpftrace bpftool kmod nftables ethtool tcpdump
  qemu-system-x86 busybox-static xz-utils zstd binutils gcc make libc6-dev pahole
  linux-image-amd64 linux-headers-amd64 linux-image-6.12-amd64 linux-headers-6.12-amd64
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The BPF crate is built with nightly's build-std, which needs rust-src.
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  log "adding rust-src to the nightly toolchain"
  rustup component add rust-src --toolchain nightly
fi

# bpf-linker must link against the LLVM that ships inside the nightly toolchain;
# crates.io's default feature wants a system LLVM this machine doesn't have.
SYSROOT=$(rustc +nightly --print sysroot)
llvm_sos=("$SYSROOT"/lib/libLLVM.so.*-rust-*)
LLVM_SO=${llvm_sos[0]}
[[ -e $LLVM_SO ]] || { log "error: no libLLVM.so.*-rust-* in $SYSROOT/lib"; exit 1; }
LLVM_MAJOR=$(rustc +nightly -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
LLVM_PREFIX=/opt/rust-llvm
mkdir -p "$LLVM_PREFIX/lib"
ln -sf "$LLVM_SO" "$LLVM_PREFIX/lib/libLLVM.so"
ln -sf "$LLVM_SO" "$LLVM_PREFIX/lib/"
if ! bpf-linker --version >/dev/null 2>&1; then
  log "building bpf-linker against nightly's LLVM $LLVM_MAJOR (takes ~3 minutes)"
  LLVM_PREFIX=$LLVM_PREFIX cargo +nightly install --locked bpf-linker --version 0.13.0 \
    --no-default-features --features "llvm-$LLVM_MAJOR"
fi

# bpffs for pinning shared maps; tracefs for tracepoint names.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || true
mountpoint -q /sys/kernel/tracing || mount -t tracefs none /sys/kernel/tracing || true
log "ready"
