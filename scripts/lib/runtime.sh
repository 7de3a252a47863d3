# shellcheck shell=bash
# Which Node.js imgplan's scripts build, test and run on. Sourced (bash) by scripts/install-deps.sh,
# scripts/demo.sh and scripts/test.sh; the pins are in scripts/node-runtime.env.
#
#   rt_select   puts a Node.js >= IMGPLAN_NODE_MIN first on PATH and sets RT_NODE: this host's own
#               node (with its npm) if it is new enough, else the pinned runtime in .runtime/node/
#               once fetched; returns 1 (RT_WHY says why) if there is neither. IMGPLAN_PINNED_NODE=1
#               skips the host's node.
#   rt_fetch    fetches the pinned Node.js and npm tarballs from the npm registry (IMGPLAN_NPM_REGISTRY,
#               default https://registry.npmjs.org) with curl (or, without curl, npm pack), checks each
#               against its pinned sha512 integrity (a mismatch stops everything, nothing is
#               unpacked), and unpacks them into .runtime/node/ (bin/node, bin/npm, bin/npx,
#               lib/node_modules/npm). The host's own node is never touched.

# A clone of the repository: scripts/node-runtime.env and .runtime/node. A release tarball's
# install.sh sets RT_ENV and RT_DIR to its own node-runtime.env and node/ before sourcing this.
RT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RT_ENV=${RT_ENV:-$RT_REPO/scripts/node-runtime.env}
# shellcheck source=../node-runtime.env
. "$RT_ENV"
RT_DIR=${RT_DIR:-$RT_REPO/.runtime/node}
RT_STAMP=$RT_DIR/imgplan-runtime.txt
RT_REGISTRY=${IMGPLAN_NPM_REGISTRY:-https://registry.npmjs.org}
RT_REGISTRY=${RT_REGISTRY%/}
RT_NODE=
RT_WHY=
# where root's launchers keep V8's compiled code of the bundle (rt_compile_cache_lines)
RT_COMPILE_CACHE=/var/cache/imgplan/node-compile-cache

# The lines of a launcher (sh) that keep V8's compiled code of the bundle between runs: Node.js
# 22.1+ reads NODE_COMPILE_CACHE and then skips compiling the 0.5 MB bundle again (about 0.5 s a run
# under emulation, the VM lane's, where node itself starts in 0.6 s). root's cache is in /var/cache,
# never in a folder another user can write (a planted cache entry would run as root); another user's
# in their own XDG cache. A NODE_COMPILE_CACHE already set (even empty: off) is left as it is.
rt_compile_cache_lines() {
  cat <<EOF
if [ -z "\${NODE_COMPILE_CACHE+x}" ]; then
  if [ -O /var/cache ]; then
    [ ! -w /var/cache ] || NODE_COMPILE_CACHE=$RT_COMPILE_CACHE
  elif [ -n "\${HOME:-}" ] && [ -O "\$HOME" ]; then
    NODE_COMPILE_CACHE=\${XDG_CACHE_HOME:-\$HOME/.cache}/imgplan/node-compile-cache
  fi
  [ -z "\${NODE_COMPILE_CACHE:-}" ] || export NODE_COMPILE_CACHE
fi
EOF
}

rt_say() { printf 'runtime: %s\n' "$*"; }
rt_fail() { printf 'runtime: error: %s\n' "$*" >&2; return 1; }

# npm's name of this machine's architecture, as in node-linux-ARCH
rt_arch() {
  case $(uname -m) in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) return 1 ;;
  esac
}

rt_node_integrity() {
  case $1 in
    x64) echo "$NODE_INTEGRITY_X64" ;;
    arm64) echo "$NODE_INTEGRITY_ARM64" ;;
  esac
}

