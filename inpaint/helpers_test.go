package inpaint

import (
	"testing"

	"samtrack/internal/testenv"
)

// need skips a test whose data or tool is missing, and fails it under CI
// (CI=true), where nothing may be skipped silently.
func need(t testing.TB, why string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	testenv.Missing(t, "%s: %v", why, err)
}
