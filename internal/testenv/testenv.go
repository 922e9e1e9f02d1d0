// Package testenv owns how tests treat a missing prerequisite: the shared
// data under ../shared, ONNX Runtime, or a tool such as ffmpeg. Locally a
// test without its prerequisite skips with a message naming what is missing
// and how to get it; under CI (CI=true) the same test fails with that
// message, so that a CI run never passes by skipping. `.ci/run` lists every
// skip that remains (scripts/skipreport).
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true, as CI services set).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips tb, or fails it under CI, saying what is missing.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("CI=true and a prerequisite is missing: %s", msg)
	}
	tb.Skip(msg)
}

// RequireShared checks that each path (shared data outside the repository,
// under ../shared) exists.
func RequireShared(tb testing.TB, paths ...string) {
	tb.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			Missing(tb, "shared data %s is missing (%v): the tests read ../shared next to the repository (see the READMEs under ../shared/data and ../shared/fixtures)", p, err)
		}
	}
}

// NoORT is for a failed ort.Open: ONNX Runtime is missing. (testenv does
// not open it itself so that package ort's own tests can use it too.)
func NoORT(tb testing.TB, err error) {
	tb.Helper()
	Missing(tb, "ONNX Runtime is not available (%v): run ./dev.sh setup", err)
}

// RequireTool checks that a program is on PATH (or at an absolute path).
func RequireTool(tb testing.TB, name, install string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, "%s is not installed (%v): %s", name, err, install)
	}
	return p
}
