# Completes command lines in a real interactive zsh (in a pseudo-terminal, zsh/zpty): for each LINE,
# types it and a Tab, then prints the line as completion left it, one a line.
# usage: zsh zsh-complete.zsh FPATH_DIR WORKDIR BINDIR LINE...
zmodload zsh/zpty
local fdir=$1 work=$2 bin=$3; shift 3
local out chunk i
zpty -b z 'zsh -f -i'
zpty -w z "bindkey -e; PS1='%% '; fpath=($fdir \$fpath); path=($bin \$path); cd $work; autoload -Uz compinit; compinit -u -D; unsetopt beep"
for l in "$@"; do
  zpty -w -n z "$l"$'\t'
  sleep ${ZSH_COMPLETE_WAIT:-2}
  zpty -w -n z $'\C-aecho "@@B"\C-e"@@E"\n'
  out=

  for i in {1..40}; do
    if zpty -r -t z chunk; then out+=$chunk; fi
    [[ $out == *$'\n@@B'*'@@E'* ]] && break
    sleep 0.1
  done
  local -a lines=("${(@f)out}")
  lines=(${(M)lines:#@@B*@@E*})
  local got=${lines[-1]%$'\r'}
  got=${got#@@B}
  print -r -- "${got%@@E}"
done
zpty -d z
