#!/usr/bin/env bash
# On the GPU machine (copied into .gpu/ by tools/gpu/pack.sh): our benchmarks, PyTorch's on the same
# shapes, then the joined table. Full logs and CSVs go to $OUT when it is set. TRAIN=1 adds the training
# step (TORCH_MODES picks PyTorch's modes, default "fp32 bf16 compile"); TOKENS sets the matmul shapes' rows.
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp}
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader || true
bash "$here/run.sh" -Xmx48g -cp "$cp" tern.cuda.CudaBench "$dest/bench-java.csv" "${TOKENS:-16384}" ${BENCH_ONLY:-} > "$dest/bench-java.log" 2>&1 \
  || { echo "CudaBench failed:"; tail -40 "$dest/bench-java.log"; }
PYTHONUNBUFFERED=1 python3 "$here/torch_bench.py" "$dest/bench-torch.csv" "${TOKENS:-16384}" ${BENCH_ONLY:-} > "$dest/bench-torch.log" 2>&1 \
  || { echo "torch_bench failed:"; tail -20 "$dest/bench-torch.log"; }
if [[ -n "${TRAIN:-}" ]]; then
  # Training step at the Spectra 99M shape: ours (float, ternary) and PyTorch (eager fp32, eager bf16 autocast,
  # torch.compile with bf16 autocast).
  B=${TRAIN_BATCH:-8}; S=${TRAIN_SEQ:-1024}
  # Tern twice: FP32 (cuBLAS SGEMM, f32 attention) and bf16 (-Dtern.cuda.matmul=bf16: bf16-input cuBLAS and
  # the tensor-core attention), the latter with PROFILED (default 2) more steps timed per kernel.
  for p in float ternary; do
    timeout 150 bash "$here/run.sh" -Xmx32g -cp "$cp" tern.cuda.CudaTrainStep "$dest/train.csv" 99M $p $B $S 10 3 >> "$dest/train-java.log" 2>&1 \
      || { echo "CudaTrainStep $p failed:"; grep -E "Exception|Error|at tern" "$dest/train-java.log" | head -12; }
    timeout 150 bash "$here/run.sh" -Xmx32g -Dtern.cuda.matmul=bf16 -cp "$cp" tern.cuda.CudaTrainStep "$dest/train.csv" 99M $p $B $S 10 3 ${PROFILED:-2} \
      > "/tmp/train-java-bf16-$p.log" 2>&1 \
      || { echo "CudaTrainStep bf16 $p failed:"; grep -E "Exception|Error|at tern" "/tmp/train-java-bf16-$p.log" | head -12; }
    cat "/tmp/train-java-bf16-$p.log" >> "$dest/train-java.log"     # $OUT brings back 8 files at most
    for m in ${TORCH_MODES:-fp32 bf16 compile}; do
      PYTHONUNBUFFERED=1 timeout 240 python3 "$here/torch_train_step.py" "$dest/train.csv" $p $m $B $S 10 3 >> "$dest/train-torch.log" 2>&1 \
        || { echo "torch_train_step $p $m failed:"; tail -5 "$dest/train-torch.log"; }
    done
  done
  echo; sed -n '/GPU time per kernel/,$p' /tmp/train-java-bf16-float.log | head -24
  echo; echo "training step, Spectra 99M shape, $B x $S tokens (ms/step):"; cat "$dest/train.csv" 2>/dev/null
  echo; python3 "$here/mfu.py" "$dest/train.csv"
  echo; python3 "$here/floor.py" "$dest/bench-torch.csv" || true    # needs the matmul shapes at TOKENS=8192
fi
python3 "$here/summary.py" "$dest/bench-java.csv" "$dest/bench-torch.csv"
