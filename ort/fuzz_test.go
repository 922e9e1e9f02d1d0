package ort

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzInspect: `samtrack models inspect` hands any file to ONNX Runtime;
// whatever the bytes, it answers with a signature or an error. Seeds:
// testdata/fuzz/FuzzInspect (models/onnxpb graphs, whole and damaged).
func FuzzInspect(f *testing.F) {
	rt := openRuntime(f)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, model []byte) {
		p := filepath.Join(dir, "model.onnx")
		if err := os.WriteFile(p, model, 0o600); err != nil {
			t.Fatal(err)
		}
		in, out, err := rt.Inspect(p)
		if err != nil {
			return
		}
		for _, io := range append(in, out...) {
			if io.Name == "" && io.TypeName == "" {
				t.Fatalf("an input or output without a name or type: %+v", io)
			}
		}
	})
}
