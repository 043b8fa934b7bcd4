#!/bin/bash
# Issue 15's fresh-process figures in one hold, each run started after tools/bench/quiet.sh: per round, `tern generate
# --model` (int8, greedy) from a base tree and this one at 64 tokens, llama-simple -n 64, both trees at 512 tokens, then
# llama-bench tg64/tg512 (2 threads). Each line: Tern's own report, /usr/bin/time's wall and peak RSS, the output's md5
# (the greedy tokens of the two trees must match), and the quiet check. Run under the exclusive CPU lock:
#   flock -x /work/coord/cpu.lock tools/bench/quiet-pair.sh BASE_TREE MODEL.tern MODEL.gguf [ROUNDS=3]
set -u
base=$1; M=$2; G=$3; here=$(cd "$(dirname "$0")/../.." && pwd); quiet="$here/tools/bench/quiet.sh"
bin=${LLAMA_BIN:-$HOME/.cache/llama-cpp/src/build/bin}; export LD_LIBRARY_PATH=$bin
P="Once upon a time"; out=$(mktemp); q=$(mktemp)
run() { # label tree tokens
  "$quiet" > "$q"
  s=$( { /usr/bin/time -f "wall %e s, RSS %M KB" "$2/tern" generate --model "$M" --prompt "$P" --max-tokens "$3" --activations int8 \
        --temperature 0 2>&1 >"$out"; } | grep -v WARN | sed -E 's/ \(.*kernels\)//' | tr '\n' ' ')
  echo "r$r $1 -n $3: $s md5 $(md5sum <"$out" | cut -c1-8) $(cat "$q")"
}
for r in $(seq "${4:-3}"); do
  run base "$base" 64; run this "$here" 64
  "$quiet" > "$q"
  echo "r$r llama-simple -n 64: $( { /usr/bin/time -f 'wall %e s, RSS %M KB' "$bin/llama-simple" -m "$G" -n 64 "$P" 2>&1; } \
      | grep -aE 'decoded|wall' | sed 's/.*main: //' | tr '\n' ' ') $(cat "$q")"
  run base "$base" 512; run this "$here" 512
  "$quiet" > "$q"
  echo "r$r llama-bench: $("$bin/llama-bench" -m "$G" -p 0 -n 64,512 -t 2 -r 2 2>&1 | grep -E 'tg' | awk -F'|' '{print $7 $8}' | tr '\n' ' ') $(cat "$q")"
done
rm -f "$out" "$q"
