package inpaint

import (
	"os"
	"os/exec"
	"testing"
)

// need skips a test whose data or tool is missing, and fails it under CI
// (CI=true), where nothing may be skipped silently.
func need(t testing.TB, why string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (required under CI=true): %v", why, err)
	}
	t.Skipf("%s: %v", why, err)
}

// tool finds a command (ffmpeg, ffprobe) that scripts/setup.sh installs.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	need(t, name+" not installed: run scripts/setup.sh (apt-get install ffmpeg)", err)
	return p
}
