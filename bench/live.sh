#!/usr/bin/env bash
# What tracing costs on this kernel, against the tools a user would pick
# instead, all in one run (needs root, iperf3, perf, bpftrace; scripts/setup.sh
# installs them). Prints figures; asserts nothing.
#
#   overhead  TCP throughput (iperf3) over a veth pair between two namespaces,
#             in interleaved rounds: untraced; pkttrace with its default
#             tracepoints, text to /dev/null; `pkttrace record`; `perf record
#             -a` on the same tracepoints; bpftrace counting them; bpftrace
#             printing comparable fields. Medians of throughput and of the
#             CPU time the machine spent per GB moved, each against untraced,
#             and bytes per event of pkttrace's record and of perf.data.
#   cost      pkttrace --cost on the same traffic: each probe's ns per event.
#   loss      udp-blast 64-byte datagrams as fast as one sender goes, traced
#             by pkttrace (text to /dev/null, default ring): events and lost.
#   latency   a ping a second, traced by pkttrace -o json into a pipe: how
#             long after the event its line arrives.
#
#   bench/live.sh [overhead|cost|loss|latency ...]   (default: all)
#
# Environment: SECS (per run, default 5), ROUNDS (default 3), PKTTRACE.
set -euo pipefail
cd "$(dirname "$0")/.."
PKTTRACE=${PKTTRACE:-target/release/pkttrace}
BLAST=${BLAST:-target/release/udp-blast}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(overhead cost loss latency)
[ -x "$PKTTRACE" ] || cargo build --release -p tracer >&2
[ -x "$BLAST" ] || cargo build --release -p pkttrace-tests --bin udp-blast >&2
NET=9
# shellcheck source=bench/netpair.sh
. "$(dirname "$0")/netpair.sh"
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
LOG=$WORK/log

# The tracepoints perf and bpftrace attach: those of pkttrace's defaults that
# fire for every packet.
TRACEPOINTS=(net:netif_receive_skb net:net_dev_queue net:net_dev_start_xmit
  net:net_dev_xmit skb:kfree_skb skb:consume_skb qdisc:qdisc_dequeue)
PERF_EVENTS=()
for tp in "${TRACEPOINTS[@]}"; do PERF_EVENTS+=(-e "$tp"); done
BPFTRACE_PROBES=$(printf 'tracepoint:%s,' "${TRACEPOINTS[@]}")
BPFTRACE_COUNT="${BPFTRACE_PROBES%,} { @[probe] = count(); }"
BPFTRACE_PRINT='
tracepoint:net:netif_receive_skb, tracepoint:net:net_dev_queue, tracepoint:net:net_dev_start_xmit
{ printf("%llu %d %s %d %llx %s %u\n", nsecs, cpu, comm, pid, args->skbaddr, str(args->name), args->len); }
tracepoint:net:net_dev_xmit
{ printf("%llu %d %s %d %llx %s %u %d\n", nsecs, cpu, comm, pid, args->skbaddr, str(args->name), args->len, args->rc); }
tracepoint:skb:kfree_skb { printf("%llu %d %s %d %llx %d\n", nsecs, cpu, comm, pid, args->skbaddr, args->reason); }
tracepoint:skb:consume_skb { printf("%llu %d %s %d %llx\n", nsecs, cpu, comm, pid, args->skbaddr); }
tracepoint:qdisc:qdisc_dequeue { printf("%llu %d %s %d %llx\n", nsecs, cpu, comm, pid, args->skbaddr); }
'

# Starts a tracer in the background (stdout to $OUT) and waits until it has
# attached: until $MARK shows in its stderr, or a few seconds for tracers
# that announce nothing.
start_tracer() {
  "$@" >"${OUT:-/dev/null}" 2>"$LOG" &
  TRACER_PID=$!
  if [ -z "${MARK:-}" ]; then sleep 4; return 0; fi
  for _ in $(seq 300); do
    grep -q "$MARK" "$LOG" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "tracer did not attach: $(cat "$LOG")" >&2; exit 1
}
stop_tracer() { kill -INT "$TRACER_PID"; wait "$TRACER_PID" || true; TRACER_PID=; }

iperf_gbps() {
  ip netns exec "$A" iperf3 -c "$ADDR_B" -t "$SECS" -J |
    python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]; s=e.get("sum_received") or e["sum"]; print("%.3f" % (s["bits_per_second"]/1e9))'
}

# CPU time spent by the whole machine so far (user, nice, system, irq,
# softirq; not idle, iowait or steal), in clock ticks.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# "GBIT/S CPU-SECONDS-PER-GB" of one iperf3 run. Throughput on a shared
# virtual machine swings with its neighbours; the CPU time the machine spent
# per gigabyte moved swings much less, and tracing overhead shows in it the
# same way.
iperf_run() {
  local before after g
  before=$(busy_ticks)
  g=$(iperf_gbps)
  after=$(busy_ticks)
  python3 -c 'import sys; g, ticks, hz, secs = map(float, sys.argv[1:]); print("%.3f %.4f" % (g, ticks / hz / (g * secs / 8)))' \
    "$g" "$((after - before))" "$(getconf CLK_TCK)" "$SECS"
}

# pkttrace's summary line ("N events, M lost" or "recorded N events (M lost"),
# as "N events, M lost".
pkttrace_counts() {
  grep -oE '[0-9]+ events,? \(?[0-9]+ lost' "$LOG" | tail -1 | tr -d '(,' | sed 's/ events/ events,/'
}

