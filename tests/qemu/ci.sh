#!/usr/bin/env bash
# The guest stage of scripts/test.sh: builds pkttrace and the live tests on
# the host, then runs them in Debian's stock kernels under QEMU, where
# fentry, kprobes and modules exist (the host kernel has tracepoints only):
# `pkttrace doctor`, the live_host tests, the `guest`, `oracle` (call trees
# against ftrace's function_graph) and `tdma` tests (those
# are #[ignore]d on the host, so they run here with --include-ignored; `tdma`
# loads the sch_tdma module built here, with BTF, for that kernel) and tdmactl's
# agent_live on the real qdisc. Each kernel (6.1, then 6.12; see kernels.sh)
# gets ONE boot running all of them, and its own report: a header line, the
# `guest: PASS|FAIL [VERSION] CMD` lines of run.sh, and a closing line.
#
#   tests/qemu/ci.sh [--kernel SERIES]... [--only TARGET[:FILTER]]... [--repeat N] [RUN.SH ARGS]...
#
#   --kernel SERIES         boot only these (6.1, 6.12; repeatable; default: all)
#   --only TARGET[:FILTER]  run only this target (doctor, live_host, guest, oracle,
#                           tdma, agent_live), its tests limited by a libtest name
#                           FILTER (repeatable)
#   --repeat N              run each command N times in the same boot, and
#                           print how many of the N passed
#   anything else goes to run.sh (e.g. --timeout 3600, --verbose)
#
# e.g. tests/qemu/ci.sh --kernel 6.1 --only tdma --repeat 10 --timeout 3000
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/qemu/kernels.sh
. tests/qemu/kernels.sh

