#!/bin/bash
# PID 1 of the guest after switch_root: the root is now the host's / (read-only
# 9p under a tmpfs overlay), and this file sits in the writable share that
# run.sh made, next to the commands (cmd.N) and the settings (config).
# Runs each command, writes its exit status to rc.N, then powers the guest
# off. Output goes to the console (ttyS0), which run.sh prints live.
set -uo pipefail

share=${0%/*}
# shellcheck source=/dev/null
. "$share/config" # GUEST_CWD, NCMDS

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/root/.cargo/bin
export HOME=/root TERM=dumb LANG=C.UTF-8 RUST_BACKTRACE=1
umask 022

poweroff() {
  # Power off at once (the results share is mounted sync: nothing to flush);
  # sysrq-trigger works whatever kernel.sysrq says. It returns before the
  # power is off, so wait with a builtin: the console never gets input, and
  # an external `sleep` would race with the 9p root going away.
  echo o >/proc/sysrq-trigger
  read -r -t 60 _ </dev/console
}

# Bash builtins only until the commands start: every external program is
# first loaded over 9p, which is slow under TCG.
read -r kver </proc/sys/kernel/osrelease
read -r up _ </proc/uptime
echo "guest: kernel $kver up after ${up}s, running $NCMDS command(s) in $GUEST_CWD"

for ((i = 1; i <= NCMDS; i++)); do
  cmd=$(<"$share/cmd.$i")
  echo "guest: ===== [$i/$NCMDS] $cmd"
  start=$SECONDS
  # stdout is a pipe, not the console tty: programs then print no colours
  # and start no TUIs, as in CI.
  (cd "$GUEST_CWD" && exec bash -c "$cmd") </dev/null 2>&1 | cat
  rc=${PIPESTATUS[0]}
  echo "$rc" >"$share/rc.$i"
  echo "guest: ===== [$i/$NCMDS] exit $rc after $((SECONDS - start))s"
done
touch "$share/done"
poweroff
