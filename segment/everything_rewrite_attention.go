package segment

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// attnProj is a linear projection x·W (+ b) as torch exports nn.Linear:
// MatMul with a [C, D] weight, then Add of a [D] bias.
type attnProj struct {
	x, out     string
	w, b       *rwTensor // b may be nil
	wName      string
	bName      string
	mm, biasOp *rwNode
}

// attnSide is the query, key or value input of an attention block: the
// head-split tensor its MatMul reads (through scalar Mul/Div nodes, whose
// product is scale) and the projection behind it, or nil when the tensor
// is a graph input (computed once per frame by the split).
type attnSide struct {
	proj  *attnProj
	heads string
	scale float64
}

// attnBlock is segment-anything's Attention module as exported:
//
//	q = Transpose(Reshape(q_proj(Q)), 0 2 1 3), k likewise with perm
//	0 2 3 1 (kᵀ), v like q; P = Softmax(s·q·kᵀ); out_proj(Reshape(
//	Transpose(P·v, 0 2 1 3))).
type attnBlock struct {
	sm      *rwNode
	q, k, v attnSide
	post    float64 // scale between the score MatMul and the Softmax
	wo, bo  *rwTensor
	woName  string
	boName  string
	out     string // the output projection's result

	// Set when only one query row of the output is read: out feeds
	// Add(residual, out) → LayerNormalization → Gather(rowAxis, row) only.
	row      int64
	rowAxis  int64
	residual string
	norm     *rwNode
	gathers  []*rwNode
}

// matchProj matches a projection whose result is name.
func (g *rwGraph) matchProj(name string) (*attnProj, bool) {
	p := g.prod[name]
	if p == nil {
		return nil, false
	}
	pr := &attnProj{out: name}
	mm := p
	if p.op == "Add" && len(p.in) == 2 {
		for i := range 2 {
			if t, ok := g.constant(p.in[i]); ok && t.elem == pbFloat && len(t.dims) == 1 {
				pr.b, pr.bName, pr.biasOp = t, p.in[i], p
				mm = g.prod[p.in[1-i]]
				break
			}
		}
		if pr.b == nil {
			return nil, false
		}
	}
	if mm == nil || mm.op != "MatMul" || len(mm.in) != 2 {
		return nil, false
	}
	w, ok := g.constant(mm.in[1])
	if !ok || w.elem != pbFloat || len(w.dims) != 2 {
		return nil, false
	}
	if _, isConst := g.constant(mm.in[0]); isConst {
		return nil, false
	}
	if pr.b != nil && pr.b.dims[0] != w.dims[1] {
		return nil, false
	}
	pr.x, pr.w, pr.wName, pr.mm = mm.in[0], w, mm.in[1], mm
	return pr, true
}

// traceScale follows Mul and Div by scalar constants back from name.
func (g *rwGraph) traceScale(name string) (string, float64) {
	s := 1.0
	for range 8 {
		p := g.prod[name]
		if p == nil || len(p.in) != 2 {
			break
		}
		if p.op == "Mul" {
			if c, ok := g.scalar(p.in[1]); ok {
				s, name = s*c, p.in[0]
				continue
			}
			if c, ok := g.scalar(p.in[0]); ok {
				s, name = s*c, p.in[1]
				continue
			}
		}
		if p.op == "Div" {
			if c, ok := g.scalar(p.in[1]); ok && c != 0 {
				s, name = s/c, p.in[0]
				continue
			}
		}
		break
	}
	return name, s
}

// traceHeads matches the head split of one attention input, read by a
// MatMul as name.
func (g *rwGraph) traceHeads(name string, perm []int64, isInput map[string]bool) (attnSide, bool) {
	base, s := g.traceScale(name)
	side := attnSide{heads: base, scale: s}
	p := g.prod[base]
	if p == nil {
		return side, isInput[base]
	}
	if p.op != "Transpose" {
		return side, false
	}
	if pp, ok := p.attrInts("perm"); !ok || !slices.Equal(pp, perm) {
		return side, false
	}
	r := g.prod[p.in[0]]
	if r == nil || r.op != "Reshape" {
		return side, false
	}
	pr, ok := g.matchProj(r.in[0])
	if !ok {
		return side, false
	}
	side.proj = pr
	return side, true
}

