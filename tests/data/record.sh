#!/usr/bin/env bash
# Records the trace fixtures in tests/data/ (see README.md there), again.
#
#   tests/data/record.sh [all|host|guest|tcp-udp|tdma|packets]   default: all
#
# host:  host-tracepoints.pkt on this machine's kernel, `--backend tracepoint`.
# guest: tcp-udp-fentry.pkt, tdma-fentry.pkt and packets-fentry.pkt in
#        Debian's kernel under QEMU (tests/qemu/run.sh: fentry and modules),
#        in one boot. The guest's writes vanish with it, so each record leaves
#        it gzipped and base64'd on the console between marker lines, and is
#        decoded here.
# tcp-udp, tdma, packets: one of the three guest records only.
#
# host, tcp-udp and tdma are filtered to two namespaces made for them (a veth
# pair, 10.199.0.1 <-> 10.199.0.2); packets to three (client - router with
# DNAT - server, 10.198.1.0/24 and 10.198.2.0/24). So nothing else of the
# machine gets in. Needs root, and what scripts/setup.sh installs. Builds
# what it runs first.
#
# Inside the guest this same file runs as `record.sh --in-guest-tcp-udp`,
# `--in-guest-tdma` and `--in-guest-packets` (the namespaces and traffic of
# the first are shared with the host's record).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
bin=$repo/target/debug/pkttrace
tdmactl=$repo/target/debug/tdmactl
# The Debian kernel the guest boots and sch_tdma is built for: 6.1, with
# modules and headers (6.1.0-56-amd64 when these files were recorded).
# shellcheck source=tests/qemu/kernels.sh
. "$repo/tests/qemu/kernels.sh"
kver=

ns_a=pkttrace-rec-a
ns_b=pkttrace-rec-b
veth_a=ptreca
veth_b=ptrecb
addr_a=10.199.0.1
addr_b=10.199.0.2
# packets-fentry.pkt: client - router - server (see make_packets_net).
ns_c=pkttrace-rec-c
ns_r=pkttrace-rec-r
ns_s=pkttrace-rec-s
veth_c=ptrecc   # in c, peer of veth_rc
veth_rc=ptrecrc # in r
veth_rs=ptrecrs # in r, peer of veth_s
veth_s=ptrecs   # in s
addr_c=10.198.1.1
addr_rc=10.198.1.254
addr_rs=10.198.2.254
addr_s=10.198.2.2
# The namespaces a record is filtered to (netns_filter).
rec_ns=("$ns_a" "$ns_b")

log() { printf 'record: %s\n' "$*" >&2; }
die() {
  printf 'record: error: %s\n' "$*" >&2
  exit 1
}

# --- the namespaces and the traffic (host and guest) ------------------------
pids=()
# shellcheck disable=SC2317 # called by the trap
cleanup_net() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  local ns
  for ns in "$ns_a" "$ns_b" "$ns_c" "$ns_r" "$ns_s"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "${fifo_dir:-/nonexistent}"
}

make_net() {
  cleanup_net
  ip netns add "$ns_a"
  ip netns add "$ns_b"
  ip link add "$veth_a" netns "$ns_a" type veth peer name "$veth_b" netns "$ns_b"
  ip -n "$ns_a" addr add "$addr_a/24" dev "$veth_a"
  ip -n "$ns_b" addr add "$addr_b/24" dev "$veth_b"
  local ns dev
  for ns in "$ns_a" "$ns_b"; do
    dev=$veth_a
    [[ $ns == "$ns_b" ]] && dev=$veth_b
    ip -n "$ns" link set "$dev" up
    ip -n "$ns" link set lo up
    # No IPv6 on the veths: no router solicitations or MLD reports in the trace.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  done
}

netns_filter() { # 'netns INODE or netns INODE...', one per namespace of rec_ns
  local ns sep=
  for ns in "${rec_ns[@]}"; do
    printf '%snetns %s' "$sep" "$(stat -c %i "/run/netns/$ns")"
    sep=' or '
  done
}

