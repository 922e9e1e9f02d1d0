package testgen

// The generated DeAOT-style propagator. It implements the ONNX contract of
// docs/propagator.md with four small graphs and a propagator.json sidecar:
//
//   - encoder: image [1,3,H,W] (RGB, /255, ImageNet mean/std) is
//     un-normalised and average-pooled over Stride×Stride cells; a token's
//     feature is its colour divided by ColourSigma, its cell centre divided
//     by PositionSigma (a weak position encoding) and zero padding:
//     emb [L,8], L = (H/Stride)·(W/Stride). The same features over 4×4
//     cells are the decoder's skip input s4 [1,8,H/4,W/4].
//   - reference: cur_k and cur_v are the tokens (layer l divides the
//     position channels by l+1, so layers differ); cur_id is the labels'
//     coverage of each token, the ID branch of a self-matched reference.
//   - propagate: per layer, a genuine attention read-out: the affinity
//     q·k − |k|²/2 (−|q−k|²/2 up to a per-query constant: a Gaussian of the
//     colour and position distance) between the current frame's s4 cells
//     (the decoder's queries) and every long-term and short-term memory
//     token (keys; dynamic length T·L + L), softmax over the memory, times
//     the memory's ID-values (each slot's coverage of the token). Short-term
//     keys get a bias of log(8T), like DeAOT's separate short-term branch.
//     The layers' read-outs are averaged: logits = log(read-out)
//     [1,M+1,H/4,W/4]; cur_id is the read-out pooled to tokens.
//   - memory_write: ID-values are the one-hot labels' coverage of each
//     token, for every layer (a real model also uses cur_id; this one
//     declares and ignores it).
//
// With a small ColourSigma the softmax is sharp, so a cell reads the
// identity of the memory tokens whose colour mix matches its own: interior
// cells read their object, boundary cells a fractional coverage that puts
// the interpolated boundary within a fraction of a pixel. Objects of
// distinct colours on a plain background are therefore tracked through
// motion by appearance alone.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"samtrack/models/onnxpb"
	"samtrack/tracker/deaot/sidecar"
)

// PropagatorOptions sizes the generated propagator. The zero value gives a
// 120×160 export (H×W), tokens at 1/8, 10 slots and one layer.
type PropagatorOptions struct {
	// Height and Width are the export size; multiples of Stride and of 4.
	Height, Width int
	// Stride is the token stride, 8 or 16.
	Stride int
	// Slots is M, the identities per engine (1-255).
	Slots int
	// Layers is the number of propagation layers.
	Layers int
	// ColourSigma is the colour tolerance of the affinity on the 0-1 scale;
	// 0 means 0.02.
	ColourSigma float32
	// PositionSigma is the position tolerance in export pixels; 0 means a
	// quarter of the larger side (a weak term).
	PositionSigma float32
	// ReferenceWithoutLabels builds a reference graph that does not read
	// the labels (no onehot input; cur_id is zero), as DeAOT-T's
	// single-layer export is: its memory_write ignores cur_id, so it tracks
	// exactly as the default model does.
	ReferenceWithoutLabels bool
	// DynamicOutputs declares every output axis of the four graphs dynamic
	// (unnamed sizes), as PyTorch 1.13's exporter leaves some of DeAOT's;
	// the tensors computed are the same.
	DynamicOutputs bool
}

// propLogitScale turns the generated propagator's read-out (0-1) into
// logits.
const propLogitScale = 16

// Propagator file names written by Propagator and WritePropagator.
const (
	FilePropagatorManifest    = sidecar.File
	FilePropagatorEncoder     = "encoder.onnx"
	FilePropagatorReference   = "reference.onnx"
	FilePropagatorPropagate   = "propagate.onnx"
	FilePropagatorMemoryWrite = "memory_write.onnx"
)

// ImageNet statistics (0-1 scale) that the generated encoder expects,
// as DeAOT's encoders do.
var (
	propMean = [3]float32{0.485, 0.456, 0.406}
	propStd  = [3]float32{0.229, 0.224, 0.225}
)

// propKeyDim is the width of the generated embedding, keys and values:
// three colour channels, two position channels and three zeros.
const propKeyDim = 8

