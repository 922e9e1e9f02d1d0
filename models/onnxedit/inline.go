package onnxedit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"samtrack/models/onnxpb"
)

// InlineExternalData returns model with every initializer whose data lives
// in an external file (resolved relative to dir, as ONNX Runtime does for
// a model file) rewritten to carry the bytes itself, so that a rewritten
// graph can be loaded from memory. A model without external data is
// returned unchanged; external is false then.
func InlineExternalData(model []byte, dir string) (out []byte, external bool, err error) {
	top, err := onnxpb.Fields(model)
	if err != nil {
		return nil, false, fmt.Errorf("parse ONNX model: %w", err)
	}
	files := weightFiles{dir: dir, open: map[string]*os.File{}}
	defer files.close()
	for _, f := range top {
		if f.Num != onnxpb.FieldModelGraph || !f.IsBytes() {
			out = append(out, f.Raw...)
			continue
		}
		gfs, err := onnxpb.Fields(f.Payload)
		if err != nil {
			return nil, false, fmt.Errorf("parse ONNX graph: %w", err)
		}
		var g []byte
		for _, gf := range gfs {
			if gf.Num != onnxpb.FieldGraphInitializer || !gf.IsBytes() {
				g = append(g, gf.Raw...)
				continue
			}
			t, ext, err := files.inlineTensor(gf.Payload)
			if err != nil {
				return nil, false, err
			}
			external = external || ext
			g = onnxpb.AppendField(g, onnxpb.FieldGraphInitializer, t)
		}
		out = onnxpb.AppendField(out, onnxpb.FieldModelGraph, g)
	}
	if !external {
		return model, false, nil
	}
	return out, true, nil
}

// weightFiles are the external weight files opened while inlining.
type weightFiles struct {
	dir  string
	open map[string]*os.File
}

func (w weightFiles) close() {
	for _, f := range w.open {
		f.Close()
	}
}

// inlineTensor returns a TensorProto payload with its external data read
// in; ext is false (and t returned as is) when it had none.
func (w weightFiles) inlineTensor(t []byte) ([]byte, bool, error) {
	ref, rest, ext, err := onnxpb.ExternalData(t)
	if err != nil || !ext {
		return t, false, err
	}
	data, err := w.read(ref)
	if err != nil {
		return nil, false, err
	}
	return onnxpb.WithRawData(rest, data), true, nil
}

// read reads the bytes an external_data reference names.
func (w weightFiles) read(ref onnxpb.External) ([]byte, error) {
	loc, offset, length := ref.Location, ref.Offset, ref.Length
	if loc == "" || filepath.IsAbs(loc) || strings.Contains(filepath.ToSlash(loc), "..") {
		return nil, fmt.Errorf("external_data location %q must be a file name relative to the model", loc)
	}
	fh, ok := w.open[loc]
	if !ok {
		var err error
		fh, err = os.Open(filepath.Join(w.dir, loc))
		if err != nil {
			return nil, fmt.Errorf("read external weights: %w", err)
		}
		w.open[loc] = fh
	}
	if length < 0 {
		st, err := fh.Stat()
		if err != nil {
			return nil, fmt.Errorf("read external weights: %w", err)
		}
		length = st.Size() - offset
	}
	if length < 0 || length > 1<<31 {
		return nil, fmt.Errorf("external weights %s: bad length %d at offset %d", loc, length, offset)
	}
	data := make([]byte, length)
	if _, err := fh.ReadAt(data, offset); err != nil && !(errors.Is(err, io.EOF) && length == 0) {
		return nil, fmt.Errorf("read external weights %s (%d bytes at %d): %w; is the weights file complete?", loc, length, offset, err)
	}
	return data, nil
}
