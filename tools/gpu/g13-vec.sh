#!/usr/bin/env bash
# On the GPU machine (pack.sh copies it into .gpu*/): issue #13's elementwise bandwidth work, before and after in
# one call. TESTS=1 runs the tern.cuda tests first. Each shape in SHAPES ("B:VOCAB", default "16:8192 8:50304")
# runs Tern after (this pack's classes; PROFILED=N profiled steps on the FloatLM row), torch.compile, and, when the
# pack holds before/ (the classes and .cu files of the base commit that differ, put first on the class path),
# Tern before. BUDGET (s) stops starting runs past it. Logs and CSVs go to $OUT.
#   TESTS=1 SHAPES=16:8192 BUDGET=280 bash .gpu-g13/g13-vec.sh
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp}
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
budget=${BUDGET:-280}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader || true
uptime
left() { (( SECONDS < budget )); }
tern() {  # LABEL CLASSPATH PRECISION BATCH VOCAB PROFILED
  local label=$1 classes=$2 q=$3 b=$4 v=$5 prof=$6
  left || { echo "tern $label $q ${b}x1024/$v skipped (budget, ${SECONDS}s)"; return; }
  echo "== tern $label $q ${b}x1024 vocab $v (at ${SECONDS}s)" >> "$dest/tern.log"
  timeout "${T:-70}" bash "$here/run.sh" -Xmx24g -Dtern.cuda.matmul=bf16 -Dtern.bench.vocab=$v -cp "$classes" tern.cuda.CudaTrainStep \
      "$dest/$label-$b-$v.csv" 99M $q $b 1024 10 3 $prof >> "$dest/tern.log" 2>&1 \
    || { echo "tern $label $q failed (exit $?):"; grep -E "Exception|Error|at tern" "$dest/tern.log" | tail -6; }
  echo "tern $label $q ${b}x1024/$v done (${SECONDS}s)"
}
torch() {  # PRECISION BATCH VOCAB
  left || { echo "torch $1 ${2}x1024/$3 skipped (budget, ${SECONDS}s)"; return; }
  echo "== torch compile $1 ${2}x1024 vocab $3 (at ${SECONDS}s)" >> "$dest/torch.log"
  VOCAB=$3 PYTHONUNBUFFERED=1 timeout "${T:-100}" python3 "$here/torch_train_step.py" "$dest/torch-$2-$3.csv" $1 compile $2 1024 10 3 99M \
      >> "$dest/torch.log" 2>&1 || { echo "torch $1 failed (exit $?):"; tail -3 "$dest/torch.log"; }
  echo "torch $1 ${2}x1024/$3 done (${SECONDS}s)"
}
if [[ -n ${TESTS:-} ]]; then
  timeout "${TEST_TIMEOUT:-110}" bash "$here/test.sh" --select-package tern.cuda > "$dest/tests.log" 2>&1
  echo "tests exit $? (${SECONDS}s)"
  grep -E "✘|Exception:|expected:|relative error" "$dest/tests.log" | head -40
  grep -E "tests (successful|failed|aborted|found)|containers failed" "$dest/tests.log"
fi
for shape in ${SHAPES:-16:8192 8:50304}; do
  b=${shape%%:*} v=${shape##*:}
  tern after "$cp" float $b $v ${PROFILED:-0}
  tern after "$cp" ternary $b $v 0
  [[ -d $here/before ]] && { tern before "$here/before:$cp" float $b $v 0; tern before "$here/before:$cp" ternary $b $v 0; }
  [[ -z ${NO_TORCH:-} ]] && { torch float $b $v; torch ternary $b $v; }
done
[[ ${PROFILED:-0} != 0 ]] && grep -A16 "GPU time per kernel" "$dest/tern.log" | cut -c1-150
for f in "$dest"/*.csv; do echo; echo "${f##*/}:"; cut -c1-220 "$f"; done
echo "g13-vec total ${SECONDS}s"
