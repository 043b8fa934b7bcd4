#!/usr/bin/env bash
# On the GPU machine (packed by tools/gpu/pack.sh, which copies this script into .gpu/): the proof of
# `tern train --gpus N` that one GPU can give, and, where nvidia-smi lists several GPUs, the several-GPU
# figures. Ends with a summary; exit status 0 only when every check held.
#   bash .gpu/multi-gpu.sh                 (about 90 s on one H200)
# One GPU:
#   1. DataParallelCudaTest (one NCCL rank, whole and ZeRO-1 optimizer, bit for bit the plain run) and NcclTest;
#   2. `tern train --device cuda --gpus 1` (the launcher, one rank process, NCCL) against the plain
#      `tern train --device cuda`: the same losses and the same checkpoint bytes (model and optimizer);
#   3. the same with --zero 1 (moments sharded over one rank, gathered into the checkpoint).
# Several GPUs (N = all listed): the tiny run on N GPUs against 1 GPU at the same global batch (the largest
# relative loss difference over the steps), and tokens/s of the 390M shape on 1 and N GPUs (scaling
# efficiency = tok/s(N) / (N · tok/s(1))).
# Tensor parallelism (2+ GPUs, or CPU processes with TERN_MULTI_CPU=1): the tiny TriLM with 2 scales per matrix
# on --tensor-parallel 2 against 1 rank (largest relative loss difference), DP 2 × TP 2 with --zero 1 where 4
# GPUs are listed, a TP 2 checkpoint resumed on 1 rank, TensorParallelGpuTest, and the 390M step at TP 2 vs 1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
tern() { bash "$here/run.sh" -cp "$cp" tern.cli.Main "$@"; }
# TERN_MULTI_CPU=1: the same script on CPU ranks (--device cpu, --processes), to check it without a GPU
dev=(--device cuda); ranks=--gpus
if [[ "${TERN_MULTI_CPU:-0}" == 1 ]]; then dev=(--device cpu); ranks=--processes; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
summary=()
ok=1
note() { summary+=("$1"); }
fail() { summary+=("FAIL: $1"); ok=0; }
start=$(date +%s)

echo "== 1. NCCL tests"
if [[ "${TERN_MULTI_CPU:-0}" == 1 ]]; then note "tests: not run (CPU check of the script)"
elif bash "$here/test.sh" --select-class tern.cuda.DataParallelCudaTest --select-class tern.cuda.NcclTest > "$work/tests.txt" 2>&1; then
  note "tests: $(grep -E 'tests (successful|failed|skipped)' "$work/tests.txt" | tr -s ' ' | tr '\n' ';')"
else
  fail "DataParallelCudaTest/NcclTest: $(grep -E 'tests (successful|failed)' "$work/tests.txt" | tr -s ' ' | tr '\n' ';')"
  tail -40 "$work/tests.txt"
fi

echo "== data"
for i in $(seq 1 3000); do echo "the cat $((i % 7)) sat on the mat $((i % 13)) and the dog $((i % 5)) ran to the tree"; echo; done > "$work/corpus.txt"
tern tokenizer train --input "$work/corpus.txt" --vocab 300 --out "$work/tok.json" > /dev/null 2>&1 &&
  tern prepare --input "$work/corpus.txt" --tokenizer "$work/tok.json" --out "$work/data" --val-fraction 0.05 > /dev/null 2>&1 ||
  fail "could not make the data folder"

