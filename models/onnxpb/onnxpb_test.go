package onnxpb_test

import (
	"math"
	"os"
	"slices"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/models/onnxpb"
	"samtrack/ort"
)

func openRuntime(t *testing.T) *ort.Runtime {
	t.Helper()
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(t, err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// buildAttrModel uses every attribute kind and both initializer types:
//
//	y[n, c] = pad_edge(leaky(x, 0.1) * w + value_float + value_floats[c]
//	          + cast(value_ints[c]) + value_tensor[c]) transposed
func buildAttrModel(t *testing.T) []byte {
	t.Helper()
	g := onnxpb.NewGraph("attrs")
	x := g.Input("x", onnxpb.Float, "N", 3)
	w := g.Init("w", onnxpb.F32([]float32{1, 2, 3}, 1, 3))
	l := g.OpA("LeakyRelu", []string{x}, onnxpb.AttrFloat("alpha", 0.1))
	l = g.Op("Mul", l, w)
	cf := g.OpA("Constant", nil, onnxpb.AttrFloat("value_float", 2.5))
	cfs := g.OpA("Constant", nil, onnxpb.AttrFloats("value_floats", 10, 20, 30))
	cis := g.OpA("Constant", nil, onnxpb.AttrInts("value_ints", 100, 200, 300))
	cis = g.OpA("Cast", []string{cis}, onnxpb.AttrInt("to", int64(onnxpb.Float)))
	ct := g.OpA("Constant", nil, onnxpb.AttrTensor("value", onnxpb.F32([]float32{1000, 2000, 3000}, 3)))
	s := g.Op("Sum", l, cf, cfs, cis, ct)
	tr := g.OpA("Transpose", []string{s}, onnxpb.AttrInts("perm", 1, 0)) // [3, N]
	// pad one column on the right with edge values: [3, N+1]
	p := g.OpA("Pad", []string{tr, g.Ints(0, 0, 0, 1)}, onnxpb.AttrString("mode", "edge"))
	g.Output("y", p, onnxpb.Float, 3, "N1")
	m, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBuilderRunsInORT(t *testing.T) {
	rt := openRuntime(t)
	m := buildAttrModel(t)
	s, err := rt.NewSessionFromBytes("attrs", m, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Inputs()[0].Shape; !slices.Equal(got, []int64{-1, 3}) {
		t.Errorf("input shape %v, want [-1 3]", got)
	}
	x := []float32{1, -2, 3, -4, 5, 6}
	out, err := s.Run(map[string]ort.Tensor{"x": ort.F32Tensor(x, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	y := out["y"]
	if !slices.Equal(y.Shape, []int64{3, 3}) {
		t.Fatalf("y shape %v, want [3 3]", y.Shape)
	}
	for n := 0; n < 2; n++ {
		for c := 0; c < 3; c++ {
			v := x[n*3+c]
			if v < 0 {
				v *= 0.1
			}
			want := v*float32(c+1) + 2.5 + float32(10*(c+1)) + float32(100*(c+1)) + float32(1000*(c+1))
			got := y.F32[c*3+n]
			if math.Abs(float64(got-want)) > 1e-3 {
				t.Errorf("y[%d,%d] = %v, want %v", c, n, got, want)
			}
			if n == 1 && y.F32[c*3+2] != got {
				t.Errorf("edge pad y[%d,2] = %v, want %v", c, y.F32[c*3+2], got)
			}
		}
	}
}

func TestBuilderErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(g *onnxpb.Graph)
	}{
		{"undefined input", func(g *onnxpb.Graph) { g.Output("y", g.Op("Relu", "nope"), onnxpb.Float) }},
		{"undefined output source", func(g *onnxpb.Graph) { g.Output("y", "nope", onnxpb.Float) }},
		{"bad dim type", func(g *onnxpb.Graph) { x := g.Input("x", onnxpb.Float, 1.5); g.Output("y", x, onnxpb.Float) }},
		{"short initializer", func(g *onnxpb.Graph) {
			g.Output("y", g.Init("w", onnxpb.F32([]float32{1}, 2)), onnxpb.Float, 2)
		}},
		{"twice defined", func(g *onnxpb.Graph) {
			g.Input("x", onnxpb.Float, 1)
			x := g.Input("x", onnxpb.Float, 1)
			g.Output("y", x, onnxpb.Float, 1)
		}},
		{"zero attr", func(g *onnxpb.Graph) {
			x := g.Input("x", onnxpb.Float, 1)
			g.Output("y", g.OpA("Relu", []string{x}, onnxpb.Attr{}), onnxpb.Float, 1)
		}},
		{"no outputs", func(g *onnxpb.Graph) { g.Input("x", onnxpb.Float, 1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := onnxpb.NewGraph("bad")
			tc.build(g)
			if _, err := g.Model(); err == nil {
				t.Fatal("Model() succeeded, want an error")
			}
		})
	}
}

func TestSignature(t *testing.T) {
	m := buildAttrModel(t)
	in, out, err := onnxpb.Signature(m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, []string{"x"}) || !slices.Equal(out, []string{"y"}) {
		t.Errorf("Signature = %v, %v; want [x] [y] (initializer w excluded)", in, out)
	}
	for _, bad := range [][]byte{nil, {0xff, 0xff}, {0x08, 0x01}} {
		if _, _, err := onnxpb.Signature(bad); err == nil {
			t.Errorf("Signature(%x) succeeded, want an error", bad)
		}
	}
}

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

func TestKeepOutputsOnSAMDecoder(t *testing.T) {
	rt := openRuntime(t)
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
	slim, err := onnxpb.KeepOutputs(full, []string{"low_res_masks", "iou_predictions"})
	if err != nil {
		t.Fatal(err)
	}
	_, sout, err := onnxpb.Signature(slim)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sout, []string{"iou_predictions", "low_res_masks"}) {
		t.Fatalf("outputs after KeepOutputs = %v", sout)
	}
	if d := len(full) - len(slim); d <= 0 || d > 200 {
		t.Errorf("KeepOutputs changed the size by %d bytes; only one ValueInfoProto should go", d)
	}

	inputs := map[string]ort.Tensor{
		"image_embeddings": ort.F32Tensor(make([]float32, 256*64*64), 1, 256, 64, 64),
		"point_coords":     ort.F32Tensor([]float32{500, 300, 0, 0}, 1, 2, 2),
		"point_labels":     ort.F32Tensor([]float32{1, -1}, 1, 2),
		"mask_input":       ort.F32Tensor(make([]float32, 256*256), 1, 1, 256, 256),
		"has_mask_input":   ort.F32Tensor([]float32{0}, 1),
		"orig_im_size":     ort.F32Tensor([]float32{480, 854}, 2),
	}
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
		if _, err := onnxpb.KeepOutputs(full, bad); err == nil {
			t.Errorf("KeepOutputs(%v) succeeded, want an error", bad)
		}
	}
}

// BenchmarkKeepOutputs compares the reference SAM decoder with all outputs
// against the same model reduced to iou_predictions and low_res_masks; the
// ratio shows the postprocessing work that ONNX Runtime skips.
func BenchmarkKeepOutputs(b *testing.B) {
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(b, err)
	}
	defer rt.Close()
	full, err := os.ReadFile(refDecoder)
	if err != nil {
		testenv.Missing(b, "fixture missing: %v", err)
	}
	slim, err := onnxpb.KeepOutputs(full, []string{"iou_predictions", "low_res_masks"})
	if err != nil {
		b.Fatal(err)
	}
	inputs := map[string]ort.Tensor{
		"image_embeddings": ort.F32Tensor(make([]float32, 256*64*64), 1, 256, 64, 64),
		"point_coords":     ort.F32Tensor([]float32{500, 300, 0, 0}, 1, 2, 2),
		"point_labels":     ort.F32Tensor([]float32{1, -1}, 1, 2),
		"mask_input":       ort.F32Tensor(make([]float32, 256*256), 1, 1, 256, 256),
		"has_mask_input":   ort.F32Tensor([]float32{0}, 1),
		"orig_im_size":     ort.F32Tensor([]float32{1080, 1920}, 2),
	}
	for _, bc := range []struct {
		name  string
		model []byte
		opts  ort.Options
	}{
		{"all_outputs", full, ort.Options{}},
		{"fetch_subset", full, ort.Options{Outputs: []string{"iou_predictions", "low_res_masks"}}},
		{"keep_outputs", slim, ort.Options{}},
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
