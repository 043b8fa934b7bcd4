#!/usr/bin/env bash
# On the GPU machine (packed by tools/gpu/pack.sh, which copies this script into .gpu/): the SIGKILL crash
# harness of RELIABILITY.md with every `tern train` child on the GPU (--device cuda): kills during CUDA steps
# and during checkpoint writes, each followed by a resume; the finished run must equal an uninterrupted GPU
# run bit for bit.   KILLS=8 bash .gpu/crash.sh
here=$(cd "$(dirname "$0")" && pwd)
cp="$here/lib/classes:$here/lib/test-classes"
for j in "$here"/lib/*.jar; do cp="$cp:$j"; done
exec bash "$here/run.sh" -Dtern.classpath="$cp" -Dtern.kills="${KILLS:-8}" -Dtern.kills.device=cuda \
  -jar "$here/junit-console.jar" execute --disable-banner --disable-ansi-colors --details=tree -cp "$cp" \
  --select-class tern.reliability.CrashSafetyTest
