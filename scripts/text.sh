#!/usr/bin/env bash
# Regenerate results/text.json and results/text.md (see README, Text graphs). Extra arguments are passed
# on, e.g. `scripts/text.sh --quick --out /tmp/check` (a later --out wins over results).
set -euo pipefail
cd "$(dirname "$0")/.."
exec graphfm bench text --out results "$@"
