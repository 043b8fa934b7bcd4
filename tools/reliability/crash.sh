#!/usr/bin/env bash
# The SIGKILL crash harness (plus SIGINT, damaged-latest and disk-full runs) against real `tern train`
# processes. KILLS=20 is the CI size; raise it for a nightly run: KILLS=200 tools/reliability/crash.sh
# The figures are printed as "crash harness: N SIGKILLs survived ..." in BUILD/surefire-reports/*CrashSafetyTest-output.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-target-rel}
KILLS=${KILLS:-20}
SEED=${SEED:-20261123}
mvn -q -B -o -Dtern.build="$BUILD" test -Dtest='CrashSafetyTest' -Dtern.kills="$KILLS" -Dtern.kills.seed="$SEED" -Dsurefire.failIfNoSpecifiedTests=false
grep -h "crash harness" "$BUILD"/surefire-reports/*CrashSafetyTest-output.txt