// only returns the single consumer of name, or nil.
func (g *rwGraph) only(name string) *rwNode {
	if c := g.cons[name]; len(c) == 1 {
		return c[0]
	}
	return nil
}

// matchAttention matches the attention block around Softmax node sm.
func (g *rwGraph) matchAttention(sm *rwNode, isInput map[string]bool) (*attnBlock, bool) {
	if sm.op != "Softmax" || len(sm.in) != 1 || len(sm.out) != 1 {
		return nil, false
	}
	if ax := sm.attrInt("axis", -1); ax != -1 && ax != 3 {
		return nil, false
	}
	b := &attnBlock{sm: sm}
	scores, post := g.traceScale(sm.in[0])
	mm := g.prod[scores]
	if mm == nil || mm.op != "MatMul" || len(mm.in) != 2 {
		return nil, false
	}
	b.post = post
	var ok bool
	if b.q, ok = g.traceHeads(mm.in[0], []int64{0, 2, 1, 3}, isInput); !ok {
		return nil, false
	}
	if b.k, ok = g.traceHeads(mm.in[1], []int64{0, 2, 3, 1}, isInput); !ok {
		return nil, false
	}
	pv := g.only(sm.out[0])
	if pv == nil || pv.op != "MatMul" || pv.in[0] != sm.out[0] {
		return nil, false
	}
	if b.v, ok = g.traceHeads(pv.in[1], []int64{0, 2, 1, 3}, isInput); !ok || b.v.scale != 1 {
		return nil, false
	}
	tr := g.only(pv.out[0])
	if tr == nil || tr.op != "Transpose" {
		return nil, false
	}
	if pp, ok := tr.attrInts("perm"); !ok || !slices.Equal(pp, []int64{0, 2, 1, 3}) {
		return nil, false
	}
	rs := g.only(tr.out[0])
	if rs == nil || rs.op != "Reshape" || rs.in[0] != tr.out[0] {
		return nil, false
	}
	om := g.only(rs.out[0])
	if om == nil || om.op != "MatMul" || om.in[0] != rs.out[0] {
		return nil, false
	}
	wo, ok := g.constant(om.in[1])
	if !ok || wo.elem != pbFloat || len(wo.dims) != 2 {
		return nil, false
	}
	b.wo, b.woName, b.out = wo, om.in[1], om.out[0]
	if ad := g.only(om.out[0]); ad != nil && ad.op == "Add" && len(ad.in) == 2 {
		for i := range 2 {
			if t, ok := g.constant(ad.in[i]); ok && t.elem == pbFloat && len(t.dims) == 1 && t.dims[0] == wo.dims[1] {
				b.bo, b.boName, b.out = t, ad.in[i], ad.out[0]
				break
			}
		}
	}
	b.row = -1
	g.matchRowRead(b)
	return b, true
}

// matchRowRead sets b.row when the block's output only reaches the graph
// through one query row: Add(residual, out) → LayerNormalization over the
// last axis → Gathers of one row on axis 1.
func (g *rwGraph) matchRowRead(b *attnBlock) {
	ad := g.only(b.out)
	if ad == nil || ad.op != "Add" || len(ad.in) != 2 {
		return
	}
	res := ad.in[0]
	if res == b.out {
		res = ad.in[1]
	}
	ln := g.only(ad.out[0])
	if ln == nil || ln.op != "LayerNormalization" || ln.in[0] != ad.out[0] || len(ln.out) != 1 || ln.attrInt("axis", -1) != -1 || len(ln.in) < 2 {
		return
	}
	row, axis := int64(-1), int64(0)
	var gathers []*rwNode
	for i, c := range g.cons[ln.out[0]] {
		if c.op != "Gather" || c.in[0] != ln.out[0] || (i > 0 && c.attrInt("axis", 0) != axis) {
			return
		}
		axis = c.attrInt("axis", 0)
		t, ok := g.constant(c.in[1])
		if !ok || t.elem != pbInt64 || len(t.i64) != 1 || t.i64[0] < 0 || (row >= 0 && t.i64[0] != row) {
			return
		}
		row = t.i64[0]
		gathers = append(gathers, c)
	}
	if row < 0 {
		return
	}
	b.row, b.rowAxis, b.residual, b.norm, b.gathers = row, axis, res, ln, gathers
}

