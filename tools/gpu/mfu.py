"""Model FLOP utilisation of every training-step line in train.csv (ours and PyTorch's), the issue's MFU.

FLOPs per token, PaLM's way: 6·N + 12·L·d·T (matmul FLOPs of forward and backward, attention counted as
if not causal). Two counts of N are printed, since papers differ on the embedding: N with every parameter
(the input embedding included, which is a lookup, not a product: the generous count) and N without the
input embedding (the untied LM head stays in: it is a product). Peak: H100 SXM dense bf16, 989 TFLOP/s.
Usage: python3 mfu.py train.csv [LAYERS HIDDEN VOCAB]
"""
import re
import sys

path = sys.argv[1]
layers, hidden, vocab = (int(x) for x in sys.argv[2:5]) if len(sys.argv) > 4 else (16, 512, 50304)
PEAK = 989e12
print(f"MFU (H100 dense bf16 peak {PEAK / 1e12:.0f} TFLOP/s; 6N + 12·L·d·T per token, N with / without the input embedding)")
for line in open(path):
    name, ms, note = (line.strip().split(",", 2) + ["", ""])[:3]
    m = re.search(r"(\d+) x (\d+) tokens ([0-9.]+)M params", note)
    if not m:
        continue
    batch, seq, params = int(m.group(1)), int(m.group(2)), float(m.group(3)) * 1e6
    attention = 12 * layers * hidden * seq
    tokens_per_s = batch * seq / (float(ms) / 1e3)
    with_emb = (6 * params + attention) * tokens_per_s / PEAK
    without_emb = (6 * (params - vocab * hidden) + attention) * tokens_per_s / PEAK
    print(f"{name:>36} {float(ms):8.1f} ms {tokens_per_s / 1e3:7.1f}k tok/s  MFU {100 * with_emb:5.1f} % / {100 * without_emb:5.1f} %")
