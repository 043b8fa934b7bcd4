#!/usr/bin/env bash
# The one-row int8 matvec of two Tern builds and ggml's AVX2 TQ2_0 in the same rounds, one thread each, the order
# rotated every round (ggml, base, new; new, ggml, base; base, new, ggml), so a load that comes and goes on the
# shared machine falls on all three alike. Tern with AVX2 forced (-XX:UseAVX=2; EXTRA="-Dtern.simd.bits=128"
# for the 128-bit path). Prints the timer's and ggml_matvec's lines prefixed ggml/base/new, then per shape the
# medians of the rounds' medians and their ratios.
#   tools/bench/matvec-pair.sh ROUNDS BASE_CLASSES NEW_CLASSES [shapes...]
# Needs ggml's build-ops-avx2 (see kernels-vs-ggml.sh) under $LLAMA (default ~/.cache/llama-cpp/src).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rounds=$1 base=$2 new=$3; shift 3
shapes=("$@"); [[ ${#shapes[@]} -gt 0 ]] || shapes=(4096x14336 1024x1024 2560x1024 1024x2560)
llama=${LLAMA:-$HOME/.cache/llama-cpp/src}
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"${java%java}javac" --add-modules jdk.incubator.vector -cp "$new" -d "$tmp" "$root/tools/bench/PackedMatvecTimer.java" 2>/dev/null
cc -O2 -I"$llama/ggml/include" "$root/tools/bench/ggml_matvec.c" -L"$llama/build-ops-avx2/bin" -lggml -lggml-base -lggml-cpu \
   -Wl,-rpath,"$llama/build-ops-avx2/bin" -o "$tmp/ggml"
read -r -a extra <<< "${EXTRA:-}"
t() { "$java" --add-modules jdk.incubator.vector -Xbatch -XX:UseAVX=2 -Dtern.threads=1 -Dactivations=int8 ${extra[@]+"${extra[@]}"} \
        -cp "$1:$tmp" PackedMatvecTimer 200 "${shapes[@]}" 2>/dev/null | grep -v '^#'; }
g() { "$tmp/ggml" 1 200 "${shapes[@]}" | sed 's/^/ggml /'; }
b() { t "$base" | sed 's/^/base /'; }
n() { t "$new" | sed 's/^/new  /'; }
out=$tmp/results
for r in $(seq "$rounds"); do
  echo "# round $r $(date -u +%T) $(uptime | sed 's/.*load/load/')"
  case $((r % 3)) in 1) g; b; n;; 2) n; g; b;; 0) b; n; g;; esac | tee -a "$out"
done
python3 - "$out" "${shapes[@]}" <<'PY'
import sys, statistics, collections
med = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    med[f[0], f[1]].append(float(f[3] if f[0] == 'ggml' else f[4]))
for shape in sys.argv[2:]:
    g, b, n = (statistics.median(med[k, shape]) if med[k, shape] else float('nan') for k in ('ggml', 'base', 'new'))
    print(f"{shape:11s} ggml {g:8.1f}  base {b:8.1f}  new {n:8.1f} µs   ggml/base {g / b:4.2f}  ggml/new {g / n:4.2f}  base/new {b / n:4.2f}")
PY
