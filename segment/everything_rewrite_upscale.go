package segment

import (
	"slices"

	"samtrack/models/onnxpb"
)

// This file rewrites the mask head of a SAM v1 decoder (ConvTranspose,
// LayerNorm2d, GELU, ConvTranspose, GELU, then the hypernetwork product;
// LayerNorm2d as segment-anything's own export writes it, ReduceMean, Sub,
// Pow, ReduceMean, Add, Sqrt, Div, Mul, Add over the channel axis, or as
// Transpose → LayerNormalization → Transpose, as exports of the
// transformers port write it) so
// that the upscaled image never leaves a pixel-major layout. A 2×2,
// stride-2 ConvTranspose maps each input pixel to its own 2×2 block of
// outputs: it is a product of the pixels' channel rows with the weight
// laid out as [C_in, 2·2·C_out], with no overlap to add. Kept in that
// "sub-pixel" order (rows i, j, a, b for output pixel (2i+a, 2j+b)), the
// LayerNorm2d becomes LayerNormalization over the last axis with no
// transposes around it, GELU is elementwise, the second ConvTranspose is
// again one product, and the hypernetwork product reads the rows as they
// are. Only the [tokens, 256·256] masks are transposed back to image order
// at the end, a quarter of a million values instead of three transposes
// and two ConvTransposes over up to two million.
//
// On the SAM ViT-B cost model the head took about 13 ms of the 30 ms
// mask pass of one click (2 cores, one thread a worker). The products and
// sums are the same as the ConvTransposes'; results agree up to float
// rounding, and callers verify them.

// upscaleHead is the matched mask head.
type upscaleHead struct {
	conv1, conv2 *onnxpb.Node
	w1, w2       onnxpb.Tensor
	b1, b2       *onnxpb.Tensor
	rows         string // [1, 1, h·w, C_in] tensor the conv input is reshaped from, or ""
	norm         norm2d
	act1         []*onnxpb.Node // elementwise nodes from the norm to conv2
	act2         []*onnxpb.Node // elementwise nodes from conv2 to the product
	act2Out      string
	mm           *onnxpb.Node // MatMul(hyper_in, Reshape(act2Out))
}

// convT2x2 reports whether n is a ConvTranspose with a constant [C_in,
// C_out, 2, 2] weight, stride 2 and nothing else that moves pixels.
func (g attnGraph) convT2x2(n *onnxpb.Node) (w onnxpb.Tensor, b *onnxpb.Tensor, ok bool) {
	if n.Op != "ConvTranspose" || len(n.In) < 2 || len(n.Out) != 1 {
		return w, nil, false
	}
	w, ok = g.Constant(n.In[1])
	if !ok || w.DType() != onnxpb.Float || len(w.Dims) != 4 || w.Dims[2] != 2 || w.Dims[3] != 2 {
		return w, nil, false
	}
	// is: the attribute is absent (its default holds) or equals want.
	is := func(name string, want ...int64) bool {
		v, has := n.AttrInts(name)
		return !has || slices.Equal(v, want)
	}
	if s, has := n.AttrInts("strides"); !has || !slices.Equal(s, []int64{2, 2}) {
		return w, nil, false
	}
	if !is("kernel_shape", 2, 2) || !is("pads", 0, 0, 0, 0) ||
		!is("dilations", 1, 1) || !is("output_padding", 0, 0) || n.AttrInt("group", 1) != 1 {
		return w, nil, false
	}
	if _, has := n.AttrInts("output_shape"); has {
		return w, nil, false
	}
	if _, has := n.Attr("auto_pad"); has {
		return w, nil, false
	}
	if len(n.In) > 2 && n.In[2] != "" {
		t, ok := g.Constant(n.In[2])
		if !ok || t.DType() != onnxpb.Float || len(t.F32) != int(w.Dims[1]) {
			return w, nil, false
		}
		b = &t
	}
	return w, b, true
}

// elementwiseOps are the ops that commute with any reordering of the
// values when their other inputs are scalar constants.
var elementwiseOps = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true, "Erf": true, "Tanh": true, "Sigmoid": true, "Relu": true, "Pow": true, "Sqrt": true}

