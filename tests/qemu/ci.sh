#!/usr/bin/env bash
# The guest stage of scripts/test.sh: builds pkttrace and the live tests on
# the host, then runs them in ONE boot of Debian's stock kernel under QEMU,
# where fentry, kprobes and modules exist (the host kernel has tracepoints
# only): `pkttrace doctor`, the live_host tests, and the `guest` tests (those
# are #[ignore]d on the host, so they run here with --include-ignored).
# Extra arguments go to run.sh (e.g. --timeout 3600).
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== guest: build pkttrace and the live tests" >&2
cargo build -p tracer
# Test binaries have a hash in their names: ask cargo (one JSON object per
# line; `executable` is set on the artifact of each test target).
artifacts=$(cargo test -p pkttrace-tests --no-run --message-format=json | grep '"reason":"compiler-artifact"')
test_binary() { # TARGET-NAME -> path of its test executable, or nothing
  grep -F "\"name\":\"$1\"" <<<"$artifacts" | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1
}
live=$(test_binary live_host)
[[ -x $live ]] || {
  echo "qemu: error: cargo reported no live_host test binary" >&2
  exit 1
}
guest=$(test_binary guest)

bin=$PWD/target/debug/pkttrace
cmds=(-c "$(printf '%q doctor' "$bin")")
# --test-threads=1: each test runs its own tracer, and the guest has only two
# emulated CPUs; one at a time keeps each test well inside its timeouts.
cmds+=(-c "$(printf 'PKTTRACE_BIN=%q %q --test-threads=1' "$bin" "$live")")
if [[ -x $guest ]]; then
  cmds+=(-c "$(printf 'PKTTRACE_BIN=%q %q --include-ignored --test-threads=1' "$bin" "$guest")")
fi

echo "== guest: doctor and live tests on Debian's kernel under QEMU" >&2
# The default timeout first, so that one given in "$@" wins.
exec tests/qemu/run.sh --timeout 1800 "$@" "${cmds[@]}"
