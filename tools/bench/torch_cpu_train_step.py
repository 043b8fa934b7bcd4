"""PyTorch CPU training step on a Tern preset's shape, the peer of tern.train.TrainStepBench (float precision).

A plain LLaMA in torch (no transformers): token embedding, `layers` pre-norm blocks (RMSNorm eps 1e-5,
multi-head attention with RoPE theta 10000 and a causal mask, SwiGLU MLP), final RMSNorm, untied LM head;
mean cross-entropy on random tokens; backward, global-norm clip 1.0, torch.optim.AdamW(lr 1e-3, betas
(0.9, 0.95), weight decay 0.1). fp32 throughout, torch.set_num_threads(THREADS) (Tern's kernels use the
machine's cores). Debian's python3-torch (1.13) calls the system BLAS: install libopenblas0-pthread so the
alternative points at OpenBLAS, as the comparison asks.
Usage: /usr/bin/python3 torch_cpu_train_step.py [PRESET [STEPS [WARMUP [THREADS]]]]   (default 10M 3 2 2)
Prints: "<preset> torch fp32: <ms> ms/step (<steps>), BLAS <name>".
"""
import math
import sys
import time

import torch
import torch.nn.functional as F

# vocab, hidden, GLU, layers, heads, context, batch (tern.model.LlamaConfig presets; TrainConfig batches)
PRESETS = {"tiny": (512, 64, 192, 4, 4, 64, 8), "10M": (4096, 256, 768, 9, 4, 256, 16)}
preset = sys.argv[1] if len(sys.argv) > 1 else "10M"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 2
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
if preset not in PRESETS:
    sys.exit(f"preset must be one of {', '.join(PRESETS)}, not {preset}")
vocab, hidden, glu, layers, heads, seq, batch = PRESETS[preset]
torch.set_num_threads(threads)
torch.manual_seed(0)


class RMSNorm(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


def rope(x, cos, sin):
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(hidden), RMSNorm(hidden)
        self.q, self.k, self.v, self.o = (torch.nn.Linear(hidden, hidden, bias=False) for _ in range(4))
        self.gate, self.up = torch.nn.Linear(hidden, glu, bias=False), torch.nn.Linear(hidden, glu, bias=False)
        self.down = torch.nn.Linear(glu, hidden, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.n1(x)
        q, k, v = (p(h).view(b, t, heads, -1).transpose(1, 2) for p in (self.q, self.k, self.v))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1]) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, hidden)
        x = x + self.o(y)
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, hidden)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(layers))
        self.norm = RMSNorm(hidden)
        self.head = torch.nn.Linear(hidden, vocab, bias=False)
        for p in self.parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=0.02)

    def forward(self, ids):
        t = ids.shape[1]
        hd = hidden // heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.arange(t).float()[:, None] * inv[None, :]
        cos, sin = ang.cos(), ang.sin()
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.emb(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        return self.head(self.norm(x))


model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
data = torch.randint(0, vocab, (steps + warmup, batch, seq + 1))


def step(i):
    ids = data[i]
    logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for i in range(warmup):
    step(i)
t0 = time.perf_counter()
for i in range(steps):
    step(warmup + i)
ms = (time.perf_counter() - t0) / steps * 1e3
params = sum(p.numel() for p in model.parameters())
blas = "openblas" if "openblas" in open("/proc/self/maps").read() else "other (see update-alternatives --display libblas.so.3-x86_64-linux-gnu)"
print(f"{preset} torch fp32: {ms:.1f} ms/step ({steps} steps after {warmup}), {params / 1e6:.2f}M params, {threads} threads, BLAS {blas}")
