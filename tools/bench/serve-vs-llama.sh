#!/usr/bin/env bash
# Issue 15, CPU side, in one run beside llama.cpp on the same weights (a 390M-shape TriLM, random weights:
# the same bytes and products per token as a trained one), each pair taken back to back so both see the same load:
#   1. cold start: a fresh `tern generate --model` process for 64 and 512 tokens against `llama-simple -n N`
#      (wall time and peak RSS from /usr/bin/time; Tern's own TTFT and tokens/s line);
#   2. prefill and decode: `tern bench prefill` (pp128, pp512) against `llama-bench -t 2 -p 128,512 -n 64,512`;
#   3. the server: tern.serve.ServeLoad on the packed file, 1 client then 8 concurrent streaming clients
#      (aggregate tokens/s, p50/p99 time per token), int8 and float activations.
# usage: tools/bench/serve-vs-llama.sh [OUT_DIR]        (run from anywhere; writes only under OUT_DIR)
# Read the figures as ratios inside one round (the rounds alternate Tern and llama.cpp); note the load printed beside
# each. On a busy machine llama.cpp's tg figures collapse (its threads spin at a barrier), so run it quietly.
#   env: ROUNDS=2  LLAMA_BIN=~/.cache/llama-cpp/src/build/bin  MODEL=FILE.tern GGUF=FILE.gguf (made in OUT_DIR when unset)
#        SKIP="cold prefill serve" (any of them)  SERVE_TOKENS=64  REPS=2 (llama-bench repetitions)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$(mkdir -p "${1:-/tmp/tern-serve-bench}" && cd "${1:-/tmp/tern-serve-bench}" && pwd)
rounds=${ROUNDS:-2}
bin=${LLAMA_BIN:-$HOME/.cache/llama-cpp/src/build/bin}
skip=" ${SKIP:-} "
export LD_LIBRARY_PATH="$bin:${LD_LIBRARY_PATH:-}"
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
java="$JAVA_HOME/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
tern="$root/tern"
for t in llama-simple llama-bench; do
  [[ -x "$bin/$t" ]] || { echo "no $bin/$t: build llama.cpp with ../shared/tools/llama-cpp.sh or set LLAMA_BIN" >&2; exit 1; }
done
load() { cut -d' ' -f1-3 /proc/loadavg; }

(cd "$root" && "$tern" build >/dev/null 2>&1 && mvn -o -q -B -DskipTests test-compile dependency:build-classpath \
    -Dmdep.outputFile="$out/test.classpath" >/dev/null) || { echo "build failed" >&2; exit 1; }

model=${MODEL:-$out/tri390.tern}
gguf=${GGUF:-$out/tri390-tq2_0.gguf}
if [[ ! -f "$model" || ! -f "$gguf" ]]; then
  echo "== making a random-weight 390M-shape TriLM in $out (checkpoint, tern pack, tern export --format gguf)"
  rm -rf "$out/ckpt390"
  $java -cp "$root/target/classes" "$root/tools/bench/MakeTriLM.java" "$out/ckpt390" "$root/../shared/data/slice.txt" 390M
  "$tern" pack --ckpt "$out/ckpt390" --out "$model" 2>&1 | grep -v WARNING
  "$tern" export --format gguf --ckpt "$out/ckpt390" --out "$gguf" --type tq2_0 --force 2>&1 | grep -v WARNING
  rm -rf "$out/ckpt390"                       # 1.2 GB of f32 latent weights: the two files are all the runs need
fi

echo "== $(date -u +%FT%TZ) $(cd "$root" && git log --oneline -1) | $(nproc) CPUs | load $(load)"
echo "   tern model $model ($(du -h "$model" | cut -f1)), llama.cpp model $gguf ($(du -h "$gguf" | cut -f1))"

for r in $(seq "$rounds"); do
  if [[ "$skip" != *" cold "* ]]; then
    for n in 64 512; do
      for act in float int8; do
        echo "-- round $r: tern generate --model, $n tokens, $act activations, load $(load)"
        /usr/bin/time -f "   wall %e s, peak RSS %M KB" "$tern" generate --model "$model" --prompt "Once upon a time" --max-tokens $n \
            --activations $act 2>&1 >/dev/null | grep -v WARNING | sed 's/^/   /' | tail -2
      done
      echo "-- round $r: llama-simple -n $n, load $(load)"
      /usr/bin/time -f "   wall %e s, peak RSS %M KB" "$bin/llama-simple" -m "$gguf" -n $n "Once upon a time" 2>&1 \
          | grep -aE "decoded|wall" | sed 's/^ */   /'
    done
  fi
  if [[ "$skip" != *" prefill "* ]]; then
    echo "-- round $r: tern bench prefill (int8), load $(load)"
    "$tern" bench prefill --model "$model" --tokens 128,512 --runs 3 --warmup-s 5 2>&1 | grep -v WARNING | sed 's/^/   /'
    echo "-- round $r: llama-bench -t 2, load $(load)"
    "$bin/llama-bench" -m "$gguf" -t 2 -p 128,512 -n 64,512 -r "${REPS:-2}" 2>&1 | grep -aE "pp|tg" | sed 's/^/   /'
  fi
  if [[ "$skip" != *" serve "* ]]; then
    for act in int8 float; do
      echo "-- round $r: tern serve (in-process, loopback), 1 vs 8 streaming clients, $act activations, load $(load)"
      $java -XX:+UseSerialGC -Xms32m -Xmx512m -cp "$root/target/classes:$root/target/test-classes:$(cat "$out/test.classpath")" \
          tern.serve.ServeLoad --model "$model" --activations $act --decoder batched --tokens "${SERVE_TOKENS:-64}" --requests 2 --rounds 1 \
          2>&1 | grep -v WARNING | sed 's/^/   /'
    done
  fi
done
echo "== done $(date -u +%FT%TZ), load $(load)"
