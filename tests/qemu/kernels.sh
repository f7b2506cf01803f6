# shellcheck shell=bash
# Sourced by the scripts that boot or build for Debian's kernels (run.sh,
# ci.sh, scripts/test.sh, tests/data/record.sh). The guest stage runs on two
# of them, each found by the pattern of its version, never as "the newest in
# /boot" (which changes as soon as another kernel is installed):
#
#   6.1   linux-image-amd64's (bookworm):      6.1.0-N-amd64
#   6.12  linux-image-6.12-amd64's (bookworm):  6.12.N+debM-amd64
#
# GUEST_KERNELS lists the series in the order the guest stage runs them.
GUEST_KERNELS=(6.1 6.12)

# guest_kernel SERIES [headers] -> the version of the newest installed
# kernel of SERIES that has its modules (and with `headers`, its build
# directory, to build sch_tdma against). On failure: a clear message on
# stderr, status 1, nothing on stdout.
guest_kernel() {
  local series=$1 need=${2:-} pattern package k v found=
  case $series in
  6.1) pattern='6.1.0-*-amd64' package='linux-image-amd64 linux-headers-amd64' ;;
  6.12) pattern='6.12.*-amd64' package='linux-image-6.12-amd64 linux-headers-6.12-amd64' ;;
  *)
    printf 'qemu: error: unknown guest kernel series %s (known: %s)\n' "$series" "${GUEST_KERNELS[*]}" >&2
    return 1
    ;;
  esac
  while IFS= read -r k; do
    v=${k#/boot/vmlinuz-}
    [[ -f /lib/modules/$v/modules.dep ]] || continue
    [[ $need != headers || -d /lib/modules/$v/build ]] || continue
    found=$v
  done < <(find /boot -maxdepth 1 -name "vmlinuz-$pattern" | sort -V)
  if [[ -z $found ]]; then
    printf 'qemu: error: no Debian %s kernel (/boot/vmlinuz-%s) with modules%s: run scripts/setup.sh (apt: %s)\n' \
      "$series" "$pattern" "${need:+ and headers}" "$package" >&2
    return 1
  fi
  echo "$found"
}
