#!/usr/bin/env python3
"""Tests of runner.py's scheduling with a fake `tern` (no Java, ~40 s): a training that fits finishes, one predicted
not to fit is skipped, two that cannot finish together lose the last started (shed), the deadline stops what
still runs, PTQ follows a finished FloatLM with its zero-shot run first, and study.tgz holds what finished.
usage: python3 tools/study/test_runner.py"""
import json, os, subprocess, sys, tarfile, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

FAKE = r'''#!/usr/bin/env python3
# A fake tern: "sweep" writes a training log at FAKE_RATE tokens/s shared by the fakes running at once and result.json at the end;
# "quantize" writes quantization.json; anything else exits 0.
import json, os, sys, time
a = sys.argv[1:]
def arg(k): return a[a.index(k) + 1]
def alive(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except OSError:
        return False
if a[0] == 'sweep':
    cfg = json.load(open(arg('--grid')))['runs'][0]
    d = os.path.join(arg('--out'), cfg['name'])
    os.makedirs(d, exist_ok=True)
    per_step = cfg['batch'] * cfg['seq'] * cfg['accum']
    active = os.path.join(os.path.dirname(arg('--out')), 'active')     # the GPU's rate is shared by the running fakes
    os.makedirs(active, exist_ok=True)
    me = os.path.join(active, str(os.getpid()))
    open(me, 'w').close()
    with open(os.path.join(d, 'train_log.jsonl'), 'w', buffering=1) as log:
        t0 = time.time()
        for step in range(1, cfg['steps'] + 1):
            time.sleep(per_step / (float(os.environ['FAKE_RATE']) / sum(map(alive, os.listdir(active)))))
            log.write(json.dumps({'kind': 'train', 'step': step, 'tokens': step * per_step, 'seconds': time.time() - t0}) + '\n')
    os.remove(me)
    os.makedirs(os.path.join(d, 'checkpoints', 'step-%06d' % cfg['steps']))
    json.dump({'name': cfg['name'], 'steps': cfg['steps'], 'val_curve': [[cfg['steps'], 0, 1.0]], 'final_val_loss': 1.0},
              open(os.path.join(d, 'result.json'), 'w'))
elif a[0] == 'quantize':
    os.makedirs(arg('--out'), exist_ok=True)
    json.dump({'bits': int(arg('--bits'))}, open(os.path.join(arg('--out'), 'quantization.json'), 'w'))
'''


def run(tmp, session, runs, deadline, rate, order=None):
    rdir = os.path.join(tmp, 'runs')
    os.makedirs(rdir, exist_ok=True)
    for name, steps in runs.items():
        json.dump({'runs': [{'name': name, 'steps': steps, 'batch': 1, 'seq': 1000, 'accum': 1}]}, open(os.path.join(rdir, name + '.json'), 'w'))
    fake = os.path.join(tmp, 'fake-tern')
    open(fake, 'w').write(FAKE)
    sfile = os.path.join(tmp, 'session.json')
    json.dump(session, open(sfile, 'w'))
    out = os.path.join(tmp, 'out')
    os.makedirs(out, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(HERE, 'runner.py'), '--session', sfile, '--runs', rdir, '--data', tmp,
                    '--work', os.path.join(tmp, 'work'), '--out', out, '--deadline', str(deadline),
                    '--tern', f'{sys.executable} {fake}', '--device', 'cpu', '--eval-data', tmp],
                   env=dict(os.environ, FAKE_RATE=str(rate)), check=True, capture_output=True)
    with tarfile.open(os.path.join(out, 'study.tgz')) as t:
        status = json.load(t.extractfile('./status.json'))
        names = t.getnames()
    if order is not None:
        order.extend((x['kind'], x['name']) for x in status['tasks'])
    return {(x['kind'], x['name']): x['outcome'] for x in status['tasks']}, names


failures = []


def check(what, cond):
    print(('ok   ' if cond else 'FAIL ') + what)
    if not cond:
        failures.append(what)


# 1. fits / skipped / PTQ after a FloatLM: at 5000 tokens/s a 30-step run (30k tokens) takes ~6 s
with tempfile.TemporaryDirectory() as tmp:
    order = []
    out, names = run(tmp, {'slots': 1, 'startup_s': 1, 'tokens_per_s': {'A': 5000, 'B': 5000},
                           'train': ['A-float', 'B-long'], 'ptq': {'runs': ['A-float'], 'bits': [4, 3], 'methods': ['gptq'], 'predicted_s': 2},
                           'eval': {'runs': ['A-float'], 'predicted_s': 2}},
                     {'A-float': 30, 'B-long': 1000}, deadline=30, rate=5000, order=order)
    check('the zero-shot run of a FloatLM goes before its PTQ jobs', ('eval', 'A-float') in order
          and order.index(('eval', 'A-float')) < order.index(('ptq', 'A-float-final-gptq-4')))
    check('a training that fits finishes', out.get(('train', 'A-float')) == 'finished')
    check('a training predicted past the deadline is skipped', out.get(('train', 'B-long'), '').startswith('skipped'))
    check('PTQ of the finished FloatLM ran', out.get(('ptq', 'A-float-final-gptq-4')) == 'finished')
    check('study.tgz holds its result and quantization', './runs/A-float/result.json' in names
          and './ptq/A-float-final-gptq-4/quantization.json' in names)

# 2. shed: two runs the session believes fit (rate guess 10x too high) but that together cannot finish (at 2500
#    tokens/s each, 120k tokens need 24 s of the 18 left when measured); alone the first needs ~11 s more
with tempfile.TemporaryDirectory() as tmp:
    out, _ = run(tmp, {'slots': 2, 'startup_s': 0, 'tokens_per_s': {'A': 50000, 'B': 50000}, 'train': ['A-one', 'B-two']},
                 {'A-one': 60, 'B-two': 60}, deadline=28, rate=5000)
    check('the last started of two that cannot finish together is shed', out.get(('train', 'B-two'), '').startswith('shed'))
    check('the other then finishes', out.get(('train', 'A-one')) == 'finished')

# 3. deadline: a single run the guess says fits but that is far too slow is stopped at the deadline
with tempfile.TemporaryDirectory() as tmp:
    out, names = run(tmp, {'slots': 1, 'startup_s': 0, 'tokens_per_s': {'A': 1e6}, 'train': ['A-slow']},
                     {'A-slow': 500}, deadline=15, rate=5000)
    check('a run still going at the deadline is stopped', out.get(('train', 'A-slow')) == 'stopped at the deadline')
    check('its partial log came back', './runs/A-slow/train_log.jsonl' in names)

print('all passed' if not failures else f'{len(failures)} failed')
sys.exit(1 if failures else 0)