// headWeights rearranges a [C, H·d] projection weight for per-head
// products: transposed gives [H, d, C] (Wᵀ per head), else [H, C, d].
func headWeights(w *rwTensor, heads int, transposed bool, scale float64) []float32 {
	c, dd := int(w.dims[0]), int(w.dims[1])
	d := dd / heads
	out := make([]float32, c*dd)
	for h := range heads {
		for j := range d {
			for i := range c {
				v := float32(float64(w.f32[i*dd+h*d+j]) * scale)
				if transposed {
					out[(h*d+j)*c+i] = v
				} else {
					out[(h*c+i)*d+j] = v
				}
			}
		}
	}
	return out
}

// rewriteAttention rewrites the cross-attention blocks of model (see the
// top of everything_rewrite.go). shapes runs a model on a sample input and
// returns the shapes of its inputs and outputs; they give the sequence
// lengths and head counts. The result reads a subset of the inputs and has
// the same outputs; n is the number of blocks changed.
func rewriteAttention(model []byte, shapes func(model []byte) (map[string][]int64, error)) (out []byte, n int, err error) {
	g, err := parseRWGraph(model)
	if err != nil {
		return nil, 0, err
	}
	if err := g.sortAndPrune(); err != nil {
		return nil, 0, err
	}
	g.cse()
	if err := g.sortAndPrune(); err != nil {
		return nil, 0, err
	}
	var blocks []*attnBlock
	var probe []string
	for _, nd := range g.nodes {
		if nd.op != "Softmax" {
			continue
		}
		b, ok := g.matchAttention(nd, g.isInput)
		if !ok {
			continue
		}
		blocks = append(blocks, b)
		probe = append(probe, b.q.heads, b.k.heads, b.v.heads, b.out)
		if b.row >= 0 && b.q.proj != nil {
			probe = append(probe, b.q.proj.x, b.residual)
		}
	}
	if len(blocks) == 0 {
		return nil, 0, errors.New("no attention block found")
	}
	// Shapes of the head tensors on a sample run: [1, H, L, d] (keys
	// [1, H, d, L]).
	sh, err := shapes(g.withOutputs(probe))
	if err != nil {
		return nil, 0, fmt.Errorf("probe shapes: %w", err)
	}
	for _, b := range blocks {
		qs, ks, vs := sh[b.q.heads], sh[b.k.heads], sh[b.v.heads]
		if len(qs) != 4 || len(ks) != 4 || len(vs) != 4 || qs[0] != 1 || qs[1] != ks[1] || qs[1] != vs[1] || qs[3] != ks[2] || vs[2] != ks[3] || vs[3] != qs[3] {
			continue
		}
		heads, d, lq, lk := int(qs[1]), int(qs[3]), qs[2], ks[3]
		outSh := sh[b.out]
		if len(outSh) < 2 || outSh[len(outSh)-2] != lq {
			continue
		}
		if b.row >= 0 {
			if b.rowAxis < 0 {
				b.rowAxis += int64(len(outSh))
			}
			// The query rows are cut on the same axis of the queries and
			// the residual, which must be laid out like the output.
			if b.rowAxis != int64(len(outSh)-2) || b.row >= lq || b.q.proj == nil ||
				!slices.Equal(sh[b.residual], outSh) || len(sh[b.q.proj.x]) != len(outSh) || sh[b.q.proj.x][b.rowAxis] != lq {
				b.row = -1
			}
		}
		switch {
		case lk >= 8*lq:
			if g.rewriteTokenToImage(b, heads, d, outSh) {
				n++
			}
		case lq >= 8*lk:
			if g.rewriteImageToToken(b, heads, d, lk, outSh) {
				n++
			}
		}
	}
	if n == 0 {
		return nil, 0, errors.New("no cross-attention block could be rewritten")
	}
	if err := g.sortAndPrune(); err != nil {
		return nil, 0, err
	}
	return g.encode(), n, nil
}

// withOutputs encodes g with extra graph outputs (declared without types;
// ONNX Runtime infers them).
func (g *rwGraph) withOutputs(names []string) []byte {
	c := *g
	c.outputs = slices.Clone(g.outputs)
	have := map[string]bool{}
	for _, o := range append(g.outputNames(), g.inputNames()...) {
		have[o] = true
	}
	for _, n := range names {
		if have[n] {
			continue
		}
		have[n] = true
		var vi []byte
		vi = protowire.AppendTag(vi, pbValueName, protowire.BytesType)
		vi = protowire.AppendString(vi, n)
		c.outputs = append(c.outputs, vi)
	}
	return c.encode()
}