# the losses of a run folder, one per line
losses() { grep -o '"loss":[^,}]*' "$1/train_log.jsonl" | cut -d: -f2; }
# largest |a-b|/|a| over two runs' losses
maxrel() { paste <(losses "$1") <(losses "$2") | awk 'BEGIN{m=0} {d=($1-$2)/$1; if(d<0)d=-d; if(d>m)m=d} END{printf "%.3g", m}'; }
same_run() {   # $1 plain run, $2 distributed run, $3 label
  if [[ "$(losses "$1")" == "$(losses "$2")" && -n "$(losses "$1")" ]] &&
     cmp -s "$1/checkpoints/step-000004/model.safetensors" "$2/checkpoints/step-000004/model.safetensors" &&
     cmp -s "$1/checkpoints/step-000004/optimizer.safetensors" "$2/checkpoints/step-000004/optimizer.safetensors"; then
    note "$3: losses and checkpoint bytes equal the plain run ($(losses "$2" | tr '\n' ' '))"
  else
    fail "$3 differs from the plain run: losses $(losses "$1" | tr '\n' ' ') vs $(losses "$2" | tr '\n' ' '), max rel $(maxrel "$1" "$2")"
  fi
}
tiny=(--preset tiny --precision ternary --data "$work/data" --steps 4 --batch 4 --seq 64 --accum 4 --eval-every 0 --seed 11 --save-every 4)
[[ "${TERN_MULTI_CPU:-0}" == 1 ]] && tiny=(--preset tiny --precision ternary --data "$work/data" --steps 4 --batch 2 --seq 32 --accum 2 --eval-every 0 --seed 11 --save-every 4)

echo "== 2. tern train --device cuda (plain) and --gpus 1"
t0=$(date +%s.%N)
tern train "${dev[@]}" "${tiny[@]}" --out "$work/plain" > "$work/plain.txt" 2>&1 || { fail "plain run"; tail -20 "$work/plain.txt"; }
t1=$(date +%s.%N)
tern train "${dev[@]}" $ranks 1 "${tiny[@]}" --out "$work/gpus1" > "$work/gpus1.txt" 2>&1 || { fail "--gpus 1 run"; tail -20 "$work/gpus1.txt"; }
t2=$(date +%s.%N)
same_run "$work/plain" "$work/gpus1" "--gpus 1"
note "$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{printf "wall: plain %.1f s, --gpus 1 %.1f s (JVM, CUDA and NCCL start included)", b - a, c - b}')"
if [[ -f "$work/gpus1/.nccl-id" ]]; then fail "the rendezvous file was left behind"; fi

echo "== 3. --gpus 1 --zero 1"
tern train "${dev[@]}" $ranks 1 --zero 1 "${tiny[@]}" --out "$work/zero1" > "$work/zero1.txt" 2>&1 || { fail "--zero 1 run"; tail -20 "$work/zero1.txt"; }
same_run "$work/plain" "$work/zero1" "--gpus 1 --zero 1"

tokps() {   # tokens/s between step 2 and the last step (compilation and start excluded)
  grep '"loss"' "$1/train_log.jsonl" | awk -F'"seconds":' '{split($2,a,/[,}]/); s[NR]=a[1]} END{print s[NR]-s[2]}' > "$1/dt"
  awk -v dt="$(cat "$1/dt")" -v tok="$2" 'BEGIN{printf "%.0f", tok / dt}'
}
n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if (( n >= 2 )); then
  echo "== 4. $n GPUs"
  tern train --device cuda --gpus "$n" "${tiny[@]}" --accum $((4 * n)) --out "$work/one-big" --steps 4 > /dev/null 2>&1
  tern train --device cuda --gpus 1 "${tiny[@]}" --accum $((4 * n)) --out "$work/one-big1" --steps 4 > /dev/null 2>&1
  note "tiny, global batch $((16 * n)) rows: $n GPUs vs 1 GPU, largest relative loss difference $(maxrel "$work/one-big1" "$work/one-big")"
  big=(--preset 390M --precision ternary --data "$work/data" --steps 6 --batch 8 --seq 512 --accum "$n" --eval-every 0 --save-every 0 --seed 1)
  for g in 1 "$n"; do
    tern train --device cuda --gpus "$g" "${big[@]}" --out "$work/big$g" > "$work/big$g.txt" 2>&1 || fail "390M on $g GPUs"
  done
  per=$((8 * 512 * n))
  a=$(tokps "$work/big1" $((per * 4))); b=$(tokps "$work/big$n" $((per * 4)))
  note "390M, $per tokens per step: 1 GPU $a tok/s, $n GPUs $b tok/s, efficiency $(awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN{printf "%.1f%%", 100 * b / (n * a)}')"
