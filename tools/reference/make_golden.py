#!/usr/bin/env python3
"""Golden outputs from an independent implementation (PyTorch + transformers) for Tern's model tests.

Builds a tiny LlamaForCausalLM and its TriLM twin (the same network with every decoder-layer Linear made
ternary, BitLinear style, as SPEC.md describes), runs them on fixed tokens, and writes what the Java tests
compare against: initial weights, logits, loss, every parameter gradient, and the weights after three AdamW
steps under the Spectra schedule.

Usage:  python3 tools/reference/make_golden.py --out src/test/resources/golden

Layout (at most 8 files, two folders deep, so the device tool can bring them back):
  OUT/<model>/model.safetensors   initial weights, Hugging Face names, f32, metadata format=pt
  OUT/<model>/config.json         transformers' own config.save_pretrained
  OUT/<model>/golden.safetensors  logits [2,8,96], loss [1], grad.<name> (step 0, before clipping),
                                  step1.<name>, step2.<name>, step3.<name> (weights after each AdamW step)
  OUT/<model>/golden.json         tokens, per-step loss / lr / wd / grad norm, versions, conventions
with <model> = float | ternary.

Everything runs on the CPU in float32: the numbers are deterministic up to the summation order of the BLAS
in use, far inside the Java tests' tolerances.
"""
import argparse
import copy
import json
import math
import os

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

VOCAB, HIDDEN, FFN, LAYERS, HEADS = 96, 64, 128, 2, 4
BATCH, SEQ = 2, 8
STEPS = 3
PEAK_LR, MIN_LR, WARMUP = 1e-2, 1e-3, 1
REDUCED_PEAK_LR, LR_CUT_AT, DECAY_OFF_AT = 5e-3, 0.5, 2.0 / 3.0
WEIGHT_DECAY = 0.1
BETAS, EPS, CLIP = (0.9, 0.95), 1e-8, 1.0
TERNARY_EPS = 1e-5
MODEL_SEED, TOKEN_SEED = 1234, 4321


def java_round(x):
    """Math.round as Java has it (half up), the rounding Tern's Schedule.Spectra uses for its step points."""
    return int(math.floor(x + 0.5))


def spectra_lr(s):
    """The Spectra learning rate for 0-based step s: warmup, linear decay, peak cut at LR_CUT_AT·total."""
    if s < WARMUP:
        base = PEAK_LR * (s + 1) / WARMUP
    else:
        base = PEAK_LR + (MIN_LR - PEAK_LR) * min(1.0, (s - WARMUP) / max(1, STEPS - WARMUP))
    return base * (REDUCED_PEAK_LR / PEAK_LR) if s >= java_round(LR_CUT_AT * STEPS) else base


def spectra_wd(s):
    return 0.0 if s >= java_round(DECAY_OFF_AT * STEPS) else WEIGHT_DECAY


def ternarize(w):
    """γ = ε + mean|W| over the whole matrix; T = clamp(round(W/γ), −1, 1) (round half to even);
    returns γ·T in the forward pass and passes the gradient straight through to W (STE)."""
    gamma = TERNARY_EPS + w.abs().mean()
    t = torch.clamp(torch.round(w / gamma), -1, 1)
    return w + (gamma * t - w).detach()


class TernaryLinear(torch.nn.Linear):
    """A Linear whose weight is ternarized on the fly; the latent float weight stays the parameter, under
    the same name, so Hugging Face names are unchanged."""

    def forward(self, x):
        return F.linear(x, ternarize(self.weight), self.bias)


def make_ternary(model):
    """Turns every Linear inside the decoder layers (q, k, v, o, gate, up, down) into a TernaryLinear in
    place; the embedding, the norms and lm_head stay float."""
    count = 0
    for layer in model.model.layers:
        for module in layer.modules():
            if type(module) is torch.nn.Linear:
                module.__class__ = TernaryLinear
                count += 1
    assert count == 7 * LAYERS, count
    return model


def build_config():
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        initializer_range=0.02,
        torch_dtype="float32",
    )
    config._attn_implementation = "eager"
    return config


def tokens():
    g = torch.Generator().manual_seed(TOKEN_SEED)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ + 1), generator=g)
    return ids[:, :SEQ].contiguous(), ids[:, 1:].contiguous(), ids


def loss_of(model, inputs, targets):
    logits = model(input_ids=inputs).logits
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))   # mean over the 16 positions
    return logits, loss