// projDims checks that p projects C channels to heads·d.
func projDims(p *attnProj, c int, heads, d int) bool {
	return p != nil && int(p.w.dims[0]) == c && int(p.w.dims[1]) == heads*d
}

// rewriteTokenToImage rewrites a block whose few queries (tokens) attend to
// many keys (image): scores = (q_h·s·Wk_hᵀ)·Kᵀ (the key bias adds a
// constant per query row, which softmax cancels) and
// P·(V·Wv + bv) = (P·V)·Wv + bv.
func (g *rwGraph) rewriteTokenToImage(b *attnBlock, heads, d int, outShape []int64) bool {
	if b.q.proj == nil || b.k.proj == nil || b.v.proj == nil {
		return false
	}
	c := int(b.k.proj.w.dims[0])
	if !projDims(b.q.proj, int(b.q.proj.w.dims[0]), heads, d) || !projDims(b.k.proj, c, heads, d) || !projDims(b.v.proj, c, heads, d) || int(b.wo.dims[0]) != heads*d {
		return false
	}
	s := b.q.scale * b.k.scale * b.post
	H, D, C := int64(heads), int64(heads*d), int64(c)

	// Queries: all rows, or the one row the graph reads.
	qp := b.q.proj.out
	outShape = slices.Clone(outShape)
	if b.row >= 0 {
		outShape[b.rowAxis] = 1
		x := g.add("Slice", []string{b.q.proj.x, g.initI64(b.row), g.initI64(b.row + 1), g.initI64(b.rowAxis)})
		qp = g.add("MatMul", []string{x, b.q.proj.wName})
		if b.q.proj.b != nil {
			qp = g.add("Add", []string{qp, b.q.proj.bName})
		}
	}
	qh := g.add("Transpose", []string{g.add("Reshape", []string{qp, g.initI64(-1, H, int64(d))})}, encAttrInts("perm", 1, 0, 2)) // [H, Lq, d]
	wkT := g.initF32("wk_heads_t", []int64{H, int64(d), C}, headWeights(b.k.proj.w, heads, true, s))
	a := g.add("Reshape", []string{g.add("MatMul", []string{qh, wkT}), g.initI64(-1, C)}) // [H·Lq, C]
	keys := g.add("Reshape", []string{b.k.proj.x, g.initI64(-1, C)})                      // [M, C]
	scoresT := g.add("MatMul", []string{keys, g.add("Transpose", []string{a}, encAttrInts("perm", 1, 0))})
	p := g.add("Softmax", []string{g.add("Transpose", []string{scoresT}, encAttrInts("perm", 1, 0))}, encAttrInt("axis", -1)) // [H·Lq, M]
	vals := g.add("Reshape", []string{b.v.proj.x, g.initI64(-1, C)})
	r := g.add("Reshape", []string{g.add("MatMul", []string{p, vals}), g.initI64(H, -1, C)}) // [H, Lq, C]
	o := g.add("MatMul", []string{r, g.initF32("wv_heads", []int64{H, C, int64(d)}, headWeights(b.v.proj.w, heads, false, 1))})
	if b.v.proj.b != nil {
		o = g.add("Add", []string{o, g.initF32("bv_heads", []int64{H, 1, int64(d)}, b.v.proj.b.f32)})
	}
	cat := g.add("Reshape", []string{g.add("Transpose", []string{o}, encAttrInts("perm", 1, 0, 2)), g.initI64(-1, D)})
	y := g.add("MatMul", []string{cat, b.woName})
	if b.bo != nil {
		y = g.add("Add", []string{y, b.boName})
	}
	y = g.add("Reshape", []string{y, g.initI64(outShape...)})
	if b.row >= 0 {
		res := g.add("Slice", []string{b.residual, g.initI64(b.row), g.initI64(b.row + 1), g.initI64(b.rowAxis)})
		add := g.add("Add", []string{res, y})
		ln := g.name("layernorm")
		nn := &rwNode{op: b.norm.op, domain: b.norm.domain, name: ln, in: append([]string{add}, b.norm.in[1:]...), out: []string{ln}, attrs: b.norm.attrs}
		g.nodes = append(g.nodes, nn)
		g.prod[ln] = nn
		for _, ga := range b.gathers {
			t, _ := g.constant(ga.in[1])
			zero := g.name("row0")
			g.inits[zero] = encodeTensor(zero, t.dims, nil, []int64{0})
			g.initSeq = append(g.initSeq, zero)
			ga.in = []string{ln, zero}
		}
		return true
	}
	g.removeProducer(b.out)
	g.addTo("Identity", []string{y}, b.out)
	return true
}

