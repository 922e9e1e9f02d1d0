package segment

import (
	"errors"
	"fmt"
	"slices"

	"samtrack/models/onnxedit"
	"samtrack/models/onnxpb"
)

// This file rewrites the per-prompt half of a split SAM v1 decoder
// (onnxedit.PromptGraph) so that its cross-attention blocks never project
// the 4096 image tokens. With a handful of prompt tokens against 4096 image
// tokens, the products of segment-anything's Attention module can be
// reordered exactly (associativity):
//
//   - token→image (queries: tokens; keys, values: image):
//     q·(K·Wk + bk)ᵀ = (q·Wkᵀ)·Kᵀ + a per-query constant that softmax
//     cancels, and softmax·(V·Wv + bv) = (softmax·V)·Wv + bv since the
//     softmax rows sum to one;
//   - image→token (queries: image; keys, values: tokens):
//     (Q·Wq + bq)·kᵀ = Q·(Wq·kᵀ) + bq·kᵀ, and concat_h(attn_h·v_h)·Wo =
//     Σ_h attn_h·(v_h·Wo_h), one product with the tokens' values already
//     projected to the output space.
//
// The projections of the image side (4096×256×128 each, seven per prompt
// on SAM ViT-B) become products with 8 heads × 7 tokens = 56 columns, and
// the last token→image block, whose output only feeds the IoU token when
// the graph is pruned to iou_predictions, runs for that token alone. The
// results equal the original up to float rounding; callers verify them.
// The graph editing itself (parsing, sorting, CSE, adding nodes) is
// models/onnxedit's; this file only knows the SAM attention layout.

// attnGraph is a decoder graph being matched and rewritten.
type attnGraph struct{ *onnxedit.Graph }

// attnProj is a linear projection x·W (+ b) as torch exports nn.Linear:
// MatMul with a [C, D] weight, then Add of a [D] bias.
type attnProj struct {
	x, out     string
	w, b       *onnxpb.Tensor // b may be nil
	wName      string
	bName      string
	mm, biasOp *onnxpb.Node
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
	sm      *onnxpb.Node
	q, k, v attnSide
	post    float64 // scale between the score MatMul and the Softmax
	wo, bo  *onnxpb.Tensor
	woName  string
	boName  string
	out     string // the output projection's result

	// Set when only one query row of the output is read: out feeds
	// Add(residual, out) → LayerNormalization → Gather(rowAxis, row) only.
	row      int64
	rowAxis  int64
	residual string
	norm     *onnxpb.Node
	gathers  []*onnxpb.Node
}

// matchProj matches a projection whose result is name.
func (g attnGraph) matchProj(name string) (*attnProj, bool) {
	p := g.Producer(name)
	if p == nil {
		return nil, false
	}
	pr := &attnProj{out: name}
	mm := p
	if p.Op == "Add" && len(p.In) == 2 {
		for i := range 2 {
			if t, ok := g.Constant(p.In[i]); ok && t.DType() == onnxpb.Float && len(t.Dims) == 1 {
				pr.b, pr.bName, pr.biasOp = &t, p.In[i], p
				mm = g.Producer(p.In[1-i])
				break
			}
		}
		if pr.b == nil {
			return nil, false
		}
	}
	if mm == nil || mm.Op != "MatMul" || len(mm.In) != 2 {
		return nil, false
	}
	w, ok := g.Constant(mm.In[1])
	if !ok || w.DType() != onnxpb.Float || len(w.Dims) != 2 {
		return nil, false
	}
	if _, isConst := g.Constant(mm.In[0]); isConst {
		return nil, false
	}
	if pr.b != nil && pr.b.Dims[0] != w.Dims[1] {
		return nil, false
	}
	pr.x, pr.w, pr.wName, pr.mm = mm.In[0], &w, mm.In[1], mm
	return pr, true
}

// traceScale follows Mul and Div by scalar constants back from name.
func (g attnGraph) traceScale(name string) (string, float64) {
	s := 1.0
	for range 8 {
		p := g.Producer(name)
		if p == nil || len(p.In) != 2 {
			break
		}
		if p.Op == "Mul" {
			if c, ok := g.Scalar(p.In[1]); ok {
				s, name = s*c, p.In[0]
				continue
			}
			if c, ok := g.Scalar(p.In[0]); ok {
				s, name = s*c, p.In[1]
				continue
			}
		}
		if p.Op == "Div" {
			if c, ok := g.Scalar(p.In[1]); ok && c != 0 {
				s, name = s/c, p.In[0]
				continue
			}
		}
		break
	}
	return name, s
}

