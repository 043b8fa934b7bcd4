"""PyTorch's numbers for the same shapes as tern.cuda.CudaBench, written as name,value lines.

bf16 matrix-vector products (what a bf16 model's decode step does per linear layer), float matmuls at the
Spectra 99M shapes in bf16 and in FP32 (TF32 off), and the device copy bandwidth, all timed like the Java
side: CUDA events around a batch of ops, warm-up first, median of samples, weights rotated over copies
that exceed the L2 cache.
Usage: python3 torch_bench.py OUT.csv [TOKENS [attention|decode]]   (attention: only the attention timings;
decode: only the copy bandwidth and the matrix-vector products)
"""
import sys

import torch

out_path = sys.argv[1] if len(sys.argv) > 1 else "bench-torch.csv"
tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 16384
attention_only = len(sys.argv) > 3 and sys.argv[3] == "attention"
decode_only = len(sys.argv) > 3 and sys.argv[3] == "decode"
torch.backends.cuda.matmul.allow_tf32 = False
dev = torch.device("cuda")
out = open(out_path, "w")


def record(name, value, note=""):
    line = f"{name},{value:.6g}" + (f",{note}" if note else "")
    out.write(line + "\n")
    out.flush()
    print(line, flush=True)


def median_ms(op, samples, batch):
    for i in range(max(3, batch)):
        op(i)
    torch.cuda.synchronize()
    times, k = [], 0
    for _ in range(samples):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(batch):
            op(k)
            k += 1
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / batch)
    times.sort()
    return times[len(times) // 2]


record("torch_version", 0, torch.__version__ + " " + torch.cuda.get_device_name())

if not attention_only:
    n = 1 << 28
    src = torch.rand(n, device=dev)
    dst = torch.empty_like(src)
    ms = median_ms(lambda i: dst.copy_(src), 10, 2)
    record("torch_copy_GBps", 2 * 4 * n / (ms * 1e6), "1 GiB read+write")
    del src, dst

    for rows, cols in [(3072, 3072), (9216, 3072), (3072, 9216), (16384, 16384), (1280, 512)]:
        nbytes = 2 * rows * cols
        copies = max(2, min(64, (1 << 30) // nbytes))
        ws = [torch.randn(rows, cols, device=dev, dtype=torch.bfloat16) for _ in range(copies)]
        x = torch.randn(1, cols, device=dev, dtype=torch.bfloat16)
        ms = median_ms(lambda i: torch.nn.functional.linear(x, ws[i % copies]), 15, 20)
        shape = f"{rows}x{cols}"
        record(f"torch_bf16_gemv_us_{shape}", ms * 1e3, f"{copies} rotated copies")
        record(f"torch_bf16_gemv_GBps_{shape}", (nbytes + 2 * cols + 2 * rows) / (ms * 1e6))
        del ws
    if decode_only:
        sys.exit(0)

    t = tokens
    shapes = [(t, 512, 512, 0, 1), (t, 1280, 512, 0, 1), (t, 512, 1280, 0, 1), (t, 50304, 512, 0, 1),
              (t, 512, 1280, 0, 0), (512, 512, t, 1, 0), (1280, 512, t, 1, 0), (512, 1280, t, 1, 0), (50304, 512, t, 1, 0)]
    for m, n_, k, ta, tb in shapes:
        name = f"{m}x{n_}x{k}" + ("_tA" if ta else "") + ("_tB" if tb else "")
        flops = 2.0 * m * n_ * k
        for dtype, label in [(torch.bfloat16, "bf16"), (torch.float32, "f32")]:
            a = torch.randn(k, m, device=dev, dtype=dtype) if ta else torch.randn(m, k, device=dev, dtype=dtype)
            b = torch.randn(n_, k, device=dev, dtype=dtype) if tb else torch.randn(k, n_, device=dev, dtype=dtype)
            aa = a.t() if ta else a
            bb = b.t() if tb else b
            ms = median_ms(lambda i: torch.matmul(aa, bb), 7, 3)
            record(f"torch_mm_tflops_{label}_{name}", flops / (ms * 1e9))
            del a, b, aa, bb

for b_, t_, h_, d_ in [(8, 1024, 8, 64), (4, 2048, 8, 128)]:
    for dtype, label in [(torch.float32, "f32"), (torch.bfloat16, "bf16")]:
        q, k, v = (torch.randn(b_, h_, t_, d_, device=dev, dtype=dtype, requires_grad=True) for _ in range(3))
        g = torch.randn(b_, h_, t_, d_, device=dev, dtype=dtype)
        fwd = median_ms(lambda i: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True), 7, 3)
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        bwd = median_ms(lambda i: torch.autograd.grad(o, (q, k, v), g, retain_graph=True), 7, 3)
        record(f"torch_attn_fwd_ms_{label}_{b_}x{t_}x{h_}x{d_}", fwd)
        record(f"torch_attn_bwd_ms_{label}_{b_}x{t_}x{h_}x{d_}", bwd)
        del q, k, v, g, o
out.close()
