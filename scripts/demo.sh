#!/usr/bin/env bash
# The demo: samtrack on the bundled sample with built-in defaults (no model
# weights needed). Run through `./dev.sh demo`, which sets up and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/demo
mkdir -p "$out"
bin/samtrack version
bin/samtrack segment --image testdata/sample.png --point 150,120 --out "$out/disc.png"
bin/samtrack segment --image testdata/sample.png --box 290,50,480,180 --out "$out/rectangle.json"
echo "demo: wrote $out/disc.png and $out/rectangle.json"