# packets-fentry.pkt's network, for the packet model (issue 13): a client c
# and a server s in two subnets, a router r forwarding between them with a
# DNAT rule, each link a veth pair:
#
#   c: ptrecc 10.198.1.1 --- ptrecrc 10.198.1.254 :r: ptrecrs 10.198.2.254 --- ptrecs 10.198.2.2 :s
#
# r: ip_forward=1; nftables DNAT tcp dport 80 to 10.198.1.254 -> 10.198.2.2:8080.
# c, s: default route via r. IPv6 off everywhere (no RS/MLD). On ptrecc TSO
# is off and GSO stays on: a large TCP write leaves TCP as one GSO skb that
# validate_xmit_skb segments in software.
make_packets_net() {
  cleanup_net
  local ns
  for ns in "$ns_c" "$ns_r" "$ns_s"; do
    ip netns add "$ns"
    # Before the veths exist, so that they never get an IPv6 address.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
  done
  ip link add "$veth_c" netns "$ns_c" type veth peer name "$veth_rc" netns "$ns_r"
  ip link add "$veth_rs" netns "$ns_r" type veth peer name "$veth_s" netns "$ns_s"
  ip -n "$ns_c" addr add "$addr_c/24" dev "$veth_c"
  ip -n "$ns_r" addr add "$addr_rc/24" dev "$veth_rc"
  ip -n "$ns_r" addr add "$addr_rs/24" dev "$veth_rs"
  ip -n "$ns_s" addr add "$addr_s/24" dev "$veth_s"
  ip -n "$ns_c" link set "$veth_c" up
  ip -n "$ns_r" link set "$veth_rc" up
  ip -n "$ns_r" link set "$veth_rs" up
  ip -n "$ns_s" link set "$veth_s" up
  ip -n "$ns_c" route add default via "$addr_rc"
  ip -n "$ns_s" route add default via "$addr_rs"
  ip netns exec "$ns_r" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$ns_c" ethtool -K "$veth_c" tso off
  ip netns exec "$ns_c" ethtool -k "$veth_c" | grep -q '^generic-segmentation-offload: on' ||
    die "GSO is not on on $veth_c"
  ip netns exec "$ns_r" nft -f - <<EOF
table ip pkttrace_rec {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr $addr_rc tcp dport 80 dnat to $addr_s:8080
  }
}
EOF
}

# packets-fentry.pkt's traffic, client ports fixed (41000-41002):
#  1. one ping c > s, forwarded by r, after the neighbour tables are flushed:
#     ARP on both links first;
#  2. TCP through the DNAT: c:41000 > 10.198.1.254:80, which r turns into
#     s:8080, where nc echoes (a FIFO); two lines sent and read back, close;
#  3. TCP bulk, no NAT: 64 KiB c:41001 > s:8081, GSO-segmented leaving c;
#  4. UDP c:41002 > s:9999, closed: NO_SOCKET in s, ICMP port unreachable back.
packets_traffic() {
  fifo_dir=$(mktemp -d)
  mkfifo "$fifo_dir/tcp"
  # shellcheck disable=SC2094 # one FIFO as stdin and stdout: nc echoes
  ip netns exec "$ns_s" nc -l "$addr_s" 8080 0<>"$fifo_dir/tcp" 1>"$fifo_dir/tcp" &
  pids+=($!)
  ip netns exec "$ns_s" nc -l "$addr_s" 8081 </dev/null >/dev/null &
  pids+=($!)
  sleep 1 # the listeners are up (slow under QEMU)
  local ns
  for ns in "$ns_c" "$ns_r" "$ns_s"; do
    ip -n "$ns" neigh flush all
  done
  ip netns exec "$ns_c" ping -n -q -c 1 -W 10 "$addr_s" >/dev/null ||
    die "ping $addr_s from $ns_c failed"
  # shellcheck disable=SC2016 # expanded by the inner bash
  ip netns exec "$ns_c" bash -c '
    set -e
    coproc TCP { exec nc -N -p 41000 '"$addr_rc"' 80; }
    for m in hello router; do
      echo "$m" >&"${TCP[1]}"
      read -r -t 20 back <&"${TCP[0]}"
      [[ $back == "$m" ]] || { echo "tcp echo through DNAT: sent $m, got ${back:-nothing}" >&2; exit 1; }
    done
    exec {TCP[1]}>&-
    wait "$TCP_PID"
    head -c 65536 /dev/zero | timeout 60 nc -N -p 41001 '"$addr_s"' 8081
    echo "nobody home" | timeout 20 nc -u -w 1 -p 41002 '"$addr_s"' 9999 || true
  '
  log "traffic: ping $addr_c > $addr_s (ARP on both links), TCP echo x2 $addr_c:41000 > $addr_rc:80 (DNAT: $addr_s:8080), 64 KiB TCP :41001 > $addr_s:8081 (GSO), UDP :41002 > closed :9999"
}

