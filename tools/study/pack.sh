#!/usr/bin/env bash
# Packs what one study session needs on the GPU machine into DIR (default .gpu-study, git-ignored as .gpu*):
# a jlink'd JDK 25 (reused from .gpu/jre.tgz when there), the main classes (no tests), JCuda's jar and its
# driver-side natives (the 24 MB PTX-compiler library Tern does not use is left out), the token shards
# (train shard xz-compressed), the zero-shot sets (xz), the study's scripts, configs and sessions.
# Well under the 64 MiB that may travel with a run call.
#   STUDY_DATA=/work/study/data tools/study/pack.sh [DIR]
# then: rm -rf /work/main/.gpu-NAME && cp -r DIR /work/main/.gpu-NAME and call run with carry [".gpu-NAME"] and
#   bash .gpu-NAME/study/device.sh SESSION DEADLINE_S        (device.sh says what it does)
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
dest=$(realpath -m "${1:-.gpu-study}")
data=${STUDY_DATA:-/work/study/data}
evaldata=${STUDY_EVAL:-$root/../shared/data/eval}
build=${GPU_BUILD:-target-study}
jdk=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
[[ -f $data/meta.json ]] || { echo "pack.sh: no token shards in $data (tools/study/prepare-data.sh makes them)" >&2; exit 1; }
mkdir -p "$dest"
if [[ ! -f $dest/jre.tgz ]]; then
  if [[ -f .gpu/jre.tgz ]]; then cp .gpu/jre.tgz "$dest/"; else
    rm -rf "$dest/jre"
    "$jdk/bin/jlink" --add-modules java.base,jdk.incubator.vector,jdk.unsupported,java.logging \
      --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output "$dest/jre" 2>/dev/null
    tar czf "$dest/jre.tgz" -C "$dest" jre && rm -rf "$dest/jre"
  fi
fi
JAVA_HOME=$jdk mvn -o -q -B -Dtern.build=$build -DskipTests compile
rm -rf "$dest/lib" && mkdir -p "$dest/lib"
cp -r $build/classes "$dest/lib/classes"
m2=${M2_REPO:-$HOME/.m2/repository}
ver=$(sed -n 's:.*<jcuda.version>\(.*\)</jcuda.version>.*:\1:p' pom.xml)
cp "$m2/org/jcuda/jcuda/$ver/jcuda-$ver.jar" "$dest/lib/"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && unzip -q "$m2/org/jcuda/jcuda-natives/$ver/jcuda-natives-$ver-linux-x86_64.jar" && rm -f lib/libJNvPTXCompiler-* \
  && zip -q -r "$dest/lib/jcuda-natives-$ver-linux-x86_64.jar" META-INF lib)
mkdir -p "$dest/data"
for f in "$data"/meta.json "$data"/tokenizer.json "$data"/val-*.tok; do cp "$f" "$dest/data/"; done
for f in "$data"/train-*.tok; do
  b=$(basename "$f")
  [[ -f $dest/data/$b.xz && $dest/data/$b.xz -nt $f ]] || xz -T0 -6 -c "$f" > "$dest/data/$b.xz"
done
[[ -f $dest/eval.tar.xz ]] || tar cJf "$dest/eval.tar.xz" -C "$evaldata" .
rm -rf "$dest/study" && mkdir -p "$dest/study"
cp -r tools/study/runner.py tools/study/device.sh tools/study/runs tools/study/sessions "$dest/study/"
cat > "$dest/tern.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine: tern from the packed classes and JCuda jars (device.sh unpacks the runtime first).
here=$(cd "$(dirname "$0")" && pwd)
cp="$here/lib/classes"; for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
exec "$here/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx8g \
  -cp "$cp" tern.cli.Main "$@" 2> >(grep -v 'incubator modules' >&2)
RUN
chmod +x "$dest/tern.sh"
du -sh "$dest" | sed 's/^/pack.sh: /'
