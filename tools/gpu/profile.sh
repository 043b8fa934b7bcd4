#!/usr/bin/env bash
# On the GPU machine: Nsight Compute on the ternary GEMV kernel (16384 x 16384, batch 1), a few sections.
here=$(cd "$(dirname "$0")" && pwd)
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
[[ -x "$here/jre/bin/java" ]] || tar xzf "$here/jre.tgz" -C "$here"
ncu --target-processes all -k tern_gemv_mma -s 20 -c 1 \
  --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats --section MemoryWorkloadAnalysis \
  "$here/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp" tern.cuda.CudaBench /tmp/p.csv 16384 gemv 2>&1 \
  | grep -vE "^==PROF==|WARNING" | sed -n '/tern_gemv_mma/,$p' | head -150
