package deaot

import (
	"testing"

	"samtrack/tracker/deaot/sidecar"
)

// FuzzManifest: any propagator sidecar (propagator.json) is refused or
// accepted with file names that stay inside the model directory. Seeds:
// testdata/fuzz/FuzzManifest.
func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"format": "x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := sidecar.Parse(data, "propagator.json")
		if err != nil {
			return
		}
		if err := m.Check(); err != nil {
			t.Fatalf("accepted sidecar fails its check: %v", err)
		}
	})
}
