#!/usr/bin/env bash
# Inside a fresh root with the .deb and bash-completion installed: loads imgplan's completion the way
# an interactive shell does (bash-completion's on-demand loader, from where the package put it) and
# prints what it completes, one "completion: WORDS -> REPLY" line per case.
. /usr/share/bash-completion/bash_completion
# bash-completion 2.12+ (Debian 13) names its loader _comp_load; 2.11 (Debian 12) __load_completion
if declare -F _comp_load >/dev/null; then _comp_load imgplan; else __load_completion imgplan; fi
fn=$(complete -p imgplan | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
[ -n "$fn" ] || { echo "completion: nothing registered for imgplan" >&2; exit 1; }
for line in 'imgplan des' 'imgplan plan --det'; do
  read -ra COMP_WORDS <<<"$line"
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$line COMP_POINT=${#line}
  COMPREPLY=()
  "$fn" imgplan "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  echo "completion: $line -> ${COMPREPLY[*]}"
done
