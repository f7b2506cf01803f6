#!/usr/bin/env bash
# How long attaching and detaching function probes takes, per way of
# attaching, with bpftrace attaching the same kprobe set in the same boot for
# reference. Needs fentry and kprobes (and kprobe-multi for that row), so it
# is meant for Debian's kernels under QEMU:
#
#   tests/qemu/run.sh --kernel 6.12 --timeout 3000 -- bench/attach.sh
#   tests/qemu/run.sh --kernel 6.1 --timeout 3000 -- bench/attach.sh
#
# Rows: the default profiles with fentry, kprobes one by one
# (PKTTRACE_KPROBE_MULTI=0) and kprobe-multi links; then every function with
# an skb (--all-skb-funcs) by kprobe-multi (with ALL_SINGLE=1 also
# bpftrace on that set and kprobes one by one, with ALL_FENTRY=1 fentry:
# each takes minutes under emulation).
# bpftrace attaches a kprobe and a kretprobe on the functions pkttrace
# attached, exits at once, and its wall time is attach plus detach. Prints
# figures, asserts nothing; under emulation only the ratios mean much.
set -euo pipefail
cd "$(dirname "$0")/.."
PKTTRACE=${PKTTRACE:-target/release/pkttrace}
LOG=$(mktemp)
OUT=$(mktemp)
trap 'rm -f "$LOG" "$OUT" "$OUT.bt"' EXIT

now() { date +%s.%N; }

# run_pkttrace LABEL [ENV=VALUE...] -- ARGS...: one row.
run_pkttrace() {
  local label=$1 start end
  shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  start=$(now)
  env "${envs[@]}" "$PKTTRACE" --duration 1 -o json "$@" >/dev/null 2>"$LOG" || {
    echo "$label: pkttrace failed: $(tail -3 "$LOG")" >&2
    return 0
  }
  end=$(now)
  python3 - "$label" "$start" "$end" "$LOG" <<'PY'
import re, sys
label, start, end, log = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), open(sys.argv[4]).read()
probed = re.search(r"probed (\d+) functions with (\S+) in ([0-9.]+) s( \(kprobes ([^;)]*))?", log)
detached = re.search(r"detached (\d+) functions in ([0-9.]+) s", log)
failed = len(re.findall(r"not probed:", log))
if not probed:
    print(f"{label}: no attach line in: {log[-300:]}")
    sys.exit()
n, attach = int(probed.group(1)), float(probed.group(3))
detach = float(detached.group(2)) if detached else float("nan")
mode = f"  [kprobes {probed.group(5)}]" if probed.group(5) else ""
print(f"{label:<34} {n:5d} functions  attach {attach:6.1f} s ({n/attach:7.1f}/s)  "
      f"detach {detach:5.1f} s  wall {end-start:6.1f} s  refused {failed}{mode}")
PY
  # The functions attached, for bpftrace: from the probe table of a record
  # would be exact; the dry run's list minus the refused ones is the same set.
  env "${envs[@]}" "$PKTTRACE" --dry-run "$@" 2>/dev/null |
    awk '$1 == "probe" { print $2 }' | sort >"$OUT"
  grep -o 'function [^ ]* not probed' "$LOG" | awk '{ print $2 }' | sort >"$OUT.bt" || true
  comm -23 "$OUT" "$OUT.bt" >"$OUT.set"
  mv "$OUT.set" "$OUT"
}

# bpftrace_same LABEL: a kprobe and a kretprobe on every function of the
# last row, exiting as soon as everything is attached.
bpftrace_same() {
  local label=$1 n start end probes

  n=$(wc -l <"$OUT")
  probes=$(awk '{ printf "%skprobe:%s", (NR > 1 ? "," : ""), $1 }' "$OUT")
  start=$(now)
  if bpftrace -e "$probes { } ${probes//kprobe:/kretprobe:} { } BEGIN { exit(); }" >/dev/null 2>"$LOG"; then
    end=$(now)
    python3 -c 'import sys; l,n,s,e=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]); print(f"{l:<34} {n:5d} functions  attach+detach {e-s:6.1f} s ({n/(e-s):7.1f}/s)")' \
      "$label" "$n" "$start" "$end"
  else
    echo "$label: bpftrace failed: $(tail -2 "$LOG")"
  fi
}

echo "== attach and detach, kernel $(uname -r), $(nproc) CPUs"
# The same CPU-bound loop natively and here gives the emulation's slowdown,
# to estimate native attach times from these.
python3 -c 'import time; t = time.perf_counter(); sum(range(3 * 10**7)); print(f"calibration: a 3e7-step Python loop takes {time.perf_counter() - t:.2f} s here")'

run_pkttrace "default profiles, fentry" -- --backend fentry
run_pkttrace "default profiles, kprobes one by one" PKTTRACE_KPROBE_MULTI=0 -- --backend kprobe
bpftrace_same "  bpftrace, same kprobes"
run_pkttrace "default profiles, kprobe-multi" -- --backend kprobe
run_pkttrace "--all-skb-funcs, kprobe-multi" -- --backend kprobe --all-skb-funcs
if [[ ${ALL_SINGLE:-0} == 1 ]]; then
  # bpftrace attaches a list of names one probe at a time (minutes here).
  BPFTRACE_MAX_PROBES=100000 bpftrace_same "  bpftrace, same kprobes"
  run_pkttrace "--all-skb-funcs, kprobes one by one" PKTTRACE_KPROBE_MULTI=0 -- --backend kprobe --all-skb-funcs
fi
if [[ ${ALL_FENTRY:-0} == 1 ]]; then
  run_pkttrace "--all-skb-funcs, fentry" -- --backend fentry --all-skb-funcs
fi
