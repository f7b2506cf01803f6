#!/usr/bin/env bash
# The whole test suite: formatting and lints, unit tests, live tests on this
# kernel (tracepoints, real traffic between test-made namespaces), and the
# guest stage in Debian's 6.1 and 6.12 kernels under QEMU (tests/qemu/ci.sh).
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
# sch_tdma in its own directory, for Debian's 6.1 kernel: its DWARF is a
# symbols test fixture. (tests/qemu/ci.sh builds a copy per guest kernel.)
# shellcheck source=tests/qemu/kernels.sh
. tests/qemu/kernels.sh
kver=$(guest_kernel 6.1 headers)
make -s -C tdma-qdisc/module KDIR="/lib/modules/$kver/build"

echo "== unit and live tests (host kernel: $(uname -r))" >&2
PKTTRACE_BIN="$PWD/target/debug/pkttrace" cargo test --workspace --exclude tracer-ebpf 2>&1 | tee -a "$LOG"
# A failed guest stage still gets its tests counted below.
guest_rc=0
tests/qemu/ci.sh 2>&1 | tee -a "$LOG" || guest_rc=$?

# One line for the whole suite: the host's run and both guests' (6.1 and
# 6.12) added up (the guest tests show as ignored on the host and as passed
# in each guest).
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "suite: %d passed, %d failed\n", p, f }' "$LOG"
exit "$guest_rc"
