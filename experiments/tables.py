#!/usr/bin/env python3
"""Markdown tables of the CPU study from the runs' result.json and the PTQ quantization.json files.
usage: experiments/tables.py [RUNS_DIR] [PTQ_DIR]"""
import json, os, sys, glob

runs_dir = sys.argv[1] if len(sys.argv) > 1 else 'experiments/runs'
ptq_dir = sys.argv[2] if len(sys.argv) > 2 else 'experiments/ptq'
R = {}
for f in sorted(glob.glob(os.path.join(runs_dir, '*', 'result.json'))):
    r = json.load(open(f))
    R[r['name']] = r

def val_after(r, step):
    """The first validation after `step`: (its step, its loss)."""
    for s, t, l in r['val_curve']:
        if s > step:
            return s, l
    return None, float('nan')

def mean_train(name, lo, hi):
    """Mean training loss of the updates numbered lo..hi (1-based, as logged)."""
    xs = []
    for line in open(os.path.join(runs_dir, name, 'train_log.jsonl')):
        m = json.loads(line)
        if m.get('kind') == 'train' and lo <= m['step'] <= hi:
            xs.append(m['loss'])
    return sum(xs) / len(xs) if xs else float('nan')

print('### (1) FloatLM vs TriLM at three sizes, equal tokens\n')
print('| size | hidden × layers | non-embedding params N | all params | tokens | FloatLM val loss | TriLM val loss | TriLM − FloatLM | bits float / ternary (Mbit) |')
print('|---|---|---|---|---|---|---|---|---|')
for size in 'SML':
    f, t = R.get(size + '-float'), R.get(size + '-ternary')
    if not f or not t:
        continue
    print(f"| {size} | {f['hidden']} × {f['layers']} | {f['non_embedding_params']:,} | {f['params']:,} | {f['tokens']:,} | "
          f"{f['final_val_loss']:.4f} | {t['final_val_loss']:.4f} | {t['final_val_loss'] - f['final_val_loss']:+.4f} | "
          f"{f['model_bits'] / 1e6:.2f} / {t['model_bits'] / 1e6:.2f} |")

print('\n### (2) Ternary from scratch vs float→ternary switched (size M, same tokens)\n')
print('| run | switch at | optimizer | phase-in | val loss at switch (float) | same weights ternary | mean train loss, 10 updates before → 10 after | next validation | final val loss |')
print('|---|---|---|---|---|---|---|---|---|')
for name in ['M-float', 'M-ternary'] + sorted(n for n in R if n.startswith('M-switch')):
    r = R.get(name)
    if not r:
        continue
    sw = r.get('switch')
    if sw:
        at = sw['step']
        nstep, after = val_after(r, at)
        before10, after10 = mean_train(name, at - 9, at), mean_train(name, at + 1, at + 10)
        print(f"| {name} | {at} ({at / r['steps']:.0%}) | {sw['optimizer']} | {sw['phase_in']} | {sw['val_loss_before']:.4f} | "
              f"{sw['val_loss_quantized']:.4f} ({sw['val_loss_quantized'] - sw['val_loss_before']:+.4f}) | "
              f"{before10:.4f} → {after10:.4f} | {after:.4f} (step {nstep}) | {r['final_val_loss']:.4f} |")
    else:
        print(f"| {name} | – | – | – | – | – | – | – | {r['final_val_loss']:.4f} |")

print('\n### (3) Loss vs weight bits (size M, k-bit integer weights per output channel, straight-through)\n')
print('| weights | bits | final val loss |')
print('|---|---|---|')
rows = []
for n, r in R.items():
    if n.startswith('M-') and 'switch' not in n:
        rows.append((r['weight_bits'], n, r['final_val_loss']))
for b, n, l in sorted(rows):
    print(f'| {n} | {b:.2f} | {l:.4f} |')

files = sorted(glob.glob(os.path.join(ptq_dir, '*', 'quantization.json')))
if files:
    Q = {}
    for f in files:
        q = json.load(open(f))
        run = q['source'].split('/')[-3]
        key = (q['non_embedding_params'], run, q['training_tokens'])
        Q.setdefault(key, {})[(q['method'], q['bits'])] = (q['val_loss_before'], q['val_loss_after'])
    bits = sorted({b for v in Q.values() for (m, b) in v})
    print('\n### (4) Post-training quantization of the FloatLMs: δ_PTQ = val loss after − before\n')
    print('| checkpoint | N | training tokens D | val loss (float) | ' + ' | '.join(f'GPTQ {b}-bit' for b in bits) + ' | ' +
          ' | '.join(f'RTN {b}-bit' for b in bits) + ' |')
    print('|---|---|---|---|' + '---|' * (2 * len(bits)))
    for (n, run, d), v in sorted(Q.items()):
        before = next(iter(v.values()))[0]
        cells = []
        for m in ('gptq', 'rtn'):
            for b in bits:
                cells.append(f'{v[(m, b)][1] - v[(m, b)][0]:+.4f}' if (m, b) in v else '')
        print(f'| {run} | {n:,} | {d:,} | {before:.4f} | ' + ' | '.join(cells) + ' |')
