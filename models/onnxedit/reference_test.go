package onnxedit_test

import (
	"math"
	"os"
	"slices"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/models/onnxedit"
	"samtrack/models/onnxpb"
	"samtrack/ort"
)

// refDecoder is the official SAM ViT-B decoder export (../shared/fixtures).
const refDecoder = "../../../shared/fixtures/sam-reference/decoder.onnx"

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		testenv.Missing(t, "fixture %s missing (needs /work/shared next to the repository)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refInputs is one click on a zero embedding of a picture h×w, fed to the
// reference decoder.
func refInputs(h, w float32) map[string]ort.Tensor {
	return map[string]ort.Tensor{
		"image_embeddings": ort.F32Tensor(make([]float32, 256*64*64), 1, 256, 64, 64),
		"point_coords":     ort.F32Tensor([]float32{500, 300, 0, 0}, 1, 2, 2),
		"point_labels":     ort.F32Tensor([]float32{1, -1}, 1, 2),
		"mask_input":       ort.F32Tensor(make([]float32, 256*256), 1, 1, 256, 256),
		"has_mask_input":   ort.F32Tensor([]float32{0}, 1),
		"orig_im_size":     ort.F32Tensor([]float32{h, w}, 2),
	}
}

// TestPruneToOutputsOnSAMReference prunes the official decoder to the two
// outputs everything mode reads: the kept outputs compute bit for bit what
// the full graph does, and the mask upscaling is gone.
func TestPruneToOutputsOnSAMReference(t *testing.T) {
	rt := openORT(t)
	full := readFixture(t, refDecoder)
	in, out, err := onnxpb.Signature(full)
	if err != nil {
		t.Fatal(err)
	}
	wantIn := []string{"image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"}
	if !slices.Equal(in, wantIn) || !slices.Equal(out, []string{"masks", "iou_predictions", "low_res_masks"}) {
		t.Fatalf("Signature = %v -> %v", in, out)
	}
	// Keep order follows the model, not the argument.
	slim, err := onnxedit.PruneToOutputs(full, []string{"low_res_masks", "iou_predictions"})
	if err != nil {
		t.Fatal(err)
	}
	_, sout, err := onnxpb.Signature(slim)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sout, []string{"iou_predictions", "low_res_masks"}) {
		t.Fatalf("outputs after pruning = %v", sout)
	}
	if in2, _, _ := onnxpb.Signature(slim); !slices.Equal(in2, wantIn) {
		t.Errorf("pruning changed the inputs to %v; callers feed the same tensors", in2)
	}
	count := func(model []byte, op string) int {
		return len(slices.DeleteFunc(opTypes(t, model), func(s string) bool { return s != op }))
	}
	if a, b := count(full, "Resize"), count(slim, "Resize"); b >= a {
		t.Errorf("pruned graph keeps %d of %d Resize nodes; the mask upscaling should go", b, a)
	}

	inputs := refInputs(480, 854)
	for i := range inputs["image_embeddings"].F32 {
		inputs["image_embeddings"].F32[i] = float32(math.Sin(float64(i) * 0.001))
	}
	run := func(model []byte) map[string]ort.Tensor {
		s, err := rt.NewSessionFromBytes("decoder", model, ort.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		res, err := s.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(full), run(slim)
	if _, ok := b["masks"]; ok {
		t.Error("slim model still returns masks")
	}
	for _, name := range []string{"iou_predictions", "low_res_masks"} {
		if !slices.Equal(a[name].Shape, b[name].Shape) {
			t.Fatalf("%s shape %v vs %v", name, a[name].Shape, b[name].Shape)
		}
		for i := range a[name].F32 {
			if a[name].F32[i] != b[name].F32[i] {
				t.Fatalf("%s[%d] = %v in the slim model, %v in the full one", name, i, b[name].F32[i], a[name].F32[i])
			}
		}
	}

	for _, bad := range [][]string{nil, {"nope"}, {"masks", "nope"}} {
		if _, err := onnxedit.PruneToOutputs(full, bad); err == nil {
			t.Errorf("PruneToOutputs(%v) succeeded, want an error", bad)
		}
	}
}

// BenchmarkPruneToOutputs compares the reference SAM decoder with all
// outputs against the same model pruned to iou_predictions and
// low_res_masks; the ratio shows the postprocessing work pruning removes.
func BenchmarkPruneToOutputs(b *testing.B) {
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(b, err)
	}
	defer rt.Close()
	full, err := os.ReadFile(refDecoder)
	if err != nil {
		testenv.Missing(b, "fixture missing: %v", err)
	}
	slim, err := onnxedit.PruneToOutputs(full, []string{"iou_predictions", "low_res_masks"})
	if err != nil {
		b.Fatal(err)
	}
	inputs := refInputs(1080, 1920)
	for _, bc := range []struct {
		name  string
		model []byte
		opts  ort.Options
	}{
		{"all_outputs", full, ort.Options{}},
		{"fetch_subset", full, ort.Options{Outputs: []string{"iou_predictions", "low_res_masks"}}},
		{"pruned", slim, ort.Options{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := rt.NewSessionFromBytes(bc.name, bc.model, bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				if _, err := s.Run(inputs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
