#!/usr/bin/env bash
# On the GPU machine: Nsight Compute on the ternary GEMV kernel (16384 x 16384, batch 1): instruction
# mix, scheduler and stall statistics; and the opcode histogram of the SASS between its first and last
# MMA (the unrolled main loop), from the NVRTC cache.
here=$(cd "$(dirname "$0")" && pwd)
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
[[ -x "$here/jre/bin/java" ]] || tar xzf "$here/jre.tgz" -C "$here"
ncu --target-processes all -k tern_gemv_mma -s 20 -c 1 --print-details all \
  --section InstructionStats --section SchedulerStats --section WarpStateStats --section SpeedOfLight \
  "$here/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp" tern.cuda.CudaBench /tmp/p.csv 16384 gemv > /tmp/ncu.txt 2>&1
grep -vE "^==PROF==|WARNING|^ +-+|^\s*$" /tmp/ncu.txt | sed -n '/tern_gemv_mma/,$p' | grep -E "Duration|Executed Instructions|Issued|Stall|stall|Warp Cycles|Eligible|Active Warps|No Eligible|One or More|Branch|Elapsed" | cut -c1-140 | head -60
cubin=$(ls ~/.cache/tern/cuda/ternary_mma*.cubin | head -1)
cuobjdump -sass -fun tern_gemv_mma "$cubin" > /tmp/sass.txt
first=$(grep -n HMMA /tmp/sass.txt | head -1 | cut -d: -f1); last=$(grep -n HMMA /tmp/sass.txt | tail -1 | cut -d: -f1)
echo "main loop SASS lines $first..$last, opcodes:"
sed -n "${first},${last}p" /tmp/sass.txt | grep -oE "^\s+/\*[0-9a-f]{4}\*/\s+[@!A-Z0-9_.]+( [A-Z0-9_.]+)?" | awk '{op=$2; if (op ~ /^@/) op=$3; print op}' | sort | uniq -c | sort -rn | head -30
echo "a stretch of the loop:"; sed -n "$((first+40)),$((first+100))p" /tmp/sass.txt | sed 's@/\* 0x[0-9a-f]* \*/@@' | cut -c1-90
