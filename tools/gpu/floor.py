"""A lower bound on the Spectra 99M training step from PyTorch's own measured kernels, and the MFU it allows.

Reads torch_bench.py's CSV (run with TOKENS=8192, the training step's 8 × 1024 tokens) and adds up, for one
step: every matrix product at the rate torch's bf16 tensors reached at that shape, causal attention at torch's
bf16 SDPA rate, and AdamW at the copy bandwidth (FP32 master weights: read p, g, m, v, write p, m, v). Norms,
RoPE, SwiGLU, residuals, the loss and host time are counted as free, so the true step is slower than this.
Where a product's exact orientation was not timed, the nearest timed one stands in (named in the output).
Usage: python3 floor.py bench-torch.csv
"""
import sys

rates = {}
for line in open(sys.argv[1]):
    parts = line.strip().split(",", 2)
    if len(parts) >= 2:
        try:
            rates[parts[0]] = float(parts[1])
        except ValueError:
            pass

T, D, F, V, L, PARAMS = 8192, 512, 1280, 50304, 16, 99.76e6
PEAK = 989e12


def product_ms(m, n, k, name, stand_in=None):
    key = f"torch_mm_tflops_bf16_{stand_in or name}"
    if key not in rates:
        sys.exit(f"floor.py: {key} is not in {sys.argv[1]} (run torch_bench.py with TOKENS=8192)")
    if stand_in:
        print(f"  {name}: timed as {stand_in}")
    return 2.0 * m * n * k / (rates[key] * 1e12) * 1e3


layer = (4 * product_ms(T, D, D, "8192x512x512_tB")                          # q, k, v, o
         + 2 * product_ms(T, F, D, "8192x1280x512_tB")                       # gate, up
         + product_ms(T, D, F, "8192x512x1280_tB")                           # down
         + 4 * product_ms(T, D, D, "8192x512x512", "8192x512x512_tB")        # dx of q, k, v, o
         + 2 * product_ms(T, D, F, "8192x512x1280")                          # dx of gate, up
         + product_ms(T, F, D, "8192x1280x512", "8192x1280x512_tB")          # dx of down
         + 4 * product_ms(D, D, T, "512x512x8192_tA")                        # dW of q, k, v, o
         + 2 * product_ms(F, D, T, "1280x512x8192_tA")                       # dW of gate, up
         + product_ms(D, F, T, "512x1280x8192_tA"))                          # dW of down
head = (product_ms(T, V, D, "8192x50304x512_tB")
        + product_ms(T, D, V, "8192x512x50304", "8192x50304x512_tB")
        + product_ms(V, D, T, "50304x512x8192_tA"))
products = L * layer + head
attention = L * (rates["torch_attn_fwd_ms_bf16_8x1024x8x64"] + rates["torch_attn_bwd_ms_bf16_8x1024x8x64"])
adamw = 28 * PARAMS / (rates["torch_copy_GBps"] * 1e9) * 1e3
floor = products + attention + adamw
flops_per_token = {"with the input embedding": 6 * PARAMS + 12 * L * D * 1024,
                   "without it": 6 * (PARAMS - V * D) + 12 * L * D * 1024}
print(f"products {products:.2f} ms (layers {L * layer:.2f}, LM head {head:.2f}), attention {attention:.2f} ms, "
      f"AdamW {adamw:.2f} ms: floor {floor:.2f} ms a step, everything else free")
for what, f in flops_per_token.items():
    print(f"MFU at that floor, 6N + 12·L·d·T {what}: {100 * f * T / (floor / 1e3) / PEAK:.1f} %"
          f" (40 % needs {f * T / (0.4 * PEAK) * 1e3:.2f} ms)")
