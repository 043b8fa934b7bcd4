#!/usr/bin/env python3
"""Merges what a GPU session brought back into experiments/gpu/ and re-makes the tables, plots and fits.

usage: tools/study/collect.py [--session NN FOLDER] [--no-plots] [--no-fits]
  --session NN FOLDER   FOLDER holds a session's study.tgz, runner.log and gpu.csv (the run tool's files_at):
                        its logs go to experiments/gpu/sessions/NN/, its runs, PTQs, evaluations and probes
                        are merged into experiments/gpu/{runs,ptq,evals,probes}/ (a finished run is never
                        replaced by an unfinished one)
Then, from everything in experiments/gpu/: tables.md (every table of the study), plots/*.png (through
tools/study/Plots.java and Tern's chart), and `tern fit` of the laws that have enough runs (fits/).
The classes come from $TERN_BUILD (default target), built by `mvn -o -q -B -DskipTests package`.
"""
import glob, json, math, os, re, shutil, subprocess, sys, tarfile, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
G = os.environ.get('STUDY_DIR', os.path.join(ROOT, 'experiments', 'gpu'))     # STUDY_DIR: another folder (the smoke test's)
INDEX = json.load(open(os.environ.get('STUDY_INDEX', os.path.join(ROOT, 'tools', 'study', 'runs', 'index.json.txt'))))
args = sys.argv[1:]


def merge_session(nn, folder):
    dst = os.path.join(G, 'sessions', nn)
    os.makedirs(dst, exist_ok=True)
    for f in ('runner.log', 'gpu.csv'):
        if os.path.isfile(os.path.join(folder, f)):
            shutil.copy(os.path.join(folder, f), dst)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(os.path.join(folder, 'study.tgz')) as t:
            t.extractall(tmp)
        shutil.copy(os.path.join(tmp, 'status.json'), dst)
        for run in glob.glob(os.path.join(tmp, 'runs', '*')):
            target = os.path.join(G, 'runs', os.path.basename(run))
            if complete(target) and not complete(run):
                continue
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(run, target)
        for kind in ('ptq', 'probes', 'evals'):
            src = os.path.join(tmp, kind)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(G, kind), dirs_exist_ok=True)


def complete(run_dir):
    """A run whose result.json has its last validation at its last step."""
    try:
        r = json.load(open(os.path.join(run_dir, 'result.json')))
        return bool(r['val_curve']) and r['val_curve'][-1][0] == r['steps']
    except (OSError, ValueError, KeyError):
        return False


def load_runs():
    out = {}
    for d in sorted(glob.glob(os.path.join(G, 'runs', '*'))):
        if complete(d):
            r = json.load(open(os.path.join(d, 'result.json')))
            r['rate'] = rate(os.path.join(d, 'train_log.jsonl'))
            out[r['name']] = r
    return out


def rate(log_path):
    pts = [(m['tokens'], m['seconds']) for m in map(json.loads, open(log_path)) if m.get('kind') == 'train']
    if len(pts) < 7:
        return None
    (t0, s0), (t1, s1) = pts[4], pts[-1]
    return (t1 - t0) / (s1 - s0)


def fmt(x, nd=4):
    return '–' if x is None or (isinstance(x, float) and math.isnan(x)) else f'{x:.{nd}f}'


