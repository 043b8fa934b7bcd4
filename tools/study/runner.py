#!/usr/bin/env python3
"""Runs one session of the study inside a time budget and leaves small summaries in OUT.

usage: runner.py --session FILE --runs DIR --data DIR --work DIR --out DIR --deadline SECONDS
                 [--tern CMD] [--device cuda|cpu] [--eval-data DIR] [--gpus N]

The session file (tools/study/sessions/NN.json) names what to do, in order of priority:
  "train":  [run names]     each a config in --runs (RUN.json, a `tern sweep` grid of one run)
  "slots":  N               trainings at a time per GPU (1 when the GPU is saturated by one run)
  "ptq":    {"runs": [...], "bits": [3, 4, 6, 8], "methods": ["gptq", "rtn"]}   post-training quantization
                            of those FloatLMs' final checkpoints, as soon as each one is trained
  "eval":   {"runs": [...], "limit": N}    zero-shot tasks on those final models
  "probes": [run names]     throughput only: the first steps of other sizes, when time is left
  "tokens_per_s": {size: N}  what one GPU trains of that size per second, all its runs together (measured
                            in earlier sessions; no gain from running several at once is assumed)
A training starts only when its predicted end (its tokens and the remaining tokens of the trainings already
on its GPU, at that rate) comes before the deadline; trainings that together cannot finish lose the last
started (shed); at the deadline everything still running is
stopped and its partial log kept. After every finished task OUT/study.tgz is rewritten (temp + rename), so
what came back is complete up to the last finished task even if the command is killed.
OUT gets: study.tgz (runs/NAME/{result.json,train_log.jsonl,train_config.json,switch.json,stdout.log},
ptq/NAME/quantization.json, evals/NAME.json, probes/NAME.jsonl, status.json), runner.log.
"""
import argparse, glob, json, os, shutil, subprocess, sys, tarfile, time

p = argparse.ArgumentParser()
p.add_argument('--session', required=True)
p.add_argument('--runs', required=True)
p.add_argument('--data', required=True)
p.add_argument('--work', required=True)
p.add_argument('--out', required=True)
p.add_argument('--deadline', type=float, required=True, help='seconds from now when everything must be done')
p.add_argument('--tern', default='tern', help='the command that runs tern (split on spaces)')
p.add_argument('--device', default='cuda')
p.add_argument('--eval-data', default=None)
p.add_argument('--gpus', type=int, default=1)
a = p.parse_args()

T0 = time.time()
END = T0 + a.deadline
TERN = a.tern.split()
session = json.load(open(a.session))
stage = os.path.join(a.work, 'stage')       # what goes into study.tgz
for d in ('runs', 'ptq', 'evals', 'probes'):
    os.makedirs(os.path.join(stage, d), exist_ok=True)
logf = open(os.path.join(a.out, 'runner.log'), 'a', buffering=1)


def log(msg):
    line = f'[{time.time() - T0:6.1f}s] {msg}'
    print(line, flush=True)
    logf.write(line + '\n')


status = {'session': os.path.basename(a.session), 'deadline_s': a.deadline, 'tasks': []}


def pack():
    """Rewrite OUT/study.tgz from the stage folder, atomically."""
    status['elapsed_s'] = round(time.time() - T0, 1)
    with open(os.path.join(stage, 'status.json'), 'w') as f:
        json.dump(status, f, indent=1)
    tmp = os.path.join(a.out, '.study.tgz.tmp')
    with tarfile.open(tmp, 'w:gz') as t:
        t.add(stage, arcname='.')
    os.replace(tmp, os.path.join(a.out, 'study.tgz'))


def config(name):
    path = os.path.join(a.runs, name + '.json')
    return path, json.load(open(path))['runs'][0]


def tokens_of(cfg):
    return cfg['steps'] * cfg['batch'] * cfg['accum'] * cfg['seq']


def size_of(name):
    return name.split('-')[0]


def measured_rate(log_path):
    """Tokens/s between the 5th logged step and the last (the first steps hold compilation and warmup)."""
    pts = []
    try:
        for line in open(log_path):
            m = json.loads(line)
            if m.get('kind') == 'train':
                pts.append((m['tokens'], m['seconds']))
    except (OSError, ValueError):
        return None
    if len(pts) < 7:
        return None
    (t0, s0), (t1, s1) = pts[4], pts[-1]
    return (t1 - t0) / (s1 - s0) if s1 > s0 else None


