package ort

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	onnx "github.com/yalue/onnxruntime_go"
)

// DType is a tensor element type that samtrack exchanges with models.
type DType int

// The element types samtrack feeds and reads.
const (
	Float32 DType = iota
	Int64
	Other
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int64:
		return "int64"
	}
	return "other"
}

// IOInfo describes one model input or output. A dimension of -1 is dynamic.
type IOInfo struct {
	Name  string
	Shape []int64
	Type  DType
	// TypeName is ONNX Runtime's name for the element type.
	TypeName string
}

func (i IOInfo) String() string {
	dims := make([]string, len(i.Shape))
	for k, d := range i.Shape {
		if d < 0 {
			dims[k] = "?"
		} else {
			dims[k] = fmt.Sprint(d)
		}
	}
	return fmt.Sprintf("%s %s[%s]", i.Name, i.TypeName, strings.Join(dims, ","))
}

// Tensor is a dense tensor held in Go memory. Exactly one of F32 and I64
// carries the data.
type Tensor struct {
	Shape []int64
	F32   []float32
	I64   []int64
}

// F32Tensor wraps data with a shape.
func F32Tensor(data []float32, shape ...int64) Tensor { return Tensor{Shape: shape, F32: data} }

// I64Tensor wraps data with a shape.
func I64Tensor(data []int64, shape ...int64) Tensor { return Tensor{Shape: shape, I64: data} }

// Len is the element count implied by the shape.
func (t Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= int(d)
	}
	return n
}

func convertInfo(in []onnx.InputOutputInfo) []IOInfo {
	out := make([]IOInfo, len(in))
	for i, v := range in {
		t := Other
		switch v.DataType {
		case onnx.TensorElementDataTypeFloat:
			t = Float32
		case onnx.TensorElementDataTypeInt64:
			t = Int64
		}
		out[i] = IOInfo{Name: v.Name, Shape: append([]int64(nil), v.Dimensions...), Type: t, TypeName: v.DataType.String()}
	}
	return out
}

