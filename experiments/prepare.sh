#!/usr/bin/env bash
# Once: a 512-token byte-level BPE vocabulary on ../shared/data/slice.txt and its token shards
# (1% of the documents held out for validation) in experiments/data.
set -euo pipefail
cd "$(dirname "$0")/.."
out=experiments/data
mkdir -p "$out"
[ -f "$out/meta.json" ] && { echo "data ready in $out"; exit 0; }
experiments/tern.sh tokenizer train --input ../shared/data/slice.txt --vocab 512 --out "$out/tokenizer.json"
experiments/tern.sh prepare --input ../shared/data/slice.txt --tokenizer "$out/tokenizer.json" --out "$out" --val-fraction 0.05
