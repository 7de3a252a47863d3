#!/usr/bin/env bash
# The fresh-machine lane: what a newcomer does on a fresh Debian machine, in fresh minimal Debian
# roots (debootstrap minbase, cached: test/fresh-root/root.sh), as root, on this host's kernel.
#
#   test/fresh-root/run.sh SCENARIO [--keep]
#
#   quickstart-12, quickstart-13   a clean copy of the repository in a fresh Debian 12 / 13 root, then
#                                  the README's first quick-start command exactly as written:
#                                  bash scripts/demo.sh -> "Demo OK"
#   suite-12, suite-13             a clean copy in a fresh Debian 12 / 13 root, then the README's second
#                                  quick-start command exactly as written: bash scripts/test.sh
#                                  (every lane; the VM lane boots with the fresh root as its "/")
#   deb-13                         the .deb (scripts/build-deb.sh, built here) in a fresh Debian 13 root:
#                                  apt-get install ./imgplan_….deb, man imgplan, bash completion of a
#                                  command and a flag, then the demo through
#                                  /usr/bin/imgplan (scripts/demo.sh --installed), then apt-get purge
#   tarball-12                     the release tarball (scripts/build-tarball.sh, built here) in a
#                                  fresh Debian 12 root with no Node.js at all: its install.sh, the
#                                  demo through /usr/local/bin/imgplan, install.sh --uninstall
#
# Each ends by checking that nothing is left on the host: no loop device backed by a file in the
# root, no mount under it, no process in it; then the root is deleted (--keep keeps it). Needs
# debootstrap and the network the host's apt and npm use. Exit 0 when the scenario passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO=$PWD
# shellcheck source=root.sh
. test/fresh-root/root.sh

scenario=${1:-}
keep=0
[ "${2:-}" != --keep ] || keep=1
[ "$(id -u)" -eq 0 ] || fr_die "run as root"
command -v debootstrap >/dev/null || fr_die "debootstrap is missing: apt-get install debootstrap"

# What a clean clone holds (the tracked files, and new ones not ignored), without .git's history.
copy_clone() { # ROOT_DIR
  mkdir -p "$1/root/imgplan"
  git -C "$REPO" ls-files -z --cached --others --exclude-standard \
    | (cd "$REPO" && tar --null --no-recursion -T - -cf -) | tar -xf - -C "$1/root/imgplan"
}

# A fresh root NAME on SUITE holding PACKAGE in /root and, in /root/demo, only what the demo needs
# beside an installed imgplan (scripts/demo.sh --installed).
stage_demo() { # NAME SUITE PACKAGE
  fr_new "$1" "$2"
  local root
  root=$(fr_root "$1")
  mkdir -p "$root/root/demo/scripts" "$root/root/demo/examples"
  cp "$3" "$root/root/"
  cp scripts/demo.sh "$root/root/demo/scripts/"
  cp examples/demo.yaml "$root/root/demo/examples/"
}

name=$scenario
start=$(date +%s)
finish() {
  local rc=$? left
  left=$(fr_leftovers "$name")
  if [ -n "$left" ]; then
    printf 'fresh-root: %s left this behind on the host:\n%s\n' "$name" "$left" >&2
    rc=1
  fi
  if [ "$keep" = 1 ] || [ -n "$left" ]; then fr_say "kept $(fr_root "$name")"; else fr_remove "$name"; fi
  fr_say "$name: $([ "$rc" = 0 ] && echo passed || echo "FAILED (exit $rc)") in $(( $(date +%s) - start )) s"
  exit "$rc"
}
trap finish EXIT

