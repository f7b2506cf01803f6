#!/usr/bin/env bash
# The guest stage of scripts/test.sh: builds pkttrace and the live tests on
# the host, then runs both in ONE boot of Debian's stock kernel under QEMU,
# where fentry, kprobes and modules exist (the host kernel has tracepoints
# only): `pkttrace doctor`, then the live_host tests against that kernel.
# Extra arguments go to run.sh (e.g. --timeout 1200).
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== guest: build pkttrace and the live tests" >&2
cargo build -p tracer
# The test binary's path has a hash in it: ask cargo (one JSON object per
# line; `executable` is set on the artifact whose target is live_host).
live=$(cargo test -p pkttrace-tests --no-run --message-format=json |
  grep '"reason":"compiler-artifact"' | grep '"name":"live_host"' |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1)
[[ -x $live ]] || {
  echo "qemu: error: cargo reported no live_host test binary" >&2
  exit 1
}

echo "== guest: doctor and live tests on Debian's kernel under QEMU" >&2
bin=$PWD/target/debug/pkttrace
# --test-threads=1: each test runs its own tracer, and the guest has only two
# emulated CPUs; one at a time keeps each test well inside its timeouts.
exec tests/qemu/run.sh "$@" \
  -c "$(printf '%q doctor' "$bin")" \
  -c "$(printf 'PKTTRACE_BIN=%q %q --test-threads=1' "$bin" "$live")"
