#!/usr/bin/env bash
# The whole test suite: formatting and lints, unit tests, live tests on this
# kernel (tracepoints, real traffic between test-made namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== format and lints" >&2
cargo fmt --all -- --check
cargo clippy --workspace --exclude tracer-ebpf --all-targets -- -D warnings

echo "== build" >&2
cargo build -p tracer

echo "== unit and live tests (host kernel: $(uname -r))" >&2
PKTTRACE_BIN="$PWD/target/debug/pkttrace" cargo test --workspace --exclude tracer-ebpf
tests/qemu/ci.sh
