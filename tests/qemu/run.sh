#!/usr/bin/env bash
# Runs commands inside one of Debian's stock kernels (6.1 or 6.12: fentry,
# kprobes, modules) booted under QEMU, all in one boot, and fails if any of
# them fails.
#
#   tests/qemu/run.sh [OPTIONS] [-c 'SHELL COMMAND']... [-f FILE] [-- COMMAND [ARG]...]
#
#   -c CMD         a bash command line to run in the guest (repeatable)
#   -f FILE        one bash command line per line (blank lines and #-comments skipped)
#   -- CMD ARG...  one command given as separate words (quoted for you)
#   --timeout S    kill the guest after S seconds, counted from QEMU's start (default 900)
#   --cwd DIR      directory the commands start in (default: the repository root)
#   --kernel VER   kernel to boot: a series of kernels.sh (6.1, 6.12) or a version,
#                  e.g. 6.12.117+deb12-amd64 (default: 6.1, Debian 12's own)
#   --mem MB       guest memory (default 2048)
#   --append ARGS  extra kernel command line arguments
#   --verbose      show the kernel's boot messages
#
# The guest's root is the host's / shared read-only over 9p under a tmpfs
# overlay: the guest runs the very binaries the host built, at the same paths,
# may write anywhere (writes vanish with the guest), and has a fresh /run
# (for `ip netns`). bpffs, tracefs, debugfs, cgroup2 are mounted; modprobe
# loads the kernel's modules from the host's /lib/modules. Commands run in
# order, each after the previous one ended whatever its status, as root with
# PATH set, HOME=/root, TERM=dumb, stdin from /dev/null, stdout+stderr a
# pipe; the guest has no NIC, only `lo`. Their output is printed live; then
# one line per command, `guest: PASS [VERSION] <cmd>` or
# `guest: FAIL (exit N) [VERSION] <cmd>`, VERSION being the kernel's.
# Exit status: 0 if every command ran and passed, 1 otherwise (a failed
# command, a guest that didn't boot or didn't finish within the timeout), 2
# for a usage error. Typical cost: ~4 s from start to the first command.
#
# Needs root (QEMU must read all of / to share it) and the packages that
# scripts/setup.sh installs. QEMU runs under TCG: KVM hangs on these machines.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

die() {
  printf 'qemu: error: %s\n' "$*" >&2
  exit 1
}
# The comment block at the top of this file, without the '#'s.
help_text() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
usage() {
  printf 'qemu: %s (see --help)\n' "$*" >&2
  exit 2
}