// elementwiseRegion collects the nodes reachable from tensor from through
// elementwise ops whose other inputs are scalar constants, up to the one
// tensor (exit) that a node outside the region reads. ok is false when the
// region leaks: another tensor of it is read outside, or it is a graph
// output.
func (g attnGraph) elementwiseRegion(from string) (nodes []*onnxpb.Node, exit string, ok bool) {
	in := map[string]bool{from: true}
	for _, n := range g.Nodes { // topological order
		reads := false
		for _, s := range n.In {
			reads = reads || in[s]
		}
		if !reads {
			continue
		}
		if !elementwiseOps[n.Op] || len(n.Out) != 1 {
			continue
		}
		for _, s := range n.In {
			if _, c := g.Scalar(s); !in[s] && !c {
				return nil, "", false
			}
		}
		nodes = append(nodes, n)
		in[n.Out[0]] = true
	}
	outs := map[string]bool{}
	for _, o := range g.OutputNames() {
		outs[o] = true
	}
	for t := range in {
		for _, c := range g.Consumers(t) {
			if slices.Contains(nodes, c) {
				continue
			}
			if exit != "" && exit != t || outs[t] {
				return nil, "", false
			}
			exit = t
		}
	}
	return nodes, exit, exit != ""
}

// matchUpscale matches the mask head; probe lists the tensors whose shapes
// rewriteUpscale needs.
func (g attnGraph) matchUpscale() (*upscaleHead, []string, bool) {
	var convs []*onnxpb.Node
	for _, n := range g.Nodes {
		if n.Op == "ConvTranspose" {
			convs = append(convs, n)
		}
	}
	if len(convs) != 2 {
		return nil, nil, false
	}
	u := &upscaleHead{conv1: convs[0], conv2: convs[1]}
	var ok1, ok2 bool
	u.w1, u.b1, ok1 = g.convT2x2(u.conv1)
	u.w2, u.b2, ok2 = g.convT2x2(u.conv2)
	if !ok1 || !ok2 || u.w2.Dims[0] != u.w1.Dims[1] {
		return nil, nil, false
	}
	var ok bool
	if u.norm, ok = g.matchNorm2d(u.conv1.Out[0], int(u.w1.Dims[1])); !ok {
		return nil, nil, false
	}
	var exit string
	if u.act1, exit, ok = g.elementwiseRegion(u.norm.out); !ok || exit != u.conv2.In[0] {
		return nil, nil, false
	}
	if u.act2, u.act2Out, ok = g.elementwiseRegion(u.conv2.Out[0]); !ok {
		return nil, nil, false
	}
	rs := g.Only(u.act2Out)
	if rs == nil || rs.Op != "Reshape" || rs.In[0] != u.act2Out {
		return nil, nil, false
	}
	u.mm = g.Only(rs.Out[0])
	if u.mm == nil || u.mm.Op != "MatMul" || len(u.mm.In) != 2 || u.mm.In[1] != rs.Out[0] {
		return nil, nil, false
	}
	probe := []string{u.conv1.In[0], u.mm.In[0], u.mm.Out[0]}
	// The conv input is usually the transformer's [1, 1, h·w, C] output,
	// transposed and reshaped: read those rows directly.
	if r := g.Producer(u.conv1.In[0]); r != nil && r.Op == "Reshape" {
		if tr := g.Producer(r.In[0]); tr != nil && g.isPerm(tr, 0, 1, 3, 2) {
			u.rows = tr.In[0]
			probe = append(probe, u.rows)
		}
	}
	return u, probe, true
}

// norm2d is a matched LayerNorm2d: per pixel, over c channels,
// (x − mean)/√(var + eps)·gamma + beta; out is its result.
type norm2d struct {
	gamma, beta []float32
	eps         float32
	out         string
}

// matchNorm2d matches a LayerNorm2d over the c channels of x, in either
// form (see the top of this file).
func (g attnGraph) matchNorm2d(x string, c int) (norm2d, bool) {
	if t1 := g.Only(x); t1 != nil && g.isPerm(t1, 0, 2, 3, 1) {
		return g.matchTransposedNorm(t1, c)
	}
	return g.matchDecomposedNorm(x, c)
}

// matchTransposedNorm: Transpose → LayerNormalization(last axis) →
// Transpose back.
func (g attnGraph) matchTransposedNorm(t1 *onnxpb.Node, c int) (norm2d, bool) {
	var n norm2d
	ln := g.Only(t1.Out[0])
	if ln == nil || ln.Op != "LayerNormalization" || len(ln.Out) != 1 || len(ln.In) < 2 || ln.In[0] != t1.Out[0] {
		return n, false
	}
	if ax := ln.AttrInt("axis", -1); ax != -1 && ax != 3 {
		return n, false
	}
	t2 := g.Only(ln.Out[0])
	if t2 == nil || !g.isPerm(t2, 0, 3, 1, 2) {
		return n, false
	}
	var ok bool
	if n.gamma, ok = g.channelConst(ln.In[1], c); !ok {
		return n, false
	}
	n.beta = make([]float32, c)
	if len(ln.In) > 2 && ln.In[2] != "" {
		if n.beta, ok = g.channelConst(ln.In[2], c); !ok {
			return n, false
		}
	}
	n.eps = 1e-5
	if e, ok := ln.AttrFloat("epsilon"); ok {
		n.eps = e
	}
	n.out = t2.Out[0]
	return n, true
}

