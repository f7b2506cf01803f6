#!/usr/bin/env bash
# Cost per event of the function probes, from the kernel's own BPF
# statistics (run_time_ns / run_cnt per program), for one or more pkttrace
# binaries in the same boot: e.g. the build before and after a change to the
# BPF side. TCP over a veth pair, default profiles, call trees to /dev/null.
# Needs fentry/kprobes, so it is meant for Debian's kernel under QEMU:
#
#   tests/qemu/run.sh --timeout 3000 -- bench/frames.sh OLD_BIN NEW_BIN
#
# BACKEND (fentry|kprobe, default fentry), SECS (default 10), ROUNDS
# (default 2: the binaries take turns, so load that comes and goes on the
# host falls on each). Under emulation only the ratios between binaries in
# one run mean something. Prints figures, asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
(($#)) || set -- target/release/pkttrace
BINS=("$@") # netpair.sh reuses the positional parameters
BACKEND=${BACKEND:-fentry}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-2}
NET=9
# shellcheck source=bench/netpair.sh
. "$(dirname "$0")/netpair.sh"
LOG=$(mktemp)
STATS=$(mktemp)
sysctl -qw kernel.bpf_stats_enabled=1

echo "== function-probe cost: $BACKEND, TCP over veth for ${SECS}s, kernel $(uname -r)"
for round in $(seq "$ROUNDS"); do for bin in "${BINS[@]}"; do
  "$bin" --backend "$BACKEND" -o tree >/dev/null 2>"$LOG" &
  pid=$!
  for _ in $(seq 6000); do
    grep -q attached "$LOG" && break
    sleep 0.1
  done
  grep -q attached "$LOG" || { echo "$bin did not attach: $(cat "$LOG")" >&2; exit 1; }
  ip netns exec "$A" iperf3 -c "$ADDR_B" -t "$SECS" >/dev/null
  # The programs this tracer holds, with their statistics.
  bpftool -j prog show >"$STATS"
  kill -INT "$pid"
  wait "$pid" || true
  python3 - "$round" "$bin" "$STATS" "$LOG" <<'PY'
import json, re, sys
round_, bin_, stats, log = sys.argv[1:]
# fn_entry_skbN: fentry reading the skb from argument N (fn_main.rs).
groups = {"entry": ("fn_entry", "fn_entry_skb0", "fn_entry_skb1", "fn_entry_skb2",
                    "fn_entry_skb3", "kp_entry"),
          "exit": ("fn_exit", "kp_exit"),
          "softirq": ("pt_softirq_entry", "pt_softirq_exit")}
tot = {g: [0, 0] for g in groups}
for p in json.load(open(stats)):
    for g, names in groups.items():
        if p.get("name") in names:
            tot[g][0] += p.get("run_time_ns", 0)
            tot[g][1] += p.get("run_cnt", 0)
parts = []
for g, (ns, cnt) in tot.items():
    parts.append(f"{g} {ns / cnt:.0f} ns/run ({cnt} runs)" if cnt else f"{g} -")
summary = re.findall(r"\d+ events, \d+ lost", open(log).read())
print(f"round {round_} {bin_}: " + ", ".join(parts) + (f"; {summary[-1]}" if summary else ""))
PY
done; done
sysctl -qw kernel.bpf_stats_enabled=0