timeout_s=900
cwd=$repo
kver=
mem=2048
quiet=quiet
append=
cmds=()
while (($#)); do
  case $1 in
  -c)
    (($# >= 2)) || usage "-c needs a command"
    cmds+=("$2")
    shift 2
    ;;
  -f)
    (($# >= 2)) || usage "-f needs a file"
    [[ -r $2 ]] || die "cannot read command file $2"
    while IFS= read -r line || [[ -n $line ]]; do
      [[ $line =~ ^[[:space:]]*(#|$) ]] || cmds+=("$line")
    done <"$2"
    shift 2
    ;;
  --timeout)
    [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage "--timeout needs a number of seconds"
    timeout_s=$2
    shift 2
    ;;
  --cwd)
    (($# >= 2)) || usage "--cwd needs a directory"
    cwd=$(cd "$2" && pwd) || die "no such directory: $2"
    shift 2
    ;;
  --kernel)
    (($# >= 2)) || usage "--kernel needs a version"
    kver=$2
    shift 2
    ;;
  --mem)
    [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage "--mem needs a number of MiB"
    mem=$2
    shift 2
    ;;
  --append)
    (($# >= 2)) || usage "--append needs kernel arguments"
    append+=" $2"
    shift 2
    ;;
  --verbose)
    quiet=
    shift
    ;;
  --)
    shift
    (($#)) || usage "-- needs a command"
    printf -v line '%q ' "$@"
    cmds+=("${line% }")
    break
    ;;
  -h | --help)
    help_text
    exit 0
    ;;
  *) usage "unknown argument: $1" ;;
  esac
done
((${#cmds[@]})) || usage "no command to run"

# --- checks: everything below comes from scripts/setup.sh -------------------
((EUID == 0)) || die "needs root: QEMU must read all of / to share it with the guest"
for tool in qemu-system-x86_64 busybox timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup.sh"
done
busybox=$(command -v busybox)
# Debian's busybox package (not -static) is dynamically linked: useless in an
# initramfs without its libraries.
if ldd "$busybox" >/dev/null 2>&1; then
  die "$busybox is dynamically linked: install busybox-static (scripts/setup.sh)"
fi

# A series names the newest kernel of it that has its modules installed: the
# guest needs them both in the initramfs (9p, overlay) and later for modprobe.
# shellcheck source=tests/qemu/kernels.sh
. "$here/kernels.sh"
case ${kver:=6.1} in
*-*) ;;
*) kver=$(guest_kernel "$kver") || exit 1 ;;
esac
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[[ -r $kernel ]] || die "no kernel $kernel: run scripts/setup.sh"
[[ -f $moddir/modules.dep ]] || die "no modules for $kver in $moddir: run scripts/setup.sh"

# --- scratch space, and the guarantee that nothing outlives this script -----
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pkttrace-qemu.XXXXXX")
qemu_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- kernel: boot the uncompressed ELF inside the bzImage when possible ------
# Under TCG the kernel's own decompressor takes ~2.5 s; the host's xz takes
# ~0.7 s, and QEMU boots the ELF directly through its PVH entry point
# (CONFIG_PVH=y in Debian's kernels). Debian compresses with xz; with anything
# else, or without a PVH entry, the bzImage is booted as it is.
boot_image=$kernel
xz_at=$(LC_ALL=C grep -abo -m1 $'\xfd7zXZ' "$kernel" 2>/dev/null | head -n1 | cut -d: -f1) || true
if [[ -n $xz_at ]] && command -v xz >/dev/null && command -v readelf >/dev/null; then
  # xz complains about the bytes after the stream: the output is complete.
  tail -c "+$((xz_at + 1))" "$kernel" | xz -dc >"$tmp/vmlinux" 2>/dev/null || true
  # The PVH entry point is the ELF note XEN_ELFNOTE_PHYS32_ENTRY (type 0x12).
  if readelf -n "$tmp/vmlinux" 2>/dev/null | grep -q 'note type: (0x00000012)'; then
    boot_image=$tmp/vmlinux
  fi
fi

# --- initramfs: busybox, /init, the modules needed to mount the root --------
initrd_dir=$tmp/initramfs
mkdir -p "$initrd_dir"/{bin,dev,modules}
cp "$busybox" "$initrd_dir/bin/busybox"
cp "$here/init" "$initrd_dir/init"
chmod 755 "$initrd_dir/init"
# The kernel opens /dev/console before /init runs; without the node, the
# earliest messages of /init are lost.
mknod -m 600 "$initrd_dir/dev/console" c 5 1

# Modules to load, in order: each one's dependencies from modules.dep (listed
# deepest last, so loaded in reverse), then itself. Built-in ones are skipped.
modules_for_root=(virtio_pci 9pnet_virtio 9p overlay)
declare -A seen=()
order=()
add_module() { # PATH relative to $moddir
  local rel=$1 deps d i
  [[ -z ${seen[$rel]:-} ]] || return 0
  seen[$rel]=1
  deps=$(awk -v m="$rel:" '$1 == m { $1 = ""; print }' "$moddir/modules.dep")
  read -r -a d <<<"$deps"
  for ((i = ${#d[@]} - 1; i >= 0; i--)); do
    add_module "${d[i]}"
  done
  order+=("$rel")
}
for name in "${modules_for_root[@]}"; do
  rel=$(awk -F: -v n="$name" '{ f = $1; sub(/.*\//, "", f); sub(/\.ko(\.(xz|zst|gz))?$/, "", f);
         gsub(/-/, "_", f); if (f == n) { print $1; exit } }' "$moddir/modules.dep")
  if [[ -z $rel ]]; then
    grep -Eq "/$name\.ko" "$moddir/modules.builtin" 2>/dev/null ||
      die "kernel $kver has no module $name"
    continue
  fi
  add_module "$rel"
done
: >"$initrd_dir/modules/order"
for rel in "${order[@]}"; do
  # busybox insmod can't read compressed modules: store them plain.
  base=${rel##*/}
  src=$moddir/$rel
  case $rel in
  *.ko) cp "$src" "$initrd_dir/modules/$base" ;;
  *.ko.xz) xz -dc "$src" >"$initrd_dir/modules/${base%.xz}" || die "cannot decompress $src (install xz-utils)" ;;
  *.ko.zst) zstd -qdc "$src" >"$initrd_dir/modules/${base%.zst}" || die "cannot decompress $src (install zstd)" ;;
  *.ko.gz) gzip -dc "$src" >"$initrd_dir/modules/${base%.gz}" ;;
  *) die "unexpected module file $src" ;;
  esac
  base=${base%.xz}
  base=${base%.zst}
  echo "${base%.gz}" >>"$initrd_dir/modules/order"
done

guest_share=/run/pkttrace-qemu
msize=512000
cat >"$initrd_dir/config" <<EOF
GUEST_SHARE=$guest_share
MSIZE=$msize
EOF
# No compression: the archive is small and the kernel unpacks it faster.
(cd "$initrd_dir" && find . -print0 | busybox cpio -o -H newc -0 2>/dev/null) >"$tmp/initramfs.cpio" ||
  die "building the initramfs failed"

# --- the writable share: settings, commands, and results --------------------
share=$tmp/share
mkdir -p "$share"
cp "$here/stage2.sh" "$share/stage2.sh"
printf 'GUEST_CWD=%q\nNCMDS=%d\n' "$cwd" "${#cmds[@]}" >"$share/config"
for i in "${!cmds[@]}"; do
  printf '%s\n' "${cmds[i]}" >"$share/cmd.$((i + 1))"
done

# --- boot ---------------------------------------------------------------------
echo "qemu: booting Debian kernel $kver ($kernel), ${#cmds[@]} command(s), timeout ${timeout_s}s" >&2
started=$SECONDS
# TCG, not KVM: a KVM guest hangs at boot on these machines.
# multidevs=remap: the host's / spans several filesystems; without it their
# inode numbers could collide inside the guest.
# panic=-1 + -no-reboot: a guest that panics ends QEMU instead of hanging.
# The console goes through sed because the guest tty turns \n into \r\n
# (-u: unbuffered, the output is live). It is started first so that its PID is
# known and its last lines can be waited for before the summary is printed.
exec {console}> >(sed -u 's/\r$//')
filter_pid=$!
timeout --kill-after=10 "$timeout_s" \
  qemu-system-x86_64 \
  -accel tcg,thread=multi -cpu max -smp 2 -m "$mem" \
  -nodefaults -display none -no-reboot -nic none \
  -chardev stdio,id=console,signal=off -serial chardev:console \
  -kernel "$boot_image" -initrd "$tmp/initramfs.cpio" \
  -append "console=ttyS0 $quiet panic=-1 8250.nr_uarts=1$append" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=${share//,/,,},mount_tag=results,security_model=none,multidevs=remap" \
  </dev/null >&"$console" &
qemu_pid=$!
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=
exec {console}>&-
wait "$filter_pid" || true
elapsed=$((SECONDS - started))

# --- results ------------------------------------------------------------------
failed=0
if ((qemu_rc == 124 || qemu_rc == 137)); then
  # The guest was cut off, likely in the middle of a line: start a new one.
  echo
  echo "qemu: error: the guest did not finish within ${timeout_s}s: killed" >&2
  failed=1
elif [[ ! -f $share/done ]]; then
  echo "qemu: error: the guest stopped before running all commands (QEMU exit $qemu_rc)" >&2
  failed=1
fi
for i in "${!cmds[@]}"; do
  n=$((i + 1))
  if [[ -f $share/rc.$n ]]; then
    rc=$(<"$share/rc.$n")
    if [[ $rc == 0 ]]; then
      echo "guest: PASS [$kver] ${cmds[i]}"
    else
      echo "guest: FAIL (exit $rc) [$kver] ${cmds[i]}"
      failed=1
    fi
  else
    echo "guest: FAIL (did not finish) [$kver] ${cmds[i]}"
    failed=1
  fi
done
echo "qemu: guest ran for ${elapsed}s" >&2
exit "$failed"
