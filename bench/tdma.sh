#!/usr/bin/env bash
# sch_tdma against taprio (Debian's kernel has it as a module) on the same
# gate schedule, in one run: where do dequeues fall relative to the window
# edges? A UDP flood crosses a veth pair whose sender side carries the qdisc;
# pkttrace records the kernel's own qdisc_dequeue tracepoint (the same probe
# for both qdiscs), and window-edges puts each dequeue on the schedule:
# time from a window's opening to its first dequeue, from the last dequeue
# to its closing, and dequeues outside every window (qdisc_dequeue fires
# once per dequeue batch, after the qdisc returned). Both qdiscs run on
# CLOCK_MONOTONIC, the clock of the events' timestamps. Needs modules, so
# it is meant for Debian's kernel under QEMU:
#
#   cargo build --release -p tracer -p tdmactl -p pkttrace-tests --bins
#   make -C tdma-qdisc/module KDIR=/lib/modules/6.1.0-56-amd64/build
#   tests/qemu/run.sh -- bench/tdma.sh
#
# Under emulation absolute times are inflated; compare the two qdiscs of the
# same run. Prints figures, asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
SECS=${SECS:-5}
PPS=${PPS:-3000}
FRAME=10000000
# Windows as OFFSET:LENGTH in ns: 1-3 ms and 6-8 ms of every 10 ms frame.
WINDOWS=(1000000:2000000 6000000:2000000)
NET=9
# shellcheck source=bench/netpair.sh
. "$(dirname "$0")/netpair.sh"

lsmod | grep -q '^sch_tdma ' || insmod tdma-qdisc/module/sch_tdma.ko
modprobe sch_taprio

LOG=$(mktemp)
EVENTS=$(mktemp)
# Runs the flood under pkttrace and prints window-edges' figures.
measure() {
  "$BIN/pkttrace" --backend tracepoint -o json --tracepoints qdisc_dequeue --ifname bencha >"$EVENTS" 2>"$LOG" &
  TRACER_PID=$!
  for _ in $(seq 600); do
    grep -q attached "$LOG" && break
    sleep 0.1
  done
  grep -q attached "$LOG" || { echo "tracer did not attach: $(cat "$LOG")" >&2; exit 1; }
  ip netns exec "$A" "$BIN/udp-blast" "$ADDR_B:9" "$PPS" "$SECS" 200 >/dev/null
  kill -INT "$TRACER_PID"
  wait "$TRACER_PID" || true
  TRACER_PID=
  "$BIN/window-edges" qdisc_dequeue "$FRAME" 0 "${WINDOWS[@]}" <"$EVENTS" | sed 's/^/  /'
  grep -o '[0-9]* events, [0-9]* lost' "$LOG" | sed 's/^/  pkttrace: /'
}

echo "== sch_tdma vs taprio: frame 10 ms, windows 1+2 ms and 6+2 ms, UDP $PPS pkt/s x ${SECS}s, kernel $(uname -r)"

wins=()
for w in "${WINDOWS[@]}"; do wins+=(window "$(( ${w%%:*} / 1000 ))us:$(( ${w##*:} / 1000 ))us"); done
ip netns exec "$A" "$BIN/tdmactl" add dev bencha frame 10ms "${wins[@]}" clock monotonic base-time 0 limit 10000
echo "sch_tdma:"
measure
ip netns exec "$A" "$BIN/tdmactl" stats dev bencha | sed 's/^/  /'
ip netns exec "$A" "$BIN/tdmactl" del dev bencha

# The same gates as taprio entries, from the frame start: closed 1 ms, open
# 2 ms, closed 3 ms, open 2 ms, closed 2 ms.
ip netns exec "$A" tc qdisc add dev bencha root handle 100: taprio num_tc 1 \
  map 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 queues 1@0 base-time 0 clockid CLOCK_MONOTONIC \
  sched-entry S 00 1000000 sched-entry S 01 2000000 sched-entry S 00 3000000 \
  sched-entry S 01 2000000 sched-entry S 00 2000000
echo "taprio:"
measure
ip netns exec "$A" tc -s qdisc show dev bencha | sed -n 1,3p | sed 's/^/  /'
ip netns exec "$A" tc qdisc del dev bencha root
