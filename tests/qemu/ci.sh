#!/usr/bin/env bash
# The guest stage of scripts/test.sh: builds pkttrace and the live tests on
# the host, then runs them in ONE boot of Debian's stock kernel under QEMU,
# where fentry, kprobes and modules exist (the host kernel has tracepoints
# only): `pkttrace doctor`, the live_host tests, and the `guest` and `tdma`
# tests (those are #[ignore]d on the host, so they run here with
# --include-ignored; `tdma` loads the sch_tdma module built here).
# Extra arguments go to run.sh (e.g. --timeout 3600).
set -euo pipefail
cd "$(dirname "$0")/../.."

# The guest boots the newest Debian kernel with modules, as run.sh picks it;
# sch_tdma is built against that kernel's headers.
kver=
while IFS= read -r k; do
  v=${k#/boot/vmlinuz-}
  [[ -f /lib/modules/$v/modules.dep && -d /lib/modules/$v/build ]] && kver=$v
done < <(find /boot -maxdepth 1 -name 'vmlinuz-*-amd64' | sort -V)
[[ -n $kver ]] || {
  echo "qemu: error: no Debian kernel with modules and headers: run scripts/setup.sh" >&2
  exit 1
}

echo "== guest: build pkttrace, tdmactl, sch_tdma ($kver) and the live tests" >&2
cargo build -p tracer -p tdmactl -p pkttrace-tests --bins
make -s -C tdma-qdisc/module KDIR="/lib/modules/$kver/build"
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

bin=$PWD/target/debug/pkttrace
cmds=(-c "$(printf '%q doctor' "$bin")")
# --test-threads=1: each test runs its own tracer, and the guest has only two
# emulated CPUs; one at a time keeps each test well inside its timeouts.
cmds+=(-c "$(printf 'PKTTRACE_BIN=%q %q --test-threads=1' "$bin" "$live")")
for target in guest tdma; do
  t=$(test_binary $target)
  [[ -x $t ]] || {
    echo "qemu: error: cargo reported no $target test binary" >&2
    exit 1
  }
  cmds+=(-c "$(printf 'PKTTRACE_BIN=%q %q --include-ignored --test-threads=1' "$bin" "$t")")
done

# The agents of tdmactl driving the real qdisc (on the host they dry-run).
agent_live=$(cargo test -p tdmactl --no-run --message-format=json | grep '"reason":"compiler-artifact"' |
  grep -F '"name":"agent_live"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1)
[[ -x $agent_live ]] || {
  echo "qemu: error: cargo reported no agent_live test binary" >&2
  exit 1
}
cmds+=(-c "$(printf '%q --include-ignored --exact agents_drive_sch_tdma_through_membership_changes' "$agent_live")")

echo "== guest: doctor and live tests on Debian's kernel under QEMU" >&2
# The default timeout first, so that one given in "$@" wins.
exec tests/qemu/run.sh --timeout 1800 --kernel "$kver" "$@" "${cmds[@]}"
