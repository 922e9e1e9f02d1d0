// Package onnxedit rewrites ONNX model graphs on top of the one ONNX codec,
// models/onnxpb: it prunes a graph to some of its outputs together with the
// nodes and initializers they need, splits off the half of a graph that
// does not depend on some inputs (computed once, fed to the rest), inlines
// initializer data stored in external files, and decodes a graph into an
// editable Graph (topological sort, pruning, common-subexpression
// elimination, constant lookup, adding nodes and initializers). It knows
// no model family: package segment says which SAM decoder outputs to keep
// and which attention blocks to reassociate, and calls it.
package onnxedit

import (
	"fmt"

	"samtrack/models/onnxpb"
)

// liveNodes walks the graph's nodes backwards (they are in topological
// order) and marks those whose outputs are needed, adding their inputs
// (and their subgraphs' outer inputs) to need as it goes. A value in cut is
// treated as given, so the node producing it is not kept for its sake.
func liveNodes(fs []onnxpb.Field, need, cut map[string]bool) []bool {
	keep := make([]bool, len(fs))
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		if f.Num != onnxpb.FieldGraphNode || !f.IsBytes() {
			continue
		}
		used := false
		for _, o := range onnxpb.Strings(f.Payload, onnxpb.FieldNodeOutput) {
			used = used || (need[o] && !cut[o])
		}
		if !used {
			continue
		}
		keep[i] = true
		for _, in := range onnxpb.Strings(f.Payload, onnxpb.FieldNodeInput) {
			need[in] = true
		}
		for _, in := range onnxpb.SubgraphInputs(f.Payload) {
			need[in] = true
		}
	}
	return keep
}

// PruneToOutputs rewrites model so that its graph has only the outputs in
// keep and only the nodes and initializers they depend on. ONNX Runtime
// does not drop nodes that feed no requested output (measured on the SAM
// ViT-B decoder: an iou_predictions-only graph that keeps the dead nodes
// still runs the mask upscaling and the full-size Resize), so they are
// removed here. Graph inputs are kept as declared, so callers feed the
// same tensors as before. Every kept field is copied byte for byte.
func PruneToOutputs(model []byte, keep []string) ([]byte, error) {
	if len(keep) == 0 {
		return nil, errNoOutput
	}
	top, graph, err := onnxpb.GraphOf(model)
	if err != nil {
		return nil, fmt.Errorf("prune model: %w", err)
	}
	g, err := pruneGraph(graph, keep)
	if err != nil {
		return nil, err
	}
	return onnxpb.ReplaceGraph(top, g), nil
}

func pruneGraph(g []byte, keep []string) ([]byte, error) {
	fs, err := onnxpb.Fields(g)
	if err != nil {
		return nil, fmt.Errorf("parse ONNX graph: %w", err)
	}
	want := map[string]bool{}
	for _, k := range keep {
		want[k] = true
	}
	need := map[string]bool{}
	isInput := map[string]bool{}
	for _, f := range fs {
		switch n := entryName(f); {
		case f.Num == onnxpb.FieldGraphOutput && want[n]:
			need[n] = true
		case f.Num == onnxpb.FieldGraphInput:
			isInput[n] = true
		}
	}
	for _, k := range keep {
		if !need[k] {
			return nil, fmt.Errorf("prune model: graph has no output %q", k)
		}
	}
	keepNode := liveNodes(fs, need, nil)
	var out []byte
	for i, f := range fs {
		name := entryName(f)
		switch f.Num {
		case onnxpb.FieldGraphNode:
			if !keepNode[i] {
				continue
			}
		case onnxpb.FieldGraphOutput:
			if !want[name] {
				continue
			}
		case onnxpb.FieldGraphInitializer:
			// An initializer also declared as a graph input (IR < 4
			// models) stays, so that the input need not be fed.
			if !need[name] && !isInput[name] {
				continue
			}
		case onnxpb.FieldGraphValueInfo:
			if !need[name] {
				continue
			}
		}
		out = append(out, f.Raw...)
	}
	return out, nil
}

// entryName is the name of a graph initializer, input, output or value
// info ("" for other fields).
func entryName(f onnxpb.Field) string {
	switch f.Num {
	case onnxpb.FieldGraphInitializer:
		return onnxpb.String(f.Payload, onnxpb.FieldTensorName)
	case onnxpb.FieldGraphInput, onnxpb.FieldGraphOutput, onnxpb.FieldGraphValueInfo:
		return onnxpb.String(f.Payload, onnxpb.FieldValueName)
	}
	return ""
}