def recent_rate(log_path, n=10):
    """(tokens/s over the last n logged steps, tokens done) of a running training; (None, 0) before 7 steps."""
    pts = []
    try:
        for line in open(log_path):
            m = json.loads(line)
            if m.get('kind') == 'train':
                pts.append((m['tokens'], m['seconds']))
    except (OSError, ValueError):
        return None, 0
    if len(pts) < 7:
        return None, 0
    (t0, s0), (t1, s1) = pts[max(4, len(pts) - n)], pts[-1]
    return ((t1 - t0) / (s1 - s0) if s1 > s0 else None), t1


class Task:
    def __init__(self, kind, name, argv, predicted, collect, gpu=0):
        self.kind, self.name, self.argv, self.predicted, self.collect, self.gpu = kind, name, argv, predicted, collect, gpu
        self.proc = None

    def start(self):
        os.makedirs(os.path.join(a.work, 'logs'), exist_ok=True)
        self.stdout = os.path.join(a.work, 'logs', f'{self.kind}-{self.name}.log')
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=str(self.gpu)) if a.device == 'cuda' else dict(os.environ)
        # a temporary folder of its own: JCuda unpacks its native library into java.io.tmpdir under a fixed
        # name, and a JVM starting beside another one died of SIGBUS in dlopen while the other rewrote it (session 12)
        tmp = os.path.join(a.work, 'tmp', f'{self.kind}-{self.name}')
        os.makedirs(tmp, exist_ok=True)
        env['JAVA_TOOL_OPTIONS'] = (env.get('JAVA_TOOL_OPTIONS', '') + f' -Djava.io.tmpdir={tmp}').strip()
        self.t = time.time()
        self.proc = subprocess.Popen(self.argv, stdout=open(self.stdout, 'w'), stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        log(f'start {self.kind} {self.name} on gpu {self.gpu} (predicted {self.predicted:.0f}s): {" ".join(self.argv)}')

    def record(self, outcome):
        entry = {'kind': self.kind, 'name': self.name, 'outcome': outcome, 'seconds': round(time.time() - self.t, 1),
                 'exit': self.proc.returncode}
        status['tasks'].append(entry)
        try:
            self.collect(self)
        except Exception as e:      # a collector must never stop the session
            entry['collect_error'] = repr(e)
        pack()
        log(f'{outcome} {self.kind} {self.name} exit {self.proc.returncode} after {entry["seconds"]}s')


def tail(path, n=60):
    try:
        return ''.join(open(path, errors='replace').readlines()[-n:])
    except OSError:
        return ''


def collect_run(task):
    src = os.path.join(a.work, 'runs', task.name)
    dst = os.path.join(stage, 'runs', task.name)
    os.makedirs(dst, exist_ok=True)
    for f in ('result.json', 'train_log.jsonl', 'train_config.json', 'switch.json'):
        if os.path.isfile(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), dst)
    with open(os.path.join(dst, 'stdout.log'), 'w') as f:
        f.write(tail(task.stdout))
    r = measured_rate(os.path.join(src, 'train_log.jsonl'))
    if r:
        status.setdefault('tokens_per_s', {})[task.name] = round(r)


def collect_ptq(task):
    q = os.path.join(a.work, 'ptq', task.name, 'quantization.json')
    dst = os.path.join(stage, 'ptq', task.name)
    os.makedirs(dst, exist_ok=True)
    if os.path.isfile(q):
        shutil.copy(q, dst)
    with open(os.path.join(dst, 'stdout.log'), 'w') as f:
        f.write(tail(task.stdout, 20))


def collect_eval(task):
    j = os.path.join(a.work, 'evals', task.name + '.json')
    if os.path.isfile(j):
        shutil.copy(j, os.path.join(stage, 'evals'))
    shutil.copy(task.stdout, os.path.join(stage, 'evals', task.name + '.log'))


