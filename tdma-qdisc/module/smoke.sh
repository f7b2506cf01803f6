#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Smoke test of sch_tdma, run as root inside a kernel that can load modules
# (e.g. tests/qemu/run.sh -- tdma-qdisc/module/smoke.sh). Builds nothing:
# expects sch_tdma.ko next to this script.
#
# Checks: insmod; two netns joined by a veth; `tc qdisc add ... root tdma`
# without options fails with the extack message; the veth still works;
# tc qdisc del; rmmod; no kernel warnings.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ko=$here/sch_tdma.ko
ns1=tdma-smoke-a
ns2=tdma-smoke-b
fail() {
	echo "smoke: FAIL: $*" >&2
	exit 1
}
cleanup() {
	ip netns del "$ns1" 2>/dev/null || true
	ip netns del "$ns2" 2>/dev/null || true
	grep -q '^sch_tdma ' /proc/modules && rmmod sch_tdma 2>/dev/null || true
}
trap cleanup EXIT

[[ -r $ko ]] || fail "no $ko (build it first)"
dmesg_before=$(dmesg | wc -l)

insmod "$ko"
grep -q '^sch_tdma ' /proc/modules || fail "module not loaded"
echo "smoke: insmod ok"

ip netns add "$ns1"
ip netns add "$ns2"
ip link add veth-a netns "$ns1" type veth peer name veth-b netns "$ns2"
ip -n "$ns1" addr add 10.99.0.1/24 dev veth-a
ip -n "$ns2" addr add 10.99.0.2/24 dev veth-b
ip -n "$ns1" link set veth-a up
ip -n "$ns2" link set veth-b up
ip -n "$ns1" link set lo up
ip -n "$ns2" link set lo up

# A qdisc without a schedule must be refused with a clear message.
if out=$(ip netns exec "$ns1" tc qdisc add dev veth-a root tdma 2>&1); then
	fail "tc qdisc add without options succeeded: $out"
fi
echo "smoke: tc qdisc add without options refused: $out"
grep -q 'tdma: a schedule is required' <<<"$out" ||
	fail "extack message missing in: $out"
if ip netns exec "$ns1" tc qdisc show dev veth-a | grep -q 'qdisc tdma'; then
	fail "a tdma qdisc exists after the failed add"
fi

# The link still works with its default qdisc.
ip netns exec "$ns1" ping -c 2 -i 0.2 -W 2 10.99.0.2 >/dev/null ||
	fail "ping over the veth failed"
echo "smoke: veth ping ok"

ip netns del "$ns1"
ip netns del "$ns2"

rmmod sch_tdma
grep -q '^sch_tdma ' /proc/modules && fail "module still loaded after rmmod"
echo "smoke: rmmod ok"

if dmesg | tail -n +"$((dmesg_before + 1))" | grep -iE 'warn|bug|oops'; then
	fail "kernel warnings in dmesg"
fi
echo "smoke: PASS"
