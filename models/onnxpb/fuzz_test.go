package onnxpb_test

import (
	"slices"
	"testing"

	"samtrack/models/onnxedit"
	"samtrack/models/onnxpb"
)

// FuzzSignature: any bytes read as an ONNX model are refused or give a
// signature, and pruning to one output (onnxedit.PruneToOutputs, which
// reads the model through this package) keeps exactly that output. Seeds:
// testdata/fuzz/FuzzSignature.
func FuzzSignature(f *testing.F) {
	g := onnxpb.NewGraph("seed")
	x := g.Input("x", onnxpb.Float, 1, 3)
	g.Output("y", g.Op("Relu", x), onnxpb.Float, 1, 3)
	if b, err := g.Model(); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, model []byte) {
		_, outs, err := onnxpb.Signature(model)
		if err != nil || len(outs) == 0 {
			return
		}
		pruned, err := onnxedit.PruneToOutputs(model, outs[:1])
		if err != nil {
			return
		}
		_, got, err := onnxpb.Signature(pruned)
		if err != nil || !slices.Equal(got, outs[:1]) {
			t.Fatalf("pruned to %v, signature says %v (%v)", outs[:1], got, err)
		}
	})
}
