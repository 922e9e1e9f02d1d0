package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file rewrites the per-prompt half of a split SAM v1 decoder
// (promptGraph) so that its cross-attention blocks never project the 4096
// image tokens. With a handful of prompt tokens against 4096 image tokens,
// the products of segment-anything's Attention module can be reordered
// exactly (associativity):
//
//   - token→image (queries: tokens; keys, values: image):
//     q·(K·Wk + bk)ᵀ = (q·Wkᵀ)·Kᵀ + a per-query constant that softmax
//     cancels, and softmax·(V·Wv + bv) = (softmax·V)·Wv + bv since the
//     softmax rows sum to one;
//   - image→token (queries: image; keys, values: tokens):
//     (Q·Wq + bq)·kᵀ = Q·(Wq·kᵀ) + bq·kᵀ, and concat_h(attn_h·v_h)·Wo =
//     Σ_h attn_h·(v_h·Wo_h), one product with the tokens' values already
//     projected to the output space.
//
// The projections of the image side (4096×256×128 each, seven per prompt
// on SAM ViT-B) become products with 8 heads × 7 tokens = 56 columns, and
// the last token→image block, whose output only feeds the IoU token when
// the graph is pruned to iou_predictions, runs for that token alone. The
// results equal the original up to float rounding; callers verify them.

// rwNode is a decoded NodeProto.
type rwNode struct {
	op, name, domain string
	in, out          []string
	attrs            [][]byte // AttributeProto payloads
}

// rwGraph is a decoded ONNX model graph that can be edited and encoded
// again. Value infos are dropped (rewritten tensors change shape).
type rwGraph struct {
	top     []pbField // model fields; the graph field is replaced on encode
	keep    []pbField // graph fields other than nodes, initializers, value infos, inputs, outputs
	inputs  [][]byte  // ValueInfoProto payloads of the graph inputs
	outputs [][]byte  // ValueInfoProto payloads of the graph outputs
	nodes   []*rwNode
	inits   map[string][]byte // TensorProto payloads by name
	initSeq []string          // initializer names in order
	fresh   int

	prod    map[string]*rwNode   // producer of each tensor (after index)
	cons    map[string][]*rwNode // consumers of each tensor (after index)
	isInput map[string]bool      // graph inputs (after index)
}

// More ONNX field numbers.
const (
	pbNodeName     = 3 // NodeProto.name
	pbNodeOp       = 4 // NodeProto.op_type
	pbNodeDomain   = 7 // NodeProto.domain
	pbAttrName     = 1 // AttributeProto.name
	pbAttrF        = 2
	pbAttrI        = 3
	pbAttrT        = 5
	pbAttrInts     = 8
	pbAttrType     = 20
	pbTensorDims   = 1
	pbTensorType   = 2
	pbTensorFloats = 4
	pbTensorInt64s = 7
	attrTypeInt    = 2
	attrTypeInts   = 7
)

func parseRWGraph(model []byte) (*rwGraph, error) {
	top, err := pbFields(model)
	if err != nil {
		return nil, fmt.Errorf("parse ONNX model: %w", err)
	}
	g := &rwGraph{top: top, inits: map[string][]byte{}}
	var graph []byte
	for _, f := range top {
		if f.num == pbModelGraph && f.typ == protowire.BytesType {
			graph = f.payload
		}
	}
	if graph == nil {
		return nil, errors.New("ONNX model has no graph")
	}
	fs, err := pbFields(graph)
	if err != nil {
		return nil, fmt.Errorf("parse ONNX graph: %w", err)
	}
	for _, f := range fs {
		switch {
		case f.typ != protowire.BytesType:
			g.keep = append(g.keep, f)
		case f.num == pbGraphNode:
			n, err := parseRWNode(f.payload)
			if err != nil {
				return nil, err
			}
			g.nodes = append(g.nodes, n)
		case f.num == pbGraphInitializer:
			name := pbString(f.payload, pbTensorName)
			if _, dup := g.inits[name]; !dup {
				g.initSeq = append(g.initSeq, name)
			}
			g.inits[name] = f.payload
		case f.num == pbGraphInput:
			g.inputs = append(g.inputs, f.payload)
		case f.num == pbGraphOutput:
			g.outputs = append(g.outputs, f.payload)
		case f.num == pbGraphValue:
		default:
			g.keep = append(g.keep, f)
		}
	}
	g.index()
	return g, nil
}

