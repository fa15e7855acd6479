#!/usr/bin/env bash
# Regenerate every standing results file, results/{samgpt,samgpt_curve,unigraph2,text,text_curve,multimodal,scale}.*
# (one benchmark after the other; hours on a 2-core CPU), and the README's embedding picture
# docs/embed-demo-synthetic-3.png. The studies in results/studies/ are not rerun (see their README).
# scripts/check_results.py compares one seed of each with the committed files instead.
set -euo pipefail
cd "$(dirname "$0")/.."
for bench in samgpt samgpt_curve unigraph2 text text_curve multimodal scale; do
  "scripts/$bench.sh" "$@"
done
scripts/plot-demo.sh
