#!/usr/bin/env bash
# Regenerate docs/embed-demo-synthetic-3.png, the picture in the README: the demo's checkpoint
# embeds the held-out synthetic-3 domain, projected to 2-D and coloured by class.
set -euo pipefail
cd "$(dirname "$0")/.."
run="$(mktemp -d -t graphfm-demo-XXXXXX)"
trap 'rm -rf "$run"' EXIT
graphfm demo --out "$run/demo"
graphfm embed --checkpoint "$run/demo" --dataset synthetic-3 --out "$run/synthetic-3.npy" \
  --plot docs/embed-demo-synthetic-3.png