func (o PropagatorOptions) withDefaults() (PropagatorOptions, error) {
	o.Height = cmp.Or(o.Height, 120)
	o.Width = cmp.Or(o.Width, 160)
	o.Stride = cmp.Or(o.Stride, 8)
	o.Slots = cmp.Or(o.Slots, 10)
	o.Layers = cmp.Or(o.Layers, 1)
	o.ColourSigma = cmp.Or(o.ColourSigma, 0.02)
	o.PositionSigma = cmp.Or(o.PositionSigma, float32(max(o.Height, o.Width))/4)
	switch {
	case o.Stride != 8 && o.Stride != 16:
		return o, fmt.Errorf("propagator stride %d: want 8 or 16", o.Stride)
	case o.Height <= 0 || o.Width <= 0 || o.Height%o.Stride != 0 || o.Width%o.Stride != 0:
		return o, fmt.Errorf("propagator size %dx%d: want positive multiples of the stride %d", o.Height, o.Width, o.Stride)
	case o.Slots < 1 || o.Slots > 255:
		return o, fmt.Errorf("propagator slots %d: want 1-255", o.Slots)
	case o.Layers < 1 || o.Layers > 8:
		return o, fmt.Errorf("propagator layers %d: want 1-8", o.Layers)
	case o.ColourSigma < 0 || o.PositionSigma < 0:
		return o, fmt.Errorf("propagator sigmas must be positive")
	}
	return o, nil
}

// Propagator generates the DeAOT-style test propagator: the four ONNX
// graphs and the propagator.json sidecar, keyed by file name.
func Propagator(opts PropagatorOptions) (map[string][]byte, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	gens := []struct {
		name string
		gen  func(PropagatorOptions) ([]byte, error)
	}{
		{FilePropagatorEncoder, propEncoder},
		{FilePropagatorReference, propReference},
		{FilePropagatorPropagate, propPropagate},
		{FilePropagatorMemoryWrite, propMemoryWrite},
	}
	for _, g := range gens {
		m, err := g.gen(o)
		if err != nil {
			return nil, fmt.Errorf("generate propagator %s: %w", g.name, err)
		}
		files[g.name] = m
	}
	var man sidecar.Manifest
	man.Format = sidecar.Format
	man.Name = fmt.Sprintf("testgen-colour-attention-%dx%d-s%d", o.Height, o.Width, o.Stride)
	man.Files.Encoder, man.Files.Reference = FilePropagatorEncoder, FilePropagatorReference
	man.Files.Propagate, man.Files.MemoryWrite = FilePropagatorPropagate, FilePropagatorMemoryWrite
	man.Slots = o.Slots
	man.Image.Height, man.Image.Width = o.Height, o.Width
	man.Image.Scale = 1.0 / 255
	man.Image.Mean, man.Image.Std = propMean, propStd
	man.Tokens.Height, man.Tokens.Width, man.Tokens.Stride = o.Height/o.Stride, o.Width/o.Stride, o.Stride
	man.Logits.Height, man.Logits.Width = o.Height/4, o.Width/4
	man.OneHot.Height, man.OneHot.Width = o.Height, o.Width
	man.Layers = o.Layers
	man.EmbedDim, man.KeyDim, man.ValueDim = propKeyDim, propKeyDim, propKeyDim
	man.IDDim, man.IDValueDim = o.Slots+1, o.Slots+1
	js, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode propagator manifest: %w", err)
	}
	files[FilePropagatorManifest] = append(js, '\n')
	return files, nil
}

// WritePropagator generates the propagator into dir (created if needed),
// ready for deaot.Open(rt, dir, ...).
func WritePropagator(dir string, opts PropagatorOptions) error {
	files, err := Propagator(opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create propagator directory: %w", err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write generated propagator: %w", err)
		}
	}
	return nil
}

// pg is a tiny helper over onnxpb.Graph for the propagator graphs.
type pg struct{ g *onnxpb.Graph }

func (b pg) f(v float32) string { return b.g.Scalar(v) }
func (b pg) ints(v ...int64) string {
	return b.g.Ints(v...)
}
func (b pg) op(op string, in ...string) string { return b.g.Op(op, in...) }
func (b pg) reshape(x string, dims ...int64) string {
	return b.g.Op("Reshape", x, b.ints(dims...))
}
func (b pg) transpose(x string, perm ...int64) string {
	return b.g.OpA("Transpose", []string{x}, onnxpb.AttrInts("perm", perm...))
}
func (b pg) concat(axis int64, xs ...string) string {
	return b.g.OpA("Concat", xs, onnxpb.AttrInt("axis", axis))
}
func (b pg) unsqueeze0(x string) string { return b.g.Op("Unsqueeze", x, b.ints(0)) }

