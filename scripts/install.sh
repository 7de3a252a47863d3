#!/usr/bin/env bash
# Puts imgplan on PATH: the single-file bundle, the pinned Node.js runtime where this host's node is
# older than imgplan supports, the man page and the shell completions, and a launcher:
#
#   PREFIX/bin/imgplan                          sh launcher: exec NODE PREFIX/lib/imgplan/imgplan.mjs "$@"
#   PREFIX/lib/imgplan/imgplan.mjs              the bundle (dist/imgplan.mjs), and its licences
#   PREFIX/lib/imgplan/node/bin/node            the pinned Node.js (.runtime/node), only when needed
#   PREFIX/share/man/man1/imgplan.1, PREFIX/share/bash-completion/completions/imgplan,
#   PREFIX/share/zsh/site-functions/_imgplan    whatever the build made under dist/share/
#   PREFIX/lib/imgplan/installed-files          what this script installed, for --uninstall
#
# Usage, as root (sudo for others):
#   bash scripts/install.sh [--prefix DIR] [--with-runtime]   install (again: the same result; files an
#                                                             older install had and this one has not go)
#   bash scripts/install.sh [--prefix DIR] --uninstall        remove exactly what installed-files lists,
#                                                             then the directories it made, once empty
# PREFIX defaults to /usr/local. DESTDIR=DIR installs into DIR/PREFIX for packaging (the launcher and
# installed-files name PREFIX). --with-runtime installs the pinned runtime even when the host's node
# would do. Needs only bash and coreutils; run scripts/install-deps.sh (or npm run build) first. From a
# release tarball, the same script finds imgplan.mjs, node/ and share/ beside it.
set -euo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }
usage() { # the comment above
  local l
  while IFS= read -r l; do
    case $l in '#!'*) ;; '#'*) l=${l#'#'}; printf '%s\n' "${l# }" ;; *) break ;; esac
  done <"${BASH_SOURCE[0]}"
}

prefix=/usr/local
mode=install
with_runtime=0
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --with-runtime) with_runtime=1; shift ;;
    --uninstall) mode=uninstall; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

