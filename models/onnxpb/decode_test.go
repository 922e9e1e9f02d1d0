package onnxpb_test

import (
	"slices"
	"strings"
	"testing"

	"samtrack/models/onnxpb"
)

func TestTensorRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    onnxpb.Tensor
	}{
		{"float matrix", onnxpb.F32([]float32{1, -2.5, 3, 4e-7, 5, 6}, 2, 3)},
		{"float scalar", onnxpb.F32([]float32{0.125})},
		{"int64 vector", onnxpb.I64([]int64{-1, 0, 1 << 40}, 3)},
		{"empty int64", onnxpb.I64([]int64{}, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := onnxpb.EncodeTensor("c", tc.t)
			if err != nil {
				t.Fatal(err)
			}
			got, err := onnxpb.DecodeTensor(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.DType() != tc.t.DType() || !slices.Equal(got.Dims, tc.t.Dims) || !slices.Equal(got.F32, tc.t.F32) || !slices.Equal(got.I64, tc.t.I64) {
				t.Errorf("decoded %+v, encoded %+v", got, tc.t)
			}
			if onnxpb.String(b, onnxpb.FieldTensorName) != "c" {
				t.Errorf("name lost")
			}
		})
	}
	if _, err := onnxpb.EncodeTensor("bad", onnxpb.F32([]float32{1, 2}, 3)); err == nil {
		t.Error("a tensor with too few values encoded")
	}
	b, _ := onnxpb.EncodeTensor("bools", onnxpb.Tensor{Dims: []int64{2}, Bool: []bool{true, false}})
	if _, err := onnxpb.DecodeTensor(b); err == nil || !strings.Contains(err.Error(), "not handled") {
		t.Errorf("bool tensor: err = %v", err)
	}
}

func TestExternalDataRoundTrip(t *testing.T) {
	b, err := onnxpb.EncodeTensor("w", onnxpb.F32([]float32{1, 2, 3, 4}, 4))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := onnxpb.ExternalData(b); ok || err != nil {
		t.Fatalf("inline tensor read as external (ok=%v, err=%v)", ok, err)
	}
	ext, data, ok, err := onnxpb.Externalize(b, onnxpb.External{Location: "w.bin", Offset: 64}, 8)
	if err != nil || !ok || len(data) != 16 {
		t.Fatalf("externalize: ok=%v err=%v, %d bytes", ok, err, len(data))
	}
	if _, err := onnxpb.DecodeTensor(ext); err == nil || !strings.Contains(err.Error(), "external") {
		t.Errorf("external tensor decoded: err = %v", err)
	}
	ref, rest, ok, err := onnxpb.ExternalData(ext)
	if err != nil || !ok || ref != (onnxpb.External{Location: "w.bin", Offset: 64, Length: 16}) {
		t.Fatalf("external data %+v ok=%v err=%v", ref, ok, err)
	}
	back, err := onnxpb.DecodeTensor(onnxpb.WithRawData(rest, data))
	if err != nil || !slices.Equal(back.F32, []float32{1, 2, 3, 4}) {
		t.Errorf("inlined again: %v, %v", back.F32, err)
	}
}

func TestNodeRoundTrip(t *testing.T) {
	g := onnxpb.NewGraph("n")
	x := g.Input("x", onnxpb.Float, 2, 3)
	y := g.OpA("Transpose", []string{x}, onnxpb.AttrInts("perm", 1, 0))
	g.Output("y", g.OpA("Softmax", []string{y}, onnxpb.AttrInt("axis", 0)), onnxpb.Float, 3, 2)
	m, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	_, graph, err := onnxpb.GraphOf(m)
	if err != nil {
		t.Fatal(err)
	}
	nodes := onnxpb.Strings(graph, onnxpb.FieldGraphNode)
	if len(nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(nodes))
	}
	tr, err := onnxpb.DecodeNode([]byte(nodes[0]))
	if err != nil {
		t.Fatal(err)
	}
	if perm, ok := tr.AttrInts("perm"); tr.Op != "Transpose" || !ok || !slices.Equal(perm, []int64{1, 0}) || !slices.Equal(tr.In, []string{"x"}) {
		t.Errorf("decoded %+v (perm %v)", tr, perm)
	}
	if string(tr.Encode()) != nodes[0] {
		t.Error("a decoded node does not encode to the same bytes")
	}
	sm, _ := onnxpb.DecodeNode([]byte(nodes[1]))
	if sm.AttrInt("axis", -1) != 0 || sm.AttrInt("missing", 7) != 7 {
		t.Errorf("Softmax axis %d", sm.AttrInt("axis", -1))
	}
	renamed, _ := onnxpb.DecodeNode(onnxpb.RenameInputs([]byte(nodes[1]), map[string]string{tr.Out[0]: "z"}))
	if !slices.Equal(renamed.In, []string{"z"}) || renamed.Op != "Softmax" {
		t.Errorf("renamed node %+v", renamed)
	}
}
