#!/usr/bin/env bash
# The demo: samtrack on the bundled sample with built-in defaults (no model
# weights needed: GrabCut segments the prompts, optical flow tracks them).
# Run through `./dev.sh demo`, which sets up and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/demo
mkdir -p "$out"
bin/samtrack version
bin/samtrack segment --image testdata/sample.png --point 150,120 --out "$out/disc.png"
bin/samtrack track testdata/sample.mp4 --prompts testdata/sample_prompts.json --out "$out/track"
echo "demo: wrote $out/disc.png and $out/track/ (masks/, annotations.json, tracks.json, overlay.mp4)"
