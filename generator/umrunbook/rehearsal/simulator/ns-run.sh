#!/bin/bash
# ns-run.sh: runs one command inside a simulated Usage Meter appliance (umrunbook simulator).
# Called by the simulator as: unshare -m -u bash ns-run.sh ROOT -- COMMAND [ARG]...
# Inside a private mount and UTS namespace it binds the simulated appliance over the real paths
# (/opt/vmware, /var/lib/um-upgrade-agent, the boot id; for an ISO hop the upload folder and
# /root/upgrade), binds shims over service, systemctl,
# reboot and hostname, sets the host name, then runs COMMAND. Nothing outside the namespace changes.
set -Eeuo pipefail

die() {
  printf 'simulator: %s\n' "$*" >&2
  exit 125
}

spec_get() {
  local key=$1 line
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "${line%%=*}" == "$key" ]]; then
      printf '%s' "${line#*=}"
      return 0
    fi
  done <"$ROOT/sim/spec.env"
}

# A bind mount needs a mount point; a missing one is made in an overlay of its parent, so the
# real parent folder stays untouched.
declare -A OVERLAID=()
ensure_mount_point() {
  local target=$1 kind=$2 parent tag
  if [[ -e "$target" ]]; then
    return 0
  fi
  parent=$(dirname -- "$target")
  [[ -d "$parent" ]] || die "$parent does not exist on this machine: cannot simulate $target"
  if [[ -z "${OVERLAID[$parent]:-}" ]]; then
    tag=${parent//\//_}
    mkdir -p -- "$ROOT/ns/$tag/upper" "$ROOT/ns/$tag/work"
    mount -t overlay "um-sim$tag" \
      -o "lowerdir=$parent,upperdir=$ROOT/ns/$tag/upper,workdir=$ROOT/ns/$tag/work" "$parent" ||
      die "cannot mount an overlay on $parent (needed to create $target inside the namespace)"
    OVERLAID[$parent]=1
  fi
  if [[ "$kind" == dir ]]; then mkdir -p -- "$target"; else : >"$target"; fi
}

bind() {
  local source=$1 target=$2 kind=$3
  ensure_mount_point "$target" "$kind"
  mount --bind -- "$source" "$target" || die "cannot bind $source over $target"
}

main() {
  ROOT=$1
  shift
  [[ "${1:-}" == -- ]] && shift
  (($# > 0)) || die "no command given"
  [[ -f "$ROOT/sim/spec.env" ]] || die "$ROOT is not a simulated appliance"

  mount --make-rprivate / || die "cannot make the mounts private (run it under unshare -m)"
  bind "$ROOT/vmware" /opt/vmware dir
  bind "$ROOT/state" /var/lib/um-upgrade-agent dir
  bind "$ROOT/boot_id" /proc/sys/kernel/random/boot_id file
  # root's home (upload folders, /root/upgrade) and the VM's CD/DVD drive (a file: empty when no
  # disc is in it, else the ISO's bytes).
  if [[ -d "$ROOT/home-root" ]]; then bind "$ROOT/home-root" /root dir; fi
  # The public host keys (/etc/ssh/ssh_host_*_key.pub) and /etc/sysconfig (the proxy file).
  # /etc/sysconfig first: where it is missing, an overlay of /etc makes it, which would hide a
  # bind made before it.
  if [[ -d "$ROOT/etc-sysconfig" ]]; then bind "$ROOT/etc-sysconfig" /etc/sysconfig dir; fi
  if [[ -d "$ROOT/etc-ssh" ]]; then bind "$ROOT/etc-ssh" /etc/ssh dir; fi
  if [[ -f "$ROOT/cdrom-drive" ]]; then bind "$ROOT/cdrom-drive" /dev/cdrom file; fi
  # An ISO hop: the folder the files are uploaded to, and the ISO "mounted" where the vendor's
  # commands mount it (the harness plays the operator, who attaches and mounts it).
  local upload
  upload=$(spec_get upload_dir)
  if [[ -n "$upload" && -d "$ROOT/upload" ]]; then
    bind "$ROOT/upload" "$upload" dir
  fi
  if [[ -d "$ROOT/cdrom" ]]; then
    bind "$ROOT/cdrom" /root/upgrade dir
  fi

  local name dir
  for name in service systemctl reboot shutdown halt poweroff hostname; do
    for dir in /usr/sbin /usr/bin /sbin /bin; do
      if [[ -e "$dir/$name" ]]; then
        mount --bind -- "$ROOT/bin/$name" "$dir/$name" || die "cannot bind the $name shim over $dir/$name"
      fi
    done
  done

  # mount and umount last: their shims stand in for them from here on (for /root/upgrade only).
  local real_mount="$ROOT/ns/mount.real" path
  declare -A done_paths=()
  mkdir -p -- "$ROOT/ns"
  cp -- "$(command -v mount)" "$real_mount"
  for name in umount mount; do
    for dir in /usr/bin /bin /usr/sbin /sbin; do
      [[ -e "$dir/$name" ]] || continue
      path=$(readlink -f -- "$dir/$name")
      [[ -z "${done_paths[$path]:-}" ]] || continue
      done_paths[$path]=1
      "$real_mount" --bind -- "$ROOT/bin/$name" "$path" || die "cannot bind the $name shim over $path"
    done
  done

  printf '%s' "$(spec_get hostname)" >/proc/sys/kernel/hostname || die "cannot set the host name (run it under unshare -u)"
  export PATH="$ROOT/bin:$PATH"
  export UM_SIM_DIR="$ROOT/sim"
  cd /
  exec "$@"
}

main "$@"
