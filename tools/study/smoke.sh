#!/usr/bin/env bash
# CPU smoke test of the whole driver with tiny shapes (make_configs.py --smoke): the runner's queue, PTQ,
# zero-shot, probes and study.tgz, then collect.py into a scratch folder. A few minutes on 2 busy cores.
#   tools/study/smoke.sh [DATA_DIR]      (default /work/study/data, from tools/study/prepare-data.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-/work/study/data}
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
mvn -o -q -B -DskipTests compile
python3 tools/study/make_configs.py --smoke
tmp=$(mktemp -d)
mkdir -p "$tmp/out"
python3 tools/study/runner.py --session tools/study/sessions/smoke.json --runs tools/study/smoke-runs --data "$data" \
  --work "$tmp/work" --out "$tmp/out" --deadline 300 --tern "bash tools/study/tern-local.sh" --device cpu --eval-data ../shared/data/eval
cp tools/study/runs/index.json.txt "$tmp/index.json.txt"
STUDY_DIR="$tmp/collected" STUDY_INDEX=tools/study/smoke-runs/index.json.txt python3 tools/study/collect.py --session smoke "$tmp/out" --no-fits
grep -c "not run yet" "$tmp/collected/tables.md" | sed 's/^/runs not in the smoke session: /'
ls "$tmp/collected/plots"
echo "smoke test folder: $tmp"