def collect_probe(task):
    src = os.path.join(a.work, 'probes', task.name, 'train_log.jsonl')
    if os.path.isfile(src):
        shutil.copy(src, os.path.join(stage, 'probes', task.name + '.jsonl'))
        r = measured_rate(src)
        if r:
            status.setdefault('probe_tokens_per_s', {})[task.name] = round(r)
    shutil.copy(task.stdout, os.path.join(stage, 'probes', task.name + '.log'))


guess = session.get('tokens_per_s', {})      # size -> tokens/s of one GPU for trainings of that size (all of them together)
STARTUP = session.get('startup_s', 25)
slots = session.get('slots', 1) * a.gpus
train_q = list(session.get('train', []))
probe_q = list(session.get('probes', []))
ptq = session.get('ptq', {})
evl = session.get('eval', {})
post_q = []        # (ready-after run name, Task)
running = []
finished_runs = set()
tern_cfg = ['--device', a.device]


def gpu_rate(name):
    """Training tokens/s one GPU gives runs of this size, together (the session's figure, from earlier sessions)."""
    return guess.get(size_of(name)) or 1e5


def train_task(name, gpu):
    path, cfg = config(name)
    # its tokens and what the trainings already on this GPU have left, at the GPU's rate (no gain assumed
    # from running together): when it would end
    others = 0.0
    for t in running:
        if t.kind == 'train' and t.gpu == gpu:
            _, done = recent_rate(os.path.join(a.work, 'runs', t.name, 'train_log.jsonl'))
            others += (tokens_of(config(t.name)[1]) - done) / gpu_rate(t.name)
    predicted = STARTUP + others + tokens_of(cfg) / gpu_rate(name)
    argv = TERN + ['sweep', '--grid', path, '--data', a.data, '--out', os.path.join(a.work, 'runs')] + tern_cfg
    return Task('train', name, argv, predicted, collect_run, gpu)


def queue_post(name):
    if name in ptq.get('runs', []):
        # the final checkpoint by every method and width; the earlier ones (the PTQ law's D axis) by GPTQ alone
        ckpts = sorted(glob.glob(os.path.join(a.work, 'runs', name, 'checkpoints', 'step-*')))
        jobs = [(c, m, b) for m in ptq.get('methods', ['gptq']) for b in ptq.get('bits', [4]) for c in ckpts[-1:]]
        if ptq.get('earlier_checkpoints', True):
            jobs += [(c, 'gptq', b) for c in ckpts[:-1] for b in ptq.get('bits', [4])]
        for ckpt, method, bits in jobs:
            tag = 'final' if ckpt == ckpts[-1] else os.path.basename(ckpt)
            qname = f'{name}-{tag}-{method}-{bits}'
            argv = TERN + ['quantize', '--ckpt', ckpt, '--bits', str(bits), '--method', method,
                           '--seq', str(config(name)[1]['seq']),
                           '--group', str(ptq.get('group', 128)), '--calib', a.data, '--calib-seqs', str(ptq.get('calib_seqs', 128)),
                           '--val-batches', str(ptq.get('val_batches', 20)), '--out', os.path.join(a.work, 'ptq', qname)] + tern_cfg
            post_q.append(Task('ptq', qname, argv, ptq.get('predicted_s', 30), collect_ptq))
    if name in evl.get('runs', []) and a.eval_data:
        os.makedirs(os.path.join(a.work, 'evals'), exist_ok=True)
        argv = TERN + ['eval', '--ckpt', os.path.join(a.work, 'runs', name), '--tasks', evl.get('tasks', 'lambada,hellaswag,arc_easy,arc_challenge,piqa,sciq,winogrande'),
                       '--data', a.eval_data, '--json', os.path.join(a.work, 'evals', name + '.json')] + tern_cfg
        if evl.get('limit'):
            argv += ['--limit', str(evl['limit'])]
        # zero-shot before any waiting PTQ job: one eval is short, a FloatLM's PTQ jobs are eight or more, and
        # behind them the evals were the tasks a deadline cut (session 17)
        at = next((i for i, t in enumerate(post_q) if t.kind == 'ptq'), len(post_q))
        post_q.insert(at, Task('eval', name, argv, evl.get('predicted_s', 60), collect_eval))


