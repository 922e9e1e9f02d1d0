package onnxedit

import (
	"errors"
	"fmt"

	"samtrack/models/onnxpb"
)

// SplitFrameConstant cuts a graph for prompts whose tensors always have
// the same shapes (everything mode: one click and the padding point). A
// tensor is prompt-dependent when it is computed from the values of
// promptInputs; Shape and Size read only shapes, so their outputs are not.
// Every other tensor computed from the remaining inputs (image embedding,
// mask_input, ...) is the same for every prompt on a frame. The boundary
// lists those frame tensors read by prompt-dependent nodes; pre is the
// graph that computes them from the original inputs, to be run once per
// frame (PromptGraph builds the other half). For the SAM ViT-B decoder this
// moves the first two-way attention layer's image-side projections (a
// third of the IoU head's work) out of the per-prompt graph.
func SplitFrameConstant(model []byte, promptInputs []string) (pre []byte, boundary []string, err error) {
	top, graph, err := onnxpb.GraphOf(model)
	if err != nil {
		return nil, nil, err
	}
	fs, err := onnxpb.Fields(graph)
	if err != nil {
		return nil, nil, fmt.Errorf("parse ONNX graph: %w", err)
	}
	c := classify(fs, promptInputs)
	for _, f := range fs {
		if f.Num == onnxpb.FieldGraphOutput {
			if n := entryName(f); !c.varT[n] {
				return nil, nil, fmt.Errorf("output %q does not depend on the prompt; nothing to split", n)
			}
		}
	}
	boundary = c.boundary()
	if len(boundary) == 0 {
		return nil, nil, errors.New("no frame-constant work to split off")
	}
	// pre: the same graph with the boundary as its outputs, pruned.
	g := append([]byte(nil), graph...)
	for _, b := range boundary {
		g = onnxpb.AppendField(g, onnxpb.FieldGraphOutput, onnxpb.NamedValue(b))
	}
	pre, err = PruneToOutputs(onnxpb.ReplaceGraph(top, g), boundary)
	return pre, boundary, err
}

// split is the classification of a graph's tensors for SplitFrameConstant.
type split struct {
	varT   map[string]bool // depends on the prompt inputs' values
	constT map[string]bool // depends on initializers only
	nodes  []splitNode
}

type splitNode struct{ ins, outs []string }

func classify(fs []onnxpb.Field, promptInputs []string) *split {
	c := &split{varT: map[string]bool{}, constT: map[string]bool{}}
	for _, s := range promptInputs {
		c.varT[s] = true
	}
	for _, f := range fs {
		if f.Num == onnxpb.FieldGraphInitializer {
			c.constT[entryName(f)] = true
		}
	}
	for _, f := range fs {
		if f.Num == onnxpb.FieldGraphNode && f.IsBytes() {
			c.addNode(f.Payload)
		}
	}
	return c
}

func (c *split) addNode(node []byte) {
	n := splitNode{ins: onnxpb.Strings(node, onnxpb.FieldNodeInput), outs: onnxpb.Strings(node, onnxpb.FieldNodeOutput)}
	op := onnxpb.String(node, onnxpb.FieldNodeOpType)
	isVar, isConst := false, true
	for _, in := range n.ins {
		if in == "" {
			continue
		}
		isVar = isVar || c.varT[in]
		isConst = isConst && c.constT[in]
	}
	if op == "Shape" || op == "Size" {
		isVar = false
	}
	if sub := onnxpb.SubgraphInputs(node); len(sub) > 0 {
		isVar, isConst = true, false
	}
	for _, o := range n.outs {
		if isVar {
			c.varT[o] = true
		} else if isConst {
			c.constT[o] = true
		}
	}
	c.nodes = append(c.nodes, n)
}

// boundary lists the frame tensors read by prompt-dependent nodes, in
// node order.
func (c *split) boundary() []string {
	var boundary []string
	seen := map[string]bool{}
	for _, n := range c.nodes {
		isVar := false
		for _, o := range n.outs {
			isVar = isVar || c.varT[o]
		}
		if !isVar {
			continue
		}
		for _, in := range n.ins {
			if in != "" && !c.varT[in] && !c.constT[in] && !seen[in] {
				seen[in] = true
				boundary = append(boundary, in)
			}
		}
	}
	return boundary
}

// Boundary describes one tensor the per-prompt half of a split reads as
// an input: its name, element type and shape, as the pre graph produced
// it.
type Boundary struct {
	Name  string
	Elem  onnxpb.DType
	Shape []int64
}

// PromptGraph is the per-prompt half of a split: model pruned to keep,
// with the boundary tensors as inputs instead of computed. Only the inputs
// it still reads are declared. alias maps boundary tensors to an identical
// one (exports that compute the same value twice): reading one name lets
// ONNX Runtime's common-subexpression elimination merge the duplicated
// per-prompt work again, as it does in the unsplit graph.
func PromptGraph(model []byte, boundary []Boundary, keep []string, alias map[string]string) ([]byte, error) {
	top, fs, err := graphFields(model)
	if err != nil {
		return nil, err
	}
	if len(alias) > 0 {
		for i, f := range fs {
			if f.Num == onnxpb.FieldGraphNode && f.IsBytes() {
				n := onnxpb.RenameInputs(f.Payload, alias)
				fs[i] = onnxpb.Field{Num: f.Num, Typ: f.Typ, Raw: onnxpb.AppendField(nil, onnxpb.FieldGraphNode, n), Payload: n}
			}
		}
	}
	isB := map[string]bool{}
	for _, b := range boundary {
		isB[b.Name] = true
	}
	want := map[string]bool{}
	need := map[string]bool{}
	for _, k := range keep {
		want[k] = true
		need[k] = true
	}
	keepNode := liveNodes(fs, need, isB)
	var g []byte
	for i, f := range fs {
		if keepPromptField(f, keepNode[i], want, need, isB) {
			g = append(g, f.Raw...)
		}
	}
	for _, b := range boundary {
		if need[b.Name] {
			g = onnxpb.AppendField(g, onnxpb.FieldGraphInput, onnxpb.TensorValue(b.Name, b.Elem, b.Shape))
		}
	}
	return onnxpb.ReplaceGraph(top, g), nil
}

// keepPromptField says whether PromptGraph keeps graph field f.
func keepPromptField(f onnxpb.Field, liveNode bool, want, need, isB map[string]bool) bool {
	n := entryName(f)
	switch f.Num {
	case onnxpb.FieldGraphNode:
		return liveNode
	case onnxpb.FieldGraphInput, onnxpb.FieldGraphInitializer:
		return need[n]
	case onnxpb.FieldGraphOutput:
		return want[n]
	case onnxpb.FieldGraphValueInfo:
		return need[n] && !isB[n]
	}
	return true
}
