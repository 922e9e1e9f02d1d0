package onnxpb_test

import (
	"math"
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