# Starts `pkttrace record -o OUT ARGS... FILTER` in the background and waits
# until it has attached; `wait_record` waits for --duration to end it.
record_pid=
start_record() { # OUT ARGS...
  local out=$1 err
  shift
  err=$(mktemp)
  "$bin" record -o "$out" "$@" "$(netns_filter)" 2>"$err" &
  record_pid=$!
  local i
  for ((i = 0; i < 600; i++)); do
    if grep -q 'attached' "$err"; then
      cat "$err" >&2
      record_err=$err
      record_err_shown=$(wc -l <"$err")
      return 0
    fi
    kill -0 "$record_pid" 2>/dev/null || {
      cat "$err" >&2
      die "pkttrace record ended before attaching"
    }
    sleep 0.5
  done
  cat "$err" >&2
  die "pkttrace record did not attach within 300 s"
}
wait_record() {
  # All the traffic must be in the record: it must still be running.
  kill -0 "$record_pid" 2>/dev/null ||
    die "pkttrace record ended (--duration) before the traffic did: raise --duration"
  local rc=0
  wait "$record_pid" || rc=$?
  tail -n "+$((record_err_shown + 1))" "$record_err" >&2
  rm -f "$record_err"
  ((rc == 0)) || die "pkttrace record failed (exit $rc)"
}

fifo_dir=
# TCP: an echo server in b (nc over a FIFO), a client in a sending three lines
# over one connection and reading each back. UDP: an echo server in b, one
# request and its reply. Then one datagram to a closed port (NO_SOCKET).
# Client ports are fixed (40000, 40001, 40002), so the 5-tuples are the same
# in every recording.
tcp_udp_traffic() {
  fifo_dir=$(mktemp -d)
  mkfifo "$fifo_dir/tcp" "$fifo_dir/udp"
  # shellcheck disable=SC2094 # one FIFO as stdin and stdout: nc echoes
  ip netns exec "$ns_b" nc -l "$addr_b" 8080 0<>"$fifo_dir/tcp" 1>"$fifo_dir/tcp" &
  pids+=($!)
  # shellcheck disable=SC2094
  ip netns exec "$ns_b" nc -u -l "$addr_b" 9000 0<>"$fifo_dir/udp" 1>"$fifo_dir/udp" &
  pids+=($!)
  sleep 1 # the listeners are up (slow under QEMU)
  # shellcheck disable=SC2016 # expanded by the inner bash
  ip netns exec "$ns_a" bash -c '
    set -e
    coproc TCP { exec nc -N -p 40000 '"$addr_b"' 8080; }
    for m in hello pkttrace world; do
      echo "$m" >&"${TCP[1]}"
      read -r -t 10 back <&"${TCP[0]}"
      [[ $back == "$m" ]] || { echo "tcp echo: sent $m, got ${back:-nothing}" >&2; exit 1; }
    done
    exec {TCP[1]}>&-
    wait "$TCP_PID"
    back=$(echo ping | timeout 20 nc -u -w 1 -p 40001 '"$addr_b"' 9000)
    [[ $back == ping ]] || { echo "udp echo: got ${back:-nothing}" >&2; exit 1; }
    echo "nobody home" | timeout 20 nc -u -w 1 -p 40002 '"$addr_b"' 9999 || true
  '
  log "traffic: TCP echo x3 $addr_a:40000 > $addr_b:8080, UDP echo :40001 > :9000, UDP :40002 > closed :9999"
}

# --- inside the guest ----------------------------------------------------------
emit() { # FILE NAME: the record, gzipped and base64'd between marker lines
  echo "=====PKTTRACE-FIXTURE-BEGIN $2"
  gzip -9c "$1" | base64 -w 100
  echo "=====PKTTRACE-FIXTURE-END $2"
}

in_guest_tcp_udp() {
  local out=/tmp/tcp-udp-fentry.pkt
  trap cleanup_net EXIT
  dmesg -n 1 # no kernel messages in the middle of the base64
  make_net
  start_record "$out" --profile tcp-in,tcp-out,tcp-conn,udp,ip-rx,ip-tx,dev --duration 20
  tcp_udp_traffic
  wait_record
  emit "$out" tcp-udp-fentry.pkt
}

in_guest_tdma() {
  local out=/tmp/tdma-fentry.pkt
  trap cleanup_net EXIT
  dmesg -n 1
  [[ -e /sys/module/sch_tdma ]] || insmod tdma-qdisc/module/sch_tdma.ko
  make_net
  ip netns exec "$ns_a" "$tdmactl" add dev "$veth_a" frame 20ms window 0:2ms
  ip netns exec "$ns_b" nc -u -l "$addr_b" 7003 >/dev/null &
  pids+=($!)
  sleep 1
  start_record "$out" --profile dev,udp,ip-tx --duration 12
  # Five datagrams from one socket, 100 ms apart (so that nc, slow to start
  # under QEMU, reads and sends each line on its own): each waits for the
  # next window. -q 0: nc ends when its input does.
  {
    sleep 1
    for i in 1 2 3 4 5; do
      echo "datagram $i"
      sleep 0.1
    done
  } | ip netns exec "$ns_a" timeout 30 nc -u -q 0 -p 40003 "$addr_b" 7003
  log "traffic: 5 UDP datagrams (100 ms apart) $addr_a:40003 > $addr_b:7003 through sch_tdma (frame 20ms, window 0:2ms)"
  wait_record
  emit "$out" tdma-fentry.pkt
}

