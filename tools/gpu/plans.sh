#!/usr/bin/env bash
# Issue #12 on the GPU machine: every precision plan CPU vs GPU, GPTQ CPU vs GPU, the plans' step times at
# the 99M shape, GPTQ of the 390M preset, and a sweep grid run with --device $device, killed mid-grid, resumed
# and fitted. Pack here first (tools/gpu/pack.sh copies this script into .gpu/), then on the device:
#   bash .gpu/plans.sh            (or .gpu-NAME/plans.sh when packed for another folder)
# Budget: ~150-240 s of device time; each part has its own timeout so a slow one cannot starve the others.
# Output: every part's lines, then a summary; files under $OUT/plans/ (when $OUT is set).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
work=${OUT:-/tmp}/plans
rm -rf "$work" && mkdir -p "$work"
java() { bash "$here/run.sh" -cp "$cp" "$@"; }
tjava() { local t=$1; shift; timeout "$t" bash "$here/run.sh" -cp "$cp" "$@"; }   # timeout runs programs, not shell functions
parts=${PARTS:-1 2 3 4}          # PARTS="4" DEVICE=cpu SWEEP_STEPS=6: a smoke run of the sweep part anywhere
device=${DEVICE:-cuda}
steps=${SWEEP_STEPS:-30}
part() { [[ " $parts " == *" $1 "* ]]; }
stamp() { while IFS= read -r line; do printf '[%4ds] %s\n' "$SECONDS" "$line"; done; }
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'

if part 1; then
echo "== 1. plans CPU vs GPU (PlansCpuGpuTest), GPTQ CPU vs GPU"
timeout 75 bash "$here/test.sh" --select-class tern.cuda.PlansCpuGpuTest 2>&1 | tee "$work/tests.log" | grep --line-buffered -E "plan |CPU checkpoint|GPTQ|✔|✘|tests (successful|failed|skipped)|Error|expected|relative" | stamp
echo "   (exit ${PIPESTATUS[0]})"

fi
if part 2; then
echo "== 2. step time at the 99M shape: TriLM vs int4-row+act8 vs float→ternary after the switch (8×1024 tokens)"
tjava 30 tern.cuda.PlanStepBench 99M 8 1024 bf16 3 5 2>&1 | tee "$work/steps.log" | grep --line-buffered -v "^WARNING" | stamp

fi
if part 3; then
echo "== 3. GPTQ of the 390M preset (random weights, random tokens: the same work), 128 × 2048 calibration tokens"
tjava ${GPTQ_TIMEOUT:-120} tern.cuda.GptqBench 390M bf16 128 2048 2>&1 | tee "$work/gptq.log" | grep --line-buffered -v "^WARNING" | stamp

fi
if part 4; then
echo "== 4. sweep --device $device: 8 runs, killed after its 3rd result, resumed, fitted"
python3 - "$work/corpus.txt" <<'PY'
import random, sys
random.seed(7)
subj = "the dog|a cat|the old horse|my sister|the little bird|a farmer|the teacher|our neighbour".split("|")
verb = "sees|likes|follows|finds|paints|feeds|watches|calls".split("|")
obj = "the river|a red ball|the green field|an apple|the small house|a long road|the children|the moon".split("|")
adv = "today|slowly|again|at night|in the morning|with care|every day|once".split("|")
with open(sys.argv[1], "w") as f:
    for d in range(6000):
        f.write(" ".join(f"{random.choice(subj).capitalize()} {random.choice(verb)} {random.choice(obj)} {random.choice(adv)}."
                         for _ in range(random.randint(2, 6))) + "\n\n")