// Inspect reads the input and output signature of an ONNX file without
// keeping a session open.
func (r *Runtime) Inspect(path string) (inputs, outputs []IOInfo, err error) {
	// onnxruntime_go loads a temporary session to answer. With default
	// options that session starts a thread pool on every core, and each
	// new thread leaves a glibc malloc arena behind (about 0.5 MB an
	// inspection, measured): one thread and no graph optimisation keep it
	// cheap and flat.
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, nil, fmt.Errorf("session options: %w", err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(1); err != nil {
		return nil, nil, fmt.Errorf("set threads: %w", err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, nil, fmt.Errorf("set threads: %w", err)
	}
	if err := so.SetGraphOptimizationLevel(onnx.GraphOptimizationLevelDisableAll); err != nil {
		return nil, nil, fmt.Errorf("set optimisation level: %w", err)
	}
	in, out, err := onnx.GetInputOutputInfoWithOptions(path, so)
	if err != nil {
		return nil, nil, fmt.Errorf("read model %s: %w (is it a complete ONNX file?)", path, err)
	}
	return convertInfo(in), convertInfo(out), nil
}

// Session is one loaded model. Run may be called from several goroutines.
type Session struct {
	path    string
	s       *onnx.DynamicAdvancedSession
	inputs  []IOInfo
	outputs []IOInfo
}

// NewSession loads the model at path. Only the outputs named in opts are
// produced (all of them when none are named).
func (r *Runtime) NewSession(path string, opts Options) (*Session, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	in, out, err := r.Inspect(path)
	if err != nil {
		return nil, err
	}
	return r.newSession(path, nil, in, out, opts)
}

// NewSessionFromBytes loads a model held in memory; name is used in errors.
func (r *Runtime) NewSessionFromBytes(name string, model []byte, opts Options) (*Session, error) {
	in, out, err := onnx.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", name, err)
	}
	return r.newSession(name, model, convertInfo(in), convertInfo(out), opts)
}

func (r *Runtime) newSession(path string, model []byte, in, out []IOInfo, opts Options) (*Session, error) {
	if len(opts.Outputs) > 0 {
		var sel []IOInfo
		for _, name := range opts.Outputs {
			found := false
			for _, o := range out {
				if o.Name == name {
					sel = append(sel, o)
					found = true
				}
			}
			if !found {
				return nil, fmt.Errorf("model %s has no output %q", path, name)
			}
		}
		out = sel
	}
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(opts.threads()); err != nil {
		return nil, fmt.Errorf("set threads: %w", err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("set threads: %w", err)
	}
	if len(opts.DisableOptimizers) > 0 {
		if err := so.AddSessionConfigEntry("optimization.disable_specified_optimizers", strings.Join(opts.DisableOptimizers, ";")); err != nil {
			return nil, fmt.Errorf("disable optimizers %v: %w", opts.DisableOptimizers, err)
		}
	}
	inNames := names(in)
	outNames := names(out)
	var s *onnx.DynamicAdvancedSession
	if model != nil {
		s, err = onnx.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, so)
	} else {
		s, err = onnx.NewDynamicAdvancedSession(path, inNames, outNames, so)
	}
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return &Session{path: path, s: s, inputs: in, outputs: out}, nil
}

func names(v []IOInfo) []string {
	n := make([]string, len(v))
	for i, x := range v {
		n[i] = x.Name
	}
	return n
}

// Path is the model file (or the name given for an in-memory model).
func (s *Session) Path() string { return s.path }

// Inputs describes the model's inputs in the order Run expects them.
func (s *Session) Inputs() []IOInfo { return s.inputs }

// Outputs describes the outputs Run returns, in order.
func (s *Session) Outputs() []IOInfo { return s.outputs }

// Close frees the native session.
func (s *Session) Close() error {
	if s == nil || s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	if err != nil {
		return fmt.Errorf("close session %s: %w", s.path, err)
	}
	return nil
}

func toValue(t Tensor) (onnx.Value, error) {
	shape := onnx.NewShape(t.Shape...)
	switch {
	case t.F32 != nil:
		return onnx.NewTensor(shape, t.F32)
	case t.I64 != nil:
		return onnx.NewTensor(shape, t.I64)
	}
	return nil, fmt.Errorf("tensor of shape %v holds no data", t.Shape)
}

// Run feeds inputs by name and returns every session output by name. The
// inputs must cover the model's inputs exactly.
func (s *Session) Run(inputs map[string]Tensor) (map[string]Tensor, error) {
	return s.RunInto(inputs, nil)
}

// RunInto is Run, except that ONNX Runtime writes the outputs named in
// into straight into those tensors, which must have the outputs' types
// and exact shapes; the result holds them too. A caller that runs a
// session many times with large outputs reuses its buffers this way
// instead of receiving a new copy of each output every run.
func (s *Session) RunInto(inputs, into map[string]Tensor) (map[string]Tensor, error) {
	if s.s == nil {
		return nil, fmt.Errorf("run %s: session is closed", s.path)
	}
	vals := make([]onnx.Value, len(s.inputs))
	defer func() {
		for _, v := range vals {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, in := range s.inputs {
		t, ok := inputs[in.Name]
		if !ok {
			return nil, fmt.Errorf("run %s: input %q not given", s.path, in.Name)
		}
		if t.Len() != len(t.F32)+len(t.I64) {
			return nil, fmt.Errorf("run %s: input %q has %d values for shape %v", s.path, in.Name, len(t.F32)+len(t.I64), t.Shape)
		}
		if (in.Type == Float32 && t.F32 == nil) || (in.Type == Int64 && t.I64 == nil) {
			return nil, fmt.Errorf("run %s: input %q wants %s", s.path, in.Name, in.TypeName)
		}
		v, err := toValue(t)
		if err != nil {
			return nil, fmt.Errorf("run %s: input %q: %w", s.path, in.Name, err)
		}
		vals[i] = v
	}
	for _, o := range s.outputs {
		if o.Type == Other {
			return nil, fmt.Errorf("run %s: output %q has type %s, which samtrack cannot read; restrict the session to float32 and int64 outputs (Options.Outputs)", s.path, o.Name, o.TypeName)
		}
	}
	outs := make([]onnx.Value, len(s.outputs))
	defer func() {
		for _, v := range outs {
			release(v)
		}
	}()
	for i, o := range s.outputs {
		t, ok := into[o.Name]
		if !ok {
			continue
		}
		if (o.Type == Float32 && t.F32 == nil) || (o.Type == Int64 && t.I64 == nil) || t.Len() != len(t.F32)+len(t.I64) || !fits(o.Shape, t.Shape) {
			return nil, fmt.Errorf("run %s: buffer for output %q: want %s %v, got shape %v", s.path, o.Name, o.TypeName, o.Shape, t.Shape)
		}
		v, err := toValue(t)
		if err != nil {
			return nil, fmt.Errorf("run %s: output %q: %w", s.path, o.Name, err)
		}
		outs[i] = v
	}
	if err := s.s.Run(vals, outs); err != nil {
		return nil, fmt.Errorf("run %s: %w", s.path, err)
	}
	// onnxruntime_go hands each output back as a fresh Go slice that it
	// copied from ONNX Runtime's buffer; it stays valid after the value is
	// released, so it is returned as it is, not copied a second time.
	res := make(map[string]Tensor, len(outs))
	for i, v := range outs {
		if t, ok := into[s.outputs[i].Name]; ok {
			res[s.outputs[i].Name] = t
			continue
		}
		shape := append([]int64(nil), v.GetShape()...)
		switch tv := v.(type) {
		case *onnx.Tensor[float32]:
			res[s.outputs[i].Name] = Tensor{Shape: shape, F32: tv.GetData()}
		case *onnx.Tensor[int64]:
			res[s.outputs[i].Name] = Tensor{Shape: shape, I64: tv.GetData()}
		default:
			return nil, fmt.Errorf("run %s: output %q has unsupported type %s", s.path, s.outputs[i].Name, s.outputs[i].TypeName)
		}
	}
	return res, nil
}

// release destroys v unless it is nil or a nil pointer: onnxruntime_go
// leaves a typed nil in an output it failed to convert.
func release(v onnx.Value) {
	if v == nil {
		return
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return
	}
	v.Destroy()
}

// fits reports whether shape matches the model's declared dims (-1 is
// dynamic; no dims at all, an output declared without a shape, fits any).
func fits(declared, shape []int64) bool {
	if len(declared) == 0 {
		return true
	}
	if len(declared) != len(shape) {
		return false
	}
	for i, d := range declared {
		if d >= 0 && d != shape[i] {
			return false
		}
	}
	return true
}
