#!/usr/bin/env bash
# Once per machine: the study's corpus, 16k BPE and token shards, outside the repository.
#   tools/study/prepare-data.sh [DIR]     (default /work/study; needs root + apt for get-corpus.sh)
# DIR/corpus: ../shared/data/get-corpus.sh's four Debian documentation texts (69 MB);
# DIR/tokenizer.json: byte-level BPE, 16,384 ids, trained on the whole corpus;
# DIR/data: token shards, 1 % of the documents (every 100th paragraph) held out as the validation split.
# Session 1 got 19,596,827 training and 169,441 validation tokens (meta.json); tools/study/pack.sh carries them.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(realpath -m "${1:-/work/study}")
mkdir -p "$dir"
[[ -f $dir/corpus/linux-docs.txt ]] || bash ../shared/data/get-corpus.sh "$dir/corpus"
[[ -f $dir/tokenizer.json ]] || ./tern tokenizer train --input "$dir/corpus" --vocab 16384 --out "$dir/tokenizer.json"
[[ -f $dir/data/meta.json ]] || ./tern prepare --input "$dir/corpus" --tokenizer "$dir/tokenizer.json" --out "$dir/data" --val-fraction 0.01
grep -E '"(train|val)_tokens"' "$dir/data/meta.json"
