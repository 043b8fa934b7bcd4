#!/bin/bash
# Fresh-process cold start, paired: `tern generate --model` (int8) from a base tree and this one against
# llama-simple, 64 tokens (default sampling and greedy), two rounds; with LONG=1 also 512 tokens and
# llama-bench tg64/tg512. Run under the exclusive CPU lock:
#   flock -x /work/coord/cpu.lock tools/bench/cold-start-pair.sh BASE_TREE MODEL.tern MODEL.gguf
# BASE_TREE: a built checkout (its ./tern and target/tern.jar), e.g. `git archive <commit>` unpacked and built.
set -u
base=$1; M=$2; G=$3; here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LLAMA_BIN:-$HOME/.cache/llama-cpp/src/build/bin}; export LD_LIBRARY_PATH=$bin
P="Once upon a time"
run() { # tree label tokens extra-args
  echo "-- $2 -n $3 ${4:-}, load $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -f "   wall %e s, peak RSS %M KB" "$1/tern" generate --model "$M" --prompt "$P" --max-tokens "$3" --activations int8 ${4:-} \
    2>&1 >/dev/null | grep -v WARNING | sed 's/^/   /' | tail -2
}
for r in $(seq "${ROUNDS:-2}"); do
  run "$base" base 64; run "$here" this 64
  run "$base" base 64 "--temperature 0"; run "$here" this 64 "--temperature 0"
  echo "-- llama-simple -n 64, load $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -f "   wall %e s, peak RSS %M KB" "$bin/llama-simple" -m "$G" -n 64 "$P" 2>&1 | grep -aE "decoded|wall" | sed 's/.*main: /   /;s/^ */   /'
done
if [ -n "${LONG:-}" ]; then
  run "$here" this 512; run "$base" base 512
  echo "-- llama-bench -p 0 -n 64,512 -t 2 -r 2, load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$bin/llama-bench" -m "$G" -p 0 -n 64,512 -t 2 -r 2 2>&1 | grep -E "tg|model"
fi
uptime
