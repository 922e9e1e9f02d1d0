package segment

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"samtrack/media"
	"samtrack/models/onnxedit"
	"samtrack/models/onnxpb"
	"samtrack/ort"
)

// samLike builds graphs with segment-anything's two-way transformer blocks
// in the layout torch exports them (the official SAM v1 decoder, as the
// split leaves its per-prompt half): Linear as MatMul then Add(bias, ·),
// heads split by Reshape to [1, L, H, d] and Transpose, q and k each scaled
// by d^-¼, Softmax, heads merged by Transpose and Reshape to [1, 1, L, D].
type samLike struct {
	g          *onnxpb.Graph
	r          *rand.Rand
	c, h, d    int
	scale      string
	nTok, nImg int
}

func newSAMLike(seed uint64) *samLike {
	s := &samLike{g: onnxpb.NewGraph("samlike"), r: rand.New(rand.NewPCG(seed, 7)), c: 32, h: 4, d: 4, nTok: 7, nImg: 256}
	s.scale = s.g.OpA("Constant", nil, onnxpb.AttrTensor("value", onnxpb.F32([]float32{float32(math.Pow(float64(s.d), -0.25))})))
	return s
}

func (s *samLike) random(n int, std float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(s.r.NormFloat64() * std)
	}
	return v
}

func (s *samLike) linear(x string, in, out int) string {
	w := s.g.Const(onnxpb.F32(s.random(in*out, 1/math.Sqrt(float64(in))), int64(in), int64(out)))
	b := s.g.Const(onnxpb.F32(s.random(out, 0.1), int64(out)))
	return s.g.Op("Add", b, s.g.Op("MatMul", x, w))
}

func (s *samLike) norm(x string) string {
	gamma := make([]float32, s.c)
	for i := range gamma {
		gamma[i] = 1 + float32(s.r.NormFloat64()*0.1)
	}
	return s.g.OpA("LayerNormalization", []string{x, s.g.Floats(gamma...), s.g.Floats(s.random(s.c, 0.1)...)},
		onnxpb.AttrInt("axis", -1), onnxpb.AttrFloat("epsilon", 1e-5))
}

func (s *samLike) split(x string, n int, perm ...int64) string {
	return s.g.OpA("Transpose", []string{s.g.Op("Reshape", x, s.g.Ints(1, int64(n), int64(s.h), int64(s.d)))}, onnxpb.AttrInts("perm", perm...))
}

// attention is segment-anything's Attention (internal width h·d); qHeads,
// when set, replaces the query projection (a per-frame input).
func (s *samLike) attention(q, k, v string, nq, nk int, qHeads string) string {
	dd := s.h * s.d
	if qHeads == "" {
		qHeads = s.g.Op("Mul", s.split(s.linear(q, s.c, dd), nq, 0, 2, 1, 3), s.scale)
	}
	kh := s.g.Op("Mul", s.split(s.linear(k, s.c, dd), nk, 0, 2, 3, 1), s.scale)
	vh := s.split(s.linear(v, s.c, dd), nk, 0, 2, 1, 3)
	p := s.g.OpA("Softmax", []string{s.g.Op("MatMul", qHeads, kh)}, onnxpb.AttrInt("axis", -1))
	o := s.g.OpA("Transpose", []string{s.g.Op("MatMul", p, vh)}, onnxpb.AttrInts("perm", 0, 2, 1, 3))
	o = s.g.Op("Reshape", o, s.g.Ints(1, 1, int64(nq), int64(dd)))
	return s.linear(o, dd, s.c)
}

