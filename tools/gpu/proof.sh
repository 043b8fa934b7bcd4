#!/usr/bin/env bash
# The end-to-end proof of the CUDA backend, one device call (run tool, carry [".gpu"]), after
#   GPU_BUILD=target-cuda2 tools/gpu/pack.sh        and the prepared shards + tokenizer in .gpu/data99
# (tern tokenizer train / tern prepare; 2 bytes a token). Steps, logs under $OUT, summaries on stdout:
#  1. GoldenCudaTest (PyTorch golden files) and TrainStepCpuGpuTest (one trainer step, CPU vs GPU);
#  2. tern train --device cuda: 200 steps of the Spectra 99M shape, TriLM, 8 × 1024 tokens, on real text;
#  4. the training-step time (tern.cuda.CudaTrainStep, 8 × 1024) with the FP32 and bf16 matmul paths;
#  3. (last: the CPU is slow) the same model and data for 6 small steps (1 × 128 tokens) on --device cuda
#     and --device cpu: the train and validation losses of both, step by step.
# PART=1234 (default) picks steps.
set -o pipefail
part=${PART:-1234}
cp=".gpu/lib/classes"
for j in .gpu/lib/*.jar; do cp="$cp:$j"; done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
tern=(bash .gpu/run.sh -Xmx48g -cp "$cp" tern.cli.Main)
losses() {   # first/last train loss, validation losses, tokens/s from a train_log.jsonl
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
train = [r for r in rows if r.get("kind") == "train"]
val = [(r["step"], round(r["val_loss"], 4)) for r in rows if r.get("kind") == "val"]
print("train loss by step:", [(r["step"], round(r["loss"], 4)) for r in train][:3], "...", [(r["step"], round(r["loss"], 4)) for r in train][-3:])
print("validation loss:", val)
if len(train) > 1 and "seconds" in train[-1]:
    t = (train[-1]["seconds"] - train[0]["seconds"]); n = train[-1]["tokens"] - train[0]["tokens"]
    print("tokens/s over steps %d..%d: %.0f" % (train[0]["step"], train[-1]["step"], n / t if t > 0 else 0))
PY
}
if [[ $part == *1* ]]; then
  timeout 200 bash .gpu/test.sh --select-class tern.cuda.GoldenCudaTest --select-class tern.cuda.TrainStepCpuGpuTest > "$OUT/tests.log" 2>&1
  echo "tests exit $?"
  grep -E "✘|Exception|expected|relative error" "$OUT/tests.log" | head -30
  grep -E "tests (successful|failed|aborted|skipped|found)" "$OUT/tests.log"
fi
if [[ $part == *2* ]]; then
  rm -rf /tmp/run99
  start=$(date +%s)
  timeout 260 "${tern[@]}" train --device cuda --preset 99M --precision ternary --data .gpu/data99 \
      --steps 200 --batch 8 --seq 1024 --accum 1 --eval-every 25 --eval-batches 5 --out /tmp/run99 > "$OUT/train99.log" 2>&1
  echo "train 99M exit $? in $(( $(date +%s) - start )) s"
  grep -aE "^(ternary|data|schedule|backend|done|tern train)" "$OUT/train99.log"
  cp /tmp/run99/train_log.jsonl "$OUT/train99_log.jsonl" 2>/dev/null && losses /tmp/run99/train_log.jsonl
  ls /tmp/run99/checkpoints/*/ 2>/dev/null | head -12
fi
if [[ $part == *4* ]]; then
  for prec in ternary float; do
    for mm in cublas bf16; do
      timeout 90 bash .gpu/run.sh -Dtern.cuda.matmul=$mm -cp "$cp:.gpu/lib/test-classes" tern.cuda.CudaTrainStep "$OUT/train_step.csv" 99M $prec 8 1024 10 3 2>&1 | grep -a train_ms || echo "train step $prec $mm failed"
    done
  done
fi
if [[ $part == *3* ]]; then
  for d in cuda cpu; do
    rm -rf /tmp/cmp-$d
    timeout 120 "${tern[@]}" train --device $d --preset 99M --precision ternary --data .gpu/data99 \
        --steps 6 --batch 1 --seq 128 --accum 1 --warmup 2 --eval-every 3 --eval-batches 1 --save-every 1000 --out /tmp/cmp-$d > "$OUT/cmp-$d.log" 2>&1
    echo "compare $d exit $?"
    cp /tmp/cmp-$d/train_log.jsonl "$OUT/cmp-${d}_log.jsonl" 2>/dev/null
    python3 -c "
import json,sys
rows=[json.loads(l) for l in open('/tmp/cmp-$d/train_log.jsonl') if l.strip()]
print('$d train', [round(r['loss'],5) for r in rows if r.get('kind')=='train'], 'val', [(r['step'],round(r['val_loss'],5)) for r in rows if r.get('kind')=='val'])"
  done
fi