else
  note "several GPUs: nvidia-smi lists $n; the 2/4-GPU loss curves and the 390M scaling were not run"
fi

if (( n >= 2 )) || [[ "${TERN_MULTI_CPU:-0}" == 1 ]]; then
  echo "== 5. tensor parallel"
  tp=("${tiny[@]}" --ternary-shards 2 --steps 8 --save-every 4 --keep 0)
  tern train "${dev[@]}" "${tp[@]}" --out "$work/tp1" > "$work/tp1.txt" 2>&1 || fail "TP 1 reference run"
  tern train "${dev[@]}" $ranks 2 --tensor-parallel 2 "${tp[@]}" --out "$work/tp2" > "$work/tp2.txt" 2>&1 || { fail "--tensor-parallel 2 run"; tail -20 "$work/tp2.txt"; }
  note "tiny TriLM, --tensor-parallel 2 vs 1 rank: largest relative loss difference over 8 steps $(maxrel "$work/tp1" "$work/tp2")"
  if (( n >= 4 )) || [[ "${TERN_MULTI_CPU:-0}" == 1 ]]; then
    tern train "${dev[@]}" $ranks 4 --tensor-parallel 2 --zero 1 "${tp[@]}" --out "$work/dp2tp2" > "$work/dp2tp2.txt" 2>&1 || { fail "DP 2 x TP 2 run"; tail -20 "$work/dp2tp2.txt"; }
    note "tiny TriLM, 4 ranks = DP 2 x TP 2 (--zero 1) vs 1 rank: largest relative loss difference $(maxrel "$work/tp1" "$work/dp2tp2")"
  fi
  cp -r "$work/tp2" "$work/tp2to1" && rm -f "$work/tp2to1/train.lock"
  tern train --resume "$work/tp2to1/checkpoints/step-000004" "${dev[@]}" > "$work/tp2to1.txt" 2>&1 || { fail "resuming the TP 2 checkpoint on 1 rank"; tail -20 "$work/tp2to1.txt"; }
  note "TP 2 checkpoint of step 4 resumed on 1 rank vs the uninterrupted TP 2 run: largest relative loss difference $(maxrel "$work/tp2" "$work/tp2to1")"
  if [[ "${TERN_MULTI_CPU:-0}" != 1 ]]; then
    if bash "$here/test.sh" --select-class tern.reliability.TensorParallelGpuTest > "$work/tptests.txt" 2>&1; then
      note "TensorParallelGpuTest: $(grep -E 'tests (successful|failed|skipped)' "$work/tptests.txt" | tr -s ' ' | tr '\n' ';')"
    else
      fail "TensorParallelGpuTest: $(grep -E 'tests (successful|failed)' "$work/tptests.txt" | tr -s ' ' | tr '\n' ';')"
    fi
    big=(--preset 390M --precision ternary --ternary-shards 2 --data "$work/data" --steps 6 --batch 8 --seq 512 --accum 1 --eval-every 0 --save-every 0 --seed 1)
    tern train --device cuda "${big[@]}" --out "$work/bigtp1" > "$work/bigtp1.txt" 2>&1 || fail "390M TP 1"
    tern train --device cuda --gpus 2 --tensor-parallel 2 "${big[@]}" --out "$work/bigtp2" > "$work/bigtp2.txt" 2>&1 || fail "390M TP 2"
    per=$((8 * 512)); a=$(tokps "$work/bigtp1" $((per * 4))); b=$(tokps "$work/bigtp2" $((per * 4)))
    note "390M TriLM (2 scales), $per tokens per step: 1 GPU $a tok/s, TP 2 on 2 GPUs $b tok/s (one model replica)"
  fi
fi

echo
echo "== summary ($(( $(date +%s) - start )) s)"
for s in "${summary[@]}"; do echo "  $s"; done
(( ok )) && echo "multi-gpu: all checks held" || { echo "multi-gpu: some checks FAILED"; exit 1; }
