#!/usr/bin/env bash
# On the GPU machine (copied into .gpu/ by tools/gpu/pack.sh): the CUDA graph decode step and the split-K
# packed GEMV. 1) their tests and the packed-file CUDA-vs-CPU test; 2) PackedGemvBench: split-K vs the
# tensor-core GEMV vs a device copy, 16384² and the 3.9B shapes; 3) PackedDecodeBench: 3.9B-shape batch-1
# decode op by op vs as a CUDA graph, unfused and fused (alternating runs), a batch of 8, then the GPU time of
# a step alone for the default and the opt-in settings (-Dtern.cuda.pdl, -Dtern.cuda.attentionSplit).
# Logs under $OUT (or /tmp), a short summary last; about 70 s on the H200.
#   bash .gpu/graph-decode.sh     (TOKENS=256, BATCH=8, SKIP_TESTS=1 to bench only)
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp}
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader || true
if [[ -z "${SKIP_TESTS:-}" ]]; then
  timeout ${TEST_TIMEOUT:-50} bash "$here/test.sh" --select-class tern.cuda.CudaGraphDecodeTest --select-class tern.cuda.PackedGemvTest \
    --select-class tern.cuda.PackedServeCudaTest --select-class tern.cuda.KernelSourcesTest > "$dest/graph-tests.log" 2>&1 || echo "tests failed or timed out (exit $?)"
  # The opt-in settings (PDL, split attention) in a JVM of their own: a fault there cannot fail the default's tests.
  TERN_CUDA_OPT_IN=1 timeout 40 bash "$here/test.sh" --select-class tern.cuda.CudaGraphDecodeOptInTest > "$dest/graph-optin-tests.log" 2>&1 \
    || echo "opt-in tests failed or timed out (exit $?)"
fi
timeout 25 bash "$here/run.sh" -Xmx16g -cp "$cp" tern.cuda.PackedGemvBench > "$dest/gemv-bench.log" 2>&1 || echo "PackedGemvBench failed or timed out (exit $?)"
timeout ${DECODE_TIMEOUT:-70} bash "$here/run.sh" -Xmx32g -cp "$cp" tern.cuda.PackedDecodeBench 3.9B "${TOKENS:-256}" "${BATCH:-8}" \
  > "$dest/graph-decode.log" 2>&1 || echo "PackedDecodeBench failed or timed out (exit $?)"
echo "== tests:"; grep -E "tests (successful|failed|skipped)|✘|Exception|expected" "$dest/graph-tests.log" 2>/dev/null | head -16
echo "== opt-in tests:"; grep -E "tests (successful|failed)|✘" "$dest/graph-optin-tests.log" 2>/dev/null | head -6
echo "== GEMV (name,value):"; grep -E "^gemv_" "$dest/gemv-bench.log" || tail -15 "$dest/gemv-bench.log"
echo "== decode (name,value):"; grep -E "^[A-Za-z0-9._]+_.*,|^setup_s,|^graph_|^backend," "$dest/graph-decode.log" || tail -20 "$dest/graph-decode.log"
grep -E "^tern:" "$dest/graph-decode.log" | head -3
