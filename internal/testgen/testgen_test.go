package testgen_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"samtrack/internal/testenv"
	"samtrack/internal/testgen"
	"samtrack/models/onnxpb"
	"samtrack/ort"
)

func openRuntime(t testing.TB) *ort.Runtime {
	t.Helper()
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(t, err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func session(t testing.TB, rt *ort.Runtime, name string, gen func() ([]byte, error)) *ort.Session {
	t.Helper()
	m, err := gen()
	if err != nil {
		t.Fatal(err)
	}
	s, err := rt.NewSessionFromBytes(name, m, ort.Options{})
	if err != nil {
		t.Fatalf("load generated %s: %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func decoderC4() ([]byte, error)     { return testgen.SAMDecoder(false) }
func decoderSingle() ([]byte, error) { return testgen.SAMDecoder(true) }

func TestGenerateSizeAndSpeed(t *testing.T) {
	gens := []struct {
		name string
		gen  func() ([]byte, error)
		in   []string
		out  []string
	}{
		{"sam encoder", testgen.SAMEncoder, []string{"input_image"}, []string{"image_embeddings"}},
		{"sam preprocess encoder", testgen.SAMEncoderPreprocess, []string{"input_image"}, []string{"image_embeddings"}},
		{"sam decoder", decoderC4, samDecIn, samDecOut},
		{"sam single decoder", decoderSingle, samDecIn, samDecOut},
		{"sam2 encoder", testgen.SAM2Encoder, []string{"image"}, []string{"high_res_feats_0", "high_res_feats_1", "image_embed"}},
		{"sam2 decoder", testgen.SAM2Decoder, sam2DecIn, []string{"masks", "iou_predictions"}},
	}
	start := time.Now()
	for _, g := range gens {
		m, err := g.gen()
		if err != nil {
			t.Fatal(err)
		}
		if len(m) > 1<<20 {
			t.Errorf("%s is %d bytes; keep generated models small", g.name, len(m))
		}
		in, out, err := onnxpb.Signature(m)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in, g.in) || !slices.Equal(out, g.out) {
			t.Errorf("%s signature %v -> %v, want %v -> %v", g.name, in, out, g.in, g.out)
		}
		t.Logf("%s: %d bytes", g.name, len(m))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("generating all models took %v, want < 1s", d)
	}

	dir := t.TempDir()
	p, err := testgen.WriteDir(filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p.SAMEncoder, p.SAMEncoderPreprocess, p.SAMDecoder, p.SAMDecoderSingle, p.SAM2Encoder, p.SAM2Decoder} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("WriteDir did not write %s: %v", f, err)
		}
	}
}

var (
	samDecIn  = []string{"image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"}
	samDecOut = []string{"masks", "iou_predictions", "low_res_masks"}
	sam2DecIn = []string{"image_embed", "high_res_feats_0", "high_res_feats_1", "point_coords", "point_labels", "mask_input", "has_mask_input"}
)

// TestContractsMatchReference compares every generated model's signature
// (names, element types, ranks, fixed and dynamic dimensions) with the real
// exports in the shared fixtures.
func TestContractsMatchReference(t *testing.T) {
	rt := openRuntime(t)
	tests := []struct {
		ref  string
		gen  func() ([]byte, error)
		edit func(out []ort.IOInfo) // expected differences
	}{
		{"sam-reference/encoder.onnx", testgen.SAMEncoder, nil},
		{"sam-reference/decoder.onnx", decoderC4, nil},
		{"sam-reference/decoder.onnx", decoderSingle, func(out []ort.IOInfo) { out[1].Shape[1] = 1 }},
		{"sam2-reference/encoder.onnx", testgen.SAM2Encoder, nil},
		{"sam2-reference/decoder.onnx", testgen.SAM2Decoder, nil},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			path := "../../../shared/fixtures/" + tc.ref
			if _, err := os.Stat(path); err != nil {
				testenv.Missing(t, "reference %s missing: %v", path, err)
			}
			rin, rout, err := rt.Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				tc.edit(rout)
			}
			s := session(t, rt, tc.ref, tc.gen)
			if got, want := fmt.Sprint(s.Inputs()), fmt.Sprint(rin); got != want {
				t.Errorf("inputs\n got %s\nwant %s", got, want)
			}
			if !sameContract(s.Outputs(), rout) {
				t.Errorf("outputs\n got %s\nwant %s", s.Outputs(), rout)
			}
		})
	}
	// The preprocess encoder has samexporter's --use-preprocess input.
	s := session(t, rt, "preprocess", testgen.SAMEncoderPreprocess)
	if got := fmt.Sprint(s.Inputs()); got != "[input_image ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT[?,?,3]]" {
		t.Errorf("preprocess encoder input %s", got)
	}
}

