package onnxpb

import (
	"slices"
	"testing"
)

// FuzzSignature: any bytes read as an ONNX model are refused or give a
// signature, and pruning to one output keeps exactly that output. Seeds:
// testdata/fuzz/FuzzSignature.
func FuzzSignature(f *testing.F) {
	g := NewGraph("seed")
	x := g.Input("x", Float, 1, 3)
	g.Output("y", g.Op("Relu", x), Float, 1, 3)
	if b, err := g.Model(); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, model []byte) {
		_, outs, err := Signature(model)
		if err != nil || len(outs) == 0 {
			return
		}
		pruned, err := KeepOutputs(model, outs[:1])
		if err != nil {
			return
		}
		_, got, err := Signature(pruned)
		if err != nil || !slices.Equal(got, outs[:1]) {
			t.Fatalf("pruned to %v, signature says %v (%v)", outs[:1], got, err)
		}
	})
}
