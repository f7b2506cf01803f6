#!/usr/bin/env bash
# Builds pkttrace and runs its demo: a real trace of TCP and UDP between two
# throwaway network namespaces. Needs root (BPF and namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p tracer
exec target/release/pkttrace demo "$@"
