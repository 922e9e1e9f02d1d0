package onnxedit

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"samtrack/models/onnxpb"
)

// Graph is a decoded ONNX model graph that can be edited and encoded
// again. Value infos are dropped (rewritten tensors change shape). Nodes
// with subgraphs are refused.
type Graph struct {
	top     []onnxpb.Field // model fields; the graph field is replaced on encode
	keep    [][]byte       // encoded graph fields other than nodes, initializers, value infos, inputs, outputs
	inputs  [][]byte       // ValueInfoProto payloads of the graph inputs
	outputs [][]byte       // ValueInfoProto payloads of the graph outputs
	Nodes   []*onnxpb.Node
	inits   map[string][]byte // TensorProto payloads by name
	initSeq []string          // initializer names in order
	fresh   int
	err     error // first failure of a builder method, returned by Encode

	prod    map[string]*onnxpb.Node   // producer of each tensor (after index)
	cons    map[string][]*onnxpb.Node // consumers of each tensor (after index)
	isInput map[string]bool           // graph inputs (after index)
}

// Parse decodes model's graph for editing.
func Parse(model []byte) (*Graph, error) {
	top, fs, err := graphFields(model)
	if err != nil {
		return nil, err
	}
	g := &Graph{top: top, inits: map[string][]byte{}}
	for _, f := range fs {
		if err := g.addField(f); err != nil {
			return nil, err
		}
	}
	g.index()
	return g, nil
}

func (g *Graph) addField(f onnxpb.Field) error {
	switch {
	case !f.IsBytes():
		g.keep = append(g.keep, f.Raw)
	case f.Num == onnxpb.FieldGraphNode:
		n, err := onnxpb.DecodeNode(f.Payload)
		if err != nil {
			return err
		}
		if n.HasSubgraph() {
			return fmt.Errorf("node %s (%s) has a subgraph; not rewritten", n.Name, n.Op)
		}
		g.Nodes = append(g.Nodes, n)
	case f.Num == onnxpb.FieldGraphInitializer:
		name := onnxpb.String(f.Payload, onnxpb.FieldTensorName)
		if _, dup := g.inits[name]; !dup {
			g.initSeq = append(g.initSeq, name)
		}
		g.inits[name] = f.Payload
	case f.Num == onnxpb.FieldGraphInput:
		g.inputs = append(g.inputs, f.Payload)
	case f.Num == onnxpb.FieldGraphOutput:
		g.outputs = append(g.outputs, f.Payload)
	case f.Num == onnxpb.FieldGraphValueInfo:
	default:
		g.keep = append(g.keep, f.Raw)
	}
	return nil
}

// graphFields splits model into its top-level fields and its graph's.
func graphFields(model []byte) (top, graph []onnxpb.Field, err error) {
	top, g, err := onnxpb.GraphOf(model)
	if err != nil {
		return nil, nil, err
	}
	graph, err = onnxpb.Fields(g)
	if err != nil {
		return nil, nil, fmt.Errorf("parse ONNX graph: %w", err)
	}
	return top, graph, nil
}

// InputNames lists the graph inputs.
func (g *Graph) InputNames() []string {
	var s []string
	for _, in := range g.inputs {
		s = append(s, onnxpb.String(in, onnxpb.FieldValueName))
	}
	return s
}

// OutputNames lists the graph outputs.
func (g *Graph) OutputNames() []string {
	var s []string
	for _, o := range g.outputs {
		s = append(s, onnxpb.String(o, onnxpb.FieldValueName))
	}
	return s
}

// index rebuilds the producer and consumer maps.
func (g *Graph) index() {
	g.prod = map[string]*onnxpb.Node{}
	g.cons = map[string][]*onnxpb.Node{}
	g.isInput = map[string]bool{}
	for _, in := range g.InputNames() {
		g.isInput[in] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Out {
			if o != "" {
				g.prod[o] = n
			}
		}
		for _, in := range n.In {
			if in != "" {
				g.cons[in] = append(g.cons[in], n)
			}
		}
	}
}

// Producer is the node computing tensor name, or nil.
func (g *Graph) Producer(name string) *onnxpb.Node { return g.prod[name] }

// Consumers are the nodes reading tensor name.
func (g *Graph) Consumers(name string) []*onnxpb.Node { return g.cons[name] }

// Only returns the single consumer of name, or nil.
func (g *Graph) Only(name string) *onnxpb.Node {
	if c := g.cons[name]; len(c) == 1 {
		return c[0]
	}
	return nil
}

// IsInput reports whether name is a graph input.
func (g *Graph) IsInput(name string) bool { return g.isInput[name] }

