#!/usr/bin/env bash
# Prefill A/B in one run: a baseline build's `tern bench prefill`, this tree's, then llama-bench on the same weights,
# alternating per round so all three see the same load (printed beside each).
# usage: tools/bench/prefill-pair.sh BASE_TREE MODEL.tern MODEL.gguf      (BASE_TREE: a built checkout, e.g. of main)
#   env: ROUNDS=2  LLAMA_BIN=~/.cache/llama-cpp/src/build/bin  TOKENS=128,512
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 BASE_TREE MODEL.tern MODEL.gguf" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
base=$(cd "$1" && pwd); model=$2; gguf=$3
bin=${LLAMA_BIN:-$HOME/.cache/llama-cpp/src/build/bin}
export LD_LIBRARY_PATH="$bin:${LD_LIBRARY_PATH:-}"
for f in "$model" "$gguf" "$base/tern" "$bin/llama-bench"; do [[ -e "$f" ]] || { echo "missing: $f" >&2; exit 1; }; done
load() { cut -d' ' -f1-3 /proc/loadavg; }
for r in $(seq "${ROUNDS:-2}"); do
  for d in "$base" "$root"; do
    echo "-- round $r: $d ($(git -C "$d" log --oneline -1 2>/dev/null | cut -c1-48)), load $(load)"
    (cd "$d" && ./tern bench prefill --model "$model" --tokens "${TOKENS:-128,512}" --runs 3 --warmup-s 5 2>&1 | grep -v WARNING)
  done
  echo "-- round $r: llama-bench -t 2, load $(load)"
  "$bin/llama-bench" -m "$gguf" -t 2 -p "${TOKENS:-128,512}" -n 0 -r 2 2>&1 | grep -aE "pp"
done
echo "-- end, load $(load)"