// samLikeDecoder is a two-way transformer: a first layer whose image-side
// queries are a per-frame input (as after the split), a full layer, the
// final token→image attention and an IoU head on token 0. full adds the
// final tokens and image features as outputs (as the mask path reads them).
func samLikeDecoder(t *testing.T, full, decomposedNorm bool) []byte {
	t.Helper()
	s := newSAMLike(3)
	g := s.g
	nt, ni := s.nTok, s.nImg
	tokens := g.Input("tokens", onnxpb.Float, 1, 1, nt, s.c)
	tokPE := g.Input("token_pe", onnxpb.Float, 1, 1, nt, s.c)
	img := g.Input("image", onnxpb.Float, 1, 1, ni, s.c)
	imgPE := g.Input("image_pe", onnxpb.Float, 1, 1, ni, s.c)
	q0 := g.Input("image_queries", onnxpb.Float, 1, s.h, ni, s.d)

	queries := tokens
	keys := s.norm(g.Op("Add", img, s.attention("", g.Op("Add", queries, tokPE), queries, ni, nt, q0)))
	qpe := g.Op("Add", queries, tokPE)
	queries = s.norm(g.Op("Add", queries, s.attention(qpe, g.Op("Add", keys, imgPE), keys, nt, ni, "")))
	mlp := s.linear(g.Op("Relu", s.linear(queries, s.c, 2*s.c)), 2*s.c, s.c)
	queries = s.norm(g.Op("Add", queries, mlp))
	kpe := g.Op("Add", keys, imgPE)
	keys = s.norm(g.Op("Add", keys, s.attention(kpe, g.Op("Add", queries, tokPE), queries, ni, nt, "")))
	queries = s.norm(g.Op("Add", queries, s.attention(g.Op("Add", queries, tokPE), g.Op("Add", keys, imgPE), keys, nt, ni, "")))
	iouTok := g.OpA("Gather", []string{queries, g.Const(onnxpb.I64([]int64{0}))}, onnxpb.AttrInt("axis", 2))
	g.Output("iou_predictions", s.linear(g.Op("Relu", s.linear(iouTok, s.c, s.c)), s.c, 4), onnxpb.Float, 1, 1, 4)
	if full {
		g.Output("tokens_out", queries, onnxpb.Float, 1, 1, nt, s.c)
		g.Output("keys_out", keys, onnxpb.Float, 1, 1, ni, s.c)
		g.Output("masks", s.maskHead(keys, queries, decomposedNorm), onnxpb.Float, 1, 4, 64, 64)
	}
	m, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// gelu is torch's exact GELU as exported: x·(1 + erf(x/√2))·0.5.
func (s *samLike) gelu(x string) string {
	g := s.g
	e := g.Op("Add", g.Op("Erf", g.Op("Div", x, g.Floats(float32(math.Sqrt2)))), g.Floats(1))
	return g.Op("Mul", g.Op("Mul", x, e), g.Floats(0.5))
}

// convT2 is a 2×2, stride-2 ConvTranspose from in to out channels.
func (s *samLike) convT2(x string, in, out int) string {
	w := s.g.Const(onnxpb.F32(s.random(in*out*4, 1/math.Sqrt(float64(in))), int64(in), int64(out), 2, 2))
	b := s.g.Const(onnxpb.F32(s.random(out, 0.1), int64(out)))
	return s.g.OpA("ConvTranspose", []string{x, w, b}, onnxpb.AttrInts("strides", 2, 2), onnxpb.AttrInts("kernel_shape", 2, 2))
}

// maskHead is SAM's mask head on the 16×16 image rows keys:
// ConvTranspose, LayerNorm2d (decomposed as segment-anything's export
// writes it, or as Transpose → LayerNormalization → Transpose), GELU,
// ConvTranspose, GELU, and the product with four hypernetwork rows from
// the tokens ([1, 4, 64·64] reshaped to [1, 4, 64, 64]).
func (s *samLike) maskHead(keys, tokens string, decomposed bool) string {
	g := s.g
	x := g.Op("Reshape", g.OpA("Transpose", []string{keys}, onnxpb.AttrInts("perm", 0, 1, 3, 2)), g.Ints(1, int64(s.c), 16, 16))
	x = s.convT2(x, s.c, 8)
	gamma := make([]float32, 8)
	for i := range gamma {
		gamma[i] = 1 + float32(s.r.NormFloat64()*0.1)
	}
	beta := s.random(8, 0.1)
	if decomposed {
		mean := func(v string) string {
			return g.OpA("ReduceMean", []string{v}, onnxpb.AttrInts("axes", 1), onnxpb.AttrInt("keepdims", 1))
		}
		u := mean(x)
		v := mean(g.Op("Pow", g.Op("Sub", x, u), g.Floats(2)))
		y := g.Op("Div", g.Op("Sub", x, u), g.Op("Sqrt", g.Op("Add", v, g.Floats(1e-6))))
		x = g.Op("Add", g.Op("Mul", g.Const(onnxpb.F32(gamma, 8, 1, 1)), y), g.Const(onnxpb.F32(beta, 8, 1, 1)))
	} else {
		x = g.OpA("Transpose", []string{x}, onnxpb.AttrInts("perm", 0, 2, 3, 1))
		x = g.OpA("LayerNormalization", []string{x, g.Floats(gamma...), g.Floats(beta...)}, onnxpb.AttrInt("axis", -1), onnxpb.AttrFloat("epsilon", 1e-6))
		x = g.OpA("Transpose", []string{x}, onnxpb.AttrInts("perm", 0, 3, 1, 2))
	}
	x = s.gelu(x)
	x = s.gelu(s.convT2(x, 8, 4))
	rows := g.OpA("Slice", []string{tokens, g.Ints(1), g.Ints(5), g.Ints(2)})
	hyper := g.Op("Reshape", s.linear(rows, s.c, 4), g.Ints(1, 4, 4))
	m := g.Op("MatMul", hyper, g.Op("Reshape", x, g.Ints(1, 4, 64*64)))
	return g.Op("Reshape", m, g.Ints(1, 4, 64, 64))
}

// runGraph runs model on in and returns every output.
func runGraph(t *testing.T, rt *ort.Runtime, model []byte, in map[string]ort.Tensor) map[string]ort.Tensor {
	t.Helper()
	s, err := rt.NewSessionFromBytes("graph", model, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatalf("load graph: %v", err)
	}
	defer s.Close()
	out, err := s.Run(in)
	if err != nil {
		t.Fatalf("run graph: %v", err)
	}
	return out
}

// closeTo fails unless got matches want to tol relative to want's largest
// magnitude (at least 1); it returns that relative difference.
func closeTo(t *testing.T, what string, got, want []float32, tol float64) float64 {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	scale := 1.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i])-float64(want[i])) / scale
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		worst = max(worst, d)
	}
	if !(worst <= tol) {
		t.Errorf("%s: differs by %.3g relative (limit %g)", what, worst, tol)
	}
	return worst
}

