// Package onnxpb is samtrack's one ONNX protobuf codec, written without
// generated protobuf code: it encodes and decodes ModelProto, GraphProto,
// NodeProto, AttributeProto, TensorProto and ValueInfoProto directly with
// protowire. It owns the small graph-builder API that samtrack's generated
// test models are written with (internal/testgen); the reader that editing
// code works with (Fields and GraphOf split messages into fields that are
// copied byte for byte unless changed; DecodeNode, DecodeTensor and the
// attribute accessors decode what a rewrite reads; ExternalData and
// WithRawData handle weights stored beside the model); and Signature,
// which lists a model's graph inputs and outputs. Graph surgery built on
// it lives in models/onnxedit. Models are written with IR version 8, the
// default-domain opset 17 and producer "samtrack".
package onnxpb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Model-level constants written into every ModelProto.
const (
	IRVersion = 8
	Opset     = 17
	Producer  = "samtrack"
)

// DType is an ONNX TensorProto element type.
type DType int32

// The element types the builder declares and stores.
const (
	Float DType = 1
	Uint8 DType = 2
	Int32 DType = 6
	Int64 DType = 7
	Bool  DType = 9
)

func (d DType) String() string {
	switch d {
	case Float:
		return "float32"
	case Uint8:
		return "uint8"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Field numbers of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto).
const (
	modelIRVersion    = 1
	modelProducerName = 2
	modelProducerVer  = 3
	modelGraph        = 7
	modelOpsetImport  = 8

	opsetDomain  = 1
	opsetVersion = 2

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12

	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5

	attrName   = 1
	attrF      = 2
	attrI      = 3
	attrS      = 4
	attrT      = 5
	attrFloats = 7
	attrInts   = 8
	attrType   = 20

	tensorDims     = 1
	tensorDataType = 2
	tensorInt64    = 7
	tensorName     = 8
	tensorRaw      = 9

	valueName = 1
	valueType = 2

	typeTensor      = 1
	typeTensorElem  = 1
	typeTensorShape = 2
	shapeDim        = 1
	dimValue        = 1
	dimParam        = 2
)

// AttributeProto.AttributeType values.
const (
	attrTypeFloat  = 1
	attrTypeInt    = 2
	attrTypeString = 3
	attrTypeTensor = 4
	attrTypeFloats = 6
	attrTypeInts   = 7
)

// Tensor is a constant: an initializer or a tensor attribute. Exactly one of
// F32 and I64 holds the data, matching DType.
type Tensor struct {
	Dims []int64
	F32  []float32
	I64  []int64
	// Bool data is stored as one byte per element (0 or 1) in raw_data.
	Bool []bool
}

// F32 returns a float32 tensor with the given dims.
func F32(data []float32, dims ...int64) Tensor { return Tensor{Dims: dims, F32: data} }

// I64 returns an int64 tensor with the given dims.
func I64(data []int64, dims ...int64) Tensor { return Tensor{Dims: dims, I64: data} }

func (t Tensor) dtype() DType {
	switch {
	case t.I64 != nil:
		return Int64
	case t.Bool != nil:
		return Bool
	}
	return Float
}

func (t Tensor) check() error {
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 {
			return fmt.Errorf("tensor dims %v: negative dimension", t.Dims)
		}
		n *= d
	}
	set := 0
	have := 0
	if t.F32 != nil {
		set++
		have = len(t.F32)
	}
	if t.I64 != nil {
		set++
		have = len(t.I64)
	}
	if t.Bool != nil {
		set++
		have = len(t.Bool)
	}
	if set > 1 {
		return fmt.Errorf("tensor dims %v: more than one of F32, I64, Bool is set", t.Dims)
	}
	if int64(have) != n {
		return fmt.Errorf("tensor dims %v want %d values, have %d", t.Dims, n, have)
	}
	return nil
}

