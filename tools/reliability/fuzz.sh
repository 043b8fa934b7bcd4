#!/usr/bin/env bash
# Mutation fuzzing of every file parser. INPUTS=4400 is the CI size (400 per parser, 11 parsers); the nightly size is
# INPUTS=100000 tools/reliability/fuzz.sh (about 20 minutes on a loaded 2-core box). The heap is capped at
# 1 GiB so a parser that trusts a hostile size fails fast instead of taking the machine's memory.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-target-rel}
INPUTS=${INPUTS:-4400}
mvn -q -B -o -Dtern.build="$BUILD" test -Dtest='ParserFuzzTest' -Dtern.fuzz="$INPUTS" \
    "-Dtern.jvm=--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx1g" \
    -Dsurefire.failIfNoSpecifiedTests=false
grep -h -A12 "parser fuzzing" "$BUILD"/surefire-reports/*ParserFuzzTest-output.txt
