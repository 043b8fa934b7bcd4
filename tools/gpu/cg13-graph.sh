#!/usr/bin/env bash
# On the GPU machine (pack.sh copies it into .gpu*/): the training step as a CUDA graph (issue #13). The tern.cuda
# tests (CudaTrainGraphTest among them: graph-replayed steps bit for bit the eager ones), then CudaTrainStep eager
# and with -Dtern.cuda.trainGraph=true at shapes where launches dominate and at the 99M 8x1024 shape. BUDGET (s)
# stops starting new runs past it; NO_TESTS=1 skips the tests, ONLY_GRAPH_TEST=1 runs CudaTrainGraphTest alone.
#   BUDGET=125 bash .gpu-cg13/cg13-graph.sh
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp}
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
budget=${BUDGET:-125}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader || true
uptime
if [[ -n ${ONLY_GRAPH_TEST:-} ]]; then
  timeout 60 bash "$here/test.sh" --select-class tern.cuda.CudaTrainGraphTest > "$dest/tests.log" 2>&1
  echo "graph test exit $? (${SECONDS}s)"
elif [[ -z ${NO_TESTS:-} ]]; then
  timeout "${TEST_TIMEOUT:-80}" bash "$here/test.sh" --select-package tern.cuda > "$dest/tests.log" 2>&1
  echo "tests exit $? (${SECONDS}s)"
fi
if [[ -f $dest/tests.log ]]; then
  grep -E "✘|Exception:|expected:|step graph" "$dest/tests.log" | head -30
  grep -A3 "CudaTrainGraphTest" "$dest/tests.log" | grep -E "✔|✘" | head -12
  grep -E "tests (successful|failed|aborted|found)|containers failed" "$dest/tests.log"
fi
run() {  # PRESET PRECISION BATCH SEQ STEPS [java flags]
  (( SECONDS < budget )) || { echo "skipped $* (budget, ${SECONDS}s)"; return; }
  local p=$1 q=$2 b=$3 s=$4 n=$5; shift 5
  echo "== $p $q ${b}x$s $* (at ${SECONDS}s)" >> "$dest/train.log"
  timeout 40 bash "$here/run.sh" -Xmx24g -Dtern.cuda.matmul=bf16 "$@" -cp "$cp" tern.cuda.CudaTrainStep \
      "$dest/train.csv" "$p" "$q" "$b" "$s" "$n" 3 0 >> "$dest/train.log" 2>&1 \
    || { echo "$p $q ${b}x$s $* failed (exit $?):"; grep -E "Exception|Error|at tern" "$dest/train.log" | tail -5; }
}
for shape in "99M float 1 256 30" "10M float 4 256 30" "99M float 8 1024 10" "99M ternary 1 256 30"; do
  set -- $shape
  run "$@"
  run "$@" -Dtern.cuda.trainGraph=true
done
grep -E "step graph|the training step" "$dest/train.log" | sort | uniq -c | cut -c1-220
echo; cut -c1-170 "$dest/train.csv" 2>/dev/null
echo "cg13-graph total ${SECONDS}s"
