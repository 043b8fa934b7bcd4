#!/usr/bin/env bash
# Per-kernel GPU time of the 3.9B packed decode step (CUDA graph nodes profiled one by one by Nsight Compute),
# summed by kernel name. Needs a pack with test classes (tools/gpu/pack.sh's .gpu). Run from the repository root:
#   OUT=$OUT bash .gpu/ncu-decode.sh        (SKIP: launches before the profiled ones; COUNT: how many)
# SKIP: the first try (3000) landed in the first prefill (tern_unpack_f32 and cuBLAS GEMMs on unpacked weights), which
# ends near launch 3,600; the default 4500 lands in the 32-token graph warm-up (153 nodes a token).
p=$(cd "$(dirname "$0")" && pwd)
[[ -x $p/jre/bin/java ]] || tar xzf "$p/jre.tgz" -C "$p"
cp="$p/lib/classes:$p/lib/test-classes"; for j in "$p"/lib/*.jar; do cp="$cp:$j"; done
timeout ${NCU_T:-75} ncu --graph-profiling node --clock-control none --metrics gpu__time_duration.sum --launch-skip ${SKIP:-4500} --launch-count ${COUNT:-160} \
  --csv --log-file "$OUT/ncu.csv" "$p/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx32g \
  -cp "$cp" tern.cuda.PackedDecodeBench 3.9B 64 1 > "$OUT/ncu-app.log" 2>&1
echo "ncu exit $?"
python3 - "$OUT/ncu.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
if not rows: print("no ncu rows"); sys.exit()
h = rows[0]; ki = h.index('Kernel Name'); vi = h.index('Metric Value'); ui = h.index('Metric Unit')
tot = collections.defaultdict(float); n = collections.Counter()
for r in rows[1:]:
    if r[ki] == 'Kernel Name': continue
    v = float(r[vi].replace(',', '')); v *= {'nsecond': 1e-3, 'ns': 1e-3, 'msecond': 1e3, 'ms': 1e3}.get(r[ui], 1.0)
    tot[r[ki][:60]] += v; n[r[ki][:60]] += 1
s = sum(tot.values())
print(f"kernels {sum(n.values())}, total {s:.1f} us")
for k, v in sorted(tot.items(), key=lambda kv: -kv[1]):
    print(f"{v:9.1f} us {n[k]:4d}x {v/n[k]:7.2f} us  {k}")
PY
