#!/usr/bin/env bash
# On the GPU machine (pack.sh copies it into .gpu*/), run from the repository root (some tests read cuda/
# sources relative to the working directory): issue #13's RoPE inside the tensor-core attention, in one call.
# RopeAttentionTest first, then the rest of the tern.cuda tests; then the 99M FloatLM step (bf16) at each shape
# in SHAPES ("B:VOCAB", default "16:8192 8:50304") with this pack's classes (the prologue variant, the default),
# with RoPE rotated tile by tile (-Dtern.cuda.ropeInAttention=tiles), and with the base commit's classes when the
# pack holds before/ (put first on the class path). PROFILED=N profiled steps on the first shape's rows print
# the attention and RoPE kernels' GPU time. BUDGET (s) stops starting runs past it. Logs go to $OUT.
#   BUDGET=270 bash .gpu-g13/g13-rope.sh
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp}
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
budget=${BUDGET:-270}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader || true
uptime
left() { (( SECONDS < budget )); }
tern() {  # LABEL CLASSPATH PRECISION BATCH VOCAB PROFILED [JAVA FLAGS...]
  local label=$1 classes=$2 q=$3 b=$4 v=$5 prof=$6
  shift 6
  left || { echo "tern $label $q ${b}x1024/$v skipped (budget, ${SECONDS}s)"; return; }
  echo "== tern $label $q ${b}x1024 vocab $v (at ${SECONDS}s)" >> "$dest/tern.log"
  timeout "${T:-60}" bash "$here/run.sh" -Xmx24g -Dtern.cuda.matmul=bf16 -Dtern.bench.vocab=$v "$@" -cp "$classes" tern.cuda.CudaTrainStep \
      "$dest/$label-$q-$b-$v.csv" 99M $q $b 1024 10 3 $prof >> "$dest/tern.log" 2>&1 \
    || { echo "tern $label $q failed (exit $?):"; grep -E "Exception|Error|at tern" "$dest/tern.log" | tail -6; }
  echo "tern $label $q ${b}x1024/$v done (${SECONDS}s)"
}
timeout "${TEST_TIMEOUT:-45}" bash "$here/test.sh" --select-class tern.cuda.RopeAttentionTest > "$dest/rope-tests.log" 2>&1
echo "RopeAttentionTest exit $? (${SECONDS}s)"
grep -E "✔|✘|Exception|expected|failures|differ|bound" "$dest/rope-tests.log" | cut -c1-400 | head -40
timeout "${TESTS_TIMEOUT:-120}" bash "$here/test.sh" --select-package tern.cuda --exclude-classname '.*RopeAttentionTest' > "$dest/tests.log" 2>&1
echo "tern.cuda tests exit $? (${SECONDS}s)"
grep -E "✘|Exception:|expected:|relative error" "$dest/tests.log" | cut -c1-300 | head -30
grep -E "tests (successful|failed|aborted|found)|containers failed" "$dest/tests.log"
first=1
for shape in ${SHAPES:-16:8192 8:50304}; do
  b=${shape%%:*} v=${shape##*:}
  prof=0; [[ -n $first ]] && prof=${PROFILED:-0}
  tern tiles "$cp" float $b $v $prof -Dtern.cuda.ropeInAttention=tiles
  [[ -d $here/before ]] && tern before "$here/before:$cp" float $b $v $prof
  tern prologue "$cp" float $b $v $prof
  first=
done
for shape in ${TERNARY_SHAPES:-16:8192}; do
  b=${shape%%:*} v=${shape##*:}
  tern prologue "$cp" ternary $b $v 0
  [[ -d $here/before ]] && tern before "$here/before:$cp" ternary $b $v 0
done
echo; echo "attention and RoPE kernels, GPU time per kernel (profiled rows):"
awk '/^== tern/ {run=$0} /GPU time per kernel/ {print run} /attn|rope|sum of GPU time/ {if (run != "") print}' "$dest/tern.log" | cut -c1-160 | head -60
for f in "$dest"/*.csv; do echo; echo "${f##*/}:"; cut -c1-220 "$f"; done
echo "g13-rope total ${SECONDS}s"
