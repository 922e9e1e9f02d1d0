package onnxpb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// tensorFields is what DecodeTensor collects from a TensorProto before
// checking it: values may come from typed fields or from raw_data.
type tensorFields struct {
	t      Tensor
	elem   DType
	raw    []byte
	hasRaw bool
}

// DecodeTensor decodes a float32 or int64 TensorProto payload held in the
// model (external data is refused; inline it first).
func DecodeTensor(b []byte) (Tensor, error) {
	fs, err := Fields(b)
	if err != nil {
		return Tensor{}, err
	}
	var tf tensorFields
	for _, f := range fs {
		if err := tf.add(f); err != nil {
			return Tensor{}, err
		}
	}
	return tf.finish()
}

func (tf *tensorFields) add(f Field) error {
	var err error
	switch f.Num {
	case tensorDims:
		tf.t.Dims, err = appendInts(tf.t.Dims, f)
		if err != nil {
			return errors.New("bad tensor dims")
		}
	case tensorDataType:
		tf.elem = DType(f.varint())
	case tensorFloats:
		tf.t.F32 = appendFloats(tf.t.F32, f)
	case tensorInt64:
		tf.t.I64, err = appendInts(tf.t.I64, f)
		if err != nil {
			return errors.New("bad int64 data")
		}
	case tensorRaw:
		tf.raw, tf.hasRaw = f.Payload, true
	case tensorLocation:
		if f.varint() == 1 {
			return errors.New("tensor data is external")
		}
	}
	return nil
}

func (tf *tensorFields) finish() (Tensor, error) {
	t := tf.t
	n := 1
	for _, d := range t.Dims {
		n *= int(d)
	}
	switch tf.elem {
	case Float:
		if tf.hasRaw {
			var err error
			if t.F32, err = rawValues(tf.raw, n, 4, "float", func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }); err != nil {
				return Tensor{}, err
			}
		}
		if len(t.F32) != n {
			return Tensor{}, fmt.Errorf("float tensor of shape %v has %d values", t.Dims, len(t.F32))
		}
		t.F32, t.I64 = nonNil(t.F32), nil
	case Int64:
		if tf.hasRaw {
			var err error
			if t.I64, err = rawValues(tf.raw, n, 8, "int64", func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) }); err != nil {
				return Tensor{}, err
			}
		}
		if len(t.I64) != n {
			return Tensor{}, fmt.Errorf("int64 tensor of shape %v has %d values", t.Dims, len(t.I64))
		}
		t.F32, t.I64 = nil, nonNil(t.I64)
	default:
		return Tensor{}, fmt.Errorf("tensor type %d not handled", tf.elem)
	}
	return t, nil
}

// rawValues decodes n little-endian values of size bytes each from raw.
func rawValues[T any](raw []byte, n, size int, kind string, conv func([]byte) T) ([]T, error) {
	if len(raw) != size*n {
		return nil, fmt.Errorf("%s tensor of %d values has %d bytes", kind, n, len(raw))
	}
	v := make([]T, n)
	for i := range v {
		v[i] = conv(raw[size*i:])
	}
	return v, nil
}

// nonNil keeps an empty slice non-nil, so that Tensor.DType still tells
// which one holds the (zero) values.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// appendInts appends a repeated int64 field, packed or not.
func appendInts(v []int64, f Field) ([]int64, error) {
	switch f.Typ {
	case protowire.VarintType:
		return append(v, int64(f.varint())), nil
	case protowire.BytesType:
		p, err := packedVarints(f.Payload)
		return append(v, p...), err
	}
	return v, nil
}

// appendFloats appends a repeated float field, packed or not.
func appendFloats(v []float32, f Field) []float32 {
	switch f.Typ {
	case protowire.Fixed32Type:
		return append(v, math.Float32frombits(binary.LittleEndian.Uint32(f.Raw[protowire.SizeTag(f.Num):])))
	case protowire.BytesType:
		for p := f.Payload; len(p) >= 4; p = p[4:] {
			v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(p)))
		}
	}
	return v
}

// External is where a TensorProto's data lives when it is stored outside
// the model: a file named relative to the model, a byte offset and a
// length (-1: to the end of the file).
type External struct {
	Location       string
	Offset, Length int64
}

// ExternalData reports where tensor's data lives when its data_location
// is EXTERNAL; rest is the TensorProto without its external_data and
// data_location fields, ready for WithRawData. ok is false for a tensor
// that holds its data itself.
func ExternalData(tensor []byte) (ext External, rest []byte, ok bool, err error) {
	fs, err := Fields(tensor)
	if err != nil {
		return External{}, nil, false, fmt.Errorf("parse ONNX initializer: %w", err)
	}
	for _, f := range fs {
		if f.Num == tensorLocation && f.Typ == protowire.VarintType {
			ok = f.varint() == 1
		}
	}
	if !ok {
		return External{}, nil, false, nil
	}
	ext.Length = -1
	for _, f := range fs {
		switch f.Num {
		case tensorExternal:
			if err := ext.entry(f.Payload); err != nil {
				return External{}, nil, false, err
			}
		case tensorLocation:
		default:
			rest = append(rest, f.Raw...)
		}
	}
	return ext, rest, true, nil
}

// entry reads one StringStringEntryProto of external_data.
func (e *External) entry(b []byte) error {
	es, err := Fields(b)
	if err != nil {
		return fmt.Errorf("parse external_data entry: %w", err)
	}
	var k, v string
	for _, f := range es {
		switch f.Num {
		case entryKey:
			k = string(f.Payload)
		case entryValue:
			v = string(f.Payload)
		}
	}
	switch k {
	case "location":
		e.Location = v
	case "offset", "length":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("external_data %s %q is not a byte count", k, v)
		}
		if k == "offset" {
			e.Offset = n
		} else {
			e.Length = n
		}
	}
	return nil
}

// WithRawData appends data to a TensorProto payload as its raw_data.
func WithRawData(tensor, data []byte) []byte {
	return AppendField(tensor, tensorRaw, data)
}

// Externalize is the inverse of inlining, for tests: it returns tensor
// (a TensorProto payload) with its raw_data replaced by an external_data
// reference to ext, and the bytes moved out. ok is false when the tensor
// has no raw_data or at most min bytes of it.
func Externalize(tensor []byte, ext External, min int) (out, data []byte, ok bool, err error) {
	fs, err := Fields(tensor)
	if err != nil {
		return nil, nil, false, err
	}
	for _, f := range fs {
		if f.Num != tensorRaw || len(f.Payload) <= min {
			out = append(out, f.Raw...)
			continue
		}
		data, ok = f.Payload, true
		for _, kv := range [][2]string{{"location", ext.Location}, {"offset", strconv.FormatInt(ext.Offset, 10)}, {"length", strconv.Itoa(len(data))}} {
			var e []byte
			e = AppendField(e, entryKey, []byte(kv[0]))
			e = AppendField(e, entryValue, []byte(kv[1]))
			out = AppendField(out, tensorExternal, e)
		}
	}
	if ok {
		out = protowire.AppendTag(out, tensorLocation, protowire.VarintType)
		out = protowire.AppendVarint(out, 1)
	}
	return out, data, ok, nil
}