// output declares a graph output of the given sizes, or with every axis
// dynamic when o.DynamicOutputs is set.
func (b pg) output(o PropagatorOptions, name, src string, dims ...int) {
	ds := make([]any, len(dims))
	for i, d := range dims {
		ds[i] = d
		if o.DynamicOutputs {
			ds[i] = fmt.Sprintf("%s_dim%d", name, i)
		}
	}
	if o.DynamicOutputs {
		// A reshape to the tensor's own run-time shape, computed through
		// Floor so that ONNX Runtime's shape inference cannot follow it:
		// the sizes stay dynamic, as behind the Resize ops of a PyTorch
		// export.
		shape := b.g.OpA("Cast", []string{b.op("Floor", b.g.OpA("Cast", []string{b.op("Shape", src)},
			onnxpb.AttrInt("to", int64(onnxpb.Float))))}, onnxpb.AttrInt("to", int64(onnxpb.Int64)))
		src = b.op("Reshape", src, shape)
	}
	b.g.Output(name, src, onnxpb.Float, ds...)
}

// gather picks index i along axis, dropping the axis.
func (b pg) gather(x string, axis, i int64) string {
	return b.g.OpA("Gather", []string{x, b.g.Const(onnxpb.I64([]int64{i}))}, onnxpb.AttrInt("axis", axis))
}

// dims of the propagator tensors.
func propDims(o PropagatorOptions) (h, w, L, S int) {
	h, w = o.Height/o.Stride, o.Width/o.Stride
	return h, w, h * w, o.Slots + 1
}

// layerScale is the per-channel scale of layer l's keys: the position
// channels are divided by l+1, so every layer sees a different key.
func layerScale(l int) []float32 {
	s := make([]float32, propKeyDim)
	for i := range s {
		s[i] = 1
	}
	s[3] = 1 / float32(l+1)
	s[4] = 1 / float32(l+1)
	return s
}

// perLayerKeys stacks emb scaled by every layer's scale: [NL,L,8].
func perLayerKeys(b pg, emb string, o PropagatorOptions) string {
	var ks []string
	for l := 0; l < o.Layers; l++ {
		ks = append(ks, b.unsqueeze0(b.op("Mul", emb, b.g.Floats(layerScale(l)...))))
	}
	return concatLayers(b, ks)
}

// coverage averages the one-hot [1,S,H,W] over each token's cell: [L,S].
func coverage(b pg, onehot string, o PropagatorOptions) string {
	_, _, L, S := propDims(o)
	s := int64(o.Stride)
	pooled := b.g.OpA("AveragePool", []string{onehot},
		onnxpb.AttrInts("kernel_shape", s, s), onnxpb.AttrInts("strides", s, s)) // [1,S,h,w]
	return b.transpose(b.reshape(pooled, int64(S), int64(L)), 1, 0)
}

// stackLayers repeats x [L,C] over the layers: [NL,L,C].
func stackLayers(b pg, x string, o PropagatorOptions) string {
	u := b.unsqueeze0(x)
	if o.Layers == 1 {
		return u
	}
	parts := make([]string, o.Layers)
	for i := range parts {
		parts[i] = u
	}
	return b.concat(0, parts...)
}

func propEncoder(o PropagatorOptions) ([]byte, error) {
	b := pg{onnxpb.NewGraph("samtrack_testgen_deaot_encoder")}
	h, w, L, _ := propDims(o)
	img := b.g.Input("image", onnxpb.Float, 1, 3, o.Height, o.Width)
	std := b.g.Const(onnxpb.F32(propStd[:], 1, 3, 1, 1))
	mean := b.g.Const(onnxpb.F32(propMean[:], 1, 3, 1, 1))
	rgb := b.op("Add", b.op("Mul", img, std), mean)
	s := int64(o.Stride)
	pooled := b.g.OpA("AveragePool", []string{rgb},
		onnxpb.AttrInts("kernel_shape", s, s), onnxpb.AttrInts("strides", s, s)) // [1,3,h,w]
	col := b.op("Mul", pooled, b.f(1/o.ColourSigma))
	pos := make([]float32, 2*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			pos[y*w+x] = (float32(x) + 0.5) * float32(o.Stride) / o.PositionSigma
			pos[h*w+y*w+x] = (float32(y) + 0.5) * float32(o.Stride) / o.PositionSigma
		}
	}
	feat := b.concat(1, col, b.g.Const(onnxpb.F32(pos, 1, 2, int64(h), int64(w))),
		b.g.Const(onnxpb.F32(make([]float32, (propKeyDim-5)*h*w), 1, propKeyDim-5, int64(h), int64(w)))) // [1,8,h,w]
	emb := b.transpose(b.reshape(feat, propKeyDim, int64(L)), 1, 0)
	b.output(o, "emb", emb, L, propKeyDim)
	// s4: the same features for 4×4 cells, the decoder's skip input.
	h4, w4 := o.Height/4, o.Width/4
	pooled4 := b.g.OpA("AveragePool", []string{rgb},
		onnxpb.AttrInts("kernel_shape", 4, 4), onnxpb.AttrInts("strides", 4, 4)) // [1,3,H/4,W/4]
	pos4 := make([]float32, 2*h4*w4)
	for y := 0; y < h4; y++ {
		for x := 0; x < w4; x++ {
			pos4[y*w4+x] = (float32(x) + 0.5) * 4 / o.PositionSigma
			pos4[h4*w4+y*w4+x] = (float32(y) + 0.5) * 4 / o.PositionSigma
		}
	}
	s4 := b.concat(1, b.op("Mul", pooled4, b.f(1/o.ColourSigma)),
		b.g.Const(onnxpb.F32(pos4, 1, 2, int64(h4), int64(w4))),
		b.g.Const(onnxpb.F32(make([]float32, (propKeyDim-5)*h4*w4), 1, propKeyDim-5, int64(h4), int64(w4))))
	b.output(o, "s4", s4, 1, propKeyDim, h4, w4)
	return b.g.Model()
}