def tables(R, P, E, probes):
    L = ['# GPU study tables (made by tools/study/collect.py from experiments/gpu/; do not edit)', '']
    sizes = ['S5', 'S10', 'S25', 'S48', 'S113']
    L += ['## (1) FloatLM vs TriLM, equal tokens, each on its Spectra recipe', '',
          '| size | hidden × layers | N (non-embedding) | all params | tokens | D/N | FloatLM val loss | TriLM val loss | TriLM − FloatLM | Mbit float / ternary | tokens/s float / ternary |',
          '|---|---|---|---|---|---|---|---|---|---|---|']
    for s in sizes:
        f, t = R.get(s + '-float'), R.get(s + '-ternary')
        if not f and not t:
            n = next(v['non_embedding_params'] for k, v in INDEX.items() if v['size'] == s)
            L.append(f'| {s} | | {n:,} | | | | not run yet | not run yet | | | |')
            continue
        a = f or t
        gap = t['final_val_loss'] - f['final_val_loss'] if f and t else None
        L.append(f"| {s} | {a['hidden']} × {a['layers']} | {a['non_embedding_params']:,} | {a['params']:,} | {a['tokens']:,} | "
                 f"{a['tokens'] / a['non_embedding_params']:.1f} | {fmt(f and f['final_val_loss'])} | {fmt(t and t['final_val_loss'])} | "
                 f"{'–' if gap is None else f'{gap:+.4f}'} | {fmt(f and f['model_bits'] / 1e6, 1)} / {fmt(t and t['model_bits'] / 1e6, 1)} | "
                 f"{fmt(f and f['rate'] / 1e3, 0)}k / {fmt(t and t['rate'] / 1e3, 0)}k |")
    L += ['', 'The same, the FloatLM on the TriLM\'s recipe (the comparison the study makes):', '',
          '| size | D/N | FloatLM val loss | TriLM val loss | TriLM − FloatLM | Mbit float / ternary |', '|---|---|---|---|---|---|']
    for s in sizes:
        f, t = R.get(s + '-float-trirecipe'), R.get(s + '-ternary')
        if f and t:
            L.append(f"| {s} | {t['tokens'] / t['non_embedding_params']:.1f} | {f['final_val_loss']:.4f} | {t['final_val_loss']:.4f} | "
                     f"{t['final_val_loss'] - f['final_val_loss']:+.4f} | {f['model_bits'] / 1e6:.1f} / {t['model_bits'] / 1e6:.1f} |")
    ctrl = [n for n in R if INDEX.get(n, {}).get('part') == 1 and not n.endswith(('-float', '-ternary'))]
    ctrl_all = [n for n, v in INDEX.items() if v['part'] == 1 and not n.endswith(('-float', '-ternary', '-s2', '-2x'))]
    L += ['', 'Recipe controls (FloatLMs off their recipe):', '', '| run | lr | batch tokens | steps | final val loss |', '|---|---|---|---|---|']
    for n in ctrl_all:
        r = R.get(n)
        if r:
            L.append(f"| {n} | {r['lr']:g} | {r['tokens'] // r['steps']:,} | {r['steps']} | {r['final_val_loss']:.4f} |")
        else:
            L.append(f'| {n} | | | | not run yet |')
    L += ['', '## (2) Continual QAT at S48 (TriLM recipe for every switched run)', '',
          '| run | switch at | optimizer | phase-in | val loss before switch | same weights ternary | next validation | final val loss |',
          '|---|---|---|---|---|---|---|---|']
    for n in ['S48-float', 'S48-ternary', 'S48-float-trirecipe'] + sorted(k for k in INDEX if k.startswith('S48-sw') and not k.endswith('-s2')):
        r = R.get(n)
        if not r:
            L.append(f'| {n} | | | | | | | not run yet |')
            continue
        sw = r.get('switch')
        if sw:
            nxt = next(((s, l) for s, _, l in r['val_curve'] if s > sw['step']), (None, float('nan')))
            L.append(f"| {n} | {sw['step']} ({sw['step'] / r['steps']:.0%}) | {sw['optimizer']} | {sw['phase_in']} | {sw['val_loss_before']:.4f} | "
                     f"{sw['val_loss_quantized']:.4f} ({sw['val_loss_quantized'] - sw['val_loss_before']:+.4f}) | {nxt[1]:.4f} (step {nxt[0]}) | {r['final_val_loss']:.4f} |")
        else:
            L.append(f"| {n} | – | – | – | – | – | – | {r['final_val_loss']:.4f} |")
    L += ['', '## Repeats: seed 2, and S10 at twice the tokens (21.5 a parameter)', '',
          '| run | seed 1234 / D | repeat | repeat − first |', '|---|---|---|---|']
    for n in sorted(k for k in INDEX if k.endswith(('-s2', '-2x'))):
        first, r = R.get(n[:-3]), R.get(n)
        diff = f"{r['final_val_loss'] - first['final_val_loss']:+.4f}" if r and first else ''
        L.append(f"| {n} | {fmt(first and first['final_val_loss'])} | {fmt(r['final_val_loss']) if r else 'not run yet'} | {diff} |")
    L += ['', '## (3) Precision (TriLM recipe for every run; k-bit integer fake quantization, straight-through)', '',
          '| run | S5 val loss | S10 val loss |', '|---|---|---|']
    for v in ['float-trirecipe', 'ternary', 'w2', 'w3', 'w4', 'w5', 'w6', 'w8', 'a4', 'a8', 'kv4', 'kv8']:
        cells = [fmt(R[f'{s}-{v}']['final_val_loss']) if f'{s}-{v}' in R else 'not run yet' for s in ('S5', 'S10')]
        L.append(f'| {v} | ' + ' | '.join(cells) + ' |')
    L += ['', '## Post-training quantization of the FloatLMs (group 128, asymmetric; GPTQ calibrated on 128 training sequences)', '',
          '| model | training tokens D | method | bits | val loss before | after | δ |', '|---|---|---|---|---|---|---|']
    for q in sorted(P, key=lambda q: (q['model'], q['training_tokens'], q['method'], q['bits'])):
        L.append(f"| {q['model']} | {q['training_tokens']:,} | {q['method']} | {q['bits']} | {q['val_loss_before']:.4f} | {q['val_loss_after']:.4f} | {q['val_loss_after'] - q['val_loss_before']:+.4f} |")
    if E:
        tasks = ['lambada_openai', 'hellaswag', 'arc_easy', 'arc_challenge', 'piqa', 'sciq', 'winogrande']
        L += ['', '## Zero-shot (acc_norm where the task has it, else acc; ± one standard error; `--limit` items per task)', '',
              '| model | items | ' + ' | '.join(tasks) + ' |', '|---|---|' + '---|' * len(tasks)]
        for n, e in sorted(E.items()):
            cells = []
            for t in tasks:
                v = e['tasks'].get(t)
                if not v:
                    cells.append('–')
                    continue
                k = 'acc_norm' if 'acc_norm' in v else 'acc'
                cells.append(f"{v[k]:.3f} ± {v[k + '_stderr']:.3f}")
            L.append(f"| {n} | {e.get('limit') or 'all'} | " + ' | '.join(cells) + ' |')
    L += ['', '## Throughput (tokens/s of training, from the logs; runs sharing the GPU say so in their session log)', '',
          '| run | tokens/s | seconds |', '|---|---|---|']
    for n, r in sorted(R.items()):
        L.append(f"| {n} | {r['rate']:,.0f} | {r['seconds']:.0f} |")
    for n, pr in sorted(probes.items()):
        L.append(f'| probe {n} (12 steps, alone) | {pr:,.0f} | |')
    return '\n'.join(L) + '\n'


