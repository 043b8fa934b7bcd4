#!/usr/bin/env bash
# On the GPU machine (copied into .gpu/ by tools/gpu/pack.sh): packed decode of the 3.9B shape with random
# ternary weights at batch 1 (and a batch of 8) through the one model's decode step on the CUDA backend, then
# the packed-file CUDA-vs-CPU test. Full logs under $OUT (or /tmp); a short summary last.
#   bash .gpu/packed-decode.sh            (PRESET, TOKENS, BATCH override 3.9B, 256, 8)
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp}
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader || true
timeout 400 bash "$here/run.sh" -Xmx64g -cp "$cp" tern.cuda.PackedDecodeBench "${PRESET:-3.9B}" "${TOKENS:-256}" "${BATCH:-8}" \
  > "$dest/packed-decode.log" 2>&1 || echo "PackedDecodeBench failed or timed out (exit $?)"
timeout 150 bash "$here/test.sh" --select-class tern.cuda.PackedServeCudaTest > "$dest/packed-serve-test.log" 2>&1
echo "== packed decode (name,value):"; grep -E "^[A-Za-z0-9._]+_.*,|^setup_s," "$dest/packed-decode.log" || tail -20 "$dest/packed-decode.log"
echo "== PackedServeCudaTest:"; grep -E "tests (successful|failed|skipped)|✘|MethodSource|Exception" "$dest/packed-serve-test.log" | head -12
