package inpaint

import (
	"os"
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