// matchDecomposedNorm: u = ReduceMean(x, axis 1); d = x − u;
// v = ReduceMean(d², axis 1); y = d / √(v + eps) (d recomputed or
// shared); gamma·y + beta with [C, 1, 1] constants.
func (g attnGraph) matchDecomposedNorm(x string, c int) (norm2d, bool) {
	var n norm2d
	var mean string
	for _, r := range g.Consumers(x) {
		if g.meanOverChannels(r, x) {
			mean = r.Out[0]
		}
	}
	// isDiff: t is x − mean.
	isDiff := func(t string) bool {
		p := g.Producer(t)
		return p != nil && p.Op == "Sub" && len(p.In) == 2 && p.In[0] == x && p.In[1] == mean
	}
	var div *onnxpb.Node
	for _, d := range g.Consumers(mean) {
		if d.Op != "Sub" || !isDiff(d.Out[0]) {
			continue
		}
		for _, q := range g.Consumers(d.Out[0]) {
			if q.Op == "Div" && q.In[0] == d.Out[0] {
				div = q
			}
		}
	}
	if mean == "" || div == nil {
		return n, false
	}
	// The divisor: Sqrt(Add(ReduceMean(Pow(x − mean, 2)), eps)).
	sq := g.Producer(div.In[1])
	if sq == nil || sq.Op != "Sqrt" {
		return n, false
	}
	add := g.Producer(sq.In[0])
	if add == nil || add.Op != "Add" || len(add.In) != 2 {
		return n, false
	}
	eps, ok := g.Scalar(add.In[1])
	v := g.Producer(add.In[0])
	if !ok || v == nil {
		return n, false
	}
	pw := g.Producer(v.In[0])
	if !g.meanOverChannels(v, v.In[0]) || pw == nil || pw.Op != "Pow" || len(pw.In) != 2 || !isDiff(pw.In[0]) {
		return n, false
	}
	if e, ok := g.Scalar(pw.In[1]); !ok || e != 2 {
		return n, false
	}
	mul := g.Only(div.Out[0])
	if mul == nil || mul.Op != "Mul" || len(mul.In) != 2 {
		return n, false
	}
	gname := otherInput(mul, div.Out[0])
	bias := g.Only(mul.Out[0])
	if bias == nil || bias.Op != "Add" || len(bias.In) != 2 {
		return n, false
	}
	bname := otherInput(bias, mul.Out[0])
	if n.gamma, ok = g.channelConst(gname, c); !ok {
		return n, false
	}
	if n.beta, ok = g.channelConst(bname, c); !ok {
		return n, false
	}
	n.eps, n.out = float32(eps), bias.Out[0]
	return n, true
}

// meanOverChannels reports whether r is ReduceMean of x over axis 1 only,
// keeping it (the axes as an attribute, opset < 18, or an input).
func (g attnGraph) meanOverChannels(r *onnxpb.Node, x string) bool {
	if r.Op != "ReduceMean" || len(r.In) == 0 || r.In[0] != x || len(r.Out) != 1 || r.AttrInt("keepdims", 1) != 1 {
		return false
	}
	axes, ok := r.AttrInts("axes")
	if len(r.In) > 1 {
		t, isConst := g.Constant(r.In[1])
		axes, ok = t.I64, isConst && t.DType() == onnxpb.Int64
	}
	return ok && slices.Equal(axes, []int64{1})
}

// channelConst returns a constant of c values laid out as [c] or [c, 1, 1].
func (g attnGraph) channelConst(name string, c int) ([]float32, bool) {
	t, ok := g.Constant(name)
	if !ok || t.DType() != onnxpb.Float || len(t.F32) != c || len(t.Dims) == 0 || t.Dims[0] != int64(c) {
		return nil, false
	}
	return t.F32, true
}

// cut is the image tensor the rewritten head reads first.
func (u *upscaleHead) cut() string {
	if u.rows != "" {
		return u.rows
	}
	return u.conv1.In[0]
}

func (g attnGraph) isPerm(n *onnxpb.Node, perm ...int64) bool {
	p, ok := n.AttrInts("perm")
	return n.Op == "Transpose" && ok && slices.Equal(p, perm)
}

