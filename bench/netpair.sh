# Sourced by the bench scripts: two throwaway namespaces $A and $B joined by
# a veth pair, $ADDR_A and $ADDR_B on 10.199.$NET.0/24, an iperf3 server in
# $B, and a cleanup trap that also stops a background tracer ($TRACER_PID).
# Set NET (the third octet) before sourcing.
A=pkttrace-bench-$$-a
B=pkttrace-bench-$$-b
ADDR_A=10.199.$NET.1
ADDR_B=10.199.$NET.2

cleanup() {
  [ -n "${TRACER_PID:-}" ] && kill "$TRACER_PID" 2>/dev/null || true
  ip netns pids "$B" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add bencha netns "$A" type veth peer name benchb netns "$B"
ip -n "$A" addr add "$ADDR_A/24" dev bencha
ip -n "$B" addr add "$ADDR_B/24" dev benchb
for end in "$A bencha" "$B benchb"; do
  read -r ns dev <<<"$end"
  ip -n "$ns" link set "$dev" up
  ip -n "$ns" link set lo up
done
ip netns exec "$B" iperf3 -s -D >/dev/null
sleep 1

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