def load_ptq():
    out = []
    for f in sorted(glob.glob(os.path.join(G, 'ptq', '*', 'quantization.json'))):
        q = json.load(open(f))
        q['model'] = re.split(r'-(?:final|step-\d+)-', os.path.basename(os.path.dirname(f)))[0]
        out.append(q)
    return out


def load_evals():
    return {os.path.basename(f)[:-5]: json.load(open(f)) for f in sorted(glob.glob(os.path.join(G, 'evals', '*.json')))}


def load_probes():
    out = {}
    for f in sorted(glob.glob(os.path.join(G, 'probes', '*.jsonl'))):
        r = rate(f)
        if r:
            out[os.path.basename(f)[:-6]] = r
    return out


def plots(R, P):
    specs = []
    curves = []
    for i, n in enumerate(sorted(n for n in R if INDEX.get(n, {}).get('part') == 1)):
        r = R[n]
        curves.append({'label': n, 'x': [t for _, t, _ in r['val_curve']], 'y': [l for _, _, l in r['val_curve']],
                       'line': True, 'color': i})
    if curves:
        specs.append({'file': 'part1-curves.png', 'title': 'Validation loss during training (part 1)', 'x': 'tokens',
                      'y': 'validation loss (nats)', 'log_x': True, 'log_y': False, 'series': curves})
    # the FloatLM on the TriLM's recipe is the comparison the study makes (EXPERIMENTS.md), its own recipe the paper's
    fam = {'float': ([], [], []), 'float-trirecipe': ([], [], []), 'ternary': ([], [], [])}
    for s in ['S5', 'S10', 'S25', 'S48', 'S113']:
        for f in fam:
            r = R.get(f'{s}-{f}')
            if r:
                fam[f][0].append(r['non_embedding_params'])
                fam[f][1].append(r['model_bits'])
                fam[f][2].append(r['final_val_loss'])
    if fam['float'][0] or fam['ternary'][0]:
        specs.append({'file': 'part1-size.png', 'title': 'Final validation loss against size (equal tokens)', 'x': 'non-embedding parameters N',
                      'y': 'validation loss (nats)', 'log_x': True, 'log_y': False, 'series': [
                          {'label': 'FloatLM, its recipe', 'x': fam['float'][0], 'y': fam['float'][2], 'line': False, 'color': 0},
                          {'label': 'FloatLM, TriLM recipe', 'x': fam['float-trirecipe'][0], 'y': fam['float-trirecipe'][2], 'line': False, 'color': 2},
                          {'label': 'TriLM', 'x': fam['ternary'][0], 'y': fam['ternary'][2], 'line': False, 'color': 1}]})
        specs.append({'file': 'part1-bits.png', 'title': 'Final validation loss against model size in bits', 'x': 'model bits',
                      'y': 'validation loss (nats)', 'log_x': True, 'log_y': False, 'series': [
                          {'label': 'FloatLM, its recipe', 'x': fam['float'][1], 'y': fam['float'][2], 'line': False, 'color': 0},
                          {'label': 'FloatLM, TriLM recipe', 'x': fam['float-trirecipe'][1], 'y': fam['float-trirecipe'][2], 'line': False, 'color': 2},
                          {'label': 'TriLM', 'x': fam['ternary'][1], 'y': fam['ternary'][2], 'line': False, 'color': 1}]})
    ser = []
    for i, (m, method) in enumerate(sorted({(q['model'], q['method']) for q in P})):
        last = max(q['training_tokens'] for q in P if q['model'] == m)
        qs = sorted((q for q in P if q['model'] == m and q['method'] == method and q['training_tokens'] == last), key=lambda q: q['bits'])
        ser.append({'label': f'{m} {method}', 'x': [q['bits'] for q in qs],
                    'y': [max(1e-5, q['val_loss_after'] - q['val_loss_before']) for q in qs], 'line': True, 'color': i})
    if ser:
        specs.append({'file': 'ptq.png', 'title': 'Post-training quantization: loss increase against bits', 'x': 'bits per weight',
                      'y': 'validation loss increase (nats)', 'log_x': False, 'log_y': True, 'series': ser})
    os.makedirs(os.path.join(G, 'plots'), exist_ok=True)
    spec = os.path.join(G, 'plots', 'plots.json')
    with open(spec, 'w') as f:
        json.dump(specs, f)
    java = os.path.join(os.environ.get('JAVA_HOME', '/usr/lib/jvm/temurin-25-jdk-amd64'), 'bin', 'java')
    cls = os.path.join(ROOT, os.environ.get('TERN_BUILD', 'target'), 'classes')
    subprocess.run([java, '-Djava.awt.headless=true', '-cp', cls, os.path.join(ROOT, 'tools', 'study', 'Plots.java'), spec], check=True)