func propReference(o PropagatorOptions) ([]byte, error) {
	b := pg{onnxpb.NewGraph("samtrack_testgen_deaot_reference")}
	_, _, L, S := propDims(o)
	emb := b.g.Input("emb", onnxpb.Float, L, propKeyDim)
	keys := perLayerKeys(b, emb, o)
	b.output(o, "cur_k", keys, o.Layers, L, propKeyDim)
	b.output(o, "cur_v", stackLayers(b, emb, o), o.Layers, L, propKeyDim)
	var curID string
	if o.ReferenceWithoutLabels {
		curID = b.g.Const(onnxpb.F32(make([]float32, o.Layers*L*S), int64(o.Layers), int64(L), int64(S)))
	} else {
		onehot := b.g.Input("onehot", onnxpb.Float, 1, S, o.Height, o.Width)
		curID = stackLayers(b, coverage(b, onehot, o), o)
	}
	b.output(o, "cur_id", curID, o.Layers, L, S)
	return b.g.Model()
}

func propMemoryWrite(o PropagatorOptions) ([]byte, error) {
	b := pg{onnxpb.NewGraph("samtrack_testgen_deaot_memory_write")}
	_, _, L, S := propDims(o)
	b.g.Input("cur_id", onnxpb.Float, o.Layers, L, S)
	onehot := b.g.Input("onehot", onnxpb.Float, 1, S, o.Height, o.Width)
	b.output(o, "idv", stackLayers(b, coverage(b, onehot, o), o), o.Layers, L, S)
	return b.g.Model()
}

func propPropagate(o PropagatorOptions) ([]byte, error) {
	b := pg{onnxpb.NewGraph("samtrack_testgen_deaot_propagate")}
	_, _, L, S := propDims(o)
	emb := b.g.Input("emb", onnxpb.Float, L, propKeyDim)
	var m propMemory
	m.ltK = b.g.Input("lt_k", onnxpb.Float, "T", o.Layers, L, propKeyDim)
	b.g.Input("lt_v", onnxpb.Float, "T", o.Layers, L, propKeyDim)
	m.ltI = b.g.Input("lt_idv", onnxpb.Float, "T", o.Layers, L, S)
	m.stK = b.g.Input("st_k", onnxpb.Float, o.Layers, L, propKeyDim)
	b.g.Input("st_v", onnxpb.Float, o.Layers, L, propKeyDim)
	m.stI = b.g.Input("st_idv", onnxpb.Float, o.Layers, L, S)

	h4, w4 := o.Height/4, o.Width/4
	s4 := b.g.Input("s4", onnxpb.Float, 1, propKeyDim, h4, w4)
	q4 := b.transpose(b.reshape(s4, propKeyDim, int64(h4*w4)), 1, 0) // [L4,C]
	reads, curK := propAttend(b, o, m, q4, emb)
	logits, curID := propReadOut(b, o, reads)
	b.output(o, "logits", logits, 1, S, h4, w4)
	b.output(o, "cur_k", concatLayers(b, curK), o.Layers, L, propKeyDim)
	b.output(o, "cur_v", stackLayers(b, emb, o), o.Layers, L, propKeyDim)
	b.output(o, "cur_id", concatLayers(b, curID), o.Layers, L, S)
	return b.g.Model()
}