// sameContract compares names, types and ranks exactly; a dimension that
// the reference leaves dynamic may be known in ours (ONNX Runtime fills in
// what its shape inference proves, e.g. the batch of 1).
func sameContract(got, want []ort.IOInfo) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Type != w.Type || g.TypeName != w.TypeName || len(g.Shape) != len(w.Shape) {
			return false
		}
		for k := range g.Shape {
			if w.Shape[k] >= 0 && g.Shape[k] != w.Shape[k] {
				return false
			}
		}
	}
	return true
}

// samRig runs the SAM v1 models on a scene the way a client would.
type samRig struct {
	t              testing.TB
	enc, dec, dec1 *ort.Session
	sc             scene
	emb            ort.Tensor
}

func newSAMRig(t testing.TB, rt *ort.Runtime, sc scene) *samRig {
	r := &samRig{t: t, sc: sc,
		enc:  session(t, rt, "sam encoder", testgen.SAMEncoder),
		dec:  session(t, rt, "sam decoder", decoderC4),
		dec1: session(t, rt, "sam single decoder", decoderSingle),
	}
	out, err := r.enc.Run(map[string]ort.Tensor{"input_image": ort.F32Tensor(samInput(sc.render(), sc.w, sc.h), 1, 3, 1024, 1024)})
	if err != nil {
		t.Fatal(err)
	}
	r.emb = out["image_embeddings"]
	return r
}

type pt struct{ x, y, label float64 }

// prompt is a click list and an optional box, in frame pixels.
type prompt struct {
	pts  []pt
	box  []float64 // x0, y0, x1, y1
	mask []float32 // low-res mask_input
}

// feed builds the decoder inputs with the official transform: per-axis
// ratios of the rounded resized size, clicks then box corners, a padding
// point when there is no box.
func (r *samRig) feed(p prompt) map[string]ort.Tensor {
	nw, nh := samResized(r.sc.w, r.sc.h)
	sx, sy := float64(nw)/float64(r.sc.w), float64(nh)/float64(r.sc.h)
	var coords, labels []float32
	for _, q := range p.pts {
		coords = append(coords, float32(q.x*sx), float32(q.y*sy))
		labels = append(labels, float32(q.label))
	}
	if p.box != nil {
		coords = append(coords, float32(p.box[0]*sx), float32(p.box[1]*sy), float32(p.box[2]*sx), float32(p.box[3]*sy))
		labels = append(labels, 2, 3)
	} else {
		coords = append(coords, 0, 0)
		labels = append(labels, -1)
	}
	mask, has := make([]float32, 256*256), float32(0)
	if p.mask != nil {
		mask, has = p.mask, 1
	}
	n := int64(len(labels))
	return map[string]ort.Tensor{
		"image_embeddings": r.emb,
		"point_coords":     ort.F32Tensor(coords, 1, n, 2),
		"point_labels":     ort.F32Tensor(labels, 1, n),
		"mask_input":       ort.F32Tensor(mask, 1, 1, 256, 256),
		"has_mask_input":   ort.F32Tensor([]float32{has}, 1),
		"orig_im_size":     ort.F32Tensor([]float32{float32(r.sc.h), float32(r.sc.w)}, 2),
	}
}