// traceHeads matches the head split of one attention input, read by a
// MatMul as name.
func (g attnGraph) traceHeads(name string, perm []int64) (attnSide, bool) {
	base, s := g.traceScale(name)
	side := attnSide{heads: base, scale: s}
	p := g.Producer(base)
	if p == nil {
		return side, g.IsInput(base)
	}
	if p.Op != "Transpose" {
		return side, false
	}
	if pp, ok := p.AttrInts("perm"); !ok || !slices.Equal(pp, perm) {
		return side, false
	}
	r := g.Producer(p.In[0])
	if r == nil || r.Op != "Reshape" {
		return side, false
	}
	pr, ok := g.matchProj(r.In[0])
	if !ok {
		return side, false
	}
	side.proj = pr
	return side, true
}

// matchAttention matches the attention block around Softmax node sm.
func (g attnGraph) matchAttention(sm *onnxpb.Node) (*attnBlock, bool) {
	if sm.Op != "Softmax" || len(sm.In) != 1 || len(sm.Out) != 1 {
		return nil, false
	}
	if ax := sm.AttrInt("axis", -1); ax != -1 && ax != 3 {
		return nil, false
	}
	b := &attnBlock{sm: sm}
	scores, post := g.traceScale(sm.In[0])
	mm := g.Producer(scores)
	if mm == nil || mm.Op != "MatMul" || len(mm.In) != 2 {
		return nil, false
	}
	b.post = post
	var ok bool
	if b.q, ok = g.traceHeads(mm.In[0], []int64{0, 2, 1, 3}); !ok {
		return nil, false
	}
	if b.k, ok = g.traceHeads(mm.In[1], []int64{0, 2, 3, 1}); !ok {
		return nil, false
	}
	pv := g.Only(sm.Out[0])
	if pv == nil || pv.Op != "MatMul" || pv.In[0] != sm.Out[0] {
		return nil, false
	}
	if b.v, ok = g.traceHeads(pv.In[1], []int64{0, 2, 1, 3}); !ok || b.v.scale != 1 {
		return nil, false
	}
	tr := g.Only(pv.Out[0])
	if tr == nil || tr.Op != "Transpose" {
		return nil, false
	}
	if pp, ok := tr.AttrInts("perm"); !ok || !slices.Equal(pp, []int64{0, 2, 1, 3}) {
		return nil, false
	}
	rs := g.Only(tr.Out[0])
	if rs == nil || rs.Op != "Reshape" || rs.In[0] != tr.Out[0] {
		return nil, false
	}
	om := g.Only(rs.Out[0])
	if om == nil || om.Op != "MatMul" || om.In[0] != rs.Out[0] {
		return nil, false
	}
	wo, ok := g.Constant(om.In[1])
	if !ok || wo.DType() != onnxpb.Float || len(wo.Dims) != 2 {
		return nil, false
	}
	b.wo, b.woName, b.out = &wo, om.In[1], om.Out[0]
	if ad := g.Only(om.Out[0]); ad != nil && ad.Op == "Add" && len(ad.In) == 2 {
		for i := range 2 {
			if t, ok := g.Constant(ad.In[i]); ok && t.DType() == onnxpb.Float && len(t.Dims) == 1 && t.Dims[0] == wo.Dims[1] {
				b.bo, b.boName, b.out = &t, ad.In[i], ad.Out[0]
				break
			}
		}
	}
	b.row = -1
	g.matchRowRead(b)
	return b, true
}

// otherInput is the input of the two-input node n that is not x.
func otherInput(n *onnxpb.Node, x string) string {
	if n.In[0] == x {
		return n.In[1]
	}
	return n.In[0]
}

// matchRowRead sets b.row when the block's output only reaches the graph
// through one query row: Add(residual, out) → LayerNormalization over the
// last axis → Gathers of one row on axis 1.
func (g attnGraph) matchRowRead(b *attnBlock) {
	ad := g.Only(b.out)
	if ad == nil || ad.Op != "Add" || len(ad.In) != 2 {
		return
	}
	res := otherInput(ad, b.out)
	ln := g.Only(ad.Out[0])
	if ln == nil || ln.Op != "LayerNormalization" || ln.In[0] != ad.Out[0] || len(ln.Out) != 1 || ln.AttrInt("axis", -1) != -1 || len(ln.In) < 2 {
		return
	}
	row, axis := int64(-1), int64(0)
	var gathers []*onnxpb.Node
	for i, c := range g.Consumers(ln.Out[0]) {
		if c.Op != "Gather" || c.In[0] != ln.Out[0] || (i > 0 && c.AttrInt("axis", 0) != axis) {
			return
		}
		axis = c.AttrInt("axis", 0)
		t, ok := g.Constant(c.In[1])
		if !ok || t.DType() != onnxpb.Int64 || len(t.I64) != 1 || t.I64[0] < 0 || (row >= 0 && t.I64[0] != row) {
			return
		}
		row = t.I64[0]
		gathers = append(gathers, c)
	}
	if row < 0 {
		return
	}
	b.row, b.rowAxis, b.residual, b.norm, b.gathers = row, axis, res, ln, gathers
}

