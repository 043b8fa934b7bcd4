#!/usr/bin/env bash
# On the GPU machine (run call, carry [".gpu-NAME"]): bash .gpu-NAME/study/device.sh SESSION DEADLINE_S
# Unpacks the runtime, the train shard and the zero-shot sets into /tmp, then runs the session's queue
# (runner.py) until DEADLINE_S seconds after this script started; everything small comes back in $OUT:
# study.tgz (rewritten after every finished task), runner.log, gpu.csv (nvidia-smi every 5 s).
set -uo pipefail
t0=$(date +%s)
pack=$(cd "$(dirname "$0")/.." && pwd)
session=$pack/study/sessions/${1:?session name, e.g. 01}.json
deadline=${2:?deadline in seconds}
out=${OUT:-/tmp/study-out}; mkdir -p "$out"
work=/tmp/study; mkdir -p "$work/data" "$work/eval"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/runner.log"
[[ -x $pack/jre/bin/java ]] || tar xzf "$pack/jre.tgz" -C "$pack"
cp "$pack"/data/*.json "$pack"/data/*.tok "$work/data/"
# Python's lzma, not xz(1), which a bare machine may lack
python3 - "$pack" "$work" <<'PY'
import glob, lzma, os, shutil, sys, tarfile
pack, work = sys.argv[1], sys.argv[2]
for f in glob.glob(os.path.join(pack, 'data', '*.tok.xz')):
    with lzma.open(f) as src, open(os.path.join(work, 'data', os.path.basename(f)[:-3]), 'wb') as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
with tarfile.open(os.path.join(pack, 'eval.tar.xz')) as t:
    t.extractall(os.path.join(work, 'eval'))
PY
ngpu=$(nvidia-smi -L | wc -l)
(while true; do nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader >> "$out/gpu.csv"; sleep 5; done) &
mon=$!
echo "setup $(( $(date +%s) - t0 ))s, $ngpu gpu(s)" | tee -a "$out/runner.log"
python3 "$pack/study/runner.py" --session "$session" --runs "$pack/study/runs" --data "$work/data" --work "$work" \
  --out "$out" --deadline $(( deadline - ($(date +%s) - t0) )) --tern "bash $pack/tern.sh" --device cuda \
  --eval-data "$work/eval" --gpus "$ngpu"
kill $mon 2>/dev/null
tail -5 "$out/runner.log"