type samOut struct {
	masks [][]bool // per token, frame size
	iou   []float32
	low   [][]float32
	raw   map[string]ort.Tensor
}

func (r *samRig) run(s *ort.Session, p prompt) samOut {
	r.t.Helper()
	res, err := s.Run(r.feed(p))
	if err != nil {
		r.t.Fatal(err)
	}
	m := res["masks"]
	c := int(m.Shape[1])
	if want := []int64{1, int64(c), int64(r.sc.h), int64(r.sc.w)}; !slices.Equal(m.Shape, want) {
		r.t.Fatalf("masks shape %v, want %v (orig_im_size)", m.Shape, want)
	}
	if want := []int64{1, int64(c), 256, 256}; !slices.Equal(res["low_res_masks"].Shape, want) {
		r.t.Fatalf("low_res_masks shape %v, want %v", res["low_res_masks"].Shape, want)
	}
	o := samOut{iou: res["iou_predictions"].F32, raw: res}
	n := r.sc.w * r.sc.h
	for k := 0; k < c; k++ {
		o.masks = append(o.masks, threshold(m.F32[k*n:(k+1)*n]))
		o.low = append(o.low, res["low_res_masks"].F32[k*65536:(k+1)*65536])
	}
	return o
}

// bestMulti is the client's choice for a single click: the best of the
// multimask tokens 1-3.
func bestMulti(iou []float32) int {
	best := 1
	for k := 2; k < 4; k++ {
		if iou[k] > iou[best] {
			best = k
		}
	}
	return best
}

func TestSAMPrompts(t *testing.T) {
	rt := openRuntime(t)
	sc := mainScene()
	r := newSAMRig(t, rt, sc)
	tests := []struct {
		name   string
		p      prompt
		truth  []string
		tokens []int // tokens that must match the truth (besides token 0)
	}{
		{"click yellow disk", prompt{pts: []pt{{150, 140, 1}}}, []string{"yellow"}, []int{1, 2, 3}},
		{"click disk edge", prompt{pts: []pt{{150, 68, 1}}}, []string{"yellow"}, []int{1, 2, 3}},
		{"click blue rect", prompt{pts: []pt{{320, 180, 1}}}, []string{"blue"}, []int{1, 2, 3}},
		{"click green ellipse", prompt{pts: []pt{{540, 330, 1}}}, []string{"green"}, []int{1, 2, 3}},
		{"box green ellipse", prompt{box: []float64{455, 245, 625, 455}}, []string{"green"}, []int{1, 2, 3}},
		{"tight box blue", prompt{box: []float64{300, 50, 470, 200}}, []string{"blue"}, []int{1, 2, 3}},
		{"box and click", prompt{pts: []pt{{380, 120, 1}}, box: []float64{290, 40, 480, 210}}, []string{"blue"}, []int{1, 2, 3}},
		{"two shapes", prompt{pts: []pt{{150, 140, 1}, {400, 100, 1}}}, []string{"yellow", "blue"}, []int{1, 2, 3}},
		{"click red square", prompt{pts: []pt{{300, 350, 1}}}, []string{"red"}, []int{1, 2}},
		{"click red, negative orange", prompt{pts: []pt{{300, 350, 1}, {410, 350, 0}}}, []string{"red"}, []int{1, 2, 3}},
		{"click yellow, negative background", prompt{pts: []pt{{150, 140, 1}, {150, 40, 0}}}, []string{"yellow"}, []int{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := r.run(r.dec, tc.p)
			truth := sc.truth(tc.truth...)
			ious := make([]float64, 4)
			for k := range ious {
				ious[k] = iou(o.masks[k], truth)
			}
			t.Logf("IoU vs truth %.3f, iou_predictions %.3f", ious, o.iou)
			chosen := 0
			if len(tc.p.pts)+2 <= 3 && tc.p.box == nil || tc.p.box != nil && len(tc.p.pts) == 0 {
				chosen = bestMulti(o.iou) // select_masks with N = 2
			}
			if ious[chosen] < 0.9 {
				t.Errorf("chosen token %d IoU %.3f < 0.9", chosen, ious[chosen])
			}
			if o.iou[chosen] < 0.9 {
				t.Errorf("chosen token %d predicts iou %.3f < 0.9 on a clean shape", chosen, o.iou[chosen])
			}
			if ious[0] < 0.9 {
				t.Errorf("token 0 IoU %.3f < 0.9", ious[0])
			}
			for _, k := range tc.tokens {
				if ious[k] < 0.9 {
					t.Errorf("token %d IoU %.3f < 0.9", k, ious[k])
				}
			}
			if st := stability(o.raw["masks"].F32, chosen, sc.w*sc.h); st < 0.95 {
				t.Errorf("chosen token %d stability score %.3f < 0.95", chosen, st)
			}
			for k := 1; k < 3; k++ { // multimask tokens are nested
				if inter := area(and(o.masks[k], o.masks[k+1])); inter < area(o.masks[k])*99/100 {
					t.Errorf("token %d is not inside token %d", k, k+1)
				}
			}
		})
	}
}