def run(model, inputs, targets):
    """Forward/backward on the fixed batch, then STEPS AdamW steps on it; returns what the golden files hold."""
    params = dict(model.named_parameters())
    decay = [p for p in params.values() if p.dim() == 2]
    no_decay = [p for p in params.values() if p.dim() != 2]
    assert len(no_decay) == 2 * LAYERS + 1
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=PEAK_LR, betas=BETAS, eps=EPS, foreach=False)
    tensors, history = {}, []
    for s in range(STEPS):
        opt.zero_grad(set_to_none=True)
        logits, loss = loss_of(model, inputs, targets)
        loss.backward()
        if s == 0:
            tensors["logits"] = logits.detach().clone()
            tensors["loss"] = loss.detach().reshape(1).clone()
            for name, p in params.items():
                tensors["grad." + name] = p.grad.detach().clone()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        lr, wd = spectra_lr(s), spectra_wd(s)
        opt.param_groups[0]["lr"] = lr
        opt.param_groups[0]["weight_decay"] = wd
        opt.param_groups[1]["lr"] = lr
        opt.param_groups[1]["weight_decay"] = 0.0
        opt.step()
        history.append({"step": s, "loss": loss.item(), "grad_norm": norm.item(), "lr": lr, "weight_decay": wd})
        # Weights after every update, not only the last: a test can restart each step from the reference's
        # own weights, so one step's rounding differences never compound through later ternary roundings.
        for name, p in params.items():
            tensors[f"step{s + 1}." + name] = p.detach().clone()
    with torch.no_grad():
        _, final_loss = loss_of(model, inputs, targets)
    return tensors, history, final_loss.item()


def write(out, name, model, initial, all_ids, inputs, targets):
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    model.config.save_pretrained(folder)
    save_file(initial, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    tensors, history, final_loss = run(model, inputs, targets)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(folder, "golden.safetensors"),
              metadata={"format": "pt", "model": name})
    info = {
        "model": name,
        "tokens": all_ids.tolist(),
        "inputs": inputs.tolist(),
        "targets": targets.tolist(),
        "loss": tensors["loss"].item(),
        "steps": history,
        "loss_after_steps": final_loss,
        "conventions": {
            "loss": "mean cross-entropy over batch x seq positions; inputs = tokens[:, :-1], targets = tokens[:, 1:]",
            "grad": "grad.<name>: gradient of the step-0 loss, before clipping",
            "stepN": "stepN.<name>: weights after N AdamW steps, N = 1..3 (clip to global norm 1 before each)",
            "optimizer": {"betas": list(BETAS), "eps": EPS, "clip": CLIP, "decay_on": "every 2-D weight",
                          "foreach": False},
            "schedule": {"kind": "spectra", "total": STEPS, "warmup": WARMUP, "peak_lr": PEAK_LR,
                         "min_lr": MIN_LR, "reduced_peak_lr": REDUCED_PEAK_LR, "lr_cut_at": LR_CUT_AT,
                         "weight_decay": WEIGHT_DECAY, "decay_off_at": DECAY_OFF_AT},
            "ternary": None if name == "float" else {
                "gamma": "1e-5 + mean|W| over the matrix", "T": "clamp(round_half_even(W/gamma), -1, 1)",
                "forward": "gamma*T", "backward": "straight-through to W",
                "layers": "q,k,v,o,gate,up,down of every decoder layer"},
        },
        "seeds": {"model": MODEL_SEED, "tokens": TOKEN_SEED},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    with open(os.path.join(folder, "golden.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print(f"{name}: loss {info['loss']:.6f}, after {STEPS} steps {final_loss:.6f}, "
          f"grad norms {[round(h['grad_norm'], 5) for h in history]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for float/ and ternary/")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)          # one summation order, whatever machine runs it

    config = build_config()
    torch.manual_seed(MODEL_SEED)
    float_model = LlamaForCausalLM(config).float().eval()    # eval: no dropout (there is none, but be sure)
    ternary_model = make_ternary(copy.deepcopy(float_model))
    initial = {k: v.detach().clone().contiguous() for k, v in float_model.named_parameters()}
    assert "lm_head.weight" in initial and "model.embed_tokens.weight" in initial
    inputs, targets, all_ids = tokens()

    write(args.out, "float", float_model, initial, all_ids, inputs, targets)
    write(args.out, "ternary", ternary_model, initial, all_ids, inputs, targets)


if __name__ == "__main__":
    main()
