#!/bin/bash
# idlefar.sh N: N times: 3 s idle, then the vCPUs' round trip (benchmarks/pingpong.c); then 1 s of work on both
# vCPUs, then the round trip again. Prints both per try and how many read far (> 250 ns).
n=${1:-30}; fi=0; fb=0
for i in $(seq $n); do
  sleep 3; a=$(/tmp/pp | tail -1 | awk '{print $3}')
  timeout 1 sh -c 'while :; do :; done' & timeout 1 sh -c 'while :; do :; done'; wait
  b=$(/tmp/pp | tail -1 | awk '{print $3}')
  echo "$i idle $a busy $b"; [ $a -gt 250 ] && fi=$((fi+1)); [ $b -gt 250 ] && fb=$((fb+1))
done
echo "far after idle $fi / $n, after work $fb / $n"
