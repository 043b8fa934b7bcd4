#!/usr/bin/env bash
# On the GPU machine: one call that checks the merged tree. The tern.cuda tests, the one-GPU proof of
# `tern train --gpus` (multi-gpu.sh), the 99M steps beside torch.compile (g13-bench.sh, with --compute fp16),
# then the 3.9B TriLM step with bf16 activations (memory-bench.sh), each stage cut to fit the call.
#   bash .gpu/final-check.sh          (about 400 s on one H200; logs under $OUT, summaries last)
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp/final}; mkdir -p "$dest"
SECONDS=0
timeout 150 bash "$here/test.sh" --select-package tern.cuda > "$dest/tests.log" 2>&1
echo "tests exit $? (${SECONDS}s)"
grep -E "✘" "$dest/tests.log" | head -20
grep -E "tests (successful|failed|aborted|found)|containers failed" "$dest/tests.log"
OUT=$dest timeout 100 bash "$here/multi-gpu.sh" > "$dest/multi-gpu.log" 2>&1
echo "multi-gpu exit $? (${SECONDS}s)"; tail -8 "$dest/multi-gpu.log"
mkdir -p "$dest/b" && OUT=$dest/b NO_TESTS=1 TORCH_MODES=compile NO_F32ACT=1 FP16=1 TORCH_PRECISIONS="float ternary" \
  BUDGET=$(( 330 - SECONDS )) T=90 timeout $(( 350 - SECONDS )) bash "$here/g13-bench.sh" > "$dest/bench.log" 2>&1
echo "bench exit $? (${SECONDS}s)"; grep -v "^$" "$dest/bench.log" | tail -14 | cut -c1-220
if (( SECONDS < 330 )); then
  mkdir -p "$dest/m" && OUT=$dest/m STAGES=big BIG="3.9B:ternary" NO_TORCH_BIG="3.9B:ternary" BIG_STEPS=2 \
    timeout $(( 395 - SECONDS )) bash "$here/memory-bench.sh" > "$dest/big.log" 2>&1
  echo "3.9B exit $? (${SECONDS}s)"; grep -iE "3.9B|plan|ms" "$dest/big.log" | tail -6 | cut -c1-220
fi
