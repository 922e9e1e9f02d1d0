package onnxpb

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field is one encoded protobuf field: its number, wire type, the whole
// encoding (tag included) and, for length-delimited fields, the payload.
type Field struct {
	Num     protowire.Number
	Typ     protowire.Type
	Raw     []byte
	Payload []byte
}

// Fields splits an encoded message into its fields, in order.
func Fields(b []byte) ([]Field, error) {
	var out []Field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, fmt.Errorf("bad value of field %d: %w", num, protowire.ParseError(m))
		}
		f := Field{Num: num, Typ: typ, Raw: b[:n+m]}
		if typ == protowire.BytesType {
			f.Payload, _ = protowire.ConsumeBytes(b[n : n+m])
		}
		out = append(out, f)
		b = b[n+m:]
	}
	return out, nil
}

// stringField returns the first length-delimited field num of msg.
func stringField(msg []byte, num protowire.Number) (string, error) {
	fs, err := Fields(msg)
	if err != nil {
		return "", err
	}
	for _, f := range fs {
		if f.Num == num && f.Typ == protowire.BytesType {
			return string(f.Payload), nil
		}
	}
	return "", nil
}

// modelGraphField finds the single graph field of a ModelProto.
func modelGraphField(model []byte) ([]Field, int, error) {
	if len(model) == 0 {
		return nil, 0, errors.New("empty model")
	}
	fs, err := Fields(model)
	if err != nil {
		return nil, 0, fmt.Errorf("parse ModelProto: %w (is it an ONNX file?)", err)
	}
	idx := -1
	for i, f := range fs {
		if f.Num != modelGraph {
			continue
		}
		if f.Typ != protowire.BytesType {
			return nil, 0, errors.New("parse ModelProto: graph field is not a message (is it an ONNX file?)")
		}
		if idx >= 0 {
			return nil, 0, errors.New("ModelProto holds several graph fields; re-save the model with onnx.save")
		}
		idx = i
	}
	if idx < 0 {
		return nil, 0, errors.New("ModelProto has no graph (is it an ONNX file?)")
	}
	return fs, idx, nil
}

// Signature lists a model's graph inputs (initializers excluded) and
// outputs, in declaration order.
func Signature(model []byte) (inputs, outputs []string, err error) {
	fs, gi, err := modelGraphField(model)
	if err != nil {
		return nil, nil, err
	}
	gfs, err := Fields(fs[gi].Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("parse GraphProto: %w", err)
	}
	inits := map[string]bool{}
	for _, f := range gfs {
		if f.Num == graphInitializer && f.Typ == protowire.BytesType {
			name, err := stringField(f.Payload, tensorName)
			if err != nil {
				return nil, nil, fmt.Errorf("parse initializer: %w", err)
			}
			inits[name] = true
		}
	}
	for _, f := range gfs {
		if f.Typ != protowire.BytesType || (f.Num != graphInput && f.Num != graphOutput) {
			continue
		}
		name, err := stringField(f.Payload, valueName)
		if err != nil {
			return nil, nil, fmt.Errorf("parse graph value: %w", err)
		}
		if f.Num == graphInput {
			if !inits[name] {
				inputs = append(inputs, name)
			}
		} else {
			if name == "" || slices.Contains(outputs, name) {
				return nil, nil, fmt.Errorf("graph output %q is empty or declared twice: an ONNX graph's outputs have unique names; re-export the model", name)
			}
			outputs = append(outputs, name)
		}
	}
	return inputs, outputs, nil
}

// KeepOutputs rewrites model so that only the graph outputs named in keep
// remain (in their original order). Every other byte of the model is copied
// unchanged. Nodes that then feed no output are left in place; ONNX Runtime
// removes only some of them at load (profiling the SAM ViT-B decoder showed
// the mask upscaling still running), so package segment prunes the dead
// nodes themselves where the work matters.
func KeepOutputs(model []byte, keep []string) ([]byte, error) {
	if len(keep) == 0 {
		return nil, errors.New("keep outputs: no output named; name at least one")
	}
	want := map[string]bool{}
	for _, k := range keep {
		want[k] = true
	}
	fs, gi, err := modelGraphField(model)
	if err != nil {
		return nil, err
	}
	gfs, err := Fields(fs[gi].Payload)
	if err != nil {
		return nil, fmt.Errorf("parse GraphProto: %w", err)
	}
	found := map[string]bool{}
	var all []string
	graph := make([]byte, 0, len(fs[gi].Payload))
	for _, f := range gfs {
		if f.Num == graphOutput && f.Typ == protowire.BytesType {
			name, err := stringField(f.Payload, valueName)
			if err != nil {
				return nil, fmt.Errorf("parse graph output: %w", err)
			}
			all = append(all, name)
			if !want[name] {
				continue
			}
			found[name] = true
		}
		graph = append(graph, f.Raw...)
	}
	for _, k := range keep {
		if !found[k] {
			return nil, fmt.Errorf("keep outputs: model has no output %q (it has %s)", k, strings.Join(all, ", "))
		}
	}
	out := make([]byte, 0, len(model))
	for i, f := range fs {
		if i != gi {
			out = append(out, f.Raw...)
			continue
		}
		out = protowire.AppendTag(out, modelGraph, protowire.BytesType)
		out = protowire.AppendBytes(out, graph)
	}
	return out, nil
}