func parseRWNode(b []byte) (*rwNode, error) {
	fs, err := pbFields(b)
	if err != nil {
		return nil, fmt.Errorf("parse ONNX node: %w", err)
	}
	n := &rwNode{}
	for _, f := range fs {
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case pbNodeInput:
			n.in = append(n.in, string(f.payload))
		case pbNodeOutput:
			n.out = append(n.out, string(f.payload))
		case pbNodeName:
			n.name = string(f.payload)
		case pbNodeOp:
			n.op = string(f.payload)
		case pbNodeDomain:
			n.domain = string(f.payload)
		case pbNodeAttribute:
			afs, _ := pbFields(f.payload)
			for _, af := range afs {
				if af.num == pbAttrGraph || af.num == pbAttrGraphs {
					return nil, fmt.Errorf("node %s (%s) has a subgraph; not rewritten", n.name, n.op)
				}
			}
			n.attrs = append(n.attrs, f.payload)
		}
	}
	return n, nil
}

func (n *rwNode) encode() []byte {
	var b []byte
	for _, s := range n.in {
		b = protowire.AppendTag(b, pbNodeInput, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	for _, s := range n.out {
		b = protowire.AppendTag(b, pbNodeOutput, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	if n.name != "" {
		b = protowire.AppendTag(b, pbNodeName, protowire.BytesType)
		b = protowire.AppendString(b, n.name)
	}
	b = protowire.AppendTag(b, pbNodeOp, protowire.BytesType)
	b = protowire.AppendString(b, n.op)
	for _, a := range n.attrs {
		b = protowire.AppendTag(b, pbNodeAttribute, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	if n.domain != "" {
		b = protowire.AppendTag(b, pbNodeDomain, protowire.BytesType)
		b = protowire.AppendString(b, n.domain)
	}
	return b
}

// attr returns the payload of the node's attribute name.
func (n *rwNode) attr(name string) ([]byte, bool) {
	for _, a := range n.attrs {
		if pbString(a, pbAttrName) == name {
			return a, true
		}
	}
	return nil, false
}

// attrInts returns an INTS attribute (nil, false when absent).
func (n *rwNode) attrInts(name string) ([]int64, bool) {
	a, ok := n.attr(name)
	if !ok {
		return nil, false
	}
	fs, _ := pbFields(a)
	var v []int64
	for _, f := range fs {
		if f.num != pbAttrInts {
			continue
		}
		switch f.typ {
		case protowire.VarintType:
			x, _ := protowire.ConsumeVarint(f.raw[protowire.SizeTag(f.num):])
			v = append(v, int64(x))
		case protowire.BytesType:
			for p := f.payload; len(p) > 0; {
				x, m := protowire.ConsumeVarint(p)
				if m < 0 {
					return nil, false
				}
				v = append(v, int64(x))
				p = p[m:]
			}
		}
	}
	return v, true
}

// attrInt returns an INT attribute, or def when absent.
func (n *rwNode) attrInt(name string, def int64) int64 {
	a, ok := n.attr(name)
	if !ok {
		return def
	}
	fs, _ := pbFields(a)
	for _, f := range fs {
		if f.num == pbAttrI && f.typ == protowire.VarintType {
			x, _ := protowire.ConsumeVarint(f.raw[protowire.SizeTag(f.num):])
			return int64(x)
		}
	}
	return def
}

func encAttrInts(name string, v ...int64) []byte {
	var b []byte
	b = protowire.AppendTag(b, pbAttrName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	var p []byte
	for _, x := range v {
		p = protowire.AppendVarint(p, uint64(x))
	}
	b = protowire.AppendTag(b, pbAttrInts, protowire.BytesType)
	b = protowire.AppendBytes(b, p)
	b = protowire.AppendTag(b, pbAttrType, protowire.VarintType)
	return protowire.AppendVarint(b, attrTypeInts)
}

func encAttrInt(name string, v int64) []byte {
	var b []byte
	b = protowire.AppendTag(b, pbAttrName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, pbAttrI, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(v))
	b = protowire.AppendTag(b, pbAttrType, protowire.VarintType)
	return protowire.AppendVarint(b, attrTypeInt)
}

// rwTensor is a decoded constant.
type rwTensor struct {
	dims []int64
	elem int
	f32  []float32
	i64  []int64
}

func (t *rwTensor) size() int {
	n := 1
	for _, d := range t.dims {
		n *= int(d)
	}
	return n
}

func decodeTensor(b []byte) (*rwTensor, error) {
	fs, err := pbFields(b)
	if err != nil {
		return nil, err
	}
	t := &rwTensor{}
	var raw []byte
	hasRaw := false
	for _, f := range fs {
		switch f.num {
		case pbTensorDims:
			if f.typ == protowire.VarintType {
				x, _ := protowire.ConsumeVarint(f.raw[protowire.SizeTag(f.num):])
				t.dims = append(t.dims, int64(x))
			} else if f.typ == protowire.BytesType {
				for p := f.payload; len(p) > 0; {
					x, m := protowire.ConsumeVarint(p)
					if m < 0 {
						return nil, errors.New("bad tensor dims")
					}
					t.dims = append(t.dims, int64(x))
					p = p[m:]
				}
			}
		case pbTensorType:
			x, _ := protowire.ConsumeVarint(f.raw[protowire.SizeTag(f.num):])
			t.elem = int(x)
		case pbTensorFloats:
			if f.typ == protowire.Fixed32Type {
				t.f32 = append(t.f32, math.Float32frombits(binary.LittleEndian.Uint32(f.raw[protowire.SizeTag(f.num):])))
			} else if f.typ == protowire.BytesType {
				for p := f.payload; len(p) >= 4; p = p[4:] {
					t.f32 = append(t.f32, math.Float32frombits(binary.LittleEndian.Uint32(p)))
				}
			}
		case pbTensorInt64s:
			if f.typ == protowire.VarintType {
				x, _ := protowire.ConsumeVarint(f.raw[protowire.SizeTag(f.num):])
				t.i64 = append(t.i64, int64(x))
			} else if f.typ == protowire.BytesType {
				for p := f.payload; len(p) > 0; {
					x, m := protowire.ConsumeVarint(p)
					if m < 0 {
						return nil, errors.New("bad int64 data")
					}
					t.i64 = append(t.i64, int64(x))
					p = p[m:]
				}
			}
		case pbTensorRawData:
			raw, hasRaw = f.payload, true
		case pbTensorLocation:
			x, _ := protowire.ConsumeVarint(f.raw[protowire.SizeTag(f.num):])
			if x == 1 {
				return nil, errors.New("tensor data is external")
			}
		}
	}
	n := t.size()
	switch t.elem {
	case pbFloat:
		if hasRaw {
			if len(raw) != 4*n {
				return nil, fmt.Errorf("float tensor of %d values has %d bytes", n, len(raw))
			}
			t.f32 = make([]float32, n)
			for i := range t.f32 {
				t.f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
		if len(t.f32) != n {
			return nil, fmt.Errorf("float tensor of shape %v has %d values", t.dims, len(t.f32))
		}
	case pbInt64:
		if hasRaw {
			if len(raw) != 8*n {
				return nil, fmt.Errorf("int64 tensor of %d values has %d bytes", n, len(raw))
			}
			t.i64 = make([]int64, n)
			for i := range t.i64 {
				t.i64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		if len(t.i64) != n {
			return nil, fmt.Errorf("int64 tensor of shape %v has %d values", t.dims, len(t.i64))
		}
	default:
		return nil, fmt.Errorf("tensor type %d not handled", t.elem)
	}
	return t, nil
}

func encodeTensor(name string, dims []int64, f32 []float32, i64 []int64) []byte {
	var b []byte
	for _, d := range dims {
		b = protowire.AppendTag(b, pbTensorDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	var raw []byte
	elem := pbFloat
	if i64 != nil {
		elem = pbInt64
		raw = make([]byte, 8*len(i64))
		for i, v := range i64 {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
	} else {
		raw = make([]byte, 4*len(f32))
		for i, v := range f32 {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	}
	b = protowire.AppendTag(b, pbTensorType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(elem))
	b = protowire.AppendTag(b, pbTensorName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, pbTensorRawData, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}

func (g *rwGraph) inputNames() []string {
	var s []string
	for _, in := range g.inputs {
		s = append(s, pbString(in, pbValueName))
	}
	return s
}

func (g *rwGraph) outputNames() []string {
	var s []string
	for _, o := range g.outputs {
		s = append(s, pbString(o, pbValueName))
	}
	return s
}

// index rebuilds the producer and consumer maps.
func (g *rwGraph) index() {
	g.prod = map[string]*rwNode{}
	g.cons = map[string][]*rwNode{}
	g.isInput = map[string]bool{}
	for _, in := range g.inputNames() {
		g.isInput[in] = true
	}
	for _, n := range g.nodes {
		for _, o := range n.out {
			if o != "" {
				g.prod[o] = n
			}
		}
		for _, in := range n.in {
			if in != "" {
				g.cons[in] = append(g.cons[in], n)
			}
		}
	}
}

// constant returns the value of a constant tensor: an initializer or a
// Constant node's value, through Identity nodes.
func (g *rwGraph) constant(name string) (*rwTensor, bool) {
	for range 16 {
		if b, ok := g.inits[name]; ok {
			if g.isInput[name] {
				return nil, false // an overridable default
			}
			t, err := decodeTensor(b)
			return t, err == nil
		}
		p := g.prod[name]
		if p == nil {
			return nil, false
		}
		switch p.op {
		case "Identity":
			name = p.in[0]
			continue
		case "Constant":
			if a, ok := p.attr("value"); ok {
				fs, _ := pbFields(a)
				for _, f := range fs {
					if f.num == pbAttrT && f.typ == protowire.BytesType {
						t, err := decodeTensor(f.payload)
						return t, err == nil
					}
				}
			}
			if a, ok := p.attr("value_float"); ok {
				fs, _ := pbFields(a)
				for _, f := range fs {
					if f.num == pbAttrF && f.typ == protowire.Fixed32Type {
						v := math.Float32frombits(binary.LittleEndian.Uint32(f.raw[protowire.SizeTag(f.num):]))
						return &rwTensor{elem: pbFloat, f32: []float32{v}}, true
					}
				}
			}
		}
		return nil, false
	}
	return nil, false
}

// scalar returns the value of a one-element float constant.
func (g *rwGraph) scalar(name string) (float64, bool) {
	t, ok := g.constant(name)
	if !ok || t.elem != pbFloat || len(t.f32) != 1 {
		return 0, false
	}
	return float64(t.f32[0]), true
}

func (g *rwGraph) name(stem string) string {
	for {
		g.fresh++
		n := "samtrack_rw/" + stem + "_" + strconv.Itoa(g.fresh)
		if _, taken := g.inits[n]; !taken && g.prod[n] == nil {
			return n
		}
	}
}

// add appends a node computing a fresh tensor and returns its name.
func (g *rwGraph) add(op string, in []string, attrs ...[]byte) string {
	out := g.name(strings.ToLower(op))
	g.addTo(op, in, out, attrs...)
	return out
}

func (g *rwGraph) addTo(op string, in []string, out string, attrs ...[]byte) {
	n := &rwNode{op: op, name: out, in: in, out: []string{out}, attrs: attrs}
	g.nodes = append(g.nodes, n)
	g.prod[out] = n
	for _, s := range in {
		g.cons[s] = append(g.cons[s], n)
	}
}

func (g *rwGraph) initF32(stem string, dims []int64, v []float32) string {
	n := g.name(stem)
	g.inits[n] = encodeTensor(n, dims, v, nil)
	g.initSeq = append(g.initSeq, n)
	return n
}

func (g *rwGraph) initI64(v ...int64) string {
	n := g.name("shape")
	g.inits[n] = encodeTensor(n, []int64{int64(len(v))}, nil, v)
	g.initSeq = append(g.initSeq, n)
	return n
}

// removeProducer drops the node that computes name (its other outputs must
// be dead).
func (g *rwGraph) removeProducer(name string) {
	p := g.prod[name]
	if p == nil {
		return
	}
	g.nodes = slices.DeleteFunc(g.nodes, func(n *rwNode) bool { return n == p })
	for _, o := range p.out {
		delete(g.prod, o)
	}
}

// sortAndPrune orders the nodes topologically (stable) and drops the nodes,
// initializers and graph inputs that no output depends on.
func (g *rwGraph) sortAndPrune() error {
	need := map[string]bool{}
	for _, o := range g.outputNames() {
		need[o] = true
	}
	g.index()
	// Walk back from the outputs.
	stack := slices.Clone(g.outputNames())
	keepNode := map[*rwNode]bool{}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p := g.prod[t]
		if p == nil || keepNode[p] {
			continue
		}
		keepNode[p] = true
		for _, in := range p.in {
			if in != "" && !need[in] {
				need[in] = true
				stack = append(stack, in)
			}
		}
	}
	avail := map[string]bool{"": true}
	for _, in := range g.inputNames() {
		avail[in] = true
	}
	for _, n := range g.initSeq {
		avail[n] = true
	}
	pending := slices.DeleteFunc(slices.Clone(g.nodes), func(n *rwNode) bool { return !keepNode[n] })
	sorted := make([]*rwNode, 0, len(pending))
	for len(pending) > 0 {
		progress := false
		rest := pending[:0]
		for _, n := range pending {
			ready := true
			for _, in := range n.in {
				ready = ready && avail[in]
			}
			if !ready {
				rest = append(rest, n)
				continue
			}
			sorted = append(sorted, n)
			for _, o := range n.out {
				avail[o] = true
			}
			progress = true
		}
		pending = rest
		if !progress {
			return fmt.Errorf("graph has a cycle or an undefined input at node %s (%s)", pending[0].name, pending[0].op)
		}
	}
	for _, o := range g.outputNames() {
		if !avail[o] {
			return fmt.Errorf("graph output %s is not computed", o)
		}
	}
	g.nodes = sorted
	g.initSeq = slices.DeleteFunc(g.initSeq, func(n string) bool {
		if need[n] {
			return false
		}
		delete(g.inits, n)
		return true
	})
	g.inputs = slices.DeleteFunc(g.inputs, func(b []byte) bool { return !need[pbString(b, pbValueName)] })
	g.index()
	return nil
}

// cse merges nodes that compute the same thing from the same inputs (the
// official export runs the mask decoder twice, once for the single-mask
// and once for the multimask output, with a copy of every transposed
// weight for each run). Identity nodes are bypassed and initializers with
// equal contents merged first. The nodes must be sorted.
func (g *rwGraph) cse() {
	isOut := map[string]bool{}
	for _, o := range g.outputNames() {
		isOut[o] = true
	}
	isIn := map[string]bool{}
	for _, in := range g.inputNames() {
		isIn[in] = true
	}
	rename := map[string]string{}
	byContent := map[string]string{}
	for _, n := range g.initSeq {
		if isIn[n] {
			continue
		}
		fs, err := pbFields(g.inits[n])
		if err != nil {
			continue
		}
		var key []byte
		for _, f := range fs {
			if f.num != pbTensorName {
				key = append(key, f.raw...)
			}
		}
		if first, ok := byContent[string(key)]; ok {
			rename[n] = first
		} else {
			byContent[string(key)] = n
		}
	}
	nodes := g.nodes[:0]
	for _, n := range g.nodes {
		if n.op == "Identity" && n.domain == "" && len(n.in) == 1 && len(n.out) == 1 && !isOut[n.out[0]] {
			src := n.in[0]
			if to, ok := rename[src]; ok {
				src = to
			}
			rename[n.out[0]] = src
			continue
		}
		nodes = append(nodes, n)
	}
	g.nodes = nodes
	seen := map[string]*rwNode{}
	var kept []*rwNode
	for _, n := range g.nodes {
		for i, in := range n.in {
			if to, ok := rename[in]; ok {
				n.in[i] = to
			}
		}
		var key strings.Builder
		key.WriteString(n.domain + "\x00" + n.op + "\x00")
		for _, in := range n.in {
			key.WriteString(in + "\x00")
		}
		key.WriteString(strconv.Itoa(len(n.out)) + "\x00")
		for _, a := range n.attrs {
			key.Write(a)
			key.WriteString("\x00")
		}
		k := key.String()
		graphOut := strings.HasPrefix(n.op, "Random") || n.op == "Multinomial" || n.op == "Bernoulli" // never merged
		for _, o := range n.out {
			graphOut = graphOut || isOut[o]
		}
		if prev, ok := seen[k]; ok && !graphOut && len(n.out) > 0 {
			for i, o := range n.out {
				rename[o] = prev.out[i]
			}
			continue
		}
		if !graphOut {
			seen[k] = n
		}
		kept = append(kept, n)
	}
	g.nodes = kept
	g.index()
}

func (g *rwGraph) encode() []byte {
	var gb []byte
	for _, n := range g.nodes {
		gb = protowire.AppendTag(gb, pbGraphNode, protowire.BytesType)
		gb = protowire.AppendBytes(gb, n.encode())
	}
	for _, f := range g.keep {
		gb = append(gb, f.raw...)
	}
	for _, n := range g.initSeq {
		gb = protowire.AppendTag(gb, pbGraphInitializer, protowire.BytesType)
		gb = protowire.AppendBytes(gb, g.inits[n])
	}
	for _, in := range g.inputs {
		gb = protowire.AppendTag(gb, pbGraphInput, protowire.BytesType)
		gb = protowire.AppendBytes(gb, in)
	}
	for _, o := range g.outputs {
		gb = protowire.AppendTag(gb, pbGraphOutput, protowire.BytesType)
		gb = protowire.AppendBytes(gb, o)
	}
	return replaceGraph(g.top, gb)
}
