#!/bin/bash
# Waits (up to 120 s) until this guest is quiet: under 40 jiffies of user+system CPU in 2 s (both cores together),
# i.e. no other process busy beside the caller; prints what it saw. The fresh-process pairs start each run after it,
# since a neighbour's Maven run or timer (helpers do not hold the CPU lock for tests) doubled run times here.
for i in $(seq 60); do
  s1=($(grep '^cpu ' /proc/stat)); sleep 2; s2=($(grep '^cpu ' /proc/stat))
  busy=$(( s2[1] + s2[3] - s1[1] - s1[3] ))
  if [ $busy -lt 40 ]; then echo "   [quiet: $busy jiffies busy in 2 s, load $(cut -d' ' -f1 /proc/loadavg)]"; exit 0; fi
done
echo "   [NOT quiet after 120 s: $busy jiffies busy in 2 s; $(ps -eo pcpu,comm --sort=-pcpu --no-headers | head -3 | tr '\n' ' ')]"