// Constant returns the value of a constant tensor: an initializer or a
// Constant node's value, through Identity nodes.
func (g *Graph) Constant(name string) (onnxpb.Tensor, bool) {
	for range 16 {
		if b, ok := g.inits[name]; ok {
			if g.isInput[name] {
				return onnxpb.Tensor{}, false // an overridable default
			}
			t, err := onnxpb.DecodeTensor(b)
			return t, err == nil
		}
		p := g.prod[name]
		if p == nil {
			return onnxpb.Tensor{}, false
		}
		switch p.Op {
		case "Identity":
			name = p.In[0]
			continue
		case "Constant":
			if a, ok := p.AttrTensor("value"); ok {
				t, err := onnxpb.DecodeTensor(a)
				return t, err == nil
			}
			if v, ok := p.AttrFloat("value_float"); ok {
				return onnxpb.F32([]float32{v}), true
			}
		}
		return onnxpb.Tensor{}, false
	}
	return onnxpb.Tensor{}, false
}

// Scalar returns the value of a one-element float constant.
func (g *Graph) Scalar(name string) (float64, bool) {
	t, ok := g.Constant(name)
	if !ok || t.DType() != onnxpb.Float || len(t.F32) != 1 {
		return 0, false
	}
	return float64(t.F32[0]), true
}

// Fresh returns a tensor name not used in the graph.
func (g *Graph) Fresh(stem string) string {
	for {
		g.fresh++
		n := "samtrack_rw/" + stem + "_" + strconv.Itoa(g.fresh)
		if _, taken := g.inits[n]; !taken && g.prod[n] == nil {
			return n
		}
	}
}

func (g *Graph) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// Add appends a node computing a fresh tensor and returns its name.
func (g *Graph) Add(op string, in []string, attrs ...onnxpb.Attr) string {
	out := g.Fresh(strings.ToLower(op))
	g.AddTo(op, in, out, attrs...)
	return out
}

// AddTo appends a node computing tensor out.
func (g *Graph) AddTo(op string, in []string, out string, attrs ...onnxpb.Attr) {
	n := &onnxpb.Node{Op: op, Name: out, In: in, Out: []string{out}}
	for _, a := range attrs {
		b, err := onnxpb.EncodeAttr(a)
		if err != nil {
			g.fail(fmt.Errorf("%s node %s: %w", op, out, err))
			continue
		}
		n.Attrs = append(n.Attrs, b)
	}
	g.AddNode(n)
}

// AddNode appends a built node.
func (g *Graph) AddNode(n *onnxpb.Node) {
	g.Nodes = append(g.Nodes, n)
	for _, o := range n.Out {
		g.prod[o] = n
	}
	for _, s := range n.In {
		g.cons[s] = append(g.cons[s], n)
	}
}

// Init adds an initializer with a fresh name and returns that name.
func (g *Graph) Init(stem string, t onnxpb.Tensor) string {
	n := g.Fresh(stem)
	b, err := onnxpb.EncodeTensor(n, t)
	if err != nil {
		g.fail(err)
		return n
	}
	g.inits[n] = b
	g.initSeq = append(g.initSeq, n)
	return n
}

// InitF32 adds a float32 initializer.
func (g *Graph) InitF32(stem string, dims []int64, v []float32) string {
	return g.Init(stem, onnxpb.F32(v, dims...))
}

// InitI64 adds a 1-D int64 initializer (shapes, axes, starts, ends).
func (g *Graph) InitI64(v ...int64) string {
	return g.Init("shape", onnxpb.I64(v, int64(len(v))))
}

// RemoveProducer drops the node that computes name (its other outputs must
// be dead).
func (g *Graph) RemoveProducer(name string) {
	p := g.prod[name]
	if p == nil {
		return
	}
	g.Nodes = slices.DeleteFunc(g.Nodes, func(n *onnxpb.Node) bool { return n == p })
	for _, o := range p.Out {
		delete(g.prod, o)
	}
}

// Encode encodes the edited model.
func (g *Graph) Encode() ([]byte, error) {
	if g.err != nil {
		return nil, g.err
	}
	var gb []byte
	for _, n := range g.Nodes {
		gb = onnxpb.AppendField(gb, onnxpb.FieldGraphNode, n.Encode())
	}
	for _, f := range g.keep {
		gb = append(gb, f...)
	}
	for _, n := range g.initSeq {
		gb = onnxpb.AppendField(gb, onnxpb.FieldGraphInitializer, g.inits[n])
	}
	for _, in := range g.inputs {
		gb = onnxpb.AppendField(gb, onnxpb.FieldGraphInput, in)
	}
	for _, o := range g.outputs {
		gb = onnxpb.AppendField(gb, onnxpb.FieldGraphOutput, o)
	}
	return onnxpb.ReplaceGraph(g.top, gb), nil
}

// WithOutputs encodes g with extra graph outputs (declared without types;
// ONNX Runtime infers them).
func (g *Graph) WithOutputs(names []string) ([]byte, error) {
	c := *g
	c.outputs = slices.Clone(g.outputs)
	have := map[string]bool{}
	for _, o := range append(g.OutputNames(), g.InputNames()...) {
		have[o] = true
	}
	for _, n := range names {
		if have[n] {
			continue
		}
		have[n] = true
		c.outputs = append(c.outputs, onnxpb.NamedValue(n))
	}
	return c.Encode()
}

var errNoOutput = errors.New("prune model: no output named")
