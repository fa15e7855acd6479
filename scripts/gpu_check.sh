#!/usr/bin/env bash
# Run the GPU check (scale benchmark + bf16 steps of every objective) where CUDA exists;
# prints a notice and exits 0 where it does not. Usage: scripts/gpu_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/gpu_check.py --out "${1:-results/gpu}"
