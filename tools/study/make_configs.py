#!/usr/bin/env python3
"""Writes the study's run configs: tools/study/runs/NAME.json, each a `tern sweep` grid of one run.

The study (issue 17) in three parts, every run at the same token budget D:
  part 1  FloatLM vs TriLM at sizes S5..S113, each family with its Spectra recipe;
  part 2  continual QAT (float -> ternary at 25/50/75 %, optimizer kept/reset, phase-in) at S48;
  part 3  precision: k-bit weights, activations and KV cache at S5 and S10 (the TriLM recipe, see below).
Re-run after changing this file; the configs are committed so a session only names runs.
usage: [STUDY_DATA=DIR] tools/study/make_configs.py [--smoke]   (--smoke: tiny shapes and 24 steps into tools/study/smoke-runs/, for a CPU test)
"""
import json, math, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
SMOKE = '--smoke' in sys.argv
OUT = os.path.join(HERE, 'smoke-runs' if SMOKE else 'runs')

SEQ = 1024
# windows in the validation split (meta.json's val_tokens / seq): every one is scored. STUDY_DATA=DIR takes
# DIR/meta.json's count (corpus v2: tools/study/prepare-data.sh --v2); else corpus v1's 169,441 tokens.
VAL_TOKENS = json.load(open(os.path.join(os.environ['STUDY_DATA'], 'meta.json')))['val_tokens'] if os.environ.get('STUDY_DATA') else 169_441
VAL_WINDOWS = VAL_TOKENS // SEQ
# D: equal tokens for every run, 20.7 per parameter at S5: 1680 TriLM steps of 64 Ki tokens = 840 FloatLM steps of 128 Ki.
TRI_BATCH_TOKENS, FLOAT_BATCH_TOKENS = 64 * 1024, 128 * 1024
TRI_STEPS = 1680
EVALS = 20
D = TRI_STEPS * TRI_BATCH_TOKENS

# Sizes: name -> (hidden, GLU width, layers, heads, micro-batch rows). Head width 64 throughout.
# The last two are Spectra's 99M and 190M shapes; N is the non-embedding (block linear) count.
SIZES = {
    'S5':   (192, 512, 12, 3, 64),
    'S10':  (256, 768, 12, 4, 64),
    'S25':  (384, 1024, 14, 6, 32),
    'S48':  (512, 1280, 16, 8, 32),
    'S113': (768, 2048, 16, 12, 16),
}
if SMOKE:
    SEQ, VAL_WINDOWS = 64, 16
    TRI_BATCH_TOKENS, FLOAT_BATCH_TOKENS, TRI_STEPS, EVALS = 4 * 64, 8 * 64, 24, 4
    D = TRI_STEPS * TRI_BATCH_TOKENS
    SIZES = {k: (32 + 16 * i, 64 + 32 * i, 2, 2, 4) for i, k in enumerate(SIZES)}


def non_embedding(h, f, layers):
    return layers * (4 * h * h + 3 * h * f)