PY
{
  java tern.cli.Main tokenizer train --input "$work/corpus.txt" --vocab 400 --out "$work/tokenizer.json" 2>&1 | tail -1
  java tern.cli.Main prepare --input "$work/corpus.txt" --tokenizer "$work/tokenizer.json" --out "$work/data" --val-fraction 0.05 2>&1 | tail -1
} | stamp
cat > "$work/grid.json" <<JSON
{"data": "$work/data", "out": "$work/sweep",
 "defaults": {"preset": "tiny", "steps": $steps, "batch": 8, "seq": 64, "eval_every": 5, "eval_batches": 2, "save_every": 5, "keep": 1},
 "runs": [
  {"name": "float-h32",   "precision": "float",   "hidden": 32, "intermediate": 96,  "layers": 2, "heads": 2},
  {"name": "float-h64",   "precision": "float",   "hidden": 64, "intermediate": 192, "layers": 3, "heads": 4},
  {"name": "float-h96",   "precision": "float",   "hidden": 96, "intermediate": 256, "layers": 4, "heads": 4},
  {"name": "ternary-h32", "precision": "ternary", "hidden": 32, "intermediate": 96,  "layers": 2, "heads": 2},
  {"name": "ternary-h64", "precision": "ternary", "hidden": 64, "intermediate": 192, "layers": 3, "heads": 4},
  {"name": "ternary-h96", "precision": "ternary", "hidden": 96, "intermediate": 256, "layers": 4, "heads": 4},
  {"name": "switch-h64",  "precision": "float", "switch_to": "ternary", "switch_at": 0.5, "phase_in": 5, "reset_optimizer": true,
                          "hidden": 64, "intermediate": 192, "layers": 3, "heads": 4},
  {"name": "kbit-h64",    "weight_bits": 4, "act_bits": 8, "kv_bits": 4, "hidden": 64, "intermediate": 192, "layers": 3, "heads": 4}
 ]}
JSON
( java tern.cli.Main sweep --grid "$work/grid.json" --device $device > "$work/sweep-1.log" 2>&1 ) &
sweep=$!
for _ in $(seq 1 1500); do
  n=$(ls "$work"/sweep/*/result.json 2>/dev/null | wc -l)
  # inside the 4th run, after its first checkpoint: the resume continues a run, not only the grid
  [[ $n -ge 3 ]] && ls -d "$work"/sweep/ternary-h32/checkpoints/step-* >/dev/null 2>&1 && break
  [[ $n -ge 4 ]] && break
  kill -0 $sweep 2>/dev/null || break
  sleep 0.01
done
pkill -KILL -P $sweep 2>/dev/null; kill -KILL $sweep 2>/dev/null; wait $sweep 2>/dev/null
echo "killed after $(ls "$work"/sweep/*/result.json 2>/dev/null | wc -l) finished runs; in the folder: $(ls "$work/sweep" | tr '\n' ' ')" | stamp
grep -E "^\[|backend" "$work/sweep-1.log" | tail -4 | stamp
tjava 40 tern.cli.Main sweep --grid "$work/grid.json" --device $device 2>&1 | tee "$work/sweep-2.log" | grep -E "^\[|backend|runs finished|Exception|error" | stamp
echo "   (exit ${PIPESTATUS[0]})"
tjava 10 tern.cli.Main fit --runs "$work/sweep" --law chinchilla 2>&1 | grep --line-buffered -v "^WARNING" | tail -12 | stamp
python3 - "$work/sweep" <<'PY'
import json, glob, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*/result.json"))):
    r = json.load(open(f)); p = r["precision"]
    print(f'{r["name"]:12s} params {r["params"]:7d} final val {r["final_val_loss"]:.4f}  plan {p}  {r["seconds"]} s')
PY
for d in "$work"/sweep/*/; do
  grep -h '"kind":"session"' "$d/train_log.jsonl" 2>/dev/null | sed "s|^|$(basename "$d"): |"
done | head -12
fi
echo "== summary"
grep -hE "tests (successful|failed)" "$work/tests.log" 2>/dev/null | sed 's/^/tests: /'
grep -hE "^  " "$work/steps.log" 2>/dev/null | sed 's/^/step: /'
grep -h "^GPTQ" "$work/gptq.log" 2>/dev/null | sed 's/^/gptq: /'
grep -h "runs finished" "$work/sweep-2.log" 2>/dev/null | sed 's/^/sweep: /'
echo "== done in ${SECONDS}s"
