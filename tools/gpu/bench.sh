#!/usr/bin/env bash
# On the GPU machine (copied into .gpu/ by tools/gpu/pack.sh): our benchmarks, PyTorch's on the same
# shapes, then the joined table. Full logs and CSVs go to $OUT when it is set.
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-/tmp}
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader || true
bash "$here/run.sh" -Xmx48g -cp "$cp" tern.cuda.CudaBench "$dest/bench-java.csv" "${TOKENS:-16384}" > "$dest/bench-java.log" 2>&1 \
  || { echo "CudaBench failed:"; tail -40 "$dest/bench-java.log"; }
PYTHONUNBUFFERED=1 python3 "$here/torch_bench.py" "$dest/bench-torch.csv" "${TOKENS:-16384}" > "$dest/bench-torch.log" 2>&1 \
  || { echo "torch_bench failed:"; tail -20 "$dest/bench-torch.log"; }
python3 "$here/summary.py" "$dest/bench-java.csv" "$dest/bench-torch.csv"
