#!/usr/bin/env bash
# The three fits and their plots (experiments/plots), constants printed and saved as JSON beside the PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-experiments/runs}
ptq=${2:-experiments/ptq}
mkdir -p experiments/plots
experiments/tern.sh fit --runs "$runs" --law chinchilla --out experiments/plots/chinchilla.png
experiments/tern.sh fit --runs "$runs" --law precision --out experiments/plots/precision.png
experiments/tern.sh fit --runs "$ptq" --law ptq --method gptq --out experiments/plots/ptq-gptq.png
