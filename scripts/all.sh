#!/usr/bin/env bash
# Regenerate every file in results/ (one benchmark after the other; hours on a 2-core CPU) and the
# README's embedding picture docs/embed-demo-synthetic-3.png.
set -euo pipefail
cd "$(dirname "$0")/.."
for bench in samgpt unigraph2 multimodal; do
  "scripts/$bench.sh" "$@"
done
scripts/plot-demo.sh
