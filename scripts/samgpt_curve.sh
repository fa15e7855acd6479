#!/usr/bin/env bash
# Regenerate results/samgpt_curve.{json,md,png} (see README, Benchmarks): two seeds, as committed (the
# convergence runs dominate the time). Extra arguments are passed on, e.g.
# `scripts/samgpt_curve.sh --quick --out /tmp/check` (a later --out wins over results).
set -euo pipefail
cd "$(dirname "$0")/.."
exec graphfm bench samgpt_curve --seeds 2 --out results "$@"
