#!/usr/bin/env bash
# The whole CPU study: data once, the training grid (resumable: run it again after an interruption), then
# post-training quantization of the float checkpoints, then the fits and plots. Log: experiments/study.log
set -uo pipefail
cd "$(dirname "$0")/.."
experiments/prepare.sh
experiments/tern.sh sweep --grid experiments/grid.json
experiments/ptq.sh
experiments/fit.sh
