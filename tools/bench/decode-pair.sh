#!/bin/bash
# Decode rate of a fresh `tern generate --model` (int8, greedy, 64 and 512 tokens) from a base tree and this one,
# alternating, beside llama-bench tg64/tg512 (2 threads) in each round, so all three see the same load. Issue 15.
# Run under the exclusive CPU lock:
#   flock -x /work/coord/cpu.lock tools/bench/decode-pair.sh BASE_TREE MODEL.tern MODEL.gguf
# BASE_TREE: a built checkout (its ./tern and target/tern.jar). env: ROUNDS=3, LLAMA_BIN.
# Tern prints the whole call's tokens/s, the time to first token and the rate after it; read the ratio to
# llama-bench's tg figure inside one round.
set -u
base=$1; M=$2; G=$3; here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LLAMA_BIN:-$HOME/.cache/llama-cpp/src/build/bin}; export LD_LIBRARY_PATH=$bin
run() { # tree label tokens
  echo "-- $2 -n $3, load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$1/tern" generate --model "$M" --prompt "Once upon a time" --max-tokens "$3" --activations int8 --temperature 0 \
    2>&1 >/dev/null | grep -v WARNING | sed 's/^/   /' | tail -1
}
for r in $(seq "${ROUNDS:-3}"); do
  echo "== round $r"
  for n in 64 512; do run "$base" base $n; run "$here" this $n; done
  echo "-- llama-bench -p 0 -n 64,512 -t 2 -r 2, load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$bin/llama-bench" -m "$G" -p 0 -n 64,512 -t 2 -r 2 2>&1 | grep -E "tg" | sed 's/^/   /'
done
uptime
