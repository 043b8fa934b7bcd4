#!/usr/bin/env bash
# Post-training quantization of the study's FloatLMs (every saved checkpoint: the PTQ law's D axis) to
# 3, 4, 6 and 8 bits with GPTQ, and the final checkpoints with RTN too. Group 128 (GPTQ's usual; for our
# widths of 32..96 most rows are one group), 64 calibration sequences of 64 tokens (GPTQ: 128 of 2048).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-experiments/runs}
out=${2:-experiments/ptq}
for run in "$runs"/*-float; do
  name=$(basename "$run")
  last=$(ls -d "$run"/checkpoints/step-* | sort | tail -1)
  for ckpt in "$run"/checkpoints/step-*; do
    for bits in 3 4 6 8; do
      for method in gptq rtn; do
        [ "$method" = rtn ] && [ "$ckpt" != "$last" ] && continue
        dest="$out/$name-$(basename "$ckpt")-$method-$bits"
        [ -f "$dest/quantization.json" ] && continue
        experiments/tern.sh quantize --ckpt "$ckpt" --bits "$bits" --method "$method" --group 128 \
          --calib experiments/data --calib-seqs 64 --val-batches 16 --out "$dest" | tail -1
      done
    done
  done
done
