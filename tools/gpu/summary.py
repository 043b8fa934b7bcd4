"""Joins CudaBench's and torch_bench.py's name,value files into the tables printed last by bench.sh."""
import sys


def load(path):
    values = {}
    try:
        for line in open(path):
            parts = line.strip().split(",", 2)
            if len(parts) >= 2:
                values[parts[0]] = (float(parts[1]), parts[2] if len(parts) > 2 else "")
    except FileNotFoundError:
        pass
    return values


ours, torch = load(sys.argv[1]), load(sys.argv[2])


def v(d, k):
    return d[k][0] if k in d else float("nan")


print()
print("device:", ours.get("device", (0, "?"))[1], "|", torch.get("torch_version", (0, "?"))[1])
copy = v(ours, "copy_GBps")
print(f"device copy bandwidth (read+write): ours {copy:.0f} GB/s, torch {v(torch, 'torch_copy_GBps'):.0f} GB/s")
print(f"host time per launch (JCuda path, 1-element op): {v(ours, 'launch_host_us'):.1f} us")
print()
print("ternary 2-bit GEMV (batch 1) vs bf16 matvec (torch F.linear)")
print(f"{'out x in':>12} {'tern us':>9} {'GB/s':>7} {'% copy':>7} {'bf16 us':>9} {'speedup':>8} {'host us/call':>12}")
for shape in ["3072x3072", "9216x3072", "3072x9216", "16384x16384", "1280x512"]:
    tu, bu = v(ours, f"gemv_us_{shape}"), v(torch, f"torch_bf16_gemv_us_{shape}")
    print(f"{shape:>12} {tu:9.1f} {v(ours, f'gemv_GBps_{shape}'):7.0f} {v(ours, f'gemv_pct_copy_{shape}'):6.1f}% "
          f"{bu:9.1f} {bu / tu:7.2f}x {v(ours, f'gemv_host_us_{shape}'):12.1f}")
print()
print("matmul TFLOP/s at Spectra 99M shapes (M x N x K; tA/tB = transposed operand)")
names = sorted({k[len("mm_tflops_cublas_f32_"):] for k in ours if k.startswith("mm_tflops_cublas_f32_")},
               key=lambda s: [int(x) for x in s.split("_")[0].split("x")])
print(f"{'shape':>24} {'cublas f32':>10} {'cublas bf16':>11} {'our kernel':>10} {'tern cublas':>11} {'tern kernel':>11} {'torch bf16':>10} {'torch f32':>9}")
for n in names:
    tern, tk = v(ours, f"mm_tflops_ternary_fwd_{n}"), v(ours, f"mm_tflops_ternary_fwd_kernel_{n}")
    if tern != tern:
        tern, tk = v(ours, f"mm_tflops_ternary_dx_{n}"), v(ours, f"mm_tflops_ternary_dx_kernel_{n}")
    print(f"{n:>24} {v(ours, f'mm_tflops_cublas_f32_{n}'):10.1f} {v(ours, f'mm_tflops_cublas_bf16_{n}'):11.1f} "
          f"{v(ours, f'mm_tflops_kernel_f32_{n}'):10.1f} {tern:11.1f} {tk:11.1f} {v(torch, f'torch_mm_tflops_bf16_{n}'):10.1f} "
          f"{v(torch, f'torch_mm_tflops_f32_{n}'):9.1f}")

print()
print("causal attention (batch x seq x heads x headDim), ms fwd / bwd")
for shape in ["8x1024x8x64", "4x2048x8x128"]:
    print(f"{shape:>14}: ours f32 {v(ours, 'attn_fwd_ms_' + shape):.3f} / {v(ours, 'attn_bwd_ms_' + shape):.3f} | "
          f"ours bf16 tensor cores {v(ours, 'attn_tc_fwd_ms_' + shape):.3f} / {v(ours, 'attn_tc_bwd_ms_' + shape):.3f} | "
          f"torch SDPA f32 {v(torch, 'torch_attn_fwd_ms_f32_' + shape):.3f} / {v(torch, 'torch_attn_bwd_ms_f32_' + shape):.3f} | "
          f"bf16 {v(torch, 'torch_attn_fwd_ms_bf16_' + shape):.3f} / {v(torch, 'torch_attn_bwd_ms_bf16_' + shape):.3f}")
