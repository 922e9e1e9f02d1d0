package onnxpb

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one encoded protobuf field: its number, wire type, the whole
// encoding (tag included) and, for length-delimited fields, the payload.
type field struct {
	num     protowire.Number
	typ     protowire.Type
	raw     []byte
	payload []byte
}

// fields splits an encoded message into its fields, in order.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, fmt.Errorf("bad value of field %d: %w", num, protowire.ParseError(m))
		}
		f := field{num: num, typ: typ, raw: b[:n+m]}
		if typ == protowire.BytesType {
			f.payload, _ = protowire.ConsumeBytes(b[n : n+m])
		}
		out = append(out, f)
		b = b[n+m:]
	}
	return out, nil
}

// stringField returns the first length-delimited field num of msg.
func stringField(msg []byte, num protowire.Number) (string, error) {
	fs, err := fields(msg)
	if err != nil {
		return "", err
	}
	for _, f := range fs {
		if f.num == num && f.typ == protowire.BytesType {
			return string(f.payload), nil
		}
	}
	return "", nil
}

// modelGraphField finds the single graph field of a ModelProto.
func modelGraphField(model []byte) ([]field, int, error) {
	if len(model) == 0 {
		return nil, 0, errors.New("empty model")
	}
	fs, err := fields(model)
	if err != nil {
		return nil, 0, fmt.Errorf("parse ModelProto: %w (is it an ONNX file?)", err)
	}
	idx := -1
	for i, f := range fs {
		if f.num != modelGraph {
			continue
		}
		if f.typ != protowire.BytesType {
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
	gfs, err := fields(fs[gi].payload)
	if err != nil {
		return nil, nil, fmt.Errorf("parse GraphProto: %w", err)
	}
	inits := map[string]bool{}
	for _, f := range gfs {
		if f.num == graphInitializer && f.typ == protowire.BytesType {
			name, err := stringField(f.payload, tensorName)
			if err != nil {
				return nil, nil, fmt.Errorf("parse initializer: %w", err)
			}
			inits[name] = true
		}
	}
	for _, f := range gfs {
		if f.typ != protowire.BytesType || (f.num != graphInput && f.num != graphOutput) {
			continue
		}
		name, err := stringField(f.payload, valueName)
		if err != nil {
			return nil, nil, fmt.Errorf("parse graph value: %w", err)
		}
		if f.num == graphInput {
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
	gfs, err := fields(fs[gi].payload)
	if err != nil {
		return nil, fmt.Errorf("parse GraphProto: %w", err)
	}
	found := map[string]bool{}
	var all []string
	graph := make([]byte, 0, len(fs[gi].payload))
	for _, f := range gfs {
		if f.num == graphOutput && f.typ == protowire.BytesType {
			name, err := stringField(f.payload, valueName)
			if err != nil {
				return nil, fmt.Errorf("parse graph output: %w", err)
			}
			all = append(all, name)
			if !want[name] {
				continue
			}
			found[name] = true
		}
		graph = append(graph, f.raw...)
	}
	for _, k := range keep {
		if !found[k] {
			return nil, fmt.Errorf("keep outputs: model has no output %q (it has %s)", k, strings.Join(all, ", "))
		}
	}
	out := make([]byte, 0, len(model))
	for i, f := range fs {
		if i != gi {
			out = append(out, f.raw...)
			continue
		}
		out = protowire.AppendTag(out, modelGraph, protowire.BytesType)
		out = protowire.AppendBytes(out, graph)
	}
	return out, nil
}
