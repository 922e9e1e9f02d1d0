#!/usr/bin/env bash
# samtrack developer entry point: ./dev.sh setup|build|test|demo|bench
#   setup  install Debian packages and ONNX Runtime 1.25.1 (idempotent, quick when done)
#   build  build bin/samtrack
#   test   vet and run the whole test suite (what CI runs)
#   demo   setup, build, and run samtrack on the bundled sample with built-in defaults
#   bench  run the benchmarks recorded in docs/BENCHMARKS.md
#   fuzz   run every fuzz target for a while (default 20s each; docs/SECURITY.md)
set -euo pipefail
cd "$(dirname "$0")"

need_go() {
  if ! command -v go >/dev/null; then
    if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; else
      echo "dev.sh: Go 1.26 is required (https://go.dev/dl); put it on PATH" >&2; exit 1
    fi
  fi
}

# The packages that must build without cgo (docs/ARCHITECTURE.md): the
# shared value types, the tracker loop, the writers, the evaluator, masks,
# configuration, the model catalogue, the ONNX codec and graph editor, the
# NATS link, and the service's job store, queue, streams, metrics, address
# guard and message rewriting. Fails when one of them pulls in FFmpeg, OpenCV
# or ONNX Runtime.
nativefree() {
  local pkgs="./media ./tracker ./export ./eval ./mask ./config ./models ./models/onnxpb ./models/onnxedit ./internal/natsbus ./internal/jobstore ./internal/queue ./internal/streams ./internal/metrics ./internal/netguard ./internal/publictext"
  if ! CGO_ENABLED=0 go build $pkgs; then
    echo "dev.sh: $pkgs must build with CGO_ENABLED=0" >&2
    exit 1
  fi
  local native
  native=$(CGO_ENABLED=0 go list -deps $pkgs | grep -E 'gocv|go-astiav|onnxruntime_go' || true)
  if [ -n "$native" ]; then
    echo "dev.sh: $pkgs must build without native code, but depend on: $native" >&2
    exit 1
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup)
    bash scripts/setup.sh
    ;;
  build)
    need_go
    mkdir -p bin
    go build -o bin/samtrack ./cmd/samtrack
    ;;
  test)
    need_go
    go vet ./...
    nativefree
    # Plain go test output, then the skipped tests and why (scripts/skipreport);
    # under CI=true a missing prerequisite fails its test, and any skip that is
    # not for aot-benchmark's source fails the run.
    go test -json -count=1 -timeout 30m "$@" ./... | go run ./scripts/skipreport
    ;;
  demo)
    bash scripts/setup.sh
    "$0" build
    bash scripts/demo.sh
    ;;
  bench)
    need_go
    go test -run '^$' -bench "${1:-.}" -benchtime 1x -timeout 60m ./...
    ;;
  fuzz)
    # `go test` already runs each target over its seed corpus
    # (PKG/testdata/fuzz/TARGET); this mutates beyond it. Go fuzzes one
    # target of one package per run.
    need_go
    fuzztime=${1:-20s}
    grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
      for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
        echo "fuzz $(dirname "$f") $name for $fuzztime"
        # Go's fuzzing coordinator can end a clean run with a bare "context
        # deadline exceeded" when the time is up while a worker is busy; that
        # run found nothing (a finding writes its failing input), so it is
        # run once more. Any other failure fails.
        if ! out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$(dirname "$f")" 2>&1); then
          echo "$out"
          if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
            echo "fuzz $name: the fuzzing coordinator's deadline flake, no failing input; running it again"
            go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$(dirname "$f")"
          else
            exit 1
          fi
        else
          echo "$out" | tail -n 2
        fi
      done
    done
    ;;
  *)
    sed -n '2,9p' "$0"; exit 2
    ;;
esac
