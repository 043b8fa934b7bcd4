#!/usr/bin/env bash
# The whole CPU study: data once, the training grid (resumable: run it again after an interruption), then
# post-training quantization of the float checkpoints, then the fits and plots.
# Classes from $TERN_BUILD (default target-prec). Log: experiments/study.log
set -uo pipefail
cd "$(dirname "$0")/.."
experiments/prepare.sh
experiments/tern.sh sweep --grid experiments/grid.json
experiments/ptq.sh experiments/runs experiments/ptq
experiments/fit.sh experiments/runs experiments/ptq