overhead() {
  echo "== overhead: TCP over veth, ${SECS}s x ${ROUNDS} rounds, interleaved (kernel $(uname -r), $(nproc) cpus)"
  local cases=(untraced pkttrace record perf bpftrace-count bpftrace-print)
  declare -A gbps=() cpu=() bytes=()
  local r c rec=$WORK/trace.pkt data=$WORK/perf.data
  for r in $(seq "$ROUNDS"); do
    for c in "${cases[@]}"; do
      case $c in
        untraced) run=$(iperf_run); note= ;;
        pkttrace)
          MARK=attached start_tracer "$PKTTRACE"
          run=$(iperf_run); stop_tracer; note=$(pkttrace_counts) ;;
        record)
          MARK=attached start_tracer "$PKTTRACE" record --output "$rec"
          run=$(iperf_run); stop_tracer
          ev=$(pkttrace_counts); ev=${ev%% events*}
          bytes[$c]+="$(( $(stat -c %s "$rec") / (ev > 0 ? ev : 1) )) "
          note="$ev events, $(stat -c %s "$rec") bytes" ;;
        perf)
          MARK= start_tracer perf record -a -o "$data" "${PERF_EVENTS[@]}"
          run=$(iperf_run); stop_tracer
          samples=$(sed -n 's/.*(\([0-9]*\) samples).*/\1/p' "$LOG")
          bytes[$c]+="$(( $(stat -c %s "$data") / (${samples:-0} > 0 ? samples : 1) )) "
          note="${samples:-?} samples, $(stat -c %s "$data") bytes" ;;
        bpftrace-count)
          MARK= start_tracer bpftrace -e "$BPFTRACE_COUNT"
          run=$(iperf_run); stop_tracer; note= ;;
        bpftrace-print)
          MARK= start_tracer bpftrace -e "$BPFTRACE_PRINT"
          run=$(iperf_run); stop_tracer; note= ;;
      esac
      read -r g per_gb <<<"$run"
      gbps[$c]+="$g "
      cpu[$c]+="$per_gb "
      echo "round $r: $c $g Gbit/s, $per_gb CPU s/GB${note:+ ($note)}"
    done
  done
  for c in "${cases[@]}"; do
    echo "$c ${gbps[$c]}| ${cpu[$c]}| ${bytes[$c]:-}"
  done | python3 -c '
import statistics, sys
rows = {}
for line in sys.stdin:
    name, rest = line.split(" ", 1)
    g, c, b = rest.split("|")
    rows[name] = (statistics.median(map(float, g.split())),
                  statistics.median(map(float, c.split())),
                  [int(x) for x in b.split()])
rounds = len(line.split("|")[0].split()) - 1
base_g, base_c = rows["untraced"][:2]
print("median of %d rounds (efficiency: untraced CPU s/GB over the case'"'"'s; 1 = free):" % rounds)
for name, (g, c, b) in rows.items():
    per = " %6.0f bytes/event" % statistics.median(b) if b else ""
    print("  %-16s %7.3f Gbit/s  %.3f of untraced   %.4f CPU s/GB  efficiency %.3f%s"
          % (name, g, g / base_g, c, base_c / c, per))
p, f = rows["pkttrace"], rows["perf"]
print("pkttrace / perf record: throughput %.3f, efficiency %.3f" % (p[0] / f[0], f[1] / p[1]))
print("record bytes/event, pkttrace / perf: %.3f" % (statistics.median(rows["record"][2]) / statistics.median(rows["perf"][2])))
'
}

cost() {
  echo "== cost: pkttrace --cost during ${SECS}s of iperf3"
  MARK=attached start_tracer "$PKTTRACE" --cost
  iperf_gbps >/dev/null
  stop_tracer
  sed -n '/cost/,$p' "$LOG"
}

loss() {
  echo "== loss: udp-blast 64-byte datagrams flat out for ${SECS}s, pkttrace text to /dev/null, default ring"
  MARK=attached start_tracer "$PKTTRACE"
  sent=$(ip netns exec "$A" "$BLAST" "$ADDR_B:9999" 100000000 "$SECS")
  sleep 0.5
  stop_tracer
  echo "sent $sent datagrams ($(( sent / SECS ))/s): $(pkttrace_counts)"
}

latency() {
  echo "== latency: one ping a second for ${SECS}s, pkttrace -o json into a pipe"
  "$PKTTRACE" -o json icmp 2>"$LOG" | python3 -c '
import json, sys, time
lat = []
for line in sys.stdin:
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    lat.append((now - json.loads(line)["ts_ns"]) / 1e6)
lat.sort()
if lat:
    print("%d lines: median %.1f ms, max %.1f ms from event to line" % (len(lat), lat[len(lat) // 2], lat[-1]))
else:
    print("no lines")
' &
  local reader=$!
  for _ in $(seq 300); do grep -q attached "$LOG" 2>/dev/null && break; sleep 0.1; done
  ip netns exec "$A" ping -q -c "$SECS" -i 1 "$ADDR_B" >/dev/null
  pkill -INT -f "^$PKTTRACE -o json icmp" || true
  wait "$reader" || true
}

for part in "${PARTS[@]}"; do "$part"; done
