#!/usr/bin/env bash
# Records the trace fixtures in tests/data/ (see README.md there), again.
#
#   tests/data/record.sh [all|host|guest|tcp-udp|tdma]      default: all
#
# host:  host-tracepoints.pkt on this machine's kernel, `--backend tracepoint`.
# guest: tcp-udp-fentry.pkt and tdma-fentry.pkt in Debian's kernel under QEMU
#        (tests/qemu/run.sh: fentry and modules), in one boot. The guest's
#        writes vanish with it, so each record leaves it gzipped and base64'd
#        on the console between marker lines, and is decoded here.
# tcp-udp, tdma: one of the two guest records only.
#
# Every record is filtered to two namespaces made for it (a veth pair,
# 10.199.0.1 <-> 10.199.0.2), so nothing else of the machine gets in.
# Needs root, and what scripts/setup.sh installs. Builds what it runs first.
#
# Inside the guest this same file runs as `record.sh --in-guest-tcp-udp` and
# `record.sh --in-guest-tdma` (the namespaces and traffic are shared with the
# host's record).
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
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
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

netns_filter() {
  printf 'netns %s or netns %s' "$(stat -c %i "/run/netns/$ns_a")" "$(stat -c %i "/run/netns/$ns_b")"
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

record_guest() { # NAME...: tcp-udp, tdma
  local console name cmds=()
  console=$(mktemp)
  for name in "$@"; do
    cmds+=(-c "tests/data/record.sh --in-guest-$name")
  done
  # The console is kept whole; what is shown skips the base64 lines.
  tests/qemu/run.sh --timeout 1800 --kernel "$kver" "${cmds[@]}" |
    tee "$console" | grep --line-buffered -v '^[A-Za-z0-9+/=]*$' ||
    die "the guest run failed (console: $console)"
  for name in "$@"; do
    name=$name-fentry.pkt
    sed -n "/^=====PKTTRACE-FIXTURE-BEGIN $name\$/,/^=====PKTTRACE-FIXTURE-END $name\$/p" "$console" |
      sed '1d;$d' | base64 -d | gunzip >"$here/$name.new" || die "decoding $name from the console failed"
    mv "$here/$name.new" "$here/$name"
    log "wrote $here/$name"
  done
  rm -f "$console"
}

case ${1:-all} in
--in-guest-tcp-udp) in_guest_tcp_udp ;;
--in-guest-tdma) in_guest_tdma ;;
host)
  build
  record_host
  ;;
guest)
  build
  record_guest tcp-udp tdma
  ;;
tcp-udp | tdma)
  build
  record_guest "$1"
  ;;
all)
  build
  record_host
  record_guest tcp-udp tdma
  ;;
*)
  echo "usage: $0 [all|host|guest|tcp-udp|tdma]" >&2
  exit 2
  ;;
esac

for f in "$here"/*.pkt; do
  [[ ${1:-all} == --* ]] && break
  log "$(basename "$f"): $(stat -c %s "$f") bytes"
done