usage() {
  printf 'qemu: %s (see the head of %s)\n' "$*" "$0" >&2
  exit 2
}
targets_all=(doctor live_host guest oracle tdma agent_live)
series=()
only=()
repeat=1
run_args=()
while (($#)); do
  case $1 in
  --kernel)
    (($# >= 2)) || usage "--kernel needs a series"
    series+=("$2")
    shift 2
    ;;
  --only)
    (($# >= 2)) || usage "--only needs a target"
    [[ " ${targets_all[*]} " == *" ${2%%:*} "* ]] || usage "unknown target ${2%%:*} (known: ${targets_all[*]})"
    only+=("$2")
    shift 2
    ;;
  --repeat)
    [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage "--repeat needs a positive number"
    repeat=$2
    shift 2
    ;;
  *)
    run_args+=("$1")
    shift
    ;;
  esac
done
((${#series[@]})) || series=("${GUEST_KERNELS[@]}")
if ! ((${#only[@]})); then
  only=("${targets_all[@]}")
fi

# Each series to its kernel version, all checked before anything is built.
declare -A kver_of=()
for s in "${series[@]}"; do
  kver_of[$s]=$(guest_kernel "$s" headers) || exit 1
done

echo "== guest: build pkttrace, tdmactl and the live tests" >&2
cargo build -p tracer -p tdmactl -p pkttrace-tests --bins
# Test binaries have a hash in their names: ask cargo (one JSON object per
# line; `executable` is set on the artifact of each test target).
artifacts=$(cargo test -p pkttrace-tests -p tdmactl --no-run --message-format=json | grep '"reason":"compiler-artifact"')
test_binary() { # TARGET-NAME -> path of its test executable, or an error
  local t
  t=$(grep -F "\"name\":\"$1\"" <<<"$artifacts" | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1)
  [[ -x $t ]] || {
    echo "qemu: error: cargo reported no $1 test binary" >&2
    return 1
  }
  echo "$t"
}

# sch_tdma for each kernel, each in its own copy of the sources under
# target/sch_tdma/VERSION (the tests take its path from $SCH_TDMA_KO): the
# in-tree tdma-qdisc/module/sch_tdma.ko stays as scripts/test.sh built it.
declare -A ko_of=()
for s in "${series[@]}"; do
  kver=${kver_of[$s]}
  dir=$PWD/target/sch_tdma/$kver
  # From scratch (a few seconds), and the sources only: an in-tree build
  # leaves sch_tdma.mod.c, generated for its kernel (symbol CRCs), and a copy
  # of it in another kernel's build made a module that kernel refused
  # ("Invalid module format") while kbuild saw nothing to redo.
  rm -rf "$dir"
  mkdir -p "$dir"
  for f in tdma-qdisc/module/{Makefile,*.c,*.h}; do
    [[ $f == *.mod.c ]] || cp "$f" "$dir/"
  done
  echo "== guest: build sch_tdma for $kver" >&2
  # With BTF (so fentry can name its functions): kbuild makes it only from
  # a vmlinux in the build directory, which Debian's 6.1 headers lack;
  # btf-kdir.sh gives them one, taken from the kernel the guest boots.
  kdir=$(tdma-qdisc/module/btf-kdir.sh "$kver" "$PWD/target/sch_tdma/kdir-$kver") || exit 1
  make -s -C "$dir" KDIR="$kdir"
  magic=$(modinfo -F vermagic "$dir/sch_tdma.ko")
  [[ $magic == "$kver "* ]] || {
    echo "qemu: error: $dir/sch_tdma.ko is for ${magic%% *}, not $kver" >&2
    exit 1
  }
  readelf -S -W "$dir/sch_tdma.ko" | grep -q ' \.BTF ' || {
    echo "qemu: error: $dir/sch_tdma.ko has no BTF (built against $kdir)" >&2
    exit 1
  }
  ko_of[$s]=$dir/sch_tdma.ko
done

bin=$PWD/target/debug/pkttrace
# guest_commands KO -> the commands of one boot, one per line, each N times.
guest_commands() {
  local ko=$1 o target filter t cmd i
  for o in "${only[@]}"; do
    target=${o%%:*}
    filter=
    [[ $o != *:* ]] || filter=${o#*:}
    # --test-threads=1: each test runs its own tracer, and the guest has only
    # two emulated CPUs; one at a time keeps each test well inside its timeouts.
    case $target in
    doctor) printf -v cmd '%q doctor' "$bin" ;;
    live_host)
      t=$(test_binary live_host) || return 1
      printf -v cmd 'PKTTRACE_BIN=%q %q --test-threads=1' "$bin" "$t"
      ;;
    guest | oracle | tdma)
      t=$(test_binary "$target") || return 1
      printf -v cmd 'PKTTRACE_BIN=%q SCH_TDMA_KO=%q %q --include-ignored --test-threads=1' "$bin" "$ko" "$t"
      ;;
    agent_live)
      # The agents of tdmactl driving the real qdisc (on the host they dry-run).
      t=$(test_binary agent_live) || return 1
      printf -v cmd 'SCH_TDMA_KO=%q %q --include-ignored' "$ko" "$t"
      [[ -n $filter ]] || filter=agents_drive_sch_tdma_through_membership_changes
      ;;
    esac
    [[ -z $filter || $target == doctor ]] || printf -v cmd '%s %q' "$cmd" "$filter"
    for ((i = 0; i < repeat; i++)); do
      printf '%s\n' "$cmd"
    done
  done
}

failed=()
for s in "${series[@]}"; do
  kver=${kver_of[$s]}
  list=$(guest_commands "${ko_of[$s]}") || exit 1
  mapfile -t lines <<<"$list"
  cmds=()
  for cmd in "${lines[@]}"; do
    cmds+=(-c "$cmd")
  done
  echo "===== guest $s: Debian kernel $kver: doctor and live tests under QEMU (${#lines[@]} command(s))"
  out=$(mktemp)
  started=$SECONDS
  # Under TCG the guest kernel itself sometimes dies while it patches its
  # own code (attaching a tracepoint or trampoline turns a 5-byte nop into a
  # jump through an int3; another vCPU executing it then traps: "Oops:
  # int3" at a `0f 1f 44 00 00`, seen twice in about a dozen boots of 6.12,
  # never on hardware). That is the emulator, not a test: boot once more,
  # and say so. Any other failure stands.
  for attempt in 1 2; do
    rc=0
    # The default timeout first, so that one given in the arguments wins.
    tests/qemu/run.sh --timeout 1800 --kernel "$kver" "${run_args[@]}" "${cmds[@]}" | tee "$out" || rc=$?
    if ((rc == 0 || attempt == 2)) || ! grep -q 'Oops: int3' "$out"; then
      break
    fi
    echo "===== guest $s ($kver): the guest kernel crashed patching its own code under TCG (Oops: int3); booting it again"
  done
  if ((repeat > 1)); then
    while IFS= read -r cmd; do
      passed=$(grep -cxF "guest: PASS [$kver] $cmd" "$out" || true)
      echo "guest: repeat [$kver] $passed/$repeat passed: $cmd"
    done < <(printf '%s\n' "${lines[@]}" | awk '!seen[$0]++')
  fi
  rm -f "$out"
  if ((rc == 0)); then
    echo "===== guest $s ($kver): PASS in $((SECONDS - started))s"
  else
    echo "===== guest $s ($kver): FAIL in $((SECONDS - started))s"
    failed+=("$s")
  fi
done
((${#failed[@]} == 0)) || {
  echo "qemu: error: the guest stage failed on ${failed[*]}" >&2
  exit 1
}
