# What scripts/build-deb.sh and scripts/build-tarball.sh share: their command line, the check that
# dist/ is built, the pinned runtime (fetched when .runtime/node lacks it), the version and the date
# every packaged file carries. Sourced from the repository's top directory, after `set -euo pipefail`.
#
#   pkg_init TOOL USAGE_LINES "$@"   parses --out DIR (default dist/packages) and --help; sets PKG_OUT,
#                                    PKG_VERSION (package.json's), PKG_ARCH (the runtime's: x64,
#                                    arm64) and exports SOURCE_DATE_EPOCH (default: the last commit's)
#   pkg_say MESSAGE, pkg_die MESSAGE  prefixed with TOOL

# shellcheck source=runtime.sh
. scripts/lib/runtime.sh

pkg_say() { printf '%s: %s\n' "$PKG_TOOL" "$*"; }
pkg_die() { printf '%s: error: %s\n' "$PKG_TOOL" "$*" >&2; exit 1; }

pkg_init() { # TOOL USAGE_LINES ARGS...
  PKG_TOOL=$1
  local usage=$2
  shift 2
  PKG_OUT=$PWD/dist/packages
  while [ $# -gt 0 ]; do
    case $1 in
      --out) [ $# -ge 2 ] || pkg_die "--out needs a directory"; PKG_OUT=$2; shift 2 ;;
      --out=*) PKG_OUT=${1#--out=}; shift ;;
      -h | --help) sed -n "${usage}s/^# \{0,1\}//p" "scripts/$PKG_TOOL.sh"; exit 0 ;;
      *) pkg_die "unknown argument: $1 (see --help)" ;;
    esac
  done
  [ -f dist/imgplan.mjs ] && [ -d dist/share/man ] \
    || pkg_die "dist/imgplan.mjs or dist/share is missing: run bash scripts/install-deps.sh (or npm run build) first"
  if ! rt_ready; then
    pkg_say "the pinned Node.js is not in .runtime/node: fetching it"
    rt_fetch || pkg_die "could not fetch the pinned Node.js $NODE_VERSION"
  fi
  PKG_VERSION=$("$RT_DIR/bin/node" -p 'require("./package.json").version')
  PKG_ARCH=$(rt_arch)
  export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
  mkdir -p "$PKG_OUT"
}