// stability is SAM's stability score (offset 1.0) of token k.
func stability(masks []float32, k, n int) float64 {
	hi, lo := 0, 0
	for _, v := range masks[k*n : (k+1)*n] {
		if v > 1 {
			hi++
		}
		if v > -1 {
			lo++
		}
	}
	if lo == 0 {
		return 0
	}
	return float64(hi) / float64(lo)
}

func and(a, b []bool) []bool {
	m := make([]bool, len(a))
	for i := range a {
		m[i] = a[i] && b[i]
	}
	return m
}

// TestSAMAmbiguity: a click on the red square next to a similar orange one
// makes the loose token take both with a lower confidence; a negative click
// on the orange square removes it from every token.
func TestSAMAmbiguity(t *testing.T) {
	rt := openRuntime(t)
	sc := mainScene()
	r := newSAMRig(t, rt, sc)
	pos := r.run(r.dec, prompt{pts: []pt{{300, 350, 1}}})
	neg := r.run(r.dec, prompt{pts: []pt{{300, 350, 1}, {410, 350, 0}}})
	red, both := sc.truth("red"), sc.truth("red", "orange")
	t.Logf("positive only: iou_predictions %.3f; with negative %.3f", pos.iou, neg.iou)
	if v := iou(pos.masks[3], both); v < 0.9 {
		t.Errorf("loose token IoU vs red+orange %.3f < 0.9", v)
	}
	if pos.iou[3] >= pos.iou[1] || pos.iou[3] >= pos.iou[2] {
		t.Errorf("ambiguous loose mask scores %.3f, not below the clean ones %.3f", pos.iou[3], pos.iou[1:3])
	}
	if b := bestMulti(pos.iou); iou(pos.masks[b], red) < 0.9 {
		t.Errorf("best multimask token %d is not the red square", b)
	}
	if v := iou(neg.masks[3], red); v < 0.9 {
		t.Errorf("with a negative click the loose token IoU vs red %.3f < 0.9", v)
	}
	if area(neg.masks[3]) >= area(pos.masks[3])*3/4 {
		t.Errorf("negative click did not shrink the loose mask: %d -> %d", area(pos.masks[3]), area(neg.masks[3]))
	}
	// A click on the background gives the background, not a shape.
	bg := r.run(r.dec, prompt{pts: []pt{{40, 300, 1}}})
	bgTruth := sc.truth("")
	if v := iou(bg.masks[3], bgTruth); v < 0.9 {
		t.Errorf("background click, loose token IoU vs background %.3f < 0.9", v)
	}
	// Only a negative click, or only padding: nothing is selected.
	for _, p := range []prompt{{pts: []pt{{150, 140, 0}}}, {}} {
		o := r.run(r.dec, p)
		for k := 0; k < 4; k++ {
			if a := area(o.masks[k]); a != 0 || o.iou[k] > 0.01 {
				t.Errorf("prompt %+v token %d: area %d iou %.3f, want an empty mask scored 0", p.pts, k, a, o.iou[k])
			}
		}
	}
}

