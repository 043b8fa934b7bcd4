"""PyTorch eager training step for the Spectra 99M shape, the comparison for tern.cuda.CudaTrainStep.

transformers' LlamaForCausalLM with the same shape (hidden 512, GLU 1280, 8 heads, 16 layers, vocabulary
50304, untied embedding and head, RMSNorm eps 1e-5, rope theta 10000), random tokens, forward + backward
+ clip 1.0 + torch.optim.AdamW(0.9, 0.95, wd 0.1). "ternary" swaps every block linear for an absmean
ternary fake-quantized one with the straight-through estimator (the TriLM recipe). Modes: fp32 with TF32
off (what Tern's f32 backend computes), bf16 autocast (PyTorch's usual fast path), and "compile": bf16
autocast with the model wrapped in torch.compile (the issue's "torch.compile if it runs"; its compilation
happens in the warm-up steps and is not timed).
Usage: python3 torch_train_step.py OUT.csv PRECISION MODE BATCH SEQ [STEPS [WARMUP [PRESET]]]
PRESET (default 99M) picks another Spectra shape (190M … 3.9B, vocabulary 50304 throughout); the model is
built on the GPU. The line printed gives the peak memory (torch.cuda.max_memory_allocated / reserved over
the timed steps). VOCAB (environment, default 50304) sets another vocabulary size.
"""
import os
import sys
import time

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

out_path, precision, mode = sys.argv[1], sys.argv[2], sys.argv[3]
batch, seq = int(sys.argv[4]), int(sys.argv[5])
steps = int(sys.argv[6]) if len(sys.argv) > 6 else 10
warmup = int(sys.argv[7]) if len(sys.argv) > 7 else 3
preset = sys.argv[8] if len(sys.argv) > 8 else "99M"
# Spectra shapes (hidden, GLU, heads, layers), as tern.model.LlamaConfig's presets.
SHAPES = {"99M": (512, 1280, 8, 16), "190M": (768, 2048, 12, 16), "390M": (1024, 2560, 16, 24),
          "560M": (1280, 3072, 20, 24), "830M": (1536, 4096, 24, 24), "1.1B": (1792, 5120, 28, 24),
          "1.5B": (2048, 6144, 32, 24), "2.4B": (2304, 7680, 36, 30), "3.9B": (3072, 9216, 24, 30)}
if preset not in SHAPES:
    sys.exit(f"preset must be one of {', '.join(SHAPES)}, not {preset}")
hidden, glu, heads, layers = SHAPES[preset]
if mode not in ("fp32", "bf16", "compile"):
    sys.exit(f"mode must be fp32, bf16 or compile, not {mode}")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")


class TernaryLinear(torch.nn.Linear):
    def forward(self, x):
        w = self.weight
        gamma = w.abs().mean() + 1e-5
        q = (w / gamma).round().clamp(-1, 1) * gamma
        return F.linear(x, w + (q - w).detach())


cfg = LlamaConfig(vocab_size=int(os.environ.get("VOCAB", "50304")), hidden_size=hidden, intermediate_size=glu, num_hidden_layers=layers,
                  num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=2048, rms_norm_eps=1e-5,
                  rope_theta=10000.0, tie_word_embeddings=False, attn_implementation="sdpa")
with torch.device(dev):          # initialized on the GPU: minutes on the host at 3.9B
    model = LlamaForCausalLM(cfg)
    if precision == "ternary":
        for layer in model.model.layers:
            for parent in (layer.self_attn, layer.mlp):
                for name, mod in list(parent.named_children()):
                    if isinstance(mod, torch.nn.Linear):
                        t = TernaryLinear(mod.in_features, mod.out_features, bias=False)
                        t.weight.data.copy_(mod.weight.data)
                        setattr(parent, name, t)
if mode == "compile":
    model = torch.compile(model)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
params = sum(p.numel() for p in model.parameters())


def step():
    ids = torch.randint(0, cfg.vocab_size, (batch, seq + 1), device=dev)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=(mode in ("bf16", "compile"))):
        logits = model(input_ids=ids[:, :-1]).logits
    loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), ids[:, 1:].reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


for _ in range(warmup):
    step()
torch.cuda.synchronize()
torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
for _ in range(steps):
    step()
torch.cuda.synchronize()
per = (time.perf_counter() - t0) / steps
GIB = 1 << 30
name = f"torch_train_ms_{precision}_{mode}" if preset == "99M" else f"torch_train_ms_{preset}_{precision}_{mode}"
if cfg.vocab_size != 50304:
    name += f"_v{cfg.vocab_size}"
line = (f"{name},{per * 1e3:.3f},{batch} x {seq} tokens {params / 1e6:.2f}M params {batch * seq / per:.0f} tokens/s"
        f" peak {torch.cuda.max_memory_allocated() / GIB:.2f} GiB allocated {torch.cuda.max_memory_reserved() / GIB:.2f} GiB reserved")
print(line, flush=True)
with open(out_path, "a") as f:
    f.write(line + "\n")
