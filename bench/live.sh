#!/usr/bin/env bash
# Live benchmarks on this kernel (needs root, iperf3, bpftrace; scripts/setup.sh
# installs them). Prints figures; asserts nothing.
#
#   overhead  TCP throughput over a veth pair: untraced, traced by pkttrace
#             (all default tracepoints, text to /dev/null), traced by bpftrace
#             printing comparable fields from the same tracepoints; same run.
#   loss      UDP at increasing packet rates with pkttrace tracing: the event
#             rate at which the default ring buffer first loses events.
set -euo pipefail
cd "$(dirname "$0")/.."
PKTTRACE=${PKTTRACE:-target/release/pkttrace}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
[ -x "$PKTTRACE" ] || cargo build --release -p tracer >&2
NET=9
# shellcheck source=bench/netpair.sh
. "$(dirname "$0")/netpair.sh"

# Starts a tracer in the background and waits until it has attached.
start_tracer() {
  local log=$1; shift
  "$@" >/dev/null 2>"$log" &
  TRACER_PID=$!
  # bpftrace announces itself on stdout (discarded here): give it time instead.
  if [ -z "$ATTACHED_MARK" ]; then sleep 3; return 0; fi
  for _ in $(seq 100); do
    grep -q "$ATTACHED_MARK" "$log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "tracer did not attach: $(cat "$log")" >&2; exit 1
}
stop_tracer() { kill -INT "$TRACER_PID"; wait "$TRACER_PID" || true; TRACER_PID=; }

iperf_gbps() {
  ip netns exec "$A" iperf3 -c "$ADDR_B" -t "$SECS" -J "$@" |
    python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]; s=e.get("sum_received") or e["sum"]; print("%.3f" % (s["bits_per_second"]/1e9))'
}

BPFTRACE_SCRIPT='
tracepoint:net:netif_receive_skb, tracepoint:net:net_dev_queue, tracepoint:net:net_dev_start_xmit
{ printf("%llu %d %s %d %llx %s %u\n", nsecs, cpu, comm, pid, args->skbaddr, str(args->name), args->len); }
tracepoint:net:net_dev_xmit
{ printf("%llu %d %s %d %llx %s %u %d\n", nsecs, cpu, comm, pid, args->skbaddr, str(args->name), args->len, args->rc); }
tracepoint:skb:kfree_skb { printf("%llu %d %s %d %llx %d\n", nsecs, cpu, comm, pid, args->skbaddr, args->reason); }
tracepoint:skb:consume_skb { printf("%llu %d %s %d %llx\n", nsecs, cpu, comm, pid, args->skbaddr); }
tracepoint:qdisc:qdisc_dequeue { printf("%llu %d %s %d %llx\n", nsecs, cpu, comm, pid, args->skbaddr); }
'


echo "== overhead: TCP over veth, ${SECS}s x ${ROUNDS} rounds (kernel $(uname -r))"
LOG=$(mktemp)
declare -a base=() pkt=() bpft=()
for r in $(seq "$ROUNDS"); do
  base+=("$(iperf_gbps)")
  ATTACHED_MARK=attached start_tracer "$LOG" "$PKTTRACE"
  pkt+=("$(iperf_gbps)"); stop_tracer
  events=$(sed -n 's/.*: \([0-9]*\) events, \([0-9]*\) lost.*/\1 events, \2 lost/p' "$LOG")
  ATTACHED_MARK= start_tracer "$LOG" bpftrace -e "$BPFTRACE_SCRIPT"
  bpft+=("$(iperf_gbps)"); stop_tracer
  echo "round $r: untraced ${base[-1]} Gbit/s, pkttrace ${pkt[-1]} Gbit/s ($events), bpftrace ${bpft[-1]} Gbit/s"
done
mb=$(printf '%s\n' "${base[@]}" | median)
mp=$(printf '%s\n' "${pkt[@]}" | median)
mt=$(printf '%s\n' "${bpft[@]}" | median)
python3 - "$mb" "$mp" "$mt" <<'PY'
import sys
b, p, t = map(float, sys.argv[1:])
print(f"median: untraced {b:.3f} Gbit/s, pkttrace {p:.3f} ({p/b:.3f} of untraced), bpftrace {t:.3f} ({t/b:.3f} of untraced)")
print(f"pkttrace/bpftrace throughput ratio under tracing: {p/t:.2f}x")
PY

echo "== loss: UDP 64-byte datagrams at increasing rates, default ring, text to /dev/null"
BLAST=target/release/udp-blast
[ -x "$BLAST" ] || cargo build --release -p pkttrace-tests --bin udp-blast >&2
for pps in 25000 50000 100000 200000 400000 800000; do
  ATTACHED_MARK=attached start_tracer "$LOG" "$PKTTRACE" udp
  sent=$(ip netns exec "$A" "$BLAST" "$ADDR_B:9999" "$pps" "$SECS")
  sleep 0.5
  stop_tracer
  line=$(grep -o '[0-9]* events, [0-9]* lost' "$LOG" | tail -1)
  ev=${line%% events*}; lost=$(echo "$line" | sed 's/.*, \([0-9]*\) lost/\1/')
  rate=$(( (ev + lost) / SECS ))
  echo "offered ${pps} pkt/s (sent $(( sent / SECS ))/s): ${line} -> ${rate} events/s"
  if [ "${lost:-0}" -gt 0 ]; then
    echo "first loss at ~${rate} events/s"
    break
  fi
done
rm -f "$LOG"