// rewriteImageToToken rewrites a block whose many queries (image) attend to
// few keys (tokens): scores = Q·(s·Wq_h·k_hᵀ) + s·bq_h·k_hᵀ (or the given
// per-frame queries against the scaled keys), and out_proj(concat_h
// P_h·v_h) = Σ_h P_h·(v_h·Wo_h) + bo, one product of [M, H·Lk] by
// [H·Lk, C].
func (g *rwGraph) rewriteImageToToken(b *attnBlock, heads, d int, lk int64, outShape []int64) bool {
	if b.k.proj == nil || b.v.proj == nil {
		return false
	}
	if int(b.wo.dims[0]) != heads*d || !projDims(b.k.proj, int(b.k.proj.w.dims[0]), heads, d) || !projDims(b.v.proj, int(b.v.proj.w.dims[0]), heads, d) {
		return false
	}
	H, HL, C := int64(heads), int64(heads)*lk, b.wo.dims[1]
	kT := g.add("Reshape", []string{b.k.heads, g.initI64(H, int64(d), -1)}) // [H, d, Lk]
	var p2 string                                                           // [M, H·Lk]
	if b.q.proj != nil {
		s := b.q.scale * b.k.scale * b.post
		cq := b.q.proj.w.dims[0]
		wq := g.initF32("wq_heads", []int64{H, cq, int64(d)}, headWeights(b.q.proj.w, heads, false, s))
		bm := g.add("Reshape", []string{g.add("Transpose", []string{g.add("MatMul", []string{wq, kT})}, encAttrInts("perm", 1, 0, 2)), g.initI64(cq, -1)}) // [C, H·Lk]
		sc := g.add("MatMul", []string{g.add("Reshape", []string{b.q.proj.x, g.initI64(-1, cq)}), bm})
		if b.q.proj.b != nil {
			bq := make([]float32, len(b.q.proj.b.f32))
			for i, v := range b.q.proj.b.f32 {
				bq[i] = float32(float64(v) * s)
			}
			cb := g.add("Reshape", []string{g.add("MatMul", []string{g.initF32("bq_heads", []int64{H, 1, int64(d)}, bq), kT}), g.initI64(1, -1)})
			sc = g.add("Add", []string{sc, cb})
		}
		pr := g.add("Softmax", []string{g.add("Reshape", []string{sc, g.initI64(0, H, -1)})}, encAttrInt("axis", -1))
		p2 = g.add("Reshape", []string{pr, g.initI64(0, -1)})
	} else {
		s := b.q.scale * b.k.scale * b.post
		kk := kT
		if s != 1 {
			kk = g.add("Mul", []string{kT, g.initF32("scale", nil, []float32{float32(s)})})
		}
		pr := g.add("Softmax", []string{g.add("MatMul", []string{b.q.heads, kk})}, encAttrInt("axis", -1)) // [1, H, M, Lk]
		p2 = g.add("Reshape", []string{g.add("Transpose", []string{pr}, encAttrInts("perm", 0, 2, 1, 3)), g.initI64(-1, HL)})
	}
	vh := g.add("Reshape", []string{b.v.heads, g.initI64(H, -1, int64(d))}) // [H, Lk, d]
	// Wo rows h·d+j → [H, d, C] is Wo itself, reshaped.
	wo := g.add("Reshape", []string{b.woName, g.initI64(H, int64(d), C)})
	gm := g.add("Reshape", []string{g.add("MatMul", []string{vh, wo}), g.initI64(-1, C)}) // [H·Lk, C]
	y := g.add("MatMul", []string{p2, gm})
	if b.bo != nil {
		y = g.add("Add", []string{y, b.boName})
	}
	g.removeProducer(b.out)
	g.addTo("Reshape", []string{y, g.initI64(outShape...)}, b.out)
	return true
}
