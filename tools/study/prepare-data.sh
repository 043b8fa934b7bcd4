#!/usr/bin/env bash
# Once per machine: the study's corpus, 16k BPE and token shards, outside the repository.
#   tools/study/prepare-data.sh [DIR]          corpus v1 (what sessions 1.. used), default DIR /work/study
#   tools/study/prepare-data.sh --v2 [DIR]     corpus v2: v1 + get-more-corpus.sh's four packages, WordNet cut
#                                              into paragraphs of 20 glosses (v1 has it as one paragraph, so none
#                                              of it is in the validation split); own tokenizer and shards
# v1: DIR/corpus (../shared/data/get-corpus.sh, 69 MB), DIR/tokenizer.json (byte-level BPE, 16,384 ids),
#     DIR/data (1 % of the documents, every 100th paragraph, held out): 19,596,827 train + 169,441 val tokens.
# v2: DIR/corpus-more, DIR/corpus-v2 (the texts it trains on), DIR/tokenizer-v2.json, DIR/data-v2.
# Then: STUDY_DATA=DIR/data[-v2] tools/study/pack.sh; checksums of v1 in tools/study/data.sha256.
set -euo pipefail
cd "$(dirname "$0")/../.."
v2=0; [[ ${1:-} == --v2 ]] && { v2=1; shift; }
dir=$(realpath -m "${1:-/work/study}")
mkdir -p "$dir"
[[ -f $dir/corpus/linux-docs.txt ]] || bash ../shared/data/get-corpus.sh "$dir/corpus"
if [[ $v2 == 0 ]]; then
  [[ -f $dir/tokenizer.json ]] || ./tern tokenizer train --input "$dir/corpus" --vocab 16384 --out "$dir/tokenizer.json"
  [[ -f $dir/data/meta.json ]] || ./tern prepare --input "$dir/corpus" --tokenizer "$dir/tokenizer.json" --out "$dir/data" --val-fraction 0.01
  grep -E '"(train|val)_tokens"' "$dir/data/meta.json"
  exit 0
fi
[[ -f $dir/corpus-more/perl-docs.txt ]] || bash tools/study/get-more-corpus.sh "$dir/corpus-more"
mkdir -p "$dir/corpus-v2"
for f in "$dir"/corpus/*.txt "$dir"/corpus-more/*.txt; do
  [[ $(basename "$f") == wordnet.txt ]] || cp "$f" "$dir/corpus-v2/"
done
awk 'NF { print; if (++n % 20 == 0) print "" }' "$dir/corpus/wordnet.txt" > "$dir/corpus-v2/wordnet.txt"
[[ -f $dir/tokenizer-v2.json ]] || ./tern tokenizer train --input "$dir/corpus-v2" --vocab 16384 --out "$dir/tokenizer-v2.json"
[[ -f $dir/data-v2/meta.json ]] || ./tern prepare --input "$dir/corpus-v2" --tokenizer "$dir/tokenizer-v2.json" --out "$dir/data-v2" --val-fraction 0.01
grep -E '"(train|val)_tokens"' "$dir/data-v2/meta.json"
