# shellcheck shell=bash
# Fresh minimal Debian roots for the fresh-machine lane (test/fresh-root/run.sh). Sourced.
#
#   fr_base SUITE        a pristine debootstrap --variant=minbase root of SUITE (bookworm, trixie),
#                        made once and kept in FR_CACHE (IMGPLAN_FRESH_ROOT_CACHE, default
#                        /var/cache/imgplan/fresh-roots) until the mirror or the variant changes
#   fr_new NAME SUITE    a copy of it in FR_WORK/NAME, trusting the host's CA certificates as a host
#                        inside the same organisation would, with no service started by dpkg
#   fr_run NAME CMD      runs bash -c CMD as root in it: its own mount namespace (proc, sys, dev and
#                        a tmpfs /run, gone with the namespace), a clean environment (PATH, HOME,
#                        LANG, and the host's proxy and CA-bundle variables), cwd /root
#   fr_leftovers NAME    prints what the root left on the host: loop devices backed by a file in it,
#                        mounts under it, processes running in it; nothing if clean
#   fr_remove NAME       deletes the copy (refused while anything is mounted under it)

FR_MIRROR=${IMGPLAN_FRESH_ROOT_MIRROR:-http://deb.debian.org/debian}
FR_CACHE=${IMGPLAN_FRESH_ROOT_CACHE:-/var/cache/imgplan/fresh-roots}
FR_WORK=${FR_WORK:-/var/tmp/imgplan-fresh-roots}

fr_say() { printf 'fresh-root: %s\n' "$*"; }
fr_die() { printf 'fresh-root: error: %s\n' "$*" >&2; exit 1; }

fr_key() { printf 'debootstrap --variant=minbase %s %s\n' "$1" "$FR_MIRROR"; }

fr_base() {
  local suite=$1 dir=$FR_CACHE/$1 t
  if [ -f "$dir/.imgplan-fresh-root" ] && [ "$(cat "$dir/.imgplan-fresh-root")" = "$(fr_key "$suite")" ]; then
    return 0
  fi
  mkdir -p "$FR_CACHE"
  rm -rf "$dir" "$dir.partial"
  fr_say "debootstrap --variant=minbase $suite (kept in $FR_CACHE for the next runs)"
  t=$(date +%s)
  debootstrap --variant=minbase "$suite" "$dir.partial" "$FR_MIRROR" >"$FR_CACHE/$suite.log" 2>&1 \
    || { tail -20 "$FR_CACHE/$suite.log" >&2; fr_die "debootstrap $suite failed (log: $FR_CACHE/$suite.log)"; }
  fr_key "$suite" >"$dir.partial/.imgplan-fresh-root"
  mv "$dir.partial" "$dir"
  fr_say "$suite root made in $(( $(date +%s) - t )) s"
}

fr_root() { printf '%s/%s' "$FR_WORK" "$1"; }

fr_new() {
  local name=$1 suite=$2 root
  root=$(fr_root "$name")
  fr_base "$suite"
  fr_remove "$name"
  mkdir -p "$FR_WORK"
  cp -a "$FR_CACHE/$suite" "$root"
  rm -f "$root/.imgplan-fresh-root"
  # the host's own CAs (an organisation's, a proxy's): in the store ca-certificates builds when
  # apt installs it, and in the bundle from the start (curl and Node read it before that)
  mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
  if [ -d /usr/local/share/ca-certificates ]; then
    cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  fi
  [ ! -f /etc/ssl/certs/ca-certificates.crt ] || cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  # no daemon started from a package's maintainer scripts in a chroot
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
}

# The variables a host passes to what it runs: proxies and CA bundles, when the host sets them.
fr_env() {
  local v
  printf '%s\0' PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
    NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE GIT_SSL_CAINFO REQUESTS_CA_BUNDLE; do
    [ -z "${!v:-}" ] || printf '%s=%s\0' "$v" "${!v}"
  done
}

fr_run() {
  local name=$1 cmd=$2 root
  root=$(fr_root "$name")
  [ -d "$root" ] || fr_die "no root $name"
  local -a env
  mapfile -d '' -t env < <(fr_env)
  # the mounts live in the namespace unshare makes, so they go when it ends, whatever happens
  unshare --mount --propagation private -- bash -c '
    set -e
    root=$1; shift
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    cd "$root"
    exec chroot "$root" /usr/bin/env -i "$@"
  ' fr-run "$root" "${env[@]}" bash -c "cd /root && $cmd"
}

fr_leftovers() {
  local root dev back pid
  root=$(fr_root "$1")
  while read -r dev back; do
    case $back in "$root"/*) printf 'loop device %s (%s)\n' "$dev" "$back" ;; esac
  done < <(losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null)
  findmnt --list --noheadings --output TARGET | while IFS= read -r t; do
    case $t in "$root" | "$root"/*) printf 'mount %s\n' "$t" ;; esac
  done
  for pid in /proc/[0-9]*; do
    [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ] && printf 'process %s (%s)\n' "${pid#/proc/}" "$(tr '\0' ' ' <"$pid/cmdline" 2>/dev/null)"
  done
  return 0
}

fr_remove() {
  local root t
  root=$(fr_root "$1")
  [ -e "$root" ] || return 0
  while IFS= read -r t; do
    case $t in "$root" | "$root"/*) fr_die "$t is mounted; not removing $root" ;; esac
  done < <(findmnt --list --noheadings --output TARGET)
  rm -rf --one-file-system -- "$root"
}