// TestSAMMaskInput feeds low_res_masks back, with and without the click.
func TestSAMMaskInput(t *testing.T) {
	rt := openRuntime(t)
	sc := mainScene()
	r := newSAMRig(t, rt, sc)
	first := r.run(r.dec, prompt{pts: []pt{{320, 120, 1}}})
	blue := sc.truth("blue")
	again := r.run(r.dec, prompt{pts: []pt{{320, 120, 1}}, mask: first.low[0]})
	if v := iou(again.masks[0], first.masks[0]); v < 0.98 {
		t.Errorf("feeding the mask back changed token 0: IoU %.3f", v)
	}
	only := r.run(r.dec, prompt{mask: first.low[0]})
	for k := 0; k < 4; k++ {
		if v := iou(only.masks[k], blue); v < 0.9 {
			t.Errorf("mask-only prompt token %d IoU %.3f < 0.9", k, v)
		}
	}
	t.Logf("mask-only iou_predictions %.3f", only.iou)
}

// TestSAMSingleMask checks the C = 1 variant against select_masks applied
// to the C = 4 outputs.
func TestSAMSingleMask(t *testing.T) {
	rt := openRuntime(t)
	sc := mainScene()
	r := newSAMRig(t, rt, sc)
	tests := []struct {
		name string
		p    prompt
		want func(iou []float32) int
	}{
		{"one click (N=2)", prompt{pts: []pt{{300, 350, 1}}}, bestMulti},
		{"box (N=2)", prompt{box: []float64{455, 245, 625, 455}}, bestMulti},
		{"two clicks (N=3)", prompt{pts: []pt{{300, 350, 1}, {410, 350, 0}}}, func([]float32) int { return 0 }},
		{"box and click (N=3)", prompt{pts: []pt{{380, 120, 1}}, box: []float64{290, 40, 480, 210}}, func([]float32) int { return 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := r.run(r.dec, tc.p)
			one := r.run(r.dec1, tc.p)
			k := tc.want(all.iou)
			if len(one.iou) != 1 || one.iou[0] != all.iou[k] {
				t.Fatalf("single iou %v, want token %d of %v", one.iou, k, all.iou)
			}
			if !slices.Equal(one.low[0], all.low[k]) {
				t.Errorf("single low_res_masks differ from token %d", k)
			}
			if v := iou(one.masks[0], all.masks[k]); v < 0.9999 {
				t.Errorf("single masks differ from token %d: IoU %.5f", k, v)
			}
		})
	}
}

// TestSAMPortraitAndPreprocess runs a portrait frame (padding on the right,
// crop on the width) through both encoder layouts.
func TestSAMPortraitAndPreprocess(t *testing.T) {
	rt := openRuntime(t)
	sc := scene{w: 360, h: 500, shapes: []shape{
		{"magenta", [3]float64{200, 50, 190}, disk(180, 150, 90)},
		{"cyan", [3]float64{40, 190, 210}, rect(40, 320, 330, 450)},
	}}
	r := newSAMRig(t, rt, sc)
	for _, c := range []struct {
		name string
		p    prompt
	}{
		{"magenta", prompt{pts: []pt{{180, 150, 1}}}},
		{"cyan", prompt{pts: []pt{{300, 430, 1}}}},
	} {
		o := r.run(r.dec, c.p)
		if v := iou(o.masks[bestMulti(o.iou)], sc.truth(c.name)); v < 0.9 {
			t.Errorf("%s: IoU %.3f < 0.9", c.name, v)
		}
	}
	// The zero padding on the right decodes to the mean colour, close to
	// this grey background, yet it is never part of a mask.
	bg := r.run(r.dec, prompt{pts: []pt{{340, 20, 1}}})
	nw, _ := samResized(sc.w, sc.h)
	for k := 0; k < 4; k++ {
		if v := iou(bg.masks[k], sc.truth("")); k == 3 && v < 0.9 {
			t.Errorf("background click: loose token IoU %.3f < 0.9", v)
		}
		for y := 0; y < 256; y++ {
			for x := (nw + 3) / 4; x < 256; x++ {
				if v := bg.low[k][y*256+x]; v > 0 {
					t.Fatalf("token %d: padding cell (%d,%d) has logit %.2f > 0", k, x, y, v)
				}
			}
		}
	}
	pre := session(t, rt, "preprocess encoder", testgen.SAMEncoderPreprocess)
	rgb, nw, nh := samResizeRGB(sc.render(), sc.w, sc.h)
	out, err := pre.Run(map[string]ort.Tensor{"input_image": ort.F32Tensor(rgb, int64(nh), int64(nw), 3)})
	if err != nil {
		t.Fatal(err)
	}
	got := out["image_embeddings"]
	if !slices.Equal(got.Shape, []int64{1, 256, 64, 64}) {
		t.Fatalf("preprocess encoder shape %v", got.Shape)
	}
	worst := 0.0
	for i := range got.F32 {
		worst = math.Max(worst, math.Abs(float64(got.F32[i]-r.emb.F32[i])))
	}
	if worst > 1e-4 {
		t.Errorf("preprocess encoder differs from the plain one by %g", worst)
	}
}

