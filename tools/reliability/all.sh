#!/usr/bin/env bash
# Every reliability test at CI size: crash harness, NaN policies (in process and through the CLI), memory
# and disk faults, parser fuzzing, hostile headers.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-target-rel}
mvn -q -B -o -Dtern.build="$BUILD" test -Dtest='tern.reliability.*Test' -Dsurefire.failIfNoSpecifiedTests=false
grep -h "Tests run" "$BUILD"/surefire-reports/tern.reliability.*.txt