// subPixelWeight lays a [C_in, C_out, 2, 2] ConvTranspose weight out as
// [C_in, 2·2·C_out] (column (a·2+b)·C_out + o), and its bias as the
// matching [2·2·C_out] row (zeros when b is nil).
func subPixelWeight(w onnxpb.Tensor, b *onnxpb.Tensor) (wr, br []float32) {
	cin, cout := int(w.Dims[0]), int(w.Dims[1])
	wr = make([]float32, cin*4*cout)
	br = make([]float32, 4*cout)
	for c := range cin {
		for o := range cout {
			for ab := range 4 {
				wr[c*4*cout+ab*cout+o] = w.F32[(c*cout+o)*4+ab]
			}
		}
	}
	if b != nil {
		for ab := range 4 {
			copy(br[ab*cout:], b.F32)
		}
	}
	return wr, br
}

// cloneRegion copies the elementwise nodes, reading newFrom where they
// read from, and returns the copy of exit.
func (g attnGraph) cloneRegion(nodes []*onnxpb.Node, from, newFrom, exit string) string {
	m := map[string]string{from: newFrom}
	for _, n := range nodes {
		in := make([]string, len(n.In))
		for i, s := range n.In {
			in[i] = s
			if r, ok := m[s]; ok {
				in[i] = r
			}
		}
		out := g.Fresh(n.Op)
		g.AddNode(&onnxpb.Node{Op: n.Op, Domain: n.Domain, Name: out, In: in, Out: []string{out}, Attrs: n.Attrs})
		m[n.Out[0]] = out
	}
	return m[exit]
}

// rewriteUpscale rewrites the matched head (see the top of this file) given
// the sample shapes sh.
func (g attnGraph) rewriteUpscale(u *upscaleHead, sh map[string][]int64) bool {
	xs, hs, os := sh[u.conv1.In[0]], sh[u.mm.In[0]], sh[u.mm.Out[0]]
	cin, c1, c2 := u.w1.Dims[0], u.w1.Dims[1], u.w2.Dims[1]
	if len(xs) != 4 || xs[0] != 1 || xs[1] != cin || len(hs) < 2 || hs[len(hs)-1] != c2 || len(os) < 2 {
		return false
	}
	h, w, tokens := xs[2], xs[3], hs[len(hs)-2]
	if os[len(os)-2] != tokens || os[len(os)-1] != 16*h*w {
		return false
	}
	var rows string
	if u.rows != "" && slices.Equal(sh[u.rows], []int64{1, 1, h * w, cin}) {
		rows = g.Add("Reshape", []string{u.rows, g.InitI64(-1, cin)})
	} else {
		u.rows = ""
		rows = g.Add("Reshape", []string{g.Add("Transpose", []string{u.conv1.In[0]}, onnxpb.AttrInts("perm", 0, 2, 3, 1)), g.InitI64(-1, cin)})
	}
	product := func(x string, wt onnxpb.Tensor, b *onnxpb.Tensor, cout int64) string {
		wr, br := subPixelWeight(wt, b)
		y := g.Add("MatMul", []string{x, g.InitF32("subpixel_w", []int64{wt.Dims[0], 4 * cout}, wr)})
		y = g.Add("Add", []string{y, g.InitF32("subpixel_b", []int64{4 * cout}, br)})
		return g.Add("Reshape", []string{y, g.InitI64(-1, cout)})
	}
	y1 := product(rows, u.w1, u.b1, c1) // rows (i, j, a, b)
	nm := u.norm
	ln := g.Add("LayerNormalization", []string{y1, g.InitF32("norm_gamma", []int64{c1}, nm.gamma), g.InitF32("norm_beta", []int64{c1}, nm.beta)},
		onnxpb.AttrInt("axis", -1), onnxpb.AttrFloat("epsilon", nm.eps))
	z1 := g.cloneRegion(u.act1, nm.out, ln, u.conv2.In[0])
	y2 := product(z1, u.w2, u.b2, c2) // rows (i, j, a, b, a2, b2)
	z2 := g.cloneRegion(u.act2, u.conv2.Out[0], y2, u.act2Out)
	hyperT := g.Add("Transpose", []string{g.Add("Reshape", []string{u.mm.In[0], g.InitI64(-1, c2)})}, onnxpb.AttrInts("perm", 1, 0))
	m := g.Add("Reshape", []string{g.Add("MatMul", []string{z2, hyperT}), g.InitI64(h, w, 2, 2, 2, 2, tokens)})
	// Output pixel (4i + 2a + a2, 4j + 2b + b2) of token t.
	m = g.Add("Transpose", []string{m}, onnxpb.AttrInts("perm", 6, 0, 2, 4, 1, 3, 5))
	out := u.mm.Out[0]
	g.RemoveProducer(out)
	g.AddTo("Reshape", []string{m, g.InitI64(os...)}, out)
	return true
}
