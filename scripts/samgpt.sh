#!/usr/bin/env bash
# Regenerate results/samgpt.json and results/samgpt.md (see README, Benchmarks). Extra arguments are passed
# on, e.g. `scripts/samgpt.sh --quick --out /tmp/check` (a later --out wins over results).
set -euo pipefail
cd "$(dirname "$0")/.."
exec graphfm bench samgpt --out results "$@"