# The major version of the node binary $1, or 0 if it does not run.
rt_major() {
  local v
  v=$("$1" --version 2>/dev/null) || { echo 0; return; }
  v=${v#v}
  v=${v%%.*}
  if [[ $v =~ ^[0-9]+$ ]]; then echo "$v"; else echo 0; fi
}

# PATH without the pinned runtime's bin directory (which the scripts may have put first), nor the
# directories given (an installed copy of the runtime), nor empty entries.
rt_host_path() {
  local d x out=
  local -a parts
  IFS=: read -ra parts <<<"$PATH"
  for d in "${parts[@]}"; do
    [ -n "$d" ] && [ "$d" != "$RT_DIR/bin" ] || continue
    for x in "$@"; do [ "$d" != "$x" ] || continue 2; done
    out=${out:+$out:}$d
  done
  printf '%s' "$out"
}

# The host's own node if it is >= IMGPLAN_NODE_MIN (its path), else fails. Arguments: as rt_host_path.
rt_host_node() {
  local p n
  p=$(rt_host_path "$@")
  n=$(PATH=$p && command -v node) || return 1
  [ "$(rt_major "$n")" -ge "$IMGPLAN_NODE_MIN" ] || return 1
  printf '%s' "$n"
}

# What the pinned runtime's stamp must say: the pins it was unpacked from.
rt_want_stamp() {
  local arch
  arch=$(rt_arch) || return 1
  printf 'node %s linux-%s %s\nnpm %s %s\n' "$NODE_VERSION" "$arch" "$(rt_node_integrity "$arch")" "$NPM_VERSION" "$NPM_INTEGRITY"
}

# Whether .runtime/node holds exactly the pinned runtime, and it runs here.
rt_ready() {
  [ -f "$RT_STAMP" ] && [ "$(cat "$RT_STAMP")" = "$(rt_want_stamp)" ] && [ "$("$RT_DIR/bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ]
}

rt_select() {
  local host p
  p=$(rt_host_path)
  if [ "${IMGPLAN_PINNED_NODE:-}" != 1 ] && host=$(rt_host_node); then
    if (PATH=$p && command -v npm >/dev/null); then
      PATH=$p
      export PATH
      RT_NODE=$host
      return 0
    fi
    RT_WHY="this host's node $host ($("$host" --version)) has no npm beside it"
  elif [ "${IMGPLAN_PINNED_NODE:-}" = 1 ]; then
    RT_WHY="IMGPLAN_PINNED_NODE=1"
  else
    host=$(PATH=$p && command -v node) || host=
    [ -z "$host" ] || host="$host $("$host" --version 2>/dev/null)"
    RT_WHY="no Node.js $IMGPLAN_NODE_MIN or newer on PATH (node: ${host:-missing})"
  fi
  if rt_ready; then
    PATH=$RT_DIR/bin:$p
    export PATH
    RT_NODE=$RT_DIR/bin/node
    hash -r
    return 0
  fi
  return 1
}

# The base64 form (as in an integrity) of the hex digest $1.
rt_hex_to_base64() {
  # shellcheck disable=SC2059
  printf "$(printf '%s' "$1" | sed 's/../\\x&/g')" | base64 -w0
}

# Checks file $1 against integrity $2 (sha512-BASE64); fails loudly on a mismatch.
rt_verify() {
  local want got
  [[ $2 =~ ^sha512-[A-Za-z0-9+/]{86}==$ ]] || { rt_fail "the pinned integrity '$2' is not a sha512 integrity (scripts/node-runtime.env)"; return 1; }
  want=$(printf '%s' "${2#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  got=$(sha512sum "$1") || return 1
  got=${got%% *}
  if [ "$want" != "$got" ]; then
    rt_fail "$3 does not match its pin: the file downloaded is not the one scripts/node-runtime.env names; nothing was unpacked.
  expected $2
  got      sha512-$(rt_hex_to_base64 "$got")"
    return 1
  fi
}

# Downloads package $1 at version $2 from the registry to file $3.
rt_download() {
  local url=$RT_REGISTRY/$1/-/$1-$2.tgz
  rt_say "fetching $url"
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$3" "$url" || { rt_fail "could not fetch $url"; return 1; }
  elif command -v npm >/dev/null 2>&1; then
    local dir
    dir=$(dirname "$3")
    (cd "$dir" && npm pack "$1@$2" --registry "$RT_REGISTRY" --silent >/dev/null) || { rt_fail "npm pack $1@$2 failed"; return 1; }
    mv "$dir/$1-$2.tgz" "$3"
  else
    rt_fail "fetching Node.js needs curl (apt-get install curl) or npm"
    return 1
  fi
}

rt_fetch() {
  local arch integrity
  arch=$(rt_arch) || { rt_fail "there is no pinned Node.js for this machine ($(uname -m)); install Node.js $IMGPLAN_NODE_MIN or newer, then run this again"; return 1; }
  integrity=$(rt_node_integrity "$arch")
  mkdir -p "$RT_REPO/.runtime"
  local tmp
  tmp=$(mktemp -d "$RT_REPO/.runtime/fetch.XXXXXX")
  # no set -e here: it would be ignored on the left of ||, so every step says || exit 1
  (
    trap 'rm -rf "$tmp"' EXIT
    rt_download "node-linux-$arch" "$NODE_VERSION" "$tmp/node.tgz" || exit 1
    rt_verify "$tmp/node.tgz" "$integrity" "node-linux-$arch-$NODE_VERSION.tgz" || exit 1
    rt_download npm "$NPM_VERSION" "$tmp/npm.tgz" || exit 1
    rt_verify "$tmp/npm.tgz" "$NPM_INTEGRITY" "npm-$NPM_VERSION.tgz" || exit 1
    rt_say "both tarballs match their pinned sha512 integrity"
    mkdir -p "$tmp/node/lib/node_modules/npm" || exit 1
    tar -xzf "$tmp/node.tgz" -C "$tmp/node" --strip-components=1 --no-same-owner package/bin/node package/LICENSE package/share || exit 1
    tar -xzf "$tmp/npm.tgz" -C "$tmp/node/lib/node_modules/npm" --strip-components=1 --no-same-owner || exit 1
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/node/bin/npm" || exit 1
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/node/bin/npx" || exit 1
    v=$("$tmp/node/bin/node" --version) || { rt_fail "the pinned node does not run on this system (it needs glibc 2.28 or newer)"; exit 1; }
    [ "$v" = "v$NODE_VERSION" ] || { rt_fail "the pinned node says $v, not v$NODE_VERSION"; exit 1; }
    rt_want_stamp >"$tmp/node/imgplan-runtime.txt" || exit 1
    rm -rf "$RT_DIR" && mv "$tmp/node" "$RT_DIR" || exit 1
  ) || return 1
  rt_say "Node.js $NODE_VERSION and npm $NPM_VERSION in $RT_DIR"
}
