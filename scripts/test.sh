#!/usr/bin/env bash
# The whole test suite: formatting and lints, unit tests, live tests on this
# kernel (tracepoints, real traffic between test-made namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Every test runner's output also goes here, to add up at the end.
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

echo "== format and lints" >&2
cargo fmt --all -- --check
cargo clippy --workspace --exclude tracer-ebpf --all-targets -- -D warnings

echo "== build" >&2
cargo build -p tracer
# sch_tdma for the QEMU guest's kernel (its DWARF is also a symbols test
# fixture); tests/qemu/ci.sh picks the same kernel.
kver=$(find /boot -maxdepth 1 -name 'vmlinuz-*-amd64' | sort -V | sed 's|/boot/vmlinuz-||' |
  while read -r v; do [[ -d /lib/modules/$v/build ]] && echo "$v"; done | tail -n1)
if [[ -n $kver ]]; then
  make -s -C tdma-qdisc/module KDIR="/lib/modules/$kver/build"
fi

echo "== unit and live tests (host kernel: $(uname -r))" >&2
PKTTRACE_BIN="$PWD/target/debug/pkttrace" cargo test --workspace --exclude tracer-ebpf 2>&1 | tee -a "$LOG"
tests/qemu/ci.sh 2>&1 | tee -a "$LOG"

# One line for the whole suite: host and guest runs added up (the guest
# tests show as ignored on the host and as passed in the guest).
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "suite: %d passed, %d failed\n", p, f }' "$LOG"
