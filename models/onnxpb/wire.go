package onnxpb

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto that graph-editing code (models/onnxedit)
// reads and writes through this package.
const (
	FieldModelGraph       = modelGraph
	FieldGraphNode        = graphNode
	FieldGraphInitializer = graphInitializer
	FieldGraphInput       = graphInput
	FieldGraphOutput      = graphOutput
	FieldGraphValueInfo   = 13
	FieldNodeInput        = nodeInput
	FieldNodeOutput       = nodeOutput
	FieldNodeOpType       = nodeOpType
	FieldTensorName       = tensorName
	FieldValueName        = valueName

	nodeDomain     = 7
	attrGraph      = 6
	attrGraphs     = 11
	tensorFloats   = 4
	tensorExternal = 13
	tensorLocation = 14
	entryKey       = 1
	entryValue     = 2
)

// IsBytes reports whether f is length-delimited (a string, bytes or an
// embedded message).
func (f Field) IsBytes() bool { return f.Typ == protowire.BytesType }

// varint is the value of a varint field (0 for other wire types).
func (f Field) varint() uint64 {
	if f.Typ != protowire.VarintType {
		return 0
	}
	v, _ := protowire.ConsumeVarint(f.Raw[protowire.SizeTag(f.Num):])
	return v
}

// AppendField appends a length-delimited field num holding payload.
func AppendField(b []byte, num protowire.Number, payload []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, payload)
}

// Strings returns every length-delimited field num of msg, in order (none
// when msg does not parse).
func Strings(msg []byte, num protowire.Number) []string {
	fs, _ := Fields(msg)
	var s []string
	for _, f := range fs {
		if f.Num == num && f.IsBytes() {
			s = append(s, string(f.Payload))
		}
	}
	return s
}

// String returns the first length-delimited field num of msg, or "".
func String(msg []byte, num protowire.Number) string {
	if s := Strings(msg, num); len(s) > 0 {
		return s[0]
	}
	return ""
}

// GraphOf splits a ModelProto into its top-level fields and returns the
// payload of its (last) graph field.
func GraphOf(model []byte) (top []Field, graph []byte, err error) {
	top, err = Fields(model)
	if err != nil {
		return nil, nil, fmt.Errorf("parse ONNX model: %w", err)
	}
	for _, f := range top {
		if f.Num == modelGraph && f.IsBytes() {
			graph = f.Payload
		}
	}
	if graph == nil {
		return nil, nil, errors.New("ONNX model has no graph (is it an ONNX file?)")
	}
	return top, graph, nil
}

// ReplaceGraph encodes the model fields top with every graph field's
// payload replaced by graph.
func ReplaceGraph(top []Field, graph []byte) []byte {
	var out []byte
	for _, f := range top {
		if f.Num == modelGraph {
			out = AppendField(out, modelGraph, graph)
		} else {
			out = append(out, f.Raw...)
		}
	}
	return out
}

// NamedValue encodes a ValueInfoProto holding only a name (for graph
// outputs whose type ONNX Runtime infers).
func NamedValue(name string) []byte {
	var vi []byte
	vi = protowire.AppendTag(vi, valueName, protowire.BytesType)
	return protowire.AppendString(vi, name)
}

// TensorValue encodes a ValueInfoProto for a dense tensor of fixed shape.
func TensorValue(name string, t DType, shape []int64) []byte {
	dims := make([]any, len(shape))
	for i, d := range shape {
		dims[i] = d
	}
	vi, _ := valueInfo(name, t, dims) // int64 dims cannot fail
	return vi
}

// EncodeAttr encodes a built attribute as an AttributeProto payload.
func EncodeAttr(a Attr) ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	if a.enc == nil {
		return nil, errors.New("zero Attr; build attributes with AttrInt and friends")
	}
	return a.enc(nil), nil
}

// EncodeTensor encodes t as a TensorProto payload named name.
func EncodeTensor(name string, t Tensor) ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return t.encode(name), nil
}

// DType is the element type of t, from the one data slice that is set.
func (t Tensor) DType() DType { return t.dtype() }