// propMemory is the propagate graph's memory: long-term (T frames) and
// short-term (the previous frame) keys and ID values per layer.
type propMemory struct{ ltK, ltI, stK, stI string }

// propAttend reads every layer's memory with the 1/4-resolution queries
// q4 [L4,C]: the ID read-out [L4,S] and the current frame's keys
// [1,L,C] per layer.
func propAttend(b pg, o PropagatorOptions, m propMemory, q4, emb string) (reads, curK []string) {
	C := int64(propKeyDim)
	_, _, _, S := propDims(o)
	// e5 is channel 5, zero in every feature: queries set it to 1 and keys
	// to −|k|²/2 (+ a bias), so that one MatMul gives q·k − |k|²/2 (+ bias).
	e5 := make([]float32, propKeyDim)
	e5[5] = 1
	qOne := b.g.Floats(e5...)
	e5Row := b.g.Const(onnxpb.F32(e5, 1, C))
	augment := func(k, bias string) string {
		kk := b.g.OpA("ReduceSum", []string{b.op("Mul", k, k), b.ints(1)}, onnxpb.AttrInt("keepdims", 1)) // [N,1]
		v := b.op("Mul", kk, b.f(-0.5))
		if bias != "" {
			v = b.op("Add", v, bias)
		}
		return b.op("Add", k, b.op("Mul", v, e5Row))
	}
	// Short-term keys get a bias of log(8T): as DeAOT adds a separate
	// short-term attention to the long-term one, the previous frame weighs
	// eight times as much as all T long-term frames together wherever it
	// matches as well, so an object added by the latest reference is not
	// simply outvoted by older frames that saw its colour as background.
	// Where the previous frame matches badly (an object reappearing),
	// long-term memory wins.
	tF := b.g.OpA("Cast", []string{b.g.Op("Slice", b.op("Shape", m.ltK), b.ints(0), b.ints(1))},
		onnxpb.AttrInt("to", int64(onnxpb.Float))) // [1] = T
	stBias := b.op("Log", b.op("Mul", tF, b.f(8)))
	for l := int64(0); l < int64(o.Layers); l++ {
		scale := b.g.Floats(layerScale(int(l))...)
		k := b.concat(0, augment(b.reshape(b.gather(m.ltK, 1, l), -1, C), ""),
			augment(b.gather(m.stK, 0, l), stBias)) // [N,C], N = T·L + L
		ids := b.concat(0, b.reshape(b.gather(m.ltI, 1, l), -1, int64(S)), b.gather(m.stI, 0, l))
		q := b.op("Add", b.op("Mul", q4, scale), qOne)
		aff := b.op("MatMul", q, b.transpose(k, 1, 0)) // [L4,N]
		att := b.g.OpA("Softmax", []string{aff}, onnxpb.AttrInt("axis", 1))
		reads = append(reads, b.op("MatMul", att, ids)) // [L4,S]
		curK = append(curK, b.unsqueeze0(b.op("Mul", emb, scale)))
	}
	return reads, curK
}

// propReadOut turns the layers' read-outs into the logits at 1/4
// resolution and each layer's cur_id [1,L,S], the ID-branch state: the
// read-out pooled to tokens.
func propReadOut(b pg, o PropagatorOptions, reads []string) (logits string, curID []string) {
	_, _, L, S := propDims(o)
	h4, w4 := o.Height/4, o.Width/4
	var grids []string
	for _, r := range reads {
		g := b.reshape(b.transpose(r, 1, 0), 1, int64(S), int64(h4), int64(w4))
		grids = append(grids, g)
		k := int64(o.Stride / 4)
		pooled := b.g.OpA("AveragePool", []string{g},
			onnxpb.AttrInts("kernel_shape", k, k), onnxpb.AttrInts("strides", k, k))
		curID = append(curID, b.unsqueeze0(b.transpose(b.reshape(pooled, int64(S), int64(L)), 1, 0)))
	}
	// The mean read-out. Logits linear in it: samtrack (like
	// aot-benchmark) resizes logits bilinearly before the softmax, so a
	// linear logit keeps the interpolated read-out's argmax; the scale
	// makes the softmax sharp.
	grid := grids[0]
	if len(grids) > 1 {
		grid = b.op("Mul", b.op("Sum", grids...), b.f(1/float32(len(grids))))
	}
	return b.op("Mul", grid, b.f(propLogitScale)), curID
}

// concatLayers joins per-layer tensors [1,...] along axis 0; a single
// layer is used as it is.
func concatLayers(b pg, parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return b.concat(0, parts...)
}
