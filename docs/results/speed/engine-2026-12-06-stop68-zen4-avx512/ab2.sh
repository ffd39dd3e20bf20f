#!/bin/bash
# ab2.sh ROUNDS "full args" bins...
R=$1; S=$2; shift 2  # binaries in the current directory (cd $OUT)
declare -A best
for r in $(seq $R); do for b in "$@"; do t=$(ISP_ISA=${ISA:-avx2} taskset -c 0 ./$b $S | sed 's/.*cop[a-z]*: //;s/ us.*//'); best[$b]="${best[$b]} $t"; done; done
for b in "$@"; do echo "$S $b: $(echo ${best[$b]} | tr ' ' '\n' | sort -g | head -1)"; done
