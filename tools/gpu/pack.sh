#!/usr/bin/env bash
# Packs what the GPU machine needs into .gpu/ (git-ignored), building into target-cuda/ so the shared
# target/ is never touched. The same recipe as the team's ../shared/gpu/pack.sh (a jlink'd JDK 25, the
# classes, test classes and test-scope jars, the JUnit console launcher), plus this folder's scripts.
# The runtime holds only the modules the CUDA tests and benchmarks need (no java.desktop: 15 MB saved
# against the 64 MiB that may travel).
# The GPU machine has CUDA 13 and PyTorch but no Java, Maven or network.
#   tools/gpu/pack.sh            then run on the device, with carry [".gpu"]:
#   bash .gpu/test.sh --select-package tern.cuda     the GPU tests
#   bash .gpu/bench.sh                                benchmarks (ours and PyTorch's), table last
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
build=${GPU_BUILD:-target-cuda}     # GPU_BUILD=target-NAME: another engineer's own build folder
jdk=""
for c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25* /usr/lib/jvm/*; do
  [[ -x "$c/bin/jlink" ]] || continue
  v=$("$c/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = //p')
  if [[ "${v%%.*}" -ge 25 ]]; then jdk=$c; break; fi
done
[[ -n "$jdk" ]] || { echo "pack.sh: no JDK 25+ found (set JAVA_HOME)" >&2; exit 1; }
export JAVA_HOME=$jdk
mkdir -p .gpu
if [[ ! -f .gpu/jre.tgz ]]; then
  rm -rf .gpu/jre
  "$jdk/bin/jlink" --add-modules java.base,jdk.incubator.vector,jdk.unsupported,java.logging \
    --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output .gpu/jre 2>/dev/null
  tar czf .gpu/jre.tgz -C .gpu jre && rm -rf .gpu/jre
fi
rm -rf .gpu/lib && mkdir -p .gpu/lib
mvn -q -B -Dtern.build=$build -DskipTests test-compile dependency:copy-dependencies -DincludeScope=test -DoutputDirectory="$root/.gpu/lib"
cp -r $build/classes .gpu/lib/classes
[[ -d $build/test-classes ]] && cp -r $build/test-classes .gpu/lib/test-classes
if [[ ! -f .gpu/junit-console.jar ]]; then
  mvn -q -B -Dtern.build=$build dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.13.4 -DoutputDirectory="$root/.gpu/lib"
  mv .gpu/lib/junit-platform-console-standalone-*.jar .gpu/junit-console.jar
fi
rm -f .gpu/lib/junit-platform-console-standalone-*.jar
cp tools/gpu/*.py tools/gpu/*.sh .gpu/ 2>/dev/null || true
cat > .gpu/run.sh <<'RUN'
#!/usr/bin/env bash
# On the GPU machine: unpack the runtime once, then run java with the project's flags.
set -e
here=$(cd "$(dirname "$0")" && pwd)
[[ -x "$here/jre/bin/java" ]] || tar xzf "$here/jre.tgz" -C "$here"
exec "$here/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m "$@"
RUN
cat > .gpu/test.sh <<'TEST'
#!/usr/bin/env bash
# On the GPU machine: run JUnit tests without Maven, e.g.  bash .gpu/test.sh --select-package tern.cuda
here=$(cd "$(dirname "$0")" && pwd)
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
exec bash "$here/run.sh" -jar "$here/junit-console.jar" execute --disable-banner --disable-ansi-colors --details=tree -cp "$cp" "$@"
TEST
chmod +x .gpu/run.sh .gpu/test.sh
du -sh .gpu | sed 's/^/pack.sh: .gpu is /'