def fits(R):
    """`tern fit` where the runs can determine the law; the reason printed where they cannot yet."""
    out = os.path.join(G, 'fits')
    os.makedirs(out, exist_ok=True)
    tern = [os.path.join(ROOT, 'tools', 'study', 'tern-local.sh')]
    # each law over the runs of one recipe: part 1's FloatLMs on their own recipe; the FloatLMs on the TriLM's
    # recipe; the k-bit runs (TriLM recipe) with those FloatLMs as their 16-bit end
    own = [n for n in R if n.endswith('-float') and n.count('-') == 1]
    tri = [n for n in R if n.endswith('-float-trirecipe')]
    kbit = [n for n in R if INDEX.get(n, {}).get('part') == 3]
    anchors = [f'{s}-float-trirecipe' for s in sorted({INDEX[n]['size'] for n in kbit}) if f'{s}-float-trirecipe' in R]
    fixed = os.path.join(out, 'chinchilla-trirecipe.json')
    planned = []      # (name, tern fit arguments, runs linked for it; None: the PTQ results)
    for name, runs in (('chinchilla', own), ('chinchilla-trirecipe', tri)):
        if len({R[n]['non_embedding_params'] for n in runs}) >= 3:
            planned.append((name, ['--law', 'chinchilla'], runs))
        else:
            print(f'fit {name}: {len(runs)} FloatLM size(s), needs 3')
    if len(kbit) >= 3:
        planned.append(('precision-free', ['--law', 'precision'], kbit + anchors))
        # γ_w alone, A, α, B, β, E held from the FloatLMs on the same recipe: one size of k-bit runs cannot
        # tell N's exponent from γ_w (the free fit's errors say so)
        if any(t[0] == 'chinchilla-trirecipe' for t in planned):
            planned.append(('precision', ['--law', 'precision', '--fix', fixed], kbit + anchors))
            # with the constants held, every size can be fitted: each size with a weight ladder on its own (does
            # γ_w depend on N?), and all sizes together
            sizes = sorted({INDEX[n]['size'] for n in kbit}, key=lambda s: INDEX[f'{s}-float-trirecipe']['non_embedding_params'])
            ladders = [s for s in sizes if f'{s}-float-trirecipe' in R
                       and sum(1 for n in kbit if INDEX[n]['size'] == s and '-w' in n) >= 3]
            for s in ladders:
                planned.append((f'precision-{s}', ['--law', 'precision', '--fix', fixed],
                                [n for n in kbit if INDEX[n]['size'] == s] + [f'{s}-float-trirecipe']))
            if len(ladders) >= 2:
                planned.append(('precision-all-sizes', ['--law', 'precision', '--all-sizes', '--fix', fixed], kbit + anchors))
    else:
        print(f'fit precision: {len(kbit)} k-bit run(s), needs 3')
    ds = {(q['model'], q['training_tokens']) for q in load_ptq() if q['method'] == 'gptq'}
    if len(ds) >= 4:
        planned.append(('ptq', ['--law', 'ptq', '--method', 'gptq'], None))
    else:
        print(f'fit ptq: {len(ds)} GPTQ-quantized checkpoint(s), needs 4 (several D per model)')
    for name, extra, runs in planned:
        with tempfile.TemporaryDirectory() as tmp:      # fit reads DIR/*/result.json: the finished runs only
            for n in runs or []:
                os.symlink(os.path.join(G, 'runs', n), os.path.join(tmp, n))
            res = subprocess.run(tern + ['fit', '--runs', tmp if runs is not None else os.path.join(G, 'ptq'), *extra,
                                         '--out', os.path.join(out, name + '.png')], capture_output=True, text=True)
            open(os.path.join(out, name + '.txt'), 'w').write(res.stdout + res.stderr)
            print(f'== {name}', res.stdout[-1500:], res.stderr[-500:])


if '--session' in args:
    i = args.index('--session')
    merge_session(args[i + 1], args[i + 2])
R, P, E, probes = load_runs(), load_ptq(), load_evals(), load_probes()
with open(os.path.join(G, 'tables.md'), 'w') as f:
    f.write(tables(R, P, E, probes))
print(f'{len(R)} finished runs, {len(P)} quantizations, {len(E)} evaluations -> {os.path.join(G, "tables.md")}')
if '--no-plots' not in args:
    plots(R, P)
if '--no-fits' not in args:
    fits(R)