// sam2Rig runs the SAM 2 models.
type sam2Rig struct {
	t     testing.TB
	dec   *ort.Session
	sc    scene
	feats map[string]ort.Tensor
}

func newSAM2Rig(t testing.TB, rt *ort.Runtime, sc scene) *sam2Rig {
	enc := session(t, rt, "sam2 encoder", testgen.SAM2Encoder)
	feats, err := enc.Run(map[string]ort.Tensor{"image": ort.F32Tensor(sam2Input(sc.render(), sc.w, sc.h), 1, 3, 1024, 1024)})
	if err != nil {
		t.Fatal(err)
	}
	return &sam2Rig{t: t, sc: sc, feats: feats, dec: session(t, rt, "sam2 decoder", testgen.SAM2Decoder)}
}

// run decodes prompts as one batch; all prompts must have the same number
// of points. Box corners come first, no padding point is added.
func (r *sam2Rig) run(ps []prompt) (masks [][]float32, ious [][]float32) {
	r.t.Helper()
	sx, sy := 1024/float64(r.sc.w), 1024/float64(r.sc.h)
	coords, labels := []float32{}, []float32{} // non-nil: N may be 0
	var mask, has []float32
	npts := -1
	for _, p := range ps {
		var c, l []float32
		if p.box != nil {
			c = append(c, float32(p.box[0]*sx), float32(p.box[1]*sy), float32(p.box[2]*sx), float32(p.box[3]*sy))
			l = append(l, 2, 3)
		}
		for _, q := range p.pts {
			c = append(c, float32(q.x*sx), float32(q.y*sy))
			l = append(l, float32(q.label))
		}
		if npts >= 0 && len(l) != npts {
			r.t.Fatal("batched prompts need the same number of points")
		}
		npts = len(l)
		coords, labels = append(coords, c...), append(labels, l...)
		if p.mask != nil {
			mask, has = append(mask, p.mask...), append(has, 1)
		} else {
			mask, has = append(mask, make([]float32, 65536)...), append(has, 0)
		}
	}
	n := int64(len(ps))
	in := map[string]ort.Tensor{
		"point_coords":   ort.F32Tensor(coords, n, int64(npts), 2),
		"point_labels":   ort.F32Tensor(labels, n, int64(npts)),
		"mask_input":     ort.F32Tensor(mask, n, 1, 256, 256),
		"has_mask_input": ort.F32Tensor(has, n),
	}
	for k, v := range r.feats {
		in[k] = v
	}
	res, err := r.dec.Run(in)
	if err != nil {
		r.t.Fatal(err)
	}
	if want := []int64{n, 3, 256, 256}; !slices.Equal(res["masks"].Shape, want) {
		r.t.Fatalf("masks shape %v, want %v", res["masks"].Shape, want)
	}
	for i := 0; i < int(n)*3; i++ {
		masks = append(masks, res["masks"].F32[i*65536:(i+1)*65536])
	}
	for i := 0; i < int(n); i++ {
		ious = append(ious, res["iou_predictions"].F32[i*3:(i+1)*3])
	}
	return masks, ious
}

