package onnxpb

import (
	"errors"
	"fmt"
	"slices"

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
