#!/usr/bin/env bash
# On the GPU machine: Nsight Compute on the ternary GEMV kernel (16384 x 16384, batch 1): throughput,
# pipes, instruction mix, stall reasons; and the opcode histogram of its SASS (from the NVRTC cache).
here=$(cd "$(dirname "$0")" && pwd)
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
[[ -x "$here/jre/bin/java" ]] || tar xzf "$here/jre.tgz" -C "$here"
ncu --target-processes all -k tern_gemv_mma -s 20 -c 1 --print-details all \
  --section SpeedOfLight --section ComputeWorkloadAnalysis --section InstructionStats --section WarpStateStats \
  "$here/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp" tern.cuda.CudaBench /tmp/p.csv 16384 gemv > /tmp/ncu.txt 2>&1
grep -vE "^==PROF==|WARNING|^ +-+" /tmp/ncu.txt | sed -n '/tern_gemv_mma/,$p' | grep -vE "^\s*$" | cut -c1-150 | head -120
cubin=$(ls ~/.cache/tern/cuda/ternary_mma*.cubin | head -1)
echo "SASS opcode histogram of tern_gemv_mma ($cubin):"
cuobjdump -sass -fun tern_gemv_mma "$cubin" | grep -oE "^\s+/\*[0-9a-f]{4}\*/\s+[@!A-Z0-9_.]+( [A-Z0-9_.]+)?" | awk '{op=$2; if (op ~ /^@/) op=$3; sub(/\..*/, "", op); print op}' | sort | uniq -c | sort -rn | head -25
