#!/usr/bin/env bash
# Function-probe backends compared on one workload, in one run: TCP throughput
# over a veth pair untraced, with the fentry backend and with the kprobe
# backend (default profiles, call trees to /dev/null); and how long attaching
# takes. Needs a kernel with fentry and kprobes, so it is meant for Debian's
# kernel under QEMU:
#
#   tests/qemu/run.sh --timeout 3000 -- bench/backends.sh
#
# Under emulation absolute numbers mean little; the ratios measured in the
# same run are the result. Prints figures, asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PKTTRACE=${PKTTRACE:-target/release/pkttrace}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-2}
NET=8
# shellcheck source=bench/netpair.sh
. "$(dirname "$0")/netpair.sh"
LOG=$(mktemp)
start_tracer() {
  "$PKTTRACE" "$@" -o tree >/dev/null 2>"$LOG" &
  TRACER_PID=$!
  for _ in $(seq 6000); do
    grep -q attached "$LOG" && return 0
    sleep 0.1
  done
  echo "tracer did not attach: $(cat "$LOG")" >&2; exit 1
}
stop_tracer() { kill -INT "$TRACER_PID"; wait "$TRACER_PID" || true; TRACER_PID=; }
mbps() {
  ip netns exec "$A" iperf3 -c "$ADDR_B" -t "$SECS" -J |
    python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]; print("%.1f" % (e["sum_received"]["bits_per_second"]/1e6))'
}

echo "== backends: TCP over veth, ${SECS}s x ${ROUNDS} rounds, kernel $(uname -r)"
declare -a base=() fent=() kp=()
for r in $(seq "$ROUNDS"); do
  base+=("$(mbps)")
  start_tracer --backend fentry
  fent+=("$(mbps)"); stop_tracer
  fline=$(grep -o 'probed [0-9]* functions with fentry in [0-9.]* s' "$LOG")
  fev=$(grep -o '[0-9]* events, [0-9]* lost' "$LOG" | tail -1)
  start_tracer --backend kprobe
  kp+=("$(mbps)"); stop_tracer
  kline=$(grep -o 'probed [0-9]* functions with kprobe in [0-9.]* s' "$LOG")
  kev=$(grep -o '[0-9]* events, [0-9]* lost' "$LOG" | tail -1)
  echo "round $r: untraced ${base[-1]} Mbit/s, fentry ${fent[-1]} ($fev; $fline), kprobe ${kp[-1]} ($kev; $kline)"
done
mb=$(printf '%s\n' "${base[@]}" | median)
mf=$(printf '%s\n' "${fent[@]}" | median)
mk=$(printf '%s\n' "${kp[@]}" | median)
python3 - "$mb" "$mf" "$mk" <<'PY'
import sys
b, f, k = map(float, sys.argv[1:])
print(f"median Mbit/s: untraced {b:.1f}, fentry {f:.1f} ({f/b:.3f}), kprobe {k:.1f} ({k/b:.3f}); fentry/kprobe {f/k:.2f}x")
PY

echo "== stitcher on a recorded fentry trace (TCP stream, default profiles)"
REC=$(mktemp)
"$PKTTRACE" record --backend fentry -o "$REC" >/dev/null 2>"$LOG" &
TRACER_PID=$!
for _ in $(seq 6000); do grep -q recording "$LOG" && break; sleep 0.1; done
ip netns exec "$A" iperf3 -c "$ADDR_B" -t "$SECS" >/dev/null
stop_tracer
events=$(grep -o 'recorded [0-9]* events' "$LOG" | grep -o '[0-9]*')
for format in text tree json; do
  start=$(date +%s.%N)
  "$PKTTRACE" report "$REC" -o "$format" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print('report -o $format: $events events in %.2f s = %.0f events/s' % ($end - $start, $events / ($end - $start)))"
done
rm -f "$REC"

echo "== attach time: --all-skb-funcs"
"$PKTTRACE" --all-skb-funcs --dry-run | grep -E '^functions'
for backend in fentry kprobe; do
  start=$(date +%s.%N)
  start_tracer --backend "$backend" --all-skb-funcs
  ready=$(date +%s.%N)
  stop_tracer
  grep -o "probed [0-9]* functions with $backend in [0-9.]* s" "$LOG" || true
  grep -c "not probed" "$LOG" | sed "s/^/$backend: failed to attach: /"
  python3 -c "print('$backend: start to attached %.1f s' % ($ready - $start))"
done
rm -f "$LOG"
