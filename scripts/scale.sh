#!/usr/bin/env bash
# Regenerate results/scale.{json,md,png} (see README, Benchmarks): times and memory, so run it on an
# otherwise idle machine. Extra arguments are passed on, e.g. `scripts/scale.sh --quick --out /tmp/check`
# (a later --out wins over results).
set -euo pipefail
cd "$(dirname "$0")/.."
exec graphfm bench scale --out results "$@"
