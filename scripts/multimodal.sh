#!/usr/bin/env bash
# Regenerate results/multimodal.json and results/multimodal.md (see README, Benchmarks). Extra arguments are passed
# on, e.g. `scripts/multimodal.sh --quick --out /tmp/check` (a later --out wins over results).
set -euo pipefail
cd "$(dirname "$0")/.."
exec graphfm bench multimodal --out results "$@"
