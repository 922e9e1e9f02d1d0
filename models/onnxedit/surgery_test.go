package onnxedit_test

import (
	"slices"
	"strings"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/models/onnxedit"
	"samtrack/models/onnxpb"
	"samtrack/ort"
)

func openORT(t *testing.T) *ort.Runtime {
	t.Helper()
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(t, err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func run(t *testing.T, rt *ort.Runtime, model []byte, in map[string]ort.Tensor) map[string]ort.Tensor {
	t.Helper()
	s, err := rt.NewSessionFromBytes("test", model, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer s.Close()
	out, err := s.Run(in)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return out
}

// promptModel is y = (frame·W + 1) ⊙ prompt + ΣShape(prompt): frame·W + 1 does not depend on the prompt's values, so a
// split computes it once; Shape(prompt) reads only the prompt's shape.
func promptModel(t *testing.T) []byte {
	t.Helper()
	g := onnxpb.NewGraph("split")
	frame := g.Input("frame", onnxpb.Float, 1, 4)
	prompt := g.Input("prompt", onnxpb.Float, 1, 4)
	w := g.Const(onnxpb.F32([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 4, 4))
	f := g.Op("Add", g.Op("MatMul", frame, w), g.Scalar(1))
	shape := g.OpA("Cast", []string{g.Op("Shape", prompt)}, onnxpb.AttrInt("to", int64(onnxpb.Float))) // the prompt's shape, not its values
	y := g.Op("Mul", f, prompt)
	g.Output("y", g.Op("Add", y, g.Op("ReduceSum", shape)), onnxpb.Float, 1, 4)
	g.Output("frame_only", f, onnxpb.Float, 1, 4)
	m, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSplitFrameConstantAndPromptGraph(t *testing.T) {
	rt := openORT(t)
	full := promptModel(t)
	if _, _, err := onnxedit.SplitFrameConstant(full, []string{"prompt"}); err == nil || !strings.Contains(err.Error(), "frame_only") {
		t.Fatalf("an output that does not depend on the prompt: err = %v", err)
	}
	model, err := onnxedit.PruneToOutputs(full, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	pre, boundary, err := onnxedit.SplitFrameConstant(model, []string{"prompt"})
	if err != nil {
		t.Fatal(err)
	}
	// frame·W + 1 and the sum of the prompt's shape.
	if len(boundary) != 2 || !strings.HasPrefix(boundary[0], "Add") || !strings.HasPrefix(boundary[1], "ReduceSum") {
		t.Fatalf("boundary %v, want frame·W + 1 and the prompt shape's sum", boundary)
	}
	in := map[string]ort.Tensor{
		"frame":  ort.F32Tensor([]float32{0.5, -1, 2, 0.25}, 1, 4),
		"prompt": ort.F32Tensor([]float32{3, 1, -2, 0.5}, 1, 4),
	}
	frameOut := run(t, rt, pre, in)
	b, sum := frameOut[boundary[0]], frameOut[boundary[1]]
	if len(frameOut) != 2 || len(b.F32) != 4 || !slices.Equal(sum.F32, []float32{5}) {
		t.Fatalf("pre graph gave %v", frameOut)
	}
	half, err := onnxedit.PromptGraph(model, []onnxedit.Boundary{
		{Name: boundary[0], Elem: onnxpb.Float, Shape: b.Shape},
		{Name: boundary[1], Elem: onnxpb.Float, Shape: sum.Shape},
	}, []string{"y"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ops := opTypes(t, half); slices.Contains(ops, "MatMul") || slices.Contains(ops, "Shape") {
		t.Errorf("per-prompt graph still computes the frame product: %v", ops)
	}
	got := run(t, rt, half, map[string]ort.Tensor{"prompt": in["prompt"], boundary[0]: b, boundary[1]: sum})["y"].F32
	want := run(t, rt, model, in)["y"].F32
	if !slices.Equal(got, want) {
		t.Errorf("split graphs give %v, the whole graph %v", got, want)
	}
	g := onnxpb.NewGraph("plain")
	g.Output("y", g.Op("Relu", g.Input("x", onnxpb.Float, 1, 4)), onnxpb.Float, 1, 4)
	plain, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := onnxedit.SplitFrameConstant(plain, []string{"x"}); err == nil || !strings.Contains(err.Error(), "no frame-constant work") {
		t.Errorf("a split with no frame-constant work: err = %v", err)
	}
}

// TestCSE builds a graph that computes one product twice (equal weights
// under two names, one behind an Identity) and checks that CSE merges it
// and that the result computes the same.
func TestCSE(t *testing.T) {
	rt := openORT(t)
	g := onnxpb.NewGraph("cse")
	x := g.Input("x", onnxpb.Float, 2, 2)
	w1 := g.Const(onnxpb.F32([]float32{1, 2, 3, 4}, 2, 2))
	w2 := g.Op("Identity", g.Const(onnxpb.F32([]float32{1, 2, 3, 4}, 2, 2)))
	a := g.Op("Relu", g.Op("MatMul", x, w1))
	b := g.Op("Relu", g.Op("MatMul", x, w2))
	g.Output("y", g.Op("Add", a, b), onnxpb.Float, 2, 2)
	model, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	eg, err := onnxedit.Parse(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := eg.SortAndPrune(); err != nil {
		t.Fatal(err)
	}
	eg.CSE()
	if err := eg.SortAndPrune(); err != nil {
		t.Fatal(err)
	}
	out, err := eg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ops := opTypes(t, out)
	if !slices.Equal(ops, []string{"MatMul", "Relu", "Add", "Identity"}) {
		t.Errorf("after CSE the graph runs %v, want one MatMul and one Relu", ops)
	}
	in := map[string]ort.Tensor{"x": ort.F32Tensor([]float32{1, -2, 0.5, 3}, 2, 2)}
	if got, want := run(t, rt, out, in)["y"].F32, run(t, rt, model, in)["y"].F32; !slices.Equal(got, want) {
		t.Errorf("after CSE y = %v, want %v", got, want)
	}
}

// TestGraphConstantsAndEdits reads constants through Identity and
// Constant nodes and checks that added nodes and initializers compute
// what they say.
func TestGraphConstantsAndEdits(t *testing.T) {
	rt := openORT(t)
	g := onnxpb.NewGraph("edit")
	x := g.Input("x", onnxpb.Float, 1, 3)
	c := g.OpA("Constant", nil, onnxpb.AttrTensor("value", onnxpb.F32([]float32{2}))) // scalar
	s := g.Op("Identity", g.Scalar(0.5))
	g.Output("y", g.Op("Mul", g.Op("Mul", x, c), s), onnxpb.Float, 1, 3)
	model, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	eg, err := onnxedit.Parse(model)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := eg.Scalar(c); !ok || v != 2 {
		t.Errorf("Constant node value = %v, %v; want 2", v, ok)
	}
	if v, ok := eg.Scalar(s); !ok || v != 0.5 {
		t.Errorf("initializer through Identity = %v, %v; want 0.5", v, ok)
	}
	if _, ok := eg.Constant(x); ok {
		t.Error("a graph input read as a constant")
	}
	// y's producer is the Identity the builder adds; it is replaced by
	// Reshape(in + [1 2 3], [1 3]), in = (x·2)·0.5.
	y := eg.Producer("y")
	eg.RemoveProducer("y")
	sum := eg.Add("Add", []string{y.In[0], eg.InitF32("bias", []int64{3}, []float32{1, 2, 3})})
	eg.AddTo("Reshape", []string{sum, eg.InitI64(1, 3)}, "y")
	if err := eg.SortAndPrune(); err != nil {
		t.Fatal(err)
	}
	out, err := eg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got := run(t, rt, out, map[string]ort.Tensor{"x": ort.F32Tensor([]float32{1, 2, 3}, 1, 3)})["y"].F32
	if want := []float32{2, 4, 6}; !slices.Equal(got, want) {
		t.Errorf("edited graph gives %v, want %v", got, want)
	}
	eg.Add("Transpose", []string{"y"}, onnxpb.AttrTensor("perm", onnxpb.I64([]int64{1}, 2)))
	if _, err := eg.Encode(); err == nil {
		t.Error("a bad attribute was encoded")
	}
}
