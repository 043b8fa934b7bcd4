#!/usr/bin/env bash
# Proves a rearrangement of the CUDA sources changed no kernel: both sides' translation units, assembled by
# their own Kernels.java exactly as NVRTC receives them (KernelSourceDump), are compiled with nvcc -cubin
# for sm_75, sm_80 and sm_90 (sm_70 is what nvcc 13 no longer compiles; sm_75 stands in, as in
# KernelSourcesTest; the sm_80-only modules for sm_80 and sm_90), and every kernel is compared by name across
# modules with cubin_kernels.py: its machine code byte for byte and everything the ELF keeps for it.
# Needs a JDK and nvcc only (no GPU, no cuobjdump).
#   tools/gpu/kernel-identity.sh BASE [REV]     REV defaults to the working tree, uncommitted changes included
# Exit 0 only when the set of kernel names and every kernel's fingerprint are the same on both sides.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
base=${1:?usage: kernel-identity.sh BASE [REV]}
rev=${2:-}
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
ARCHS=${ARCHS:-"75 80 90"}
jcuda=$(ls ~/.m2/repository/org/jcuda/jcuda/*/jcuda-*.jar | grep -v natives | head -1)
work=$(mktemp -d "${TMPDIR:-/tmp}/kernel-identity.XXXXXX")
cache=${KERNEL_IDENTITY_CACHE:-${TMPDIR:-/tmp}/kernel-identity-cache}
mkdir -p "$cache"
trap 'rm -rf "$work"' EXIT
lock() { if [[ -e /work/coord/cpu.lock ]]; then flock -s /work/coord/cpu.lock "$@"; else "$@"; fi; }

# side NAME REV-or-empty: the translation units of that tree under $work/NAME/tu
side() {
    local name=$1 r=$2 tree
    if [[ -n $r ]]; then
        tree=$work/$name/tree
        mkdir -p "$tree"
        git -C "$root" archive "$r" | tar -x -C "$tree"
    else
        tree=$root
    fi
    local roots=()
    for d in cuda runtime simd model checkpoint train eval serve cli; do [[ -d $tree/$d ]] && roots+=("$tree/$d"); done
    lock "$JAVA_HOME/bin/javac" -nowarn -d "$work/$name/classes" -cp "$jcuda" \
        -sourcepath "$(IFS=:; echo "${roots[*]}")" "$root/tools/gpu/KernelSourceDump.java"
    "$JAVA_HOME/bin/java" -cp "$work/$name/classes:$tree/resources:$jcuda" tern.cuda.KernelSourceDump "$work/$name/tu"
}

# compile NAME: every module for every arch, cached by the text's hash (the same text compiles the same)
compile() {
    local name=$1 jobs=()
    while read -r module tag; do
        for arch in $ARCHS; do
            [[ $tag == ampere && $arch -lt 80 ]] && continue
            local key
            key=$(cat "$work/$name/tu/$module.cu" <("$NVCC" --version) <(echo "$arch") | sha256sum | cut -c1-24)
            mkdir -p "$work/$name/sm_$arch"
            echo "$work/$name/tu/$module.cu $arch $cache/$key.cubin $work/$name/sm_$arch/$module.cubin" >> "$work/$name/jobs"
        done
    done < "$work/$name/tu/modules.txt"
    # shellcheck disable=SC2016
    # nvcc's warnings (the same on both sides) go to a log, shown when a compile fails
    if ! lock xargs -P 2 -L 1 bash -c '[[ -s $2 ]] || { '"$NVCC"' -cubin -arch=sm_$1 --std=c++17 -o "$2.tmp" "$0" && mv "$2.tmp" "$2"; } && cp "$2" "$3"' \
            < "$work/$name/jobs" 2> "$work/$name/nvcc.log"; then
        grep -v warning "$work/$name/nvcc.log" | grep -B2 -A2 error | head -40
        echo "nvcc failed on the $name side"
        exit 2
    fi
}

# fingerprints NAME ARCH: "kernel digest" lines, and "kernel module" lines beside them
fingerprints() {
    local name=$1 arch=$2
    python3 "$root/tools/gpu/cubin_kernels.py" "$work/$name/sm_$arch"/*.cubin > "$work/$name/sm_$arch.prints"
    for c in "$work/$name/sm_$arch"/*.cubin; do
        python3 "$root/tools/gpu/cubin_kernels.py" "$c" | awk -v m="$(basename "$c" .cubin)" '{print $1, m}'
    done | sort > "$work/$name/sm_$arch.modules"
}

side before "$base"
side after "$rev"
echo "before: $base ($(tr '\n' ' ' < "$work/before/tu/modules.txt"))"
echo "after:  ${rev:-working tree} ($(tr '\n' ' ' < "$work/after/tu/modules.txt"))"
echo "nvcc:   $("$NVCC" --version | grep -o 'release [0-9.]*, V[0-9.]*')"
compile before
compile after
status=0
for arch in $ARCHS; do
    fingerprints before "$arch"
    fingerprints after "$arch"
    b=$work/before/sm_$arch.prints a=$work/after/sm_$arch.prints
    total=$(wc -l < "$b")
    same=$(comm -12 "$b" "$a" | wc -l)
    moved=$(join "$work/before/sm_$arch.modules" "$work/after/sm_$arch.modules" | awk '$2 != $3' | wc -l)
    only_before=$(comm -23 <(cut -d' ' -f1 "$b") <(cut -d' ' -f1 "$a"))
    only_after=$(comm -13 <(cut -d' ' -f1 "$b") <(cut -d' ' -f1 "$a"))
    differ=$(join "$b" "$a" | awk '$2 != $3 {print $1}')
    echo "sm_$arch: $total kernels before, $(wc -l < "$a") after; identical $same; moved to another module $moved"
    if [[ -n $only_before || -n $only_after || -n $differ ]]; then
        status=1
        [[ -n $only_before ]] && echo "  only before: $(echo $only_before)"
        [[ -n $only_after ]] && echo "  only after: $(echo $only_after)"
        for k in $differ; do
            echo "  DIFFERS: $k"
            diff <(python3 "$root/tools/gpu/cubin_kernels.py" --detail "$k" "$work/before/sm_$arch"/*.cubin) \
                 <(python3 "$root/tools/gpu/cubin_kernels.py" --detail "$k" "$work/after/sm_$arch"/*.cubin) | head -8 | sed 's/^/    /'
        done
    fi
done
if [[ $status == 0 ]]; then echo "IDENTICAL: every kernel, every arch"; else echo "NOT IDENTICAL"; fi
# which kernels changed module (sm_90 holds them all): one line per (before, after) pair of modules
last=${ARCHS##* }
join "$work/before/sm_$last.modules" "$work/after/sm_$last.modules" | awk '$2 != $3 {k = $2 ".cu -> " $3 ".cu"; n[k]++}
    END {for (k in n) print "  moved " n[k] " kernels: " k}' | sort
exit $status
