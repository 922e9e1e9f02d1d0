package onnxpb

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Node is a decoded NodeProto. Attrs holds AttributeProto payloads as
// they were encoded; Extra holds every other field (doc_string, ...) so
// that Encode loses nothing.
type Node struct {
	Op, Name, Domain string
	In, Out          []string
	Attrs            [][]byte
	Extra            [][]byte
}

// DecodeNode decodes a NodeProto payload.
func DecodeNode(b []byte) (*Node, error) {
	fs, err := Fields(b)
	if err != nil {
		return nil, fmt.Errorf("parse ONNX node: %w", err)
	}
	n := &Node{}
	for _, f := range fs {
		if !f.IsBytes() {
			n.Extra = append(n.Extra, f.Raw)
			continue
		}
		switch f.Num {
		case nodeInput:
			n.In = append(n.In, string(f.Payload))
		case nodeOutput:
			n.Out = append(n.Out, string(f.Payload))
		case nodeName:
			n.Name = string(f.Payload)
		case nodeOpType:
			n.Op = string(f.Payload)
		case nodeDomain:
			n.Domain = string(f.Payload)
		case nodeAttribute:
			n.Attrs = append(n.Attrs, f.Payload)
		default:
			n.Extra = append(n.Extra, f.Raw)
		}
	}
	return n, nil
}

// Encode encodes the NodeProto payload.
func (n *Node) Encode() []byte {
	var b []byte
	for _, s := range n.In {
		b = protowire.AppendTag(b, nodeInput, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	for _, s := range n.Out {
		b = protowire.AppendTag(b, nodeOutput, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	if n.Name != "" {
		b = protowire.AppendTag(b, nodeName, protowire.BytesType)
		b = protowire.AppendString(b, n.Name)
	}
	b = protowire.AppendTag(b, nodeOpType, protowire.BytesType)
	b = protowire.AppendString(b, n.Op)
	for _, a := range n.Attrs {
		b = AppendField(b, nodeAttribute, a)
	}
	if n.Domain != "" {
		b = protowire.AppendTag(b, nodeDomain, protowire.BytesType)
		b = protowire.AppendString(b, n.Domain)
	}
	for _, e := range n.Extra {
		b = append(b, e...)
	}
	return b
}

// HasSubgraph reports whether one of the node's attributes holds a graph
// (If, Loop, Scan bodies).
func (n *Node) HasSubgraph() bool {
	for _, a := range n.Attrs {
		fs, _ := Fields(a)
		for _, f := range fs {
			if f.Num == attrGraph || f.Num == attrGraphs {
				return true
			}
		}
	}
	return false
}

// Attr returns the payload of the node's attribute name.
func (n *Node) Attr(name string) ([]byte, bool) {
	for _, a := range n.Attrs {
		if String(a, attrName) == name {
			return a, true
		}
	}
	return nil, false
}

// AttrInts returns an INTS attribute (nil, false when absent or malformed).
func (n *Node) AttrInts(name string) ([]int64, bool) {
	a, ok := n.Attr(name)
	if !ok {
		return nil, false
	}
	fs, _ := Fields(a)
	var v []int64
	for _, f := range fs {
		if f.Num != attrInts {
			continue
		}
		switch f.Typ {
		case protowire.VarintType:
			v = append(v, int64(f.varint()))
		case protowire.BytesType:
			p, err := packedVarints(f.Payload)
			if err != nil {
				return nil, false
			}
			v = append(v, p...)
		}
	}
	return v, true
}

// AttrInt returns an INT attribute, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	a, ok := n.Attr(name)
	if !ok {
		return def
	}
	fs, _ := Fields(a)
	for _, f := range fs {
		if f.Num == attrI && f.Typ == protowire.VarintType {
			return int64(f.varint())
		}
	}
	return def
}

// AttrFloat returns a FLOAT attribute (false when absent).
func (n *Node) AttrFloat(name string) (float32, bool) {
	a, ok := n.Attr(name)
	if !ok {
		return 0, false
	}
	fs, _ := Fields(a)
	for _, f := range fs {
		if f.Num == attrF && f.Typ == protowire.Fixed32Type {
			return math.Float32frombits(binary.LittleEndian.Uint32(f.Raw[protowire.SizeTag(f.Num):])), true
		}
	}
	return 0, false
}

// AttrTensor returns the TensorProto payload of a TENSOR attribute.
func (n *Node) AttrTensor(name string) ([]byte, bool) {
	a, ok := n.Attr(name)
	if !ok {
		return nil, false
	}
	fs, _ := Fields(a)
	for _, f := range fs {
		if f.Num == attrT && f.IsBytes() {
			return f.Payload, true
		}
	}
	return nil, false
}

// SubgraphInputs lists every tensor name read by nodes of the subgraphs in
// a NodeProto's attributes (If, Loop, Scan bodies may read outer-scope
// values).
func SubgraphInputs(node []byte) []string {
	var names []string
	for _, a := range Strings(node, nodeAttribute) {
		fs, _ := Fields([]byte(a))
		for _, f := range fs {
			if (f.Num == attrGraph || f.Num == attrGraphs) && f.IsBytes() {
				for _, n := range Strings(f.Payload, graphNode) {
					names = append(names, Strings([]byte(n), nodeInput)...)
					names = append(names, SubgraphInputs([]byte(n))...)
				}
			}
		}
	}
	return names
}

// RenameInputs returns a NodeProto payload with its inputs renamed by
// alias; every other field is copied unchanged.
func RenameInputs(node []byte, alias map[string]string) []byte {
	fs, err := Fields(node)
	if err != nil {
		return node
	}
	var out []byte
	for _, f := range fs {
		if f.Num == nodeInput && f.IsBytes() {
			if to, ok := alias[string(f.Payload)]; ok {
				out = protowire.AppendTag(out, nodeInput, protowire.BytesType)
				out = protowire.AppendString(out, to)
				continue
			}
		}
		out = append(out, f.Raw...)
	}
	return out
}

func packedVarints(p []byte) ([]int64, error) {
	var v []int64
	for len(p) > 0 {
		x, m := protowire.ConsumeVarint(p)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		v = append(v, int64(x))
		p = p[m:]
	}
	return v, nil
}
