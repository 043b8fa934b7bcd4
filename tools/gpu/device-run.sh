#!/usr/bin/env bash
# The one command sent to the GPU machine (run tool, carry [".gpu"]): environment facts, the tern.cuda
# tests, then the benchmarks; logs under $OUT, short summaries last. MODE=tests|bench|all (default all);
# BENCH_ONLY=attention skips the GEMV and matmul benchmarks, BENCH_ONLY=decode keeps only the copy and GEMV ones; TRAIN=1 adds the training step (bench.sh).
set -o pipefail
mode=${MODE:-all}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader
ls /usr/local/cuda/lib64 2>/dev/null | grep -E "libnvrtc.so|libcublas.so" | head -4
if [[ $mode != bench ]]; then
  timeout 200 bash .gpu/test.sh --select-package tern.cuda > "$OUT/tests.log" 2>&1
  echo "tests exit $?"
  grep -E "✘|MethodSource|Exception|expected|relative error|bound|largest relative" "$OUT/tests.log" | head -60
  grep -E "tests (successful|failed|aborted|found)|containers failed" "$OUT/tests.log"
fi
if [[ $mode != tests ]]; then
  timeout 480 bash .gpu/bench.sh
fi