func opCount(t *testing.T, model []byte, op string) int {
	t.Helper()
	g, err := onnxedit.Parse(model)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, nd := range g.Nodes {
		if nd.Op == op {
			n++
		}
	}
	return n
}

func TestRewriteAttentionGenerated(t *testing.T) {
	rt := openRuntime(t)
	s := newSAMLike(11)
	in := map[string]ort.Tensor{
		"tokens":        ort.F32Tensor(s.random(7*32, 1), 1, 1, 7, 32),
		"token_pe":      ort.F32Tensor(s.random(7*32, 1), 1, 1, 7, 32),
		"image":         ort.F32Tensor(s.random(256*32, 1), 1, 1, 256, 32),
		"image_pe":      ort.F32Tensor(s.random(256*32, 1), 1, 1, 256, 32),
		"image_queries": ort.F32Tensor(s.random(4*256*4, 0.5), 1, 4, 256, 4),
	}
	for _, tc := range []struct {
		name    string
		full    bool
		head    bool // rewrite the mask head too
		outputs []string
		slices  int // query-row Slices: the last block for the IoU token only, and the head's token rows
	}{
		{"iou only", false, false, []string{"iou_predictions"}, 2},
		{"all outputs", true, false, []string{"iou_predictions", "tokens_out", "keys_out", "masks"}, 1},
		{"all outputs and the mask head", true, true, []string{"iou_predictions", "tokens_out", "keys_out", "masks"}, 1},
		{"all outputs and the mask head, decomposed LayerNorm2d", true, true, []string{"iou_predictions", "tokens_out", "keys_out", "masks"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := samLikeDecoder(t, tc.full, strings.Contains(tc.name, "decomposed"))
			got, n, headIn, err := rewriteDecoder(model, probeShapes(rt, "probe", in), tc.head)
			if err != nil {
				t.Fatal(err)
			}
			blocks, convs := 4, 2
			if !tc.full {
				convs = 0
			}
			if tc.head {
				blocks, convs = 5, 0
			}
			if n != blocks {
				t.Errorf("rewrote %d blocks, want %d (image→token with per-frame queries, token→image, image→token, final token→image, and the mask head when asked)", n, blocks)
			}
			if k := opCount(t, got, "ConvTranspose"); k != convs || (tc.head && len(headIn) != 2) {
				t.Errorf("%d ConvTranspose nodes, head inputs %v; want %d", k, headIn, convs)
			}
			if k := opCount(t, got, "Slice"); k != tc.slices {
				t.Errorf("%d Slice nodes, want %d", k, tc.slices)
			}
			want := runGraph(t, rt, model, in)
			res := runGraph(t, rt, got, in)
			for _, o := range tc.outputs {
				d := closeTo(t, o, res[o].F32, want[o].F32, 1e-4)
				if !slices.Equal(res[o].Shape, want[o].Shape) {
					t.Errorf("%s: shape %v, want %v", o, res[o].Shape, want[o].Shape)
				}
				t.Logf("%s: max relative difference %.2g", o, d)
			}
		})
	}
	// Nothing to rewrite, or not a model.
	g := onnxpb.NewGraph("plain")
	x := g.Input("x", onnxpb.Float, 1, 4)
	g.Output("y", g.Op("Relu", x), onnxpb.Float, 1, 4)
	plain, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rewriteAttention(plain, probeShapes(rt, "probe", map[string]ort.Tensor{"x": ort.F32Tensor(make([]float32, 4), 1, 4)})); err == nil {
		t.Error("a graph without attention was rewritten")
	}
	if _, _, err := rewriteAttention([]byte("not a model"), nil); err == nil {
		t.Error("garbage accepted")
	}
}