def probe_task(name, gpu):
    path, cfg = config(name)
    steps = session.get('probe_steps', 12)
    flat = os.path.join(a.work, 'probes', name + '.config.json')
    os.makedirs(os.path.dirname(flat), exist_ok=True)
    argv = TERN + ['train', '--config', flat, '--data', a.data, '--out', os.path.join(a.work, 'probes', name),
                   '--steps', str(steps), '--eval-every', '0', '--save-every', '0'] + tern_cfg
    with open(flat, 'w') as f:           # `tern train --config` takes the run's settings as one object
        json.dump({k: v for k, v in cfg.items() if k != 'name'} | {'warmup': min(cfg['warmup'], steps)}, f)
    return Task('probe', name, argv, STARTUP + session.get('probe_s', 30), collect_probe, gpu)


def free_gpu(kind):
    per = session.get('slots', 1)
    for g in range(a.gpus):
        if len([t for t in running if t.kind in ('train', 'probe') and t.gpu == g]) < per:
            return g
    return None


log(f'session {a.session}: {len(train_q)} trainings, deadline {a.deadline:.0f}s, {a.gpus} gpu(s) x {session.get("slots", 1)} slots')
pack()
last_shed_check = time.time()
while True:
    now = time.time()
    # finished tasks
    for t in list(running):
        if t.proc.poll() is not None:
            running.remove(t)
            ok = t.proc.returncode == 0
            t.record('finished' if ok else 'failed')
            if t.kind == 'train' and ok:
                finished_runs.add(t.name)
                queue_post(t.name)
    # the deadline: stop everything, keep what it wrote
    if now >= END - 8:
        for t in running:
            os.killpg(t.proc.pid, 15)
        for t in running:
            try:
                t.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(t.proc.pid, 9)
                t.proc.wait()
            t.record('stopped at the deadline')
        running.clear()
        for name in train_q:
            status['tasks'].append({'kind': 'train', 'name': name, 'outcome': 'not started: no time left'})
        break
    # shed: when the trainings sharing a GPU cannot all finish in time (projected as if the GPU's rate were
    # shared out with no gain from running together), stop the one of lowest priority (the last started)
    if now - last_shed_check > 10:
        last_shed_check = now
        for g in range(a.gpus):
            mine = [t for t in running if t.kind == 'train' and t.gpu == g]
            if len(mine) < 2:
                continue
            need, known = 0.0, True
            for t in mine:
                r, done = recent_rate(os.path.join(a.work, 'runs', t.name, 'train_log.jsonl'))
                if not r:
                    known = False
                    break
                need += (tokens_of(config(t.name)[1]) - done) / (r * len(mine))
            if known and now + need > END - 10:
                t = mine[-1]
                log(f'shed {t.name}: the {len(mine)} trainings on gpu {g} need {need:.0f}s more, {END - now:.0f}s left')
                os.killpg(t.proc.pid, 9)
                t.proc.wait()
                running.remove(t)
                t.record('shed: would not finish beside the others')
    # start what fits: trainings first, then post-processing (one at a time, beside the trainings), then probes
    g = free_gpu('train')
    while train_q and g is not None:
        t = train_task(train_q[0], g)
        if now + t.predicted > END - 10:
            log(f'skip {train_q[0]}: predicted {t.predicted:.0f}s, {END - now:.0f}s left')
            status['tasks'].append({'kind': 'train', 'name': train_q.pop(0), 'outcome': 'skipped: would not finish', 'predicted_s': round(t.predicted)})
            continue
        train_q.pop(0)
        t.start()
        running.append(t)
        g = free_gpu('train')
    if post_q and not any(t.kind in ('ptq', 'eval') for t in running):
        t = post_q.pop(0)
        if now + t.predicted < END - 10:
            t.start()
            running.append(t)
        else:
            status['tasks'].append({'kind': t.kind, 'name': t.name, 'outcome': 'skipped: would not finish'})
    if not train_q and probe_q:
        g = free_gpu('probe')
        if g is not None and not any(t.kind == 'train' for t in running):
            t = probe_task(probe_q.pop(0), g)
            if now + t.predicted < END - 10:
                t.start()
                running.append(t)
    if not running and not train_q and not post_q and not probe_q:
        break
    time.sleep(1)
log('done')
pack()