def recipe(family, size, scale=1):
    """Spectra's recipe (TrainConfigDefaults: TriLM 99M peak 2.4e-3 cut to 1.5e-3 at 1/2 and weight decay off
    at 2/3; FloatLM peak 4e-4, linear; min 10 % of peak; the 190M shape interpolated as there), with the
    batches scaled from 1M/2M tokens to 64/128 Ki tokens (the 2:1 ratio kept) and warmup 3 % of the steps."""
    h, f, layers, heads, rows = SIZES[size]
    tri = family == 'tri'
    steps = scale * (TRI_STEPS if tri else TRI_STEPS * TRI_BATCH_TOKENS // FLOAT_BATCH_TOKENS)
    batch_tokens = TRI_BATCH_TOKENS if tri else FLOAT_BATCH_TOKENS
    accum = batch_tokens // (rows * SEQ)
    t = 0.0 if size != 'S113' else math.log(190.0 / 99.74) / math.log(3989.0 / 99.74)
    tri_peak = math.exp(math.log(2.4e-3) + t * (math.log(1.2e-3) - math.log(2.4e-3)))
    peak = tri_peak if tri else tri_peak / 6
    cfg = {
        'preset': '99M', 'hidden': h, 'intermediate': f, 'layers': layers, 'heads': heads,
        'steps': steps, 'batch': rows, 'seq': SEQ, 'accum': accum,
        'lr': float('%.4g' % peak), 'min_lr': float('%.4g' % (peak * 0.1)),
        'warmup': max(2, round(0.03 * steps)),
        'schedule': 'spectra' if tri else 'linear',
        'weight_decay': 0.1, 'beta1': 0.9, 'beta2': 0.95, 'eps': 1e-8, 'clip': 1.0,
        'seed': 1234, 'eval_every': steps // EVALS, 'eval_batches': math.ceil(VAL_WINDOWS / rows),
        'save_every': steps, 'keep': 0, 'checkpoint_activations': 'off',
    }
    if tri:
        cfg.update({'lr_cut_ratio': 0.625 + t * (0.8e-3 / 1.2e-3 - 0.625), 'lr_cut_at': 0.5, 'decay_off_at': 2.0 / 3.0})
    return cfg


RUNS = {}   # name -> (part, size, settings)


def add(name, part, size, family, scale=1, **extra):
    cfg = recipe(family, size, scale)
    cfg.update(extra)
    RUNS[name] = (part, size, cfg)


# part 1; the FloatLMs keep 4 checkpoints, PTQ's D axis (S5-float ran in session 1 with its last one only: left as it ran)
for s in SIZES:
    add(f'{s}-float', 1, s, 'float', precision='float', **({} if s == 'S5' else {'save_every': 840 // 4 if not SMOKE else 3}))
    add(f'{s}-ternary', 1, s, 'tri', precision='ternary')
add('S5-float-lr3x', 1, 'S5', 'float', precision='float', lr=1.2e-3, min_lr=1.2e-4)    # control: is 4e-4 what limits the FloatLM?
add('S5-float-trirecipe', 1, 'S5', 'tri', precision='float')                           # control: the FloatLM on the TriLM recipe
for s in ('S10', 'S25', 'S113'):                   # from S10 on the families are compared on the TriLM recipe as well
    add(f'{s}-float-trirecipe', 1, s, 'tri', precision='float')

# part 2: every switched run on the TriLM recipe (batch, LR, interventions); references S48-ternary, S48-float
# and the FloatLM on the same recipe. Phase-in over 5 % of the steps.
add('S48-float-trirecipe', 2, 'S48', 'tri', precision='float')
for at in (25, 50, 75):
    add(f'S48-sw{at}-keep', 2, 'S48', 'tri', precision='float', switch_to='ternary', switch_at=at / 100)
add('S48-sw50-reset', 2, 'S48', 'tri', precision='float', switch_to='ternary', switch_at=0.5, reset_optimizer=True)
add('S48-sw50-keep-phase', 2, 'S48', 'tri', precision='float', switch_to='ternary', switch_at=0.5, phase_in=TRI_STEPS // 20)
add('S48-sw50-reset-phase', 2, 'S48', 'tri', precision='float', switch_to='ternary', switch_at=0.5, reset_optimizer=True, phase_in=TRI_STEPS // 20)

# part 3: one recipe for every k-bit run (as Kumar et al.), the TriLM's: at these sizes the FloatLM's own recipe
# (peak 4e-4) leaves the FloatLM far from its loss (S5 4.56 against 3.53 on the TriLM recipe, session 02), so
# k-bit runs on it would measure the learning rate, not the precision. The 16-bit and ternary ends of each size
# are part 1's {S}-float-trirecipe and {S}-ternary, on the same recipe and tokens.
for s in ('S5', 'S10'):
    for k in (2, 3, 4, 5, 6, 8):
        add(f'{s}-w{k}', 3, s, 'tri', precision='float', weight_bits=k)
    for k in (4, 8):
        add(f'{s}-a{k}', 3, s, 'tri', precision='float', act_bits=k)
        add(f'{s}-kv{k}', 3, s, 'tri', precision='float', kv_bits=k)

# 20 tokens a parameter at S10 too (issue 17 asks it of the smaller sizes): the pair at twice D (11 epochs of
# corpus v1), the schedule stretched with it.
for fam, prec in (('float-trirecipe', 'float'), ('ternary', 'ternary')):
    add(f'S10-{fam}-2x', 1, 'S10', 'tri', scale=2, precision=prec)

# Seed repeats (NAME-s2: the same run with seed 2), for the differences under ~0.04 nats that one seed cannot call.
for n in ('S5-float-trirecipe', 'S5-ternary', 'S48-float-trirecipe', 'S48-ternary', 'S48-sw25-keep', 'S48-sw50-keep',
          'S48-sw50-reset', 'S113-float-trirecipe', 'S113-ternary'):
    part, size, cfg = RUNS[n]
    RUNS[n + '-s2'] = (part, size, dict(cfg, seed=2))

os.makedirs(OUT, exist_ok=True)
for f in os.listdir(OUT):
    if f.endswith('.json'):
        os.remove(os.path.join(OUT, f))
index = {}
for name, (part, size, cfg) in RUNS.items():
    h, f, layers, heads, rows = SIZES[size]
    if cfg['steps'] % cfg['eval_every']:
        raise SystemExit(f'{name}: eval_every does not divide steps')
    tokens = cfg['steps'] * cfg['batch'] * cfg['accum'] * cfg['seq']
    assert tokens % D == 0, (name, tokens, D)
    with open(os.path.join(OUT, name + '.json'), 'w') as fh:
        json.dump({'runs': [dict(name=name, **cfg)]}, fh, indent=1)
        fh.write('\n')
    index[name] = {'part': part, 'size': size, 'non_embedding_params': non_embedding(h, f, layers), 'tokens': tokens}
with open(os.path.join(OUT, 'index.json.txt'), 'w') as fh:     # not *.json: `tern sweep` never sees it
    json.dump(index, fh, indent=1)
    fh.write('\n')
print(f'{len(RUNS)} runs in {OUT}, D = {D:,} tokens each')
for s in SIZES:
    h, f, layers, heads, rows = SIZES[s]
    n = non_embedding(h, f, layers)
    print(f'  {s}: hidden {h}, GLU {f}, {layers} layers, {heads} heads: N = {n / 1e6:.2f}M, D/N = {D / n:.1f}')