# packets-fentry.pkt's probes: the profiles of a packet's way through IP
# (forwarding included), TCP, UDP and the devices, and the functions that
# show software segmentation (validate_xmit_skb > __skb_gso_segment > ... >
# skb_segment, whose exit returns the first segment), the DNAT rewrite
# (nf_nat_manip_pkt, in nf_nat: loaded by the nft rule), the netfilter hooks,
# ARP's receive and the ICMP error. --follow-skb: TCP clones its write-queue
# skb before giving it a device or a socket, so skb_clone's event there has
# no namespace and the netns filter alone would drop it (and its exit, which
# names the clone); followed from __tcp_transmit_skb (netns of its socket),
# it is kept.
# shellcheck disable=SC2054 # --profile takes a comma-separated list
packets_args=(
  --profile tcp-in,tcp-out,tcp-conn,udp,ip-rx,ip-tx,ip-forward,dev --follow-skb
  --func validate_xmit_skb --func __skb_gso_segment --func skb_mac_gso_segment
  --func inet_gso_segment --func tcp4_gso_segment --func tcp_gso_segment --func skb_segment
  --func nf_hook_slow --func nf_nat_manip_pkt --func nf_nat_ipv4_manip_pkt
  --func arp_rcv --func arp_process --func __icmp_send
)

in_guest_packets() {
  local out=/tmp/packets-fentry.pkt
  trap cleanup_net EXIT
  dmesg -n 1
  make_packets_net
  rec_ns=("$ns_c" "$ns_r" "$ns_s")
  # The plan: what is probed, and why the rest is not.
  "$bin" --dry-run "${packets_args[@]}" "$(netns_filter)" >&2
  start_record "$out" "${packets_args[@]}" --duration 40
  packets_traffic
  wait_record
  emit "$out" packets-fentry.pkt
}

# --- on the host -----------------------------------------------------------------
build() {
  kver=$(guest_kernel 6.1 headers) || exit 1
  log "building pkttrace, tdmactl and sch_tdma ($kver)"
  cargo build -q -p tracer -p tdmactl -p pkttrace-tests --bins
  make -s -C tdma-qdisc/module KDIR="/lib/modules/$kver/build"
}

record_host() {
  local out=$here/host-tracepoints.pkt
  trap cleanup_net EXIT
  make_net
  start_record "$out" --backend tracepoint --duration 6
  tcp_udp_traffic
  wait_record
  cleanup_net
  trap - EXIT
  chmod 644 "$out" # pkttrace writes records 0600; these are public test data
  log "wrote $out"
}

record_guest() { # NAME...: tcp-udp, tdma, packets
  local console name cmds=() failed=
  console=$(mktemp)
  for name in "$@"; do
    cmds+=(-c "tests/data/record.sh --in-guest-$name")
  done
  # The console is kept whole; what is shown skips the base64 lines.
  tests/qemu/run.sh --timeout 1800 --kernel "$kver" "${cmds[@]}" |
    tee "$console" | grep --line-buffered -v '^[A-Za-z0-9+/=]*$' ||
    failed="the guest run failed"
  # Each record that made it out whole is kept, even when another one failed.
  for name in "$@"; do
    name=$name-fentry.pkt
    if ! grep -qx "=====PKTTRACE-FIXTURE-END $name" "$console"; then
      log "$name: not on the console, $here/$name left as it was"
      failed="the guest run failed"
      continue
    fi
    sed -n "/^=====PKTTRACE-FIXTURE-BEGIN $name\$/,/^=====PKTTRACE-FIXTURE-END $name\$/p" "$console" |
      sed '1d;$d' | base64 -d | gunzip >"$here/$name.new" || die "decoding $name from the console failed"
    mv "$here/$name.new" "$here/$name"
    chmod 644 "$here/$name"
    log "wrote $here/$name"
  done
  [[ -z $failed ]] || die "$failed (console: $console)"
  rm -f "$console"
}

case ${1:-all} in
--in-guest-tcp-udp) in_guest_tcp_udp ;;
--in-guest-tdma) in_guest_tdma ;;
--in-guest-packets) in_guest_packets ;;
host)
  build
  record_host
  ;;
guest)
  build
  record_guest tcp-udp tdma packets
  ;;
tcp-udp | tdma | packets)
  build
  record_guest "$1"
  ;;
all)
  build
  record_host
  record_guest tcp-udp tdma packets
  ;;
*)
  echo "usage: $0 [all|host|guest|tcp-udp|tdma|packets]" >&2
  exit 2
  ;;
esac

for f in "$here"/*.pkt; do
  [[ ${1:-all} == --* ]] && break
  log "$(basename "$f"): $(stat -c %s "$f") bytes"
done