case $scenario in
  quickstart-12 | quickstart-13 | suite-12 | suite-13)
    suite=$(case $scenario in *-12) echo bookworm ;; *) echo trixie ;; esac)
    # exactly one of the README's quick-start commands, in the clone, as root: the first (the demo),
    # or the second (the whole suite, the VM lane's VMs booting with this root as their "/")
    case $scenario in
      quickstart-*) cmd='bash scripts/demo.sh' expect='^Demo OK$' ;;
      suite-*) cmd='bash scripts/test.sh' expect='^total: [1-9][0-9]* passed, 0 failed' ;;
    esac
    fr_new "$name" "$suite"
    copy_clone "$(fr_root "$name")"
    fr_say "$name: $cmd in a fresh Debian $suite root"
    fr_run "$name" "cd imgplan && $cmd" 2>&1 | tee "$FR_WORK/$name.log"
    grep -aqE "$expect" "$FR_WORK/$name.log" || fr_die "$name: no line '$expect' from $cmd (log: $FR_WORK/$name.log)"
    ;;
  deb-13)
    debs=(dist/packages/imgplan_*.deb)
    [ -f "${debs[0]}" ] || fr_die "no dist/packages/imgplan_*.deb: run bash scripts/build-deb.sh first"
    stage_demo "$name" trixie "${debs[0]}"
    cp test/fresh-root/complete-installed.sh "$(fr_root "$name")/root/"
    fr_run "$name" "set -e
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq ./$(basename "${debs[0]}") man-db >/dev/null
      dpkg-query -W -f='\${Package} \${Version} \${Status}\n' imgplan
      command -v imgplan
      imgplan --version
      man -w imgplan
      MANWIDTH=80 man imgplan 2>/dev/null | head -3
      apt-get install -y -qq bash-completion >/dev/null
      bash complete-installed.sh
      cd demo && bash scripts/demo.sh --installed
      [ -d /var/cache/imgplan/node-compile-cache ] && echo 'compile cache: /var/cache/imgplan/node-compile-cache'
      apt-get purge -y -qq imgplan >/dev/null
      ! command -v imgplan
      [ ! -e /usr/lib/imgplan ] && [ ! -e /var/cache/imgplan ] && echo 'purged: /usr/lib/imgplan and the compile cache are gone'" 2>&1 | tee "$FR_WORK/$name.log"
    grep -qx 'Demo OK' "$FR_WORK/$name.log" || fr_die "$name: no 'Demo OK' (log: $FR_WORK/$name.log)"
    grep -qx 'completion: imgplan des -> destroy' "$FR_WORK/$name.log" || fr_die "$name: bash completion did not complete the command 'des'"
    grep -qx 'completion: imgplan plan --det -> --detailed-exitcode' "$FR_WORK/$name.log" || fr_die "$name: bash completion did not complete the flag '--det'"
    grep -qx 'compile cache: /var/cache/imgplan/node-compile-cache' "$FR_WORK/$name.log" || fr_die "$name: /usr/bin/imgplan kept no compile cache"
    grep -qx 'purged: /usr/lib/imgplan and the compile cache are gone' "$FR_WORK/$name.log" || fr_die "$name: the purge did not finish"
    ;;
  tarball-12)
    tars=(dist/packages/imgplan-*-linux-*.tar.gz)
    [ -f "${tars[0]}" ] || fr_die "no dist/packages/imgplan-*-linux-*.tar.gz: run bash scripts/build-tarball.sh first"
    stage_demo "$name" bookworm "${tars[0]}"
    t=$(basename "${tars[0]}")
    fr_run "$name" "set -e
      export DEBIAN_FRONTEND=noninteractive
      ! command -v node
      apt-get update -qq
      apt-get install -y -qq fdisk e2fsprogs >/dev/null
      tar -xzf $t
      bash ${t%.tar.gz}/install.sh
      imgplan --version
      cd demo && bash scripts/demo.sh --installed && cd ..
      [ -d /var/cache/imgplan/node-compile-cache ] && echo 'compile cache: /var/cache/imgplan/node-compile-cache'
      bash ${t%.tar.gz}/install.sh --uninstall
      ! command -v imgplan
      [ ! -e /usr/local/lib/imgplan ] && [ ! -e /var/cache/imgplan ] && echo 'uninstalled: /usr/local/lib/imgplan and the compile cache are gone'" 2>&1 | tee "$FR_WORK/$name.log"
    grep -qx 'Demo OK' "$FR_WORK/$name.log" || fr_die "$name: no 'Demo OK' (log: $FR_WORK/$name.log)"
    grep -qx 'compile cache: /var/cache/imgplan/node-compile-cache' "$FR_WORK/$name.log" || fr_die "$name: /usr/local/bin/imgplan kept no compile cache"
    grep -qx 'uninstalled: /usr/local/lib/imgplan and the compile cache are gone' "$FR_WORK/$name.log" || fr_die "$name: the uninstall did not finish"
    ;;
  *) fr_die "unknown scenario '$scenario': quickstart-12, quickstart-13, suite-12, suite-13, deb-13 or tarball-12" ;;
esac
