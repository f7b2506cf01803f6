#!/bin/bash
# PID 1 of the guest after switch_root: the root is now the host's / (read-only
# 9p under a tmpfs overlay), and this file sits in the writable share that
# run.sh made, next to the commands (cmd.N) and the settings (config).
# Runs each command, writes its exit status to rc.N and its output to log.N,
# then powers the guest off. Output goes to the console (ttyS0), which run.sh
# prints live on the host.
set -uo pipefail

share=$(dirname "$0")
# shellcheck source=/dev/null
. "$share/config" # GUEST_CWD, NCMDS

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/root/.cargo/bin
export HOME=/root TERM=dumb LANG=C.UTF-8 RUST_BACKTRACE=1
umask 022

poweroff() {
  sync
  # Power off at once; sysrq-trigger works whatever kernel.sysrq says.
  echo o >/proc/sysrq-trigger
  sleep 60
}

# What a booted system has mounted and the tests rely on: bpffs for pinned
# maps, tracefs/debugfs for tracepoints and kprobe events, devpts and
# /dev/shm for ptys and shared memory, cgroup2 for BPF cgroup programs.
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
echo T2 $(cat /proc/uptime); ip link set lo up
hostname pkttrace-guest
# depmod's files come from the host package and match this kernel; check it
# so that a missing or mismatched module tree is reported here, not as an
# obscure test failure.
[[ -f /lib/modules/$(uname -r)/modules.dep ]] ||
  echo "guest: warning: /lib/modules/$(uname -r) is missing: modprobe will fail"

read -r up _ </proc/uptime
echo "guest: kernel $(uname -r) up after ${up}s, running $NCMDS command(s) in $GUEST_CWD"

for ((i = 1; i <= NCMDS; i++)); do
  cmd=$(<"$share/cmd.$i")
  echo "guest: ===== [$i/$NCMDS] $cmd"
  start=$SECONDS
  # stdout is a pipe, not the console tty: programs then print no colours or
  # TUIs; tee keeps a copy of the output for run.sh.
  (cd "$GUEST_CWD" && exec bash -c "$cmd") </dev/null 2>&1 | tee "$share/log.$i"
  rc=${PIPESTATUS[0]}
  echo "$rc" >"$share/rc.$i"
  echo "guest: ===== [$i/$NCMDS] exit $rc after $((SECONDS - start))s"
done
touch "$share/done"
poweroff
