#!/usr/bin/env bash
# Tern vs llama.cpp on one checkpoint: export TQ2_0 and TQ1_0 GGUF files, greedy continuations of each prompt
# in tools/gguf/prompts.txt from `tern generate --ckpt` and from `llama-simple` on both files, and perplexity
# over the same windows from `tern eval --perplexity` and `llama-perplexity`.
# usage: tools/gguf/compare-llama-cpp.sh CKPT_DIR HELDOUT.txt OUT_DIR [LLAMA_BIN_DIR] [N_TOKENS] [CONTEXT]
set -euo pipefail
ckpt=$1 text=$2 out=$3 bin=${4:-$HOME/.cache/llama-cpp/src/build/bin} n=${5:-24} ctx=${6:-255}
here=$(cd "$(dirname "$0")" && pwd); tern="$here/../../tern"
mkdir -p "$out"
for t in tq2_0 tq1_0; do "$tern" export --format gguf --type $t --ckpt "$ckpt" --out "$out/model-$t.gguf"; done
same=0 total=0
while IFS= read -r p; do
  [ -z "$p" ] && continue
  want=$("$tern" generate --ckpt "$ckpt" --prompt "$p" --temperature 0 --max-tokens $n 2>/dev/null)
  for t in tq2_0 tq1_0; do
    got=$("$bin/llama-simple" -m "$out/model-$t.gguf" -n $n "$p" 2>/dev/null)
    total=$((total + 1))
    if [ "$got" == "$want" ]; then same=$((same + 1)); echo "same  $t: $(printf %q "$got")"; else echo "DIFF  $t: tern $(printf %q "$want")"; echo "            llama $(printf %q "$got")"; fi
  done
done < "$here/prompts.txt"
echo "greedy continuations identical: $same of $total"
# Windows: llama-perplexity's strided mode (--ppl-stride S, -c c) runs windows of n_ctx = c + S/2 tokens starting
# every S tokens and scores each window's last S next-token predictions. With S = ctx and c = ctx + 1 - ctx/2 the
# windows hold ctx + 1 tokens and score all ctx predictions: tern eval's windows with --context ctx --stride ctx,
# over the same token stream once llama.cpp adds <|endoftext|> as BOS (the override; the file itself adds no BOS,
# as tern generate adds none). llama.cpp rounds n_ctx up to a multiple of 256, hence ctx = 255 (n_ctx 256).
# Tern also scores the text's last, partial window, which llama.cpp drops.
"$tern" eval --ckpt "$ckpt" --perplexity "$text" --context $ctx --stride $ctx 2>&1 | tail -4
for t in tq2_0 tq1_0; do
  "$bin/llama-perplexity" -m "$out/model-$t.gguf" -f "$text" -c $((ctx + 1 - ctx / 2)) --ppl-stride $ctx -b $((ctx + 1)) \
     --override-kv tokenizer.ggml.add_bos_token=bool:true > "$out/perplexity-$t.log" 2>&1
  echo "llama-perplexity $t: $(grep -aE 'computing over' "$out/perplexity-$t.log" | sed 's/.*: //'); last running PPL $(tr ',' '\n' < "$out/perplexity-$t.log" | grep -a '^\[' | tail -1)"
done