// encode appends a TensorProto (without a field tag).
func (t Tensor) encode(name string) []byte {
	var b []byte
	for _, d := range t.Dims {
		b = protowire.AppendTag(b, tensorDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.dtype()))
	if name != "" {
		b = protowire.AppendTag(b, tensorName, protowire.BytesType)
		b = protowire.AppendString(b, name)
	}
	switch t.dtype() {
	case Int64:
		// int64_data is declared [packed = true].
		var p []byte
		for _, v := range t.I64 {
			p = protowire.AppendVarint(p, uint64(v))
		}
		b = protowire.AppendTag(b, tensorInt64, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	case Bool:
		raw := make([]byte, len(t.Bool))
		for i, v := range t.Bool {
			if v {
				raw[i] = 1
			}
		}
		b = protowire.AppendTag(b, tensorRaw, protowire.BytesType)
		b = protowire.AppendBytes(b, raw)
	default:
		raw := make([]byte, 4*len(t.F32))
		for i, v := range t.F32 {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		b = protowire.AppendTag(b, tensorRaw, protowire.BytesType)
		b = protowire.AppendBytes(b, raw)
	}
	return b
}

// Attr is a node attribute; build one with AttrInt, AttrInts, AttrFloat,
// AttrFloats, AttrString or AttrTensor.
type Attr struct {
	name string
	enc  func(b []byte) []byte
	err  error
}

func attr(name string, typ uint64, enc func(b []byte) []byte) Attr {
	return Attr{name: name, enc: func(b []byte) []byte {
		b = protowire.AppendTag(b, attrName, protowire.BytesType)
		b = protowire.AppendString(b, name)
		b = enc(b)
		b = protowire.AppendTag(b, attrType, protowire.VarintType)
		return protowire.AppendVarint(b, typ)
	}}
}

// AttrInt is an INT attribute.
func AttrInt(name string, v int64) Attr {
	return attr(name, attrTypeInt, func(b []byte) []byte {
		b = protowire.AppendTag(b, attrI, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(v))
	})
}

// AttrInts is an INTS attribute.
func AttrInts(name string, v ...int64) Attr {
	return attr(name, attrTypeInts, func(b []byte) []byte {
		for _, x := range v {
			b = protowire.AppendTag(b, attrInts, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(x))
		}
		return b
	})
}

// AttrFloat is a FLOAT attribute.
func AttrFloat(name string, v float32) Attr {
	return attr(name, attrTypeFloat, func(b []byte) []byte {
		b = protowire.AppendTag(b, attrF, protowire.Fixed32Type)
		return protowire.AppendFixed32(b, math.Float32bits(v))
	})
}

// AttrFloats is a FLOATS attribute.
func AttrFloats(name string, v ...float32) Attr {
	return attr(name, attrTypeFloats, func(b []byte) []byte {
		for _, x := range v {
			b = protowire.AppendTag(b, attrFloats, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(x))
		}
		return b
	})
}

// AttrString is a STRING attribute.
func AttrString(name, v string) Attr {
	return attr(name, attrTypeString, func(b []byte) []byte {
		b = protowire.AppendTag(b, attrS, protowire.BytesType)
		return protowire.AppendString(b, v)
	})
}

// AttrTensor is a TENSOR attribute (for example Constant's value).
func AttrTensor(name string, t Tensor) Attr {
	a := attr(name, attrTypeTensor, func(b []byte) []byte {
		b = protowire.AppendTag(b, attrT, protowire.BytesType)
		return protowire.AppendBytes(b, t.encode(""))
	})
	if err := t.check(); err != nil {
		a.err = fmt.Errorf("attribute %s: %w", name, err)
	}
	return a
}

// Graph builds one ONNX graph. Builder methods never panic: the first
// mistake is remembered and returned by Model.
type Graph struct {
	name    string
	nodes   []byte
	inits   []byte
	inputs  []byte
	outputs []byte
	defined map[string]bool
	nNodes  int
	nVals   int
	err     error
}

// NewGraph starts an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{name: name, defined: map[string]bool{}}
}

func (g *Graph) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// Err is the first builder mistake, if any.
func (g *Graph) Err() error { return g.err }

func (g *Graph) define(name string) {
	if name == "" {
		g.fail(errors.New("empty value name"))
		return
	}
	if g.defined[name] {
		g.fail(fmt.Errorf("value %q defined twice", name))
	}
	g.defined[name] = true
}

func (g *Graph) fresh(op string) string {
	for {
		g.nVals++
		n := fmt.Sprintf("%s_%d", op, g.nVals)
		if !g.defined[n] {
			return n
		}
	}
}

// valueInfo encodes a ValueInfoProto for a tensor. dims are int, int64
// (fixed) or string (a named dynamic dimension).
func valueInfo(name string, t DType, dims []any) ([]byte, error) {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		switch v := d.(type) {
		case int:
			dim = protowire.AppendTag(dim, dimValue, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(int64(v)))
		case int64:
			dim = protowire.AppendTag(dim, dimValue, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(v))
		case string:
			if v == "" {
				return nil, fmt.Errorf("value %s: empty dimension name", name)
			}
			dim = protowire.AppendTag(dim, dimParam, protowire.BytesType)
			dim = protowire.AppendString(dim, v)
		default:
			return nil, fmt.Errorf("value %s: dimension %v is %T; use int or string", name, d, d)
		}
		shape = protowire.AppendTag(shape, shapeDim, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, typeTensorElem, protowire.VarintType)
	tt = protowire.AppendVarint(tt, uint64(t))
	tt = protowire.AppendTag(tt, typeTensorShape, protowire.BytesType)
	tt = protowire.AppendBytes(tt, shape)
	var tp []byte
	tp = protowire.AppendTag(tp, typeTensor, protowire.BytesType)
	tp = protowire.AppendBytes(tp, tt)
	var b []byte
	b = protowire.AppendTag(b, valueName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, valueType, protowire.BytesType)
	b = protowire.AppendBytes(b, tp)
	return b, nil
}

// Input declares a graph input and returns its name. dims are int (fixed)
// or string (named dynamic dimension).
func (g *Graph) Input(name string, t DType, dims ...any) string {
	g.define(name)
	vi, err := valueInfo(name, t, dims)
	if err != nil {
		g.fail(fmt.Errorf("input: %w", err))
		return name
	}
	g.inputs = protowire.AppendTag(g.inputs, graphInput, protowire.BytesType)
	g.inputs = protowire.AppendBytes(g.inputs, vi)
	return name
}

// Output declares graph output name, computed by value src (an Identity
// node is added when the names differ).
func (g *Graph) Output(name, src string, t DType, dims ...any) {
	if !g.defined[src] {
		g.fail(fmt.Errorf("output %s: source value %q is not defined", name, src))
		return
	}
	if src != name {
		g.node("Identity", []string{src}, []string{name}, nil)
	}
	vi, err := valueInfo(name, t, dims)
	if err != nil {
		g.fail(fmt.Errorf("output: %w", err))
		return
	}
	g.outputs = protowire.AppendTag(g.outputs, graphOutput, protowire.BytesType)
	g.outputs = protowire.AppendBytes(g.outputs, vi)
}

// Init adds a named initializer and returns its name.
func (g *Graph) Init(name string, t Tensor) string {
	if err := t.check(); err != nil {
		g.fail(fmt.Errorf("initializer %s: %w", name, err))
		return name
	}
	g.define(name)
	g.inits = protowire.AppendTag(g.inits, graphInitializer, protowire.BytesType)
	g.inits = protowire.AppendBytes(g.inits, t.encode(name))
	return name
}

// Const adds an anonymous initializer and returns its name.
func (g *Graph) Const(t Tensor) string { return g.Init(g.fresh("const"), t) }

// Scalar is a float32 constant of rank 0.
func (g *Graph) Scalar(v float32) string { return g.Const(F32([]float32{v})) }

// Floats is a 1-D float32 constant.
func (g *Graph) Floats(v ...float32) string { return g.Const(F32(v, int64(len(v)))) }

// Ints is a 1-D int64 constant (shapes, axes, pads, indices).
func (g *Graph) Ints(v ...int64) string { return g.Const(I64(v, int64(len(v)))) }

func (g *Graph) node(op string, inputs, outputs []string, attrs []Attr) {
	for _, in := range inputs {
		if in != "" && !g.defined[in] {
			g.fail(fmt.Errorf("%s node: input %q is not defined", op, in))
		}
	}
	for _, out := range outputs {
		g.define(out)
	}
	var b []byte
	for _, in := range inputs {
		b = protowire.AppendTag(b, nodeInput, protowire.BytesType)
		b = protowire.AppendString(b, in)
	}
	for _, out := range outputs {
		b = protowire.AppendTag(b, nodeOutput, protowire.BytesType)
		b = protowire.AppendString(b, out)
	}
	b = protowire.AppendTag(b, nodeName, protowire.BytesType)
	b = protowire.AppendString(b, fmt.Sprintf("%s_n%d", op, g.nNodes))
	g.nNodes++
	b = protowire.AppendTag(b, nodeOpType, protowire.BytesType)
	b = protowire.AppendString(b, op)
	for _, a := range attrs {
		if a.err != nil {
			g.fail(fmt.Errorf("%s node: %w", op, a.err))
			continue
		}
		if a.enc == nil {
			g.fail(fmt.Errorf("%s node: zero Attr; build attributes with AttrInt and friends", op))
			continue
		}
		b = protowire.AppendTag(b, nodeAttribute, protowire.BytesType)
		b = protowire.AppendBytes(b, a.enc(nil))
	}
	g.nodes = protowire.AppendTag(g.nodes, graphNode, protowire.BytesType)
	g.nodes = protowire.AppendBytes(g.nodes, b)
}

// Op adds a single-output node without attributes and returns its output.
// An empty input name stands for an omitted optional input.
func (g *Graph) Op(op string, inputs ...string) string {
	out := g.fresh(op)
	g.node(op, inputs, []string{out}, nil)
	return out
}

// OpA adds a single-output node with attributes and returns its output.
func (g *Graph) OpA(op string, inputs []string, attrs ...Attr) string {
	out := g.fresh(op)
	g.node(op, inputs, []string{out}, attrs)
	return out
}

// OpN adds a node with nOut outputs and returns their names.
func (g *Graph) OpN(op string, inputs []string, nOut int, attrs ...Attr) []string {
	outs := make([]string, nOut)
	for i := range outs {
		outs[i] = g.fresh(op)
	}
	g.node(op, inputs, outs, attrs)
	return outs
}

// Graph encodes the GraphProto.
func (g *Graph) Graph() ([]byte, error) {
	if g.err != nil {
		return nil, fmt.Errorf("graph %s: %w", g.name, g.err)
	}
	if len(g.outputs) == 0 {
		return nil, fmt.Errorf("graph %s has no outputs; declare them with Output", g.name)
	}
	var b []byte
	b = append(b, g.nodes...)
	b = protowire.AppendTag(b, graphName, protowire.BytesType)
	b = protowire.AppendString(b, g.name)
	b = append(b, g.inits...)
	b = append(b, g.inputs...)
	b = append(b, g.outputs...)
	return b, nil
}

// Model encodes the ModelProto (IR 8, opset 17, producer samtrack).
func (g *Graph) Model() ([]byte, error) {
	gb, err := g.Graph()
	if err != nil {
		return nil, err
	}
	var b []byte
	b = protowire.AppendTag(b, modelIRVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, IRVersion)
	b = protowire.AppendTag(b, modelProducerName, protowire.BytesType)
	b = protowire.AppendString(b, Producer)
	b = protowire.AppendTag(b, modelProducerVer, protowire.BytesType)
	b = protowire.AppendString(b, "1")
	b = protowire.AppendTag(b, modelGraph, protowire.BytesType)
	b = protowire.AppendBytes(b, gb)
	var op []byte
	op = protowire.AppendTag(op, opsetDomain, protowire.BytesType)
	op = protowire.AppendString(op, "")
	op = protowire.AppendTag(op, opsetVersion, protowire.VarintType)
	op = protowire.AppendVarint(op, Opset)
	b = protowire.AppendTag(b, modelOpsetImport, protowire.BytesType)
	b = protowire.AppendBytes(b, op)
	return b, nil
}