// headWeights rearranges a [C, H·d] projection weight for per-head
// products: transposed gives [H, d, C] (Wᵀ per head), else [H, C, d].
func headWeights(w *onnxpb.Tensor, heads int, transposed bool, scale float64) []float32 {
	c, dd := int(w.Dims[0]), int(w.Dims[1])
	d := dd / heads
	out := make([]float32, c*dd)
	for h := range heads {
		for j := range d {
			for i := range c {
				v := float32(float64(w.F32[i*dd+h*d+j]) * scale)
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
// top of this file). shapes runs a model on a sample input and
// returns the shapes of its inputs and outputs; they give the sequence
// lengths and head counts. The result reads a subset of the inputs and has
// the same outputs; n is the number of blocks changed.
func rewriteAttention(model []byte, shapes func(model []byte) (map[string][]int64, error)) (out []byte, n int, err error) {
	out, n, _, err = rewriteDecoder(model, shapes, false)
	return out, n, err
}

// rewriteDecoder is rewriteAttention, and with head set also rewrites the
// mask head (rewriteUpscale) when it matches: then headIn names the two
// tensors the rewritten head reads (the image rows and the hypernetwork
// output), and n counts the head as a block.
func rewriteDecoder(model []byte, shapes func(model []byte) (map[string][]int64, error), head bool) (out []byte, n int, headIn []string, err error) {
	eg, err := onnxedit.Parse(model)
	if err != nil {
		return nil, 0, nil, err
	}
	g := attnGraph{eg}
	if err := g.SortAndPrune(); err != nil {
		return nil, 0, nil, err
	}
	g.CSE()
	if err := g.SortAndPrune(); err != nil {
		return nil, 0, nil, err
	}
	blocks, probe := g.matchBlocks()
	if len(blocks) == 0 {
		return nil, 0, nil, errors.New("no attention block found")
	}
	var up *upscaleHead
	if head {
		var upProbe []string
		if up, upProbe, head = g.matchUpscale(); head {
			probe = append(probe, upProbe...)
		}
	}
	// Shapes of the head tensors on a sample run: [1, H, L, d] (keys
	// [1, H, d, L]).
	withProbe, err := g.WithOutputs(probe)
	if err != nil {
		return nil, 0, nil, err
	}
	sh, err := shapes(withProbe)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("probe shapes: %w", err)
	}
	for _, b := range blocks {
		if g.rewriteBlock(b, sh) {
			n++
		}
	}
	if n == 0 {
		return nil, 0, nil, errors.New("no cross-attention block could be rewritten")
	}
	if head && g.rewriteUpscale(up, sh) {
		n++
		headIn = []string{up.cut(), up.mm.In[0]}
	}
	if err := g.SortAndPrune(); err != nil {
		return nil, 0, nil, err
	}
	out, err = g.Encode()
	return out, n, headIn, err
}

// matchBlocks matches every attention block and lists the tensors whose
// shapes rewriteBlock needs.
func (g attnGraph) matchBlocks() (blocks []*attnBlock, probe []string) {
	for _, nd := range g.Nodes {
		if nd.Op != "Softmax" {
			continue
		}
		b, ok := g.matchAttention(nd)
		if !ok {
			continue
		}
		blocks = append(blocks, b)
		probe = append(probe, b.q.heads, b.k.heads, b.v.heads, b.out)
		if b.row >= 0 && b.q.proj != nil {
			probe = append(probe, b.q.proj.x, b.residual)
		}
	}
	return blocks, probe
}

// rewriteBlock rewrites one matched block when the sample shapes sh show
// a cross-attention with 8 times more keys than queries or the reverse.
func (g attnGraph) rewriteBlock(b *attnBlock, sh map[string][]int64) bool {
	qs, ks, vs := sh[b.q.heads], sh[b.k.heads], sh[b.v.heads]
	if len(qs) != 4 || len(ks) != 4 || len(vs) != 4 || qs[0] != 1 || qs[1] != ks[1] || qs[1] != vs[1] || qs[3] != ks[2] || vs[2] != ks[3] || vs[3] != qs[3] {
		return false
	}
	heads, d, lq, lk := int(qs[1]), int(qs[3]), qs[2], ks[3]
	outSh := sh[b.out]
	if len(outSh) < 2 || outSh[len(outSh)-2] != lq {
		return false
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
		return g.rewriteTokenToImage(b, heads, d, outSh)
	case lq >= 8*lk:
		return g.rewriteImageToToken(b, heads, d, lk, outSh)
	}
	return false
}

// projDims checks that p projects C channels to heads·d.
func projDims(p *attnProj, c int, heads, d int) bool {
	return p != nil && int(p.w.Dims[0]) == c && int(p.w.Dims[1]) == heads*d
}

// rewriteTokenToImage rewrites a block whose few queries (tokens) attend to
// many keys (image): scores = (q_h·s·Wk_hᵀ)·Kᵀ (the key bias adds a
// constant per query row, which softmax cancels) and
// P·(V·Wv + bv) = (P·V)·Wv + bv.
func (g attnGraph) rewriteTokenToImage(b *attnBlock, heads, d int, outShape []int64) bool {
	if b.q.proj == nil || b.k.proj == nil || b.v.proj == nil {
		return false
	}
	c := int(b.k.proj.w.Dims[0])
	if !projDims(b.q.proj, int(b.q.proj.w.Dims[0]), heads, d) || !projDims(b.k.proj, c, heads, d) || !projDims(b.v.proj, c, heads, d) || int(b.wo.Dims[0]) != heads*d {
		return false
	}
	s := b.q.scale * b.k.scale * b.post
	H, D, C := int64(heads), int64(heads*d), int64(c)

	// Queries: all rows, or the one row the graph reads.
	qp := b.q.proj.out
	outShape = slices.Clone(outShape)
	if b.row >= 0 {
		outShape[b.rowAxis] = 1
		x := g.Add("Slice", []string{b.q.proj.x, g.InitI64(b.row), g.InitI64(b.row + 1), g.InitI64(b.rowAxis)})
		qp = g.Add("MatMul", []string{x, b.q.proj.wName})
		if b.q.proj.b != nil {
			qp = g.Add("Add", []string{qp, b.q.proj.bName})
		}
	}
	qh := g.Add("Transpose", []string{g.Add("Reshape", []string{qp, g.InitI64(-1, H, int64(d))})}, onnxpb.AttrInts("perm", 1, 0, 2)) // [H, Lq, d]
	wkT := g.InitF32("wk_heads_t", []int64{H, int64(d), C}, headWeights(b.k.proj.w, heads, true, s))
	a := g.Add("Reshape", []string{g.Add("MatMul", []string{qh, wkT}), g.InitI64(-1, C)}) // [H·Lq, C]
	keys := g.Add("Reshape", []string{b.k.proj.x, g.InitI64(-1, C)})                      // [M, C]
	scoresT := g.Add("MatMul", []string{keys, g.Add("Transpose", []string{a}, onnxpb.AttrInts("perm", 1, 0))})
	p := g.Add("Softmax", []string{g.Add("Transpose", []string{scoresT}, onnxpb.AttrInts("perm", 1, 0))}, onnxpb.AttrInt("axis", -1)) // [H·Lq, M]
	vals := g.Add("Reshape", []string{b.v.proj.x, g.InitI64(-1, C)})
	r := g.Add("Reshape", []string{g.Add("MatMul", []string{p, vals}), g.InitI64(H, -1, C)}) // [H, Lq, C]
	o := g.Add("MatMul", []string{r, g.InitF32("wv_heads", []int64{H, C, int64(d)}, headWeights(b.v.proj.w, heads, false, 1))})
	if b.v.proj.b != nil {
		o = g.Add("Add", []string{o, g.InitF32("bv_heads", []int64{H, 1, int64(d)}, b.v.proj.b.F32)})
	}
	cat := g.Add("Reshape", []string{g.Add("Transpose", []string{o}, onnxpb.AttrInts("perm", 1, 0, 2)), g.InitI64(-1, D)})
	y := g.Add("MatMul", []string{cat, b.woName})
	if b.bo != nil {
		y = g.Add("Add", []string{y, b.boName})
	}
	y = g.Add("Reshape", []string{y, g.InitI64(outShape...)})
	if b.row >= 0 {
		res := g.Add("Slice", []string{b.residual, g.InitI64(b.row), g.InitI64(b.row + 1), g.InitI64(b.rowAxis)})
		add := g.Add("Add", []string{res, y})
		ln := g.Fresh("layernorm")
		g.AddNode(&onnxpb.Node{Op: b.norm.Op, Domain: b.norm.Domain, Name: ln, In: append([]string{add}, b.norm.In[1:]...), Out: []string{ln}, Attrs: b.norm.Attrs})
		for _, ga := range b.gathers {
			t, _ := g.Constant(ga.In[1])
			ga.In = []string{ln, g.Init("row0", onnxpb.I64([]int64{0}, t.Dims...))}
		}
		return true
	}
	g.RemoveProducer(b.out)
	g.AddTo("Identity", []string{y}, b.out)
	return true
}

// rewriteImageToToken rewrites a block whose many queries (image) attend to
// few keys (tokens): scores = Q·(s·Wq_h·k_hᵀ) + s·bq_h·k_hᵀ (or the given
// per-frame queries against the scaled keys), and out_proj(concat_h
// P_h·v_h) = Σ_h P_h·(v_h·Wo_h) + bo, one product of [M, H·Lk] by
// [H·Lk, C].
func (g attnGraph) rewriteImageToToken(b *attnBlock, heads, d int, lk int64, outShape []int64) bool {
	if b.k.proj == nil || b.v.proj == nil {
		return false
	}
	if int(b.wo.Dims[0]) != heads*d || !projDims(b.k.proj, int(b.k.proj.w.Dims[0]), heads, d) || !projDims(b.v.proj, int(b.v.proj.w.Dims[0]), heads, d) {
		return false
	}
	H, HL, C := int64(heads), int64(heads)*lk, b.wo.Dims[1]
	kT := g.Add("Reshape", []string{b.k.heads, g.InitI64(H, int64(d), -1)}) // [H, d, Lk]
	var p2 string                                                           // [M, H·Lk]
	if b.q.proj != nil {
		s := b.q.scale * b.k.scale * b.post
		cq := b.q.proj.w.Dims[0]
		wq := g.InitF32("wq_heads", []int64{H, cq, int64(d)}, headWeights(b.q.proj.w, heads, false, s))
		bm := g.Add("Reshape", []string{g.Add("Transpose", []string{g.Add("MatMul", []string{wq, kT})}, onnxpb.AttrInts("perm", 1, 0, 2)), g.InitI64(cq, -1)}) // [C, H·Lk]
		sc := g.Add("MatMul", []string{g.Add("Reshape", []string{b.q.proj.x, g.InitI64(-1, cq)}), bm})
		if b.q.proj.b != nil {
			bq := make([]float32, len(b.q.proj.b.F32))
			for i, v := range b.q.proj.b.F32 {
				bq[i] = float32(float64(v) * s)
			}
			cb := g.Add("Reshape", []string{g.Add("MatMul", []string{g.InitF32("bq_heads", []int64{H, 1, int64(d)}, bq), kT}), g.InitI64(1, -1)})
			sc = g.Add("Add", []string{sc, cb})
		}
		pr := g.Add("Softmax", []string{g.Add("Reshape", []string{sc, g.InitI64(0, H, -1)})}, onnxpb.AttrInt("axis", -1))
		p2 = g.Add("Reshape", []string{pr, g.InitI64(0, -1)})
	} else {
		s := b.q.scale * b.k.scale * b.post
		kk := kT
		if s != 1 {
			kk = g.Add("Mul", []string{kT, g.InitF32("scale", nil, []float32{float32(s)})})
		}
		pr := g.Add("Softmax", []string{g.Add("MatMul", []string{b.q.heads, kk})}, onnxpb.AttrInt("axis", -1)) // [1, H, M, Lk]
		p2 = g.Add("Reshape", []string{g.Add("Transpose", []string{pr}, onnxpb.AttrInts("perm", 0, 2, 1, 3)), g.InitI64(-1, HL)})
	}
	vh := g.Add("Reshape", []string{b.v.heads, g.InitI64(H, -1, int64(d))}) // [H, Lk, d]
	// Wo rows h·d+j → [H, d, C] is Wo itself, reshaped.
	wo := g.Add("Reshape", []string{b.woName, g.InitI64(H, int64(d), C)})
	gm := g.Add("Reshape", []string{g.Add("MatMul", []string{vh, wo}), g.InitI64(-1, C)}) // [H·Lk, C]
	y := g.Add("MatMul", []string{p2, gm})
	if b.bo != nil {
		y = g.Add("Add", []string{y, b.boName})
	}
	g.RemoveProducer(b.out)
	g.AddTo("Reshape", []string{y, g.InitI64(outShape...)}, b.out)
	return true
}