// TestRewriteAttentionSAMReference rewrites both per-prompt graphs of the
// reference SAM v1 decoder (real architecture, official export), the low
// one also with its mask head, and checks iou_predictions and
// low_res_masks against the originals on the reference embedding.
func TestRewriteAttentionSAMReference(t *testing.T) {
	needFixture(t, samRefDir)
	rt := openRuntime(t)
	path := filepath.Join(samRefDir, "decoder.onnx")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &sam1PointScorer{nWorkers: 1, zeros: make([]float32, LowResSize*LowResSize), hasNoMask: []float32{0}}
	defer s.close()
	sp, err := s.splitGraphs(rt, raw, path)
	if err != nil {
		t.Fatal(err)
	}
	stored := mustNpy(t, filepath.Join(samRefDir, "image_embeddings.npy"))
	emb := &Embedding{W: 854, H: 480, Tensors: map[string]ort.Tensor{"image_embeddings": ort.F32Tensor(stored.Data, 1, 256, 64, 64)}}
	frame, err := s.frameTensors(emb)
	if err != nil {
		t.Fatal(err)
	}
	feed := func(x, y float64) map[string]ort.Tensor {
		in, err := s.inputs(emb, media.Prompt{Points: []media.Point{{X: x, Y: y, Label: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range frame {
			in[k] = v
		}
		return in
	}
	for _, tc := range []struct {
		name    string
		model   []byte
		head    bool
		outputs []string
	}{
		{"iou", sp.iou, false, []string{"iou_predictions"}},
		{"low-res", sp.low, false, []string{"iou_predictions", "low_res_masks"}},
		{"low-res with the mask head", sp.low, true, []string{"iou_predictions", "low_res_masks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n, _, err := rewriteDecoder(tc.model, probeShapes(rt, "probe", feed(400, 240)), tc.head)
			if err != nil {
				t.Fatal(err)
			}
			blocks, convs := 4, 2
			if tc.head {
				blocks, convs = 5, 0
			}
			if n != blocks || (tc.name != "iou" && opCount(t, got, "ConvTranspose") != convs) {
				t.Errorf("rewrote %d blocks, want %d; %d ConvTranspose left, want %d", n, blocks, opCount(t, got, "ConvTranspose"), convs)
			}
			if strings.Contains(tc.name, "iou") && opCount(t, got, "Slice") == 0 {
				t.Error("the final token→image attention was not cut to the IoU token")
			}
			worst := 0.0
			for _, p := range [][2]float64{{10, 10}, {427, 240}, {850, 100}, {200, 470}, {600, 300}} {
				in := feed(p[0], p[1])
				want := runGraph(t, rt, tc.model, in)
				res := runGraph(t, rt, got, in)
				for _, o := range tc.outputs {
					worst = max(worst, closeTo(t, o, res[o].F32, want[o].F32, 1e-4))
				}
			}
			t.Logf("largest relative difference %.2g", worst)
		})
	}
}
