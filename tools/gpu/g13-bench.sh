#!/usr/bin/env bash
# On the GPU machine (pack.sh copies it into .gpu*/): issue #13's checks in one call. The tern.cuda tests, then
# training steps of Tern beside PyTorch at the same shapes: the 99M FloatLM and TriLM at 8×1024 (vocabulary
# 50,304) with bf16 activations and, for comparison, with activations stored f32 (-Dtern.cuda.activations=f32,
# the way before #13), torch eager bf16 autocast and (COMPILE=1) torch.compile; then (BIG=1) the 1.1B TriLM at
# 8×2048 beside torch eager. BUDGET (s) stops starting new runs past it. Logs go to $OUT; the table is last.
# TORCH_MODES (default "bf16": eager; "compile bf16" puts torch.compile first) and NO_F32ACT=1 (skip the f32-stored
# comparison) pick the peers, TORCH_PRECISIONS (default "float ternary") the torch models; PROFILED=N prints the GPU time per kernel of N more steps of each first Tern run.
# B, S and VOCAB (defaults 8, 1024 and the preset's 50,304) give the 99M rows another shape: B=16 VOCAB=8192 is
# the issue's second one.
#   TORCH_MODES="compile bf16" NO_F32ACT=1 BUDGET=175 bash .gpu-g13/g13-bench.sh
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp}
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
budget=${BUDGET:-180}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader || true
uptime
left() { (( SECONDS < budget )); }
tern() {  # CSV PRESET PRECISION BATCH SEQ STEPS WARMUP PROFILED [java flags]
  local csv=$1 p=$2 q=$3 b=$4 s=$5 n=$6 w=$7 prof=$8; shift 8
  left || { echo "tern $p $q $* skipped (budget, ${SECONDS}s)"; return; }
  echo "== tern $p $q ${b}x$s $* (at ${SECONDS}s)" >> "$dest/tern.log"
  timeout "${T:-90}" bash "$here/run.sh" -Xmx24g -Dtern.cuda.matmul=bf16 ${VOCAB:+-Dtern.bench.vocab=$VOCAB} "$@" -cp "$cp" tern.cuda.CudaTrainStep \
      "$csv" "$p" "$q" "$b" "$s" "$n" "$w" "$prof" >> "$dest/tern.log" 2>&1 \
    || { echo "tern $p $q failed (exit $?):"; grep -E "Exception|Error|at tern|memory plan|not enough" "$dest/tern.log" | tail -6; }
}
torch() {  # CSV PRESET PRECISION MODE BATCH SEQ STEPS WARMUP
  left || { echo "torch $* skipped (budget, ${SECONDS}s)"; return; }
  echo "== torch $* (at ${SECONDS}s)" >> "$dest/torch.log"
  VOCAB=${VOCAB:-50304} PYTHONUNBUFFERED=1 timeout "${T:-90}" python3 "$here/torch_train_step.py" "$1" "$3" "$4" "$5" "$6" "$7" "$8" "$2" \
      >> "$dest/torch.log" 2>&1 || { echo "torch $2 $3 $4 failed (exit $?):"; tail -3 "$dest/torch.log"; }
}
if [[ -z ${NO_TESTS:-} ]]; then
  timeout "${TEST_TIMEOUT:-110}" bash "$here/test.sh" --select-package tern.cuda > "$dest/tests.log" 2>&1
  echo "tests exit $? (${SECONDS}s)"
  grep -E "✘|Exception:|expected:|relative error|checkpointing (float|ternary)|bf16 .* resumed|plan " "$dest/tests.log" | head -40
  grep -E "tests (successful|failed|aborted|found)|containers failed" "$dest/tests.log"
fi
for q in float ternary; do
  tern "$dest/train-99M.csv" 99M $q ${B:-8} ${S:-1024} 10 3 ${PROFILED:-0}
  [[ -z ${NO_F32ACT:-} ]] && tern "$dest/train-99M.csv" 99M $q ${B:-8} ${S:-1024} 10 3 0 -Dtern.cuda.activations=f32
done
for mode in ${TORCH_MODES:-bf16}; do           # torch.compile spends most of a minute compiling each model
  for q in ${TORCH_PRECISIONS:-float ternary}; do T=100 torch "$dest/train-99M.csv" 99M $q $mode ${B:-8} ${S:-1024} 10 3; done
done
if [[ -n ${FP16:-} ]]; then                    # --compute fp16: fp16 products and activations (loss scaling in the trainer)
  for q in float ternary; do tern "$dest/train-99M.csv" 99M $q ${B:-8} ${S:-1024} 10 3 0 -Dtern.cuda.matmul=fp16 -Dtern.cuda.attention=bf16; done
fi
if [[ -n ${BIG:-} ]]; then
  T=100 tern "$dest/train-1.1B.csv" 1.1B ternary 8 2048 3 1 0
  T=100 torch "$dest/train-1.1B.csv" 1.1B ternary bf16 8 2048 3 1
fi
grep -h "memory plan" "$dest/tern.log" 2>/dev/null | sort -u | cut -c1-220
[[ ${PROFILED:-0} != 0 ]] && grep -A14 "GPU time per kernel" "$dest/tern.log" | cut -c1-150
for f in "$dest"/train-99M.csv "$dest"/train-1.1B.csv; do
  [[ -f $f ]] || continue
  echo; echo "${f##*/}:"; cut -c1-200 "$f"
  case ${f##*/} in
    train-99M.csv) python3 "$here/mfu.py" "$f" 16 512 ${VOCAB:-50304} ;;
    train-1.1B.csv) python3 "$here/mfu.py" "$f" 24 1792 50304 ;;
  esac
done
echo "g13-bench total ${SECONDS}s"
