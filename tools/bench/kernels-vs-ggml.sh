#!/usr/bin/env bash
# Packed ternary matvec (one activation row) of Tern against ggml's TQ2_0 at each instruction set, ours and
# ggml's taking turns in one run, both on ONE thread (test-backend-ops runs ggml on hardware_concurrency/2
# threads, one here, so earlier two-thread Tern figures were not paired fairly).
#   tools/bench/kernels-vs-ggml.sh [rounds] [shapes...]      (default: 3 rounds; 4096x14336 and the 390M shapes)
#   THREADS=2 tools/bench/kernels-vs-ggml.sh ...              (both sides on 2 threads instead of 1)
#   GGML=0 tools/bench/kernels-vs-ggml.sh ...                 (Tern only, AVX2 and 128-bit: no ggml build needed)
#   ACTIVATIONS=int8|float|both (default both: the timer's -Dactivations), TERN_JAVA_OPTS="..." (more JVM flags
#   for every Tern run), TERN_CLASSES=DIR (time another build's classes, e.g. a base commit's, against this one)
# Needs: the classes built (mvn -o -q -DskipTests package), and llama.cpp's ggml built twice under $LLAMA
# (default ~/.cache/llama-cpp/src): build-ops (-DGGML_NATIVE=ON: AVX-512 here) and build-ops-avx2
# (-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF).
# On a CPU without avx512f only build-ops-avx2 is needed and the AVX-512 rows are skipped.
# Prints one line per measurement: isa shape kernel µs (median; min; and for Tern the thread's CPU µs),
# then per isa and shape the ratio ggml / Tern int8 (> 1: Tern faster) of the medians and of the minima.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rounds=${1:-3}; shift || true
threads=${THREADS:-1}
ggml=${GGML:-1}
classes=${TERN_CLASSES:-$root/target/classes}
read -r -a jopts <<< "${TERN_JAVA_OPTS:-}"
shapes=("$@"); [[ ${#shapes[@]} -gt 0 ]] || shapes=(4096x14336 1024x1024 2560x1024 1024x2560)
llama=${LLAMA:-$HOME/.cache/llama-cpp/src}
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"${java%java}javac" --add-modules jdk.incubator.vector -cp "$classes" -d "$tmp" "$root/tools/bench/PackedMatvecTimer.java" 2>/dev/null
# AVX-512 rows only where the CPU has it (an AVX2-only machine has no build-ops AVX-512 library to pair).
avx512=$(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)
builds=(build-ops-avx2); [[ $avx512 == yes ]] && builds=(build-ops build-ops-avx2)
[[ $avx512 == yes ]] || echo "# no avx512f on this CPU: AVX-512 rows skipped"
[[ $ggml == 0 ]] && { builds=(); avx512=no; echo "# GGML=0: Tern only (AVX2 and 128-bit rows)"; }
for b in ${builds[@]+"${builds[@]}"}; do
  cc -O2 -I"$llama/ggml/include" "$root/tools/bench/ggml_matvec.c" -L"$llama/$b/bin" -lggml -lggml-base -lggml-cpu \
     -Wl,-rpath,"$llama/$b/bin" -o "$tmp/ggml-$b"
done
tern() { "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xbatch -Dtern.threads="$threads" \
           -Dactivations="${ACTIVATIONS:-both}" ${jopts[@]+"${jopts[@]}"} "$@" -cp "$classes:$tmp" PackedMatvecTimer 200 "${shapes[@]}" 2>/dev/null | grep -v WARNING; }
out=$tmp/results
echo "# $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/'), $threads thread(s) each; classes $classes"
for r in $(seq "$rounds"); do
  echo "# round $r, $(uptime | sed 's/.*load/load/')"
  if [[ $avx512 == yes ]]; then
    "$tmp/ggml-build-ops" "$threads" 200 "${shapes[@]}" | sed 's/^/avx512 /' | tee -a "$out"
    tern | sed 's/^/avx512 /' | tee -a "$out"
  fi
  [[ $ggml == 0 ]] || "$tmp/ggml-build-ops-avx2" "$threads" 200 "${shapes[@]}" | sed 's/^/avx2 /' | tee -a "$out"
  tern -XX:UseAVX=2 | sed 's/^/avx2 /' | tee -a "$out"
  tern -XX:UseAVX=2 -Dtern.simd.bits=128 | sed 's/^/avx2-128 /' | tee -a "$out"
done
echo "# ratios ggml / Tern int8 (median of rounds' medians; of rounds' minima); 128-bit: its time / Tern's AVX2 time"
python3 - "$out" <<'PY'
import sys, statistics, collections
med, mn = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    if line.split()[1] == '#': continue    # the timer's "# kernels: ..." line, prefixed by the isa
    f = line.replace('(', ' ').replace(')', ' ').replace(',', ' ').split()
    isa, shape, kind = f[0], f[1], f[2]
    if kind == 'float' or kind == 'int8': kind += '@' + f[3]
    med[isa, shape, kind].append(float(f[4 if kind.startswith(('int8', 'float')) else 3]))
    mn[isa, shape, kind].append(float(f[f.index('min') + 1]))
shapes = sorted({k[1] for k in med}, key=lambda s: -eval(s.replace('x', '*')))
for shape in shapes:
    for isa in ('avx512', 'avx2'):
        g = [k for k in med if k[0] == isa and k[1] == shape and k[2] == 'ggml-tq2_0']
        t = [k for k in med if k[0] == isa and k[1] == shape and k[2].startswith('int8')]
        f = [k for k in med if k[0] == isa and k[1] == shape and k[2].startswith('float')]
        if g and t:
            G, T = statistics.median(med[g[0]]), statistics.median(med[t[0]])
            Gm, Tm = statistics.median(mn[g[0]]), statistics.median(mn[t[0]])
            F = statistics.median(med[f[0]]) if f else float('nan')
            print(f"{isa:7s} {shape:11s} ggml {G:8.1f} µs  Tern int8 {T:8.1f} µs ({t[0][2].split('@')[1]})  ratio {G / T:5.2f} (minima {Gm / Tm:5.2f})  Tern float {F:8.1f} µs ({G / F:4.2f})")
    a = [k for k in med if k[0] == 'avx2' and k[1] == shape and k[2].startswith('int8')]
    n = [k for k in med if k[0] == 'avx2-128' and k[1] == shape and k[2].startswith('int8')]
    if a and n:
        A, N = statistics.median(med[a[0]]), statistics.median(med[n[0]])
        print(f"128-bit {shape:11s} int8 {N:8.1f} µs = {N / A:4.2f}× Tern's AVX2 time {A:8.1f} µs (target ≤ 2; minima {statistics.median(mn[n[0]]) / statistics.median(mn[a[0]]):4.2f})")
    a = [k for k in med if k[0] == 'avx2' and k[1] == shape and k[2].startswith('float')]
    n = [k for k in med if k[0] == 'avx2-128' and k[1] == shape and k[2].startswith('float')]
    if a and n:
        A, N = statistics.median(med[a[0]]), statistics.median(med[n[0]])
        print(f"128-bit {shape:11s} float {N:8.1f} µs = {N / A:4.2f}× Tern's AVX2 time {A:8.1f} µs")
PY