func TestSAM2(t *testing.T) {
	rt := openRuntime(t)
	sc := mainScene()
	r := newSAM2Rig(t, rt, sc)
	tests := []struct {
		name  string
		p     prompt
		truth []string
	}{
		{"click yellow", prompt{pts: []pt{{150, 140, 1}}}, []string{"yellow"}},
		{"click blue", prompt{pts: []pt{{320, 180, 1}}}, []string{"blue"}},
		{"click red", prompt{pts: []pt{{300, 350, 1}}}, []string{"red"}},
		{"box green", prompt{box: []float64{455, 245, 625, 455}}, []string{"green"}},
		{"red with negative orange", prompt{pts: []pt{{300, 350, 1}, {410, 350, 0}}}, []string{"red"}},
	}
	var singles [][]float32
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			masks, ious := r.run([]prompt{tc.p})
			best := 0
			for k := range ious[0] {
				if ious[0][k] > ious[0][best] {
					best = k
				}
			}
			for _, v := range masks[best] {
				if v < -32 || v > 32 {
					t.Fatalf("logit %v outside ±32", v)
				}
			}
			got := threshold(upscale256(masks[best], sc.w, sc.h))
			v := iou(got, sc.truth(tc.truth...))
			t.Logf("best token %d IoU %.3f, iou_predictions %.3f", best+1, v, ious[0])
			if v < 0.9 || ious[0][best] < 0.9 {
				t.Errorf("best token IoU %.3f, predicted %.3f; want both ≥ 0.9", v, ious[0][best])
			}
		})
		if tc.p.box == nil && len(tc.p.pts) == 1 {
			m, _ := r.run([]prompt{tc.p})
			singles = append(singles, m...)
		}
	}
	// A previous mask alone (one padding-only point row is added by the
	// model) brings the same object back.
	m, ious := r.run([]prompt{{pts: []pt{{320, 180, 1}}}})
	again, ious2 := r.run([]prompt{{mask: m[0]}})
	blue := sc.truth("blue")
	if v := iou(threshold(upscale256(again[0], sc.w, sc.h)), blue); v < 0.9 {
		t.Errorf("mask-only prompt: IoU %.3f < 0.9", v)
	}
	t.Logf("click iou %.3f, mask-only iou %.3f", ious[0], ious2[0])

	// Batched single-click prompts equal the single calls.
	batch, _ := r.run([]prompt{tests[0].p, tests[1].p, tests[2].p})
	for i := range batch {
		worst := 0.0
		for j := range batch[i] {
			worst = math.Max(worst, math.Abs(float64(batch[i][j]-singles[i][j])))
		}
		if worst > 1e-3 {
			t.Errorf("batched mask %d differs from the single call by %g", i, worst)
		}
	}
}

// BenchmarkDecoders times one prompt through each generated decoder on a
// 1920×1080 frame (the SAM v1 decoder includes its postprocessing).
func BenchmarkDecoders(b *testing.B) {
	rt := openRuntime(b)
	sc := mainScene()
	sc.w, sc.h = 1920, 1080
	r := newSAMRig(b, rt, sc)
	b.Run("sam_v1_c4", func(b *testing.B) {
		in := r.feed(prompt{pts: []pt{{300, 350, 1}}})
		for b.Loop() {
			if _, err := r.dec.Run(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	r2 := newSAM2Rig(b, rt, sc)
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("sam2_batch%d", n), func(b *testing.B) {
			ps := make([]prompt, n)
			for i := range ps {
				ps[i] = prompt{pts: []pt{{float64(40 + 100*i), 300, 1}}}
			}
			for b.Loop() {
				r2.run(ps)
			}
		})
	}
}
