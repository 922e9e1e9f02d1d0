#!/usr/bin/env bash
# One-time, idempotent machine setup for samtrack on Debian 12:
# Debian packages (FFmpeg 5.1 dev, OpenCV 4.6 dev, build tools) and the
# ONNX Runtime 1.25.1 CPU library taken from the npm package and verified.
set -euo pipefail

ORT_VERSION=1.25.1
ORT_SHA256=18a8c9d6897f81d865728ffb2362536499739cb9cd1b62ed94f4aaccd9323ad7
ORT_BYTES=36905512
CACHE_DIR="${SAMTRACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/samtrack}"
ORT_DIR="$CACHE_DIR/onnxruntime-$ORT_VERSION"
ORT_LIB="$ORT_DIR/libonnxruntime.so"

DEB_PACKAGES=(
  build-essential pkg-config ca-certificates
  libopencv-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libswresample-dev libavfilter-dev libavdevice-dev ffmpeg chromium chromium-driver
  nats-server
)

command -v npm >/dev/null || DEB_PACKAGES+=(npm)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present"
fi

verify_ort() {
  [ -f "$ORT_LIB" ] || return 1
  [ "$(stat -c %s "$ORT_LIB")" = "$ORT_BYTES" ] || return 1
  echo "$ORT_SHA256  $ORT_LIB" | sha256sum -c --status
}

if verify_ort; then
  echo "setup: ONNX Runtime $ORT_VERSION present at $ORT_LIB"
else
  command -v npm >/dev/null || { echo "setup: npm is required to fetch ONNX Runtime (apt-get install npm)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "setup: fetching onnxruntime-node@$ORT_VERSION from npm"
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
  tar -xzf "$tmp"/onnxruntime-node-"$ORT_VERSION".tgz -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p "$ORT_DIR"
  mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ORT_LIB.part"
  got=$(sha256sum "$ORT_LIB.part" | cut -d' ' -f1)
  if [ "$got" != "$ORT_SHA256" ]; then
    rm -f "$ORT_LIB.part"
    echo "setup: libonnxruntime sha256 mismatch: got $got, want $ORT_SHA256" >&2
    exit 1
  fi
  mv "$ORT_LIB.part" "$ORT_LIB"
  echo "setup: ONNX Runtime $ORT_VERSION verified at $ORT_LIB"
fi
