#!/usr/bin/env bash
# On the GPU machine (after tools/gpu/pack.sh; copy this into the carried folder or run it from the tree):
# packed decode of the 3.9B shape with random ternary weights at batch 1 (and a batch of 8) through the one
# model's decode step on the CUDA backend. Prints "name,value" lines; also the packed CUDA test.
#   bash .gpu-w15m/packed-decode.sh            (PRESET, TOKENS, BATCH override 3.9B, 256, 8)
here=$(cd "$(dirname "$0")" && pwd)
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader || true
timeout 400 bash "$here/run.sh" -Xmx64g -cp "$cp" tern.cuda.PackedDecodeBench "${PRESET:-3.9B}" "${TOKENS:-256}" "${BATCH:-8}"
timeout 150 bash "$here/test.sh" --select-class tern.cuda.PackedServeCudaTest | tail -15
