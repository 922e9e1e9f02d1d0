#!/usr/bin/env bash
# The demo: samtrack on the bundled sample with built-in defaults (no model
# weights needed: GrabCut segments the prompts, optical flow tracks them).
# Run through `./dev.sh demo`, which sets up and builds first. It can run
# any number of times: each run replaces the last one's output.
# DEMO_BIN and DEMO_OUT change the binary and the output folder (the
# test that runs this script uses them).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DEMO_BIN:-bin/samtrack}
out=${DEMO_OUT:-out/demo}
mkdir -p "$out"
"$bin" version
"$bin" segment --image testdata/sample.png --point 150,120 --out "$out/disc.png"
"$bin" track testdata/sample.mp4 --prompts testdata/sample_prompts.json --out "$out/track" --overwrite
echo "demo: wrote $out/disc.png and $out/track/ (masks/, annotations.json, tracks.json, overlay.mp4)"
