#!/usr/bin/env bash
# Regenerate results/text_curve.json and results/text_curve.md (and .png) (see README, Text graphs). Extra arguments are passed
# on, e.g. `scripts/text_curve.sh --quick --out /tmp/check` (a later --out wins over results).
set -euo pipefail
cd "$(dirname "$0")/.."
exec graphfm bench text_curve --out results "$@"
