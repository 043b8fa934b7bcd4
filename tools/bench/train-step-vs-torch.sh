#!/usr/bin/env bash
# CPU training step of a preset (default 10M, float) in Tern and in PyTorch (Debian's python3-torch on
# OpenBLAS: apt-get install python3-torch libopenblas0-pthread), taking turns in one run.
#   tools/bench/train-step-vs-torch.sh [PRESET [ROUNDS [STEPS]]]        (default: 10M 2 3)
# Needs the classes built (mvn -o -q -DskipTests package). Prints each side's ms/step per round, then
# torch's faster configuration / Tern's median (> 1: Tern faster).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
preset=${1:-10M}; rounds=${2:-2}; steps=${3:-3}
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
out=$(mktemp); trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  echo "# round $r, $(uptime | sed 's/.*load/load/')"
  "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx1g -XX:+UseParallelGC \
      -cp "$root/target/classes" tern.train.TrainStepBench "$preset" float "$steps" 2 2>/dev/null | grep -v WARNING | tee -a "$out"
  # torch twice: on every core, and on one thread with OpenBLAS on one (on a busy machine its spinning
  # OpenMP and OpenBLAS pools on both cores were 2x slower than one thread); the faster is the peer.
  /usr/bin/python3 "$root/tools/bench/torch_cpu_train_step.py" "$preset" "$steps" 1 "$(nproc)" | tee -a "$out"
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/tools/bench/torch_cpu_train_step.py" "$preset" "$steps" 1 1 | tee -a "$out"
done
python3 - "$out" <<'PY'
import re, statistics, sys
tern = [float(m.group(1)) for m in re.finditer(r"float: .*?, ([0-9.]+) ms/step", open(sys.argv[1]).read())]
torch = [float(m.group(1)) for m in re.finditer(r"torch fp32: ([0-9.]+) ms/step", open(sys.argv[1]).read())]
if tern and torch:
    t, p = statistics.median(tern), min(torch)
    print(f"Tern {t:.1f} ms/step (median), torch {p:.1f} ms/step (its faster configuration): torch / Tern = {p / t:.2f} (target >= 1.5)")
PY
