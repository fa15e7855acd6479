#!/usr/bin/env bash
# Regenerate results/unigraph2.json and results/unigraph2.md (see README, Benchmarks). Extra arguments are passed
# on, e.g. `scripts/unigraph2.sh --quick --out /tmp/check` (a later --out wins over results).
set -euo pipefail
cd "$(dirname "$0")/.."
exec graphfm bench unigraph2 --out results "$@"