# PREFIX: absolute, normalised (the record names paths under it, and uninstall removes nothing else)
while [ "${prefix%/}" != "$prefix" ] && [ "$prefix" != / ]; do prefix=${prefix%/}; done
case $prefix in
  /) die "--prefix / is not allowed" ;;
  /*) ;;
  *) die "--prefix must be an absolute path: $prefix" ;;
esac
case $prefix/ in
  *//* | */./* | */../* | *$'\n'*) die "--prefix must be a normalised path (no //, . or ..): $prefix" ;;
esac
destdir=${DESTDIR:-}
while [ "${destdir%/}" != "$destdir" ]; do destdir=${destdir%/}; done

lib=$prefix/lib/imgplan
record=$lib/installed-files
root=$destdir$prefix

# --- the record: "f PATH" for a file, "d PATH" for a directory this script made ---------------------

declare -A old_files=() old_dirs=()
read_record() { # reads $destdir$record into old_files, old_dirs; refuses a path outside PREFIX
  local line kind path
  [ -f "$destdir$record" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in '#'* | '') continue ;; esac
    kind=${line%% *}
    path=${line#* }
    case $path in
      "$prefix" | "$prefix"/*) ;;
      *) die "$destdir$record names $path, outside $prefix: not touching anything" ;;
    esac
    case $path/ in */./* | */../* | *//*) die "$destdir$record names $path, which is not normalised: not touching anything" ;; esac
    case $kind in
      f) old_files[$path]=1 ;;
      d) old_dirs[$path]=1 ;;
      *) die "$destdir$record: unreadable line: $line" ;;
    esac
  done <"$destdir$record"
}

# Removes the recorded directories that are empty, deepest first; prints those that stay.
remove_empty_dirs() { # DIR...
  local d
  [ $# -gt 0 ] || return 0
  printf '%s\n' "$@" | sort -r | while IFS= read -r d; do
    if [ -d "$destdir$d" ] && ! rmdir -- "$destdir$d" 2>/dev/null; then printf '%s\n' "$d"; fi
  done
}

if [ "$mode" = uninstall ]; then
  [ -f "$destdir$record" ] || { say "imgplan is not installed under $root (no $destdir$record): nothing to do"; exit 0; }
  read_record
  n=0
  for f in "${!old_files[@]}"; do
    if [ -f "$destdir$f" ] || [ -L "$destdir$f" ]; then rm -f -- "$destdir$f"; n=$((n + 1)); fi
  done
  rm -f -- "$destdir$record"
  # root's compile cache (lib/runtime.sh's RT_COMPILE_CACHE; made by the launcher's runs, not
  # installed): removed too, unless the .deb's imgplan uses it as well
  cache=/var/cache/imgplan/node-compile-cache
  if [ -z "$destdir" ] && [ -d "$cache" ] && [ ! -e /usr/bin/imgplan ]; then
    rm -rf -- "$cache"
    rmdir -- "${cache%/*}" 2>/dev/null || true
  fi
  kept=$(remove_empty_dirs "${!old_dirs[@]}")
  [ -z "$kept" ] || say "kept these directories, which now hold files imgplan did not install: ${kept//$'\n'/, }"
  say "removed imgplan from $root ($n files)"
  exit 0
fi

# --- what to install, and from where --------------------------------------------------------------

if [ -f "$here/../dist/imgplan.mjs" ]; then # a clone of the repository (scripts/install.sh)
  repo=$(cd "$here/.." && pwd)
  src_bundle=$repo/dist/imgplan.mjs src_share=$repo/dist/share self=scripts/install.sh where=
elif [ -f "$here/imgplan.mjs" ]; then # a release tarball: install.sh beside imgplan.mjs, node/, share/
  src_bundle=$here/imgplan.mjs src_share=$here/share
  RT_ENV=$here/node-runtime.env RT_DIR=$here/node self=install.sh where=" (in the release tarball)"
else
  die "there is no bundle to install ($here/../dist/imgplan.mjs): run bash scripts/install-deps.sh (or npm run build) first"
fi
# shellcheck source=lib/runtime.sh
. "$here/lib/runtime.sh"
src_runtime=$RT_DIR node_min=$IMGPLAN_NODE_MIN
# This host's node, if new enough: not the pinned runtime's, nor an installed runtime's.
host_node() { rt_host_node "$lib/node/bin" "$root/lib/imgplan/node/bin"; }

node= run_node=
if [ "$with_runtime" = 0 ] && node=$(host_node); then
  run_node=$node
  say "using this host's node $node ($("$node" --version)): the pinned runtime is not installed"
else
  [ -x "$src_runtime/bin/node" ] || die "this host has no Node.js $node_min or newer, and there is no pinned runtime to install ($src_runtime): run bash scripts/install-deps.sh first"
  [ "$(rt_major "$src_runtime/bin/node")" -ge "$node_min" ] || die "$src_runtime/bin/node is older than Node.js $node_min"
  node=$lib/node/bin/node run_node=$src_runtime/bin/node
  say "installing the pinned Node.js $("$run_node" --version) from $src_runtime$([ "$with_runtime" = 1 ] && echo ' (--with-runtime)')"
fi
version=$("$run_node" "$src_bundle" --version) || die "the bundle $src_bundle does not run on $run_node"

# sources and destinations (under PREFIX), modes
declare -a srcs=() dsts=() modes=()
add() { srcs+=("$1"); dsts+=("$2"); modes+=("$3"); }
add "$src_bundle" "$lib/imgplan.mjs" 0644
[ ! -f "$src_bundle.licenses.txt" ] || add "$src_bundle.licenses.txt" "$lib/imgplan.mjs.licenses.txt" 0644
if [ "$node" = "$lib/node/bin/node" ]; then
  add "$src_runtime/bin/node" "$lib/node/bin/node" 0755
  [ ! -f "$src_runtime/LICENSE" ] || add "$src_runtime/LICENSE" "$lib/node/LICENSE" 0644
fi
if [ -d "$src_share" ]; then
  shopt -s globstar nullglob dotglob
  for f in "$src_share"/**; do
    [ -f "$f" ] && add "$f" "$prefix/share/${f#"$src_share"/}" 0644
  done
  shopt -u globstar nullglob dotglob
fi
launcher=$prefix/bin/imgplan
add - "$launcher" 0755

uninstall_cmd="$self$([ "$prefix" = /usr/local ] || printf ' --prefix %s' "$prefix") --uninstall$where"
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; } # quoted for sh
launcher_text() {
  printf '#!/bin/sh\n'
  printf '# imgplan %s, installed by %s%s: runs the bundle on Node.js %s.\n' "$version" "$self" "$where" "$node"
  printf '# %s lists what was installed; %s removes it.\n' "$record" "$uninstall_cmd"
  printf '[ -x %s ] || { echo %s >&2; exit 127; }\n' "$(q "$node")" "$(q "imgplan: $node is gone; run $self again")"
  rt_compile_cache_lines
  printf 'exec %s %s "$@"\n' "$(q "$node")" "$(q "$lib/imgplan.mjs")"
}

# --- install --------------------------------------------------------------------------------------

read_record
declare -A new_files=() dirs=()
for d in "${!old_dirs[@]}"; do [ -d "$destdir$d" ] && dirs[$d]=1; done

mkdir -p -- "$(dirname -- "$root")"
make_dirs() { # every missing directory from PREFIX down to $1, recorded
  local d=$1 rel part
  rel=${d#"$prefix"}
  d=$prefix
  if [ ! -d "$destdir$d" ]; then mkdir -- "$destdir$d"; dirs[$d]=1; fi
  local -a parts
  IFS=/ read -ra parts <<<"${rel#/}"
  for part in "${parts[@]}"; do
    d=$d/$part
    if [ ! -d "$destdir$d" ]; then mkdir -- "$destdir$d"; dirs[$d]=1; fi
  done
}

for i in "${!dsts[@]}"; do
  dst=${dsts[$i]}
  make_dirs "$(dirname -- "$dst")"
  [ ! -d "$destdir$dst" ] || die "$destdir$dst is a directory"
  tmp=$destdir$dst.imgplan-new.$$
  if [ "${srcs[$i]}" = - ]; then launcher_text >"$tmp"; else cp -- "${srcs[$i]}" "$tmp"; fi
  chmod "${modes[$i]}" -- "$tmp"
  mv -f -- "$tmp" "$destdir$dst" # a new inode: a running node or imgplan is not disturbed
  new_files[$dst]=1
done

# what an earlier install had and this one has not (the runtime, once the host's node will do)
for f in "${!old_files[@]}"; do
  [ -n "${new_files[$f]:-}" ] || rm -f -- "$destdir$f"
done
# the directories it made that no file needs any more
needed() { local f; for f in "${!new_files[@]}"; do case $f in "$1"/*) return 0 ;; esac; done; return 1; }
unneeded=()
for d in "${!dirs[@]}"; do needed "$d" || unneeded+=("$d"); done
if [ ${#unneeded[@]} -gt 0 ]; then
  mapfile -t unneeded < <(printf '%s\n' "${unneeded[@]}" | sort -r)
  for d in "${unneeded[@]}"; do
    if rmdir -- "$destdir$d" 2>/dev/null; then unset "dirs[$d]"; fi
  done
fi
{
  printf '# imgplan %s under %s, installed by %s%s: what --uninstall removes.\n' "$version" "$prefix" "$self" "$where"
  printf '# f PATH: a file it installed; d PATH: a directory it made (removed once empty).\n'
  printf 'f %s\n' "${!new_files[@]}" | sort
  [ ${#dirs[@]} -eq 0 ] || printf 'd %s\n' "${!dirs[@]}" | sort
} >"$destdir$record.imgplan-new.$$"
mv -f -- "$destdir$record.imgplan-new.$$" "$destdir$record"

say "imgplan $version installed under $root: $launcher runs $lib/imgplan.mjs on $node (${#new_files[@]} files)"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) say "note: $prefix/bin is not on PATH; run $launcher, or add $prefix/bin to PATH" ;;
esac
