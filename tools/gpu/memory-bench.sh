#!/usr/bin/env bash
# On the GPU machine (copied into the packed folder by tools/gpu/pack.sh): the tern.cuda tests, then the
# training step of Tern beside PyTorch at the same shapes, with peak memory. STAGES picks what runs:
#   tests  the tern.cuda tests (JUnit), summary lines
#   big    the 1.1B and 3.9B TriLMs at 8×2048 tokens: Tern bf16 (activation checkpointing when the memory plan
#          needs it) and torch eager bf16 autocast; ms/step, tokens/s, peak memory
#   small  the 99M FloatLM and TriLM at 8×1024, vocabulary 50,304: Tern bf16, torch eager bf16, torch.compile
# Logs and CSVs go to $OUT (or /tmp); the joined table with MFU is printed last.
#   STAGES="tests big small" bash .gpu/memory-bench.sh      (pack.sh copies this script into .gpu/)
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp}
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
stages=" ${STAGES:-tests big small} "
start=$SECONDS
nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm --format=csv,noheader || true
uptime

tern() {  # CSV PRESET PRECISION BATCH SEQ STEPS WARMUP [java flags]
  local csv=$1 p=$2 q=$3 b=$4 s=$5 n=$6 w=$7; shift 7
  echo "== tern $p $q ${b}x$s $* (at ${SECONDS}s)" >> "$dest/tern.log"
  timeout "${T:-120}" bash "$here/run.sh" -Xmx24g -Dtern.cuda.matmul=bf16 "$@" -cp "$cp" tern.cuda.CudaTrainStep \
      "$csv" "$p" "$q" "$b" "$s" "$n" "$w" ${PROFILED:-} >> "$dest/tern.log" 2>&1 \
    || { echo "tern $p $q failed (exit $?):"; grep -E "Exception|Error|at tern|memory plan|not enough" "$dest/tern.log" | tail -6; }
}
torch() {  # CSV PRESET PRECISION MODE BATCH SEQ STEPS WARMUP
  echo "== torch $* (at ${SECONDS}s)" >> "$dest/torch.log"
  PYTHONUNBUFFERED=1 timeout "${T:-120}" python3 "$here/torch_train_step.py" "$1" "$3" "$4" "$5" "$6" "$7" "$8" "$2" \
      >> "$dest/torch.log" 2>&1 || { echo "torch $2 $3 $4 failed (exit $?):"; tail -3 "$dest/torch.log"; }
}

if [[ $stages == *" tests "* ]]; then
  timeout "${TEST_TIMEOUT:-170}" bash "$here/test.sh" --select-package tern.cuda > "$dest/tests.log" 2>&1
  echo "tests exit $? (${SECONDS}s)"
  grep -E "✘|Exception:|expected:|checkpointing (float|ternary)" "$dest/tests.log" | head -30
  grep -E "tests (successful|failed|aborted|found)|containers failed" "$dest/tests.log"
fi
if [[ $stages == *" big "* ]]; then
  # BIG="PRESET:PRECISION ..." (default the two TriLMs); NO_TORCH_BIG="PRESET:PRECISION ..." skips torch there.
  for pq in ${BIG:-1.1B:ternary 3.9B:ternary}; do
    p=${pq%%:*} q=${pq##*:}
    for c in ${CKPT_MODES:-auto}; do     # auto: the memory plan's choice; on: every block checkpointed
      T=100 tern "$dest/train-$p.csv" $p $q 8 2048 ${BIG_STEPS:-3} 1 -Dtern.bench.checkpoint=$c
    done
    [[ " ${NO_TORCH_BIG:-} " == *" $pq "* ]] || T=100 torch "$dest/train-$p.csv" $p $q bf16 8 2048 ${BIG_STEPS:-3} 1
  done
  echo "big done (${SECONDS}s)"
fi
if [[ $stages == *" small "* ]]; then
  for q in float ternary; do
    tern "$dest/train-99M.csv" 99M $q 8 1024 10 3
    torch "$dest/train-99M.csv" 99M $q bf16 8 1024 10 3
    # torch.compile spends most of a minute compiling: skipped once the call's budget (BUDGET s) is near.
    if [[ -z ${NO_COMPILE:-} ]] && (( SECONDS < ${BUDGET:-100000} )); then
      T=$(( ${BUDGET_END:-100000} - SECONDS > 150 ? 150 : ${BUDGET_END:-100000} - SECONDS )) torch "$dest/train-99M.csv" 99M $q compile 8 1024 10 3
    else echo "torch.compile $q skipped (${SECONDS}s)"; fi
  done
  echo "small done (${SECONDS}s)"
fi
grep -h "memory plan" "$dest/tern.log" 2>/dev/null | sort -u
[[ -n ${PROFILED:-} ]] && sed -n '/GPU time per kernel/,+16p' "$dest/tern.log" | head -17 | cut -c1-160
for f in "$dest"/train-99M.csv "$dest"/train-1.1B.csv "$dest"/train-3.9B.csv; do
  [[ -f $f ]] || continue
  echo; echo "${f##*/}:"; cat "$f"
  case ${f##*/} in
    train-99M.csv) python3 "$here/mfu.py" "$f" 16 512 50304 ;;
    train-1.1B.csv) python3 "$here/mfu.py" "$f" 24 1792 50304 ;;
    train-3.9B.csv) python3 "$here/mfu.py" "$f" 30 3072 50304 ;;
  esac
done
echo "memory-bench total ${SECONDS}s"
