package segment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"

	"samtrack/media"
	"samtrack/models/onnxedit"
	"samtrack/models/onnxpb"
	"samtrack/ort"
)

// sam1PointScorer decodes everything-mode grid clicks with two pruned
// copies of the official SAM v1 decoder (onnxedit.PruneToOutputs): one that only
// computes iou_predictions (the transformer and the IoU head; the mask
// upscaling convolutions, the mask products and the in-graph resizes to
// full size are removed) and one that stops at low_res_masks. Sessions get
// CPUs/workers intra-op threads so that `workers` batches decode at once.
//
// Unless noSplit is set, both are also split (onnxedit.SplitFrameConstant): the
// work that depends only on the frame (the embedding and the empty mask
// prompt) runs once per embedding in a third session, pre, and its results
// are fed to every per-prompt call. On the SAM ViT-B cost model (2 cores)
// the split made the IoU pass 1.6 times faster, and screening it with the
// reordered graph (fast) twice as fast again.
//
// When the decoder's attention and mask head can both be reordered (the
// official export), screen and head replace fast and low: the screen is
// the reordered IoU graph that also returns the tensors where the rest of
// the decoder starts (the image rows and tokens after the transformer's
// two layers), and the head, the rest of the low graph with its attention
// and mask head reordered, runs from them only for a point that passes
// pred_iou_thresh (screenMasks). No point's transformer runs twice. On
// the cost model (one thread) the screen took about 13 ms a point and the
// head about 14 ms, against about 40 ms for a second, exact decoder run.
// Segments then equal the exact graph's up to float rounding
// (TestEverythingReorderedMatchesExact; at setup every IoU and low-res
// logit of sample clicks must agree to 1e-4 relative, else the exact
// graphs decode). Once the pair has passed that check, the exact iou, low
// and fast sessions are closed (unless keepExact): they would only hold
// memory.
type sam1PointScorer struct {
	iou, low  *ort.Session
	nWorkers  int
	zeros     []float32
	hasNoMask []float32

	pre      *ort.Session // nil when the graphs are not split
	mu       sync.Mutex
	frameEmb *Embedding            // the embedding whose pre outputs frame holds
	frame    map[string]ort.Tensor // pre outputs by name

	// fast, when set, is the split IoU-only graph with its cross-attention
	// reordered (rewriteAttention): equal to iou up to float rounding, so
	// it only screens. first returns its IoUs raised by margin (more than
	// the largest difference seen on the check at setup), so that every
	// point whose exact IoU passes a threshold is sent to masks; processBatch
	// then filters and scores with the exact IoUs that masks returns, so
	// the segments and their scores are those of the exact graphs. It is
	// used when screen and head are not.
	fast   *ort.Session
	margin float32

	// screen and head, when set, are fast with the extra outputs headCut
	// and the rest of the reordered low graph from those on (see above).
	// Their results are the results of everything mode when set.
	screen, head *ort.Session
	headCut      []onnxedit.Boundary
}

func newSAM1PointScorer(rt *ort.Runtime, m *sam1Model, workers int, noSplit, keepExact bool, log *slog.Logger) (*sam1PointScorer, error) {
	if log == nil {
		log = slog.Default()
	}
	if m.dec == nil {
		return nil, fmt.Errorf("model is closed")
	}
	path := m.dec.Path()
	raw, err := readInlined(path)
	if err != nil {
		return nil, fmt.Errorf("read decoder %s: %w", path, err)
	}
	threads := max(1, runtime.NumCPU()/workers)
	s := &sam1PointScorer{nWorkers: workers, zeros: make([]float32, LowResSize*LowResSize), hasNoMask: []float32{0}}
	so := ort.Options{IntraOpThreads: threads}
	if !noSplit {
		err := s.buildSplit(rt, raw, path, so, log)
		if err == nil {
			if s.screen != nil && !keepExact {
				// The screen and head now answer every call (first and
				// masks): the exact graphs only served their check.
				err := closeAll(s.iou, s.low, s.fast)
				s.iou, s.low, s.fast = nil, nil, nil
				if err != nil {
					s.close()
					return nil, fmt.Errorf("close the exact decoder graphs: %w", err)
				}
			}
			return s, nil
		}
		s.close()
		log.Debug("everything mode: decoder not split; every prompt recomputes the frame's part", "decoder", path, "err", err)
	}
	if s.iou, err = prunedSession(rt, raw, path, so, "iou_predictions"); err != nil {
		return nil, err
	}
	if s.low, err = prunedSession(rt, raw, path, so, "iou_predictions", "low_res_masks"); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// buildSplit creates pre, iou and low from a split of the decoder pruned to
// iou_predictions and low_res_masks, and fast when the IoU graph's
// attention can be reordered (the official SAM v1 export).
func (s *sam1PointScorer) buildSplit(rt *ort.Runtime, raw []byte, path string, so ort.Options, log *slog.Logger) error {
	sp, err := s.splitGraphs(rt, raw, path)
	if err != nil {
		return err
	}
	if s.iou, err = rt.NewSessionFromBytes(path+" ([iou_predictions] per prompt)", sp.iou, so); err != nil {
		return err
	}
	if s.low, err = rt.NewSessionFromBytes(path+" ([iou_predictions low_res_masks] per prompt)", sp.low, so); err != nil {
		return err
	}
	fast, fastModel, margin, blocks, err := buildFastIoU(rt, sp, s.iou, path, so)
	if err != nil {
		log.Debug("everything mode: IoU pass not reordered; the exact graph screens the points", "decoder", path, "err", err)
		return nil
	}
	log.Debug("everything mode: IoU pass screens with reordered attention", "decoder", path, "blocks", blocks, "margin", margin)
	s.fast, s.margin = fast, margin
	if err := s.buildScreenHead(rt, sp, fastModel, path, so); err != nil {
		closeAll(s.screen, s.head)
		s.screen, s.head, s.headCut = nil, nil, nil
		log.Debug("everything mode: mask pass not reordered; the exact graph decodes the masks", "decoder", path, "err", err)
	}
	return nil
}

// buildScreenHead builds s.screen, the reordered IoU graph fastModel with
// extra outputs, and s.head, the rest of sp.low rewritten with its mask
// head (rewriteDecoder) from those outputs on, and checks the pair
// against s.low on the sample frame: IoUs and low-res logits must agree
// to 1e-4 relative.
func (s *sam1PointScorer) buildScreenHead(rt *ort.Runtime, sp *promptGraphs, fastModel []byte, path string, so ort.Options) error {
	lowModel, _, headIn, err := rewriteDecoder(sp.low, sp.shapeProbe(rt, path), true)
	if err != nil {
		return err
	}
	if headIn == nil {
		return errors.New("mask head not matched")
	}
	cut, err := screenCut(rt, fastModel, lowModel, sp.feed(48, 32), path)
	if err != nil {
		return err
	}
	names := make([]string, len(cut))
	for i, b := range cut {
		names[i] = b.Name
	}
	fg, err := onnxedit.Parse(fastModel)
	if err != nil {
		return err
	}
	screenModel, err := fg.WithOutputs(names)
	if err != nil {
		return err
	}
	if s.screen, err = rt.NewSessionFromBytes(path+" ([iou_predictions] and where the mask pass starts, per prompt, reordered)", screenModel, so); err != nil {
		return err
	}
	headModel, err := onnxedit.PromptGraph(lowModel, cut, []string{"low_res_masks"}, nil)
	if err != nil {
		return err
	}
	if s.head, err = rt.NewSessionFromBytes(path+" ([low_res_masks] from the screen's outputs, reordered)", headModel, so); err != nil {
		return err
	}
	s.headCut = cut
	for k, in := range sp.sampleFeeds() {
		want, err := s.low.Run(in)
		if err != nil {
			return err
		}
		iou, lr, err := s.screenHead(in)
		if err != nil {
			return err
		}
		for _, c := range [2]struct {
			name      string
			got, want []float32
		}{{"IoU", iou, want["iou_predictions"].F32}, {"low-res logit", lr, want["low_res_masks"].F32}} {
			if err := agree(c.got, c.want, 1e-4); err != nil {
				return fmt.Errorf("reordered mask pass differs on sample %d: %s %w", k, c.name, err)
			}
		}
	}
	return nil
}

// screenCut finds where the mask pass can start from the screen's work:
// the tensors the screen (fastModel) computes under their original names
// (not the rewrite's own) that the rest of the rewritten low graph needs,
// with their types and shapes from a run on in.
func screenCut(rt *ort.Runtime, fastModel, lowModel []byte, in map[string]ort.Tensor, path string) ([]onnxedit.Boundary, error) {
	fg, err := onnxedit.Parse(fastModel)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range fg.Nodes {
		for _, o := range n.Out {
			if o != "" && !strings.HasPrefix(o, "samtrack_rw/") {
				names = append(names, o)
			}
		}
	}
	all, err := fg.WithOutputs(names)
	if err != nil {
		return nil, err
	}
	// Only tensors samtrack can exchange (float32 or int64, not scalars)
	// can be a boundary.
	sess, err := rt.NewSessionFromBytes(path+" (screen probe)", all, ort.Options{IntraOpThreads: 1})
	if err != nil {
		return nil, err
	}
	var readable []string
	for _, o := range sess.Outputs() {
		if o.Type != ort.Other && len(o.Shape) > 0 {
			readable = append(readable, o.Name)
		}
	}
	sess.Close()
	if sess, err = rt.NewSessionFromBytes(path+" (screen probe)", all, ort.Options{IntraOpThreads: 1, Outputs: readable}); err != nil {
		return nil, err
	}
	defer sess.Close()
	out, err := sess.Run(in)
	if err != nil {
		return nil, err
	}
	var bounds []onnxedit.Boundary
	for _, n := range names {
		t, ok := out[n]
		switch {
		case !ok:
		case t.F32 != nil:
			bounds = append(bounds, onnxedit.Boundary{Name: n, Elem: onnxpb.Float, Shape: t.Shape})
		case t.I64 != nil:
			bounds = append(bounds, onnxedit.Boundary{Name: n, Elem: onnxpb.Int64, Shape: t.Shape})
		}
	}
	cut, err := cutAt(lowModel, bounds)
	if err != nil {
		return nil, err
	}
	// The nearest cut can hold a large tensor that the head recomputes
	// cheaply from smaller ones (image rows plus a frame tensor): drop
	// boundaries while that makes the cut smaller.
	for dropped := true; dropped; {
		dropped = false
		for _, b := range cut {
			fewer := slices.DeleteFunc(slices.Clone(bounds), func(c onnxedit.Boundary) bool { return c.Name == b.Name })
			c2, err := cutAt(lowModel, fewer)
			if err == nil && cutBytes(c2) < cutBytes(cut) {
				bounds, cut, dropped = fewer, c2, true
				break
			}
		}
	}
	return cut, nil
}

// cutAt lists the boundaries the rest of lowModel (low_res_masks from
// bounds on) reads.
func cutAt(lowModel []byte, bounds []onnxedit.Boundary) ([]onnxedit.Boundary, error) {
	rest, err := onnxedit.PromptGraph(lowModel, bounds, []string{"low_res_masks"}, nil)
	if err != nil {
		return nil, err
	}
	rg, err := onnxedit.Parse(rest)
	if err != nil {
		return nil, err
	}
	need := map[string]bool{}
	for _, n := range rg.InputNames() {
		need[n] = true
	}
	cut := slices.DeleteFunc(slices.Clone(bounds), func(b onnxedit.Boundary) bool { return !need[b.Name] })
	if len(cut) == 0 {
		return nil, errors.New("the mask pass needs nothing the screen computes")
	}
	return cut, nil
}

// cutBytes is the size of the boundaries' tensors.
func cutBytes(cut []onnxedit.Boundary) int64 {
	var n int64
	for _, b := range cut {
		e := int64(4)
		if b.Elem == onnxpb.Int64 {
			e = 8
		}
		for _, d := range b.Shape {
			e *= d
		}
		n += e
	}
	return n
}

// screenHead runs screen, then head on its outputs, for one prompt's
// inputs in.
func (s *sam1PointScorer) screenHead(in map[string]ort.Tensor) (iou, lowRes []float32, err error) {
	a, err := s.screen.Run(in)
	if err != nil {
		return nil, nil, err
	}
	lowRes, err = s.headMasks(a, in)
	return a["iou_predictions"].F32, lowRes, err
}

// headMasks runs head on the screen's outputs res and, for its other
// inputs (the prompt's and the frame's tensors), on in.
func (s *sam1PointScorer) headMasks(res, in map[string]ort.Tensor) ([]float32, error) {
	hin := make(map[string]ort.Tensor, len(s.head.Inputs()))
	for _, io := range s.head.Inputs() {
		t, ok := res[io.Name]
		if !ok {
			if t, ok = in[io.Name]; !ok {
				return nil, fmt.Errorf("mask head: no tensor for its input %s", io.Name)
			}
		}
		hin[io.Name] = t
	}
	b, err := s.head.Run(hin)
	if err != nil {
		return nil, fmt.Errorf("mask head: %w", err)
	}
	return b["low_res_masks"].F32, nil
}

// agree reports an error when got and want differ in length or by more
// than tol relative to want's largest magnitude (at least 1).
func agree(got, want []float32, tol float64) error {
	if len(got) == 0 || len(got) != len(want) {
		return fmt.Errorf("has %d values, the exact graph %d", len(got), len(want))
	}
	scale := 1.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*scale) {
			return fmt.Errorf("%d is %g, exact %g", i, got[i], want[i])
		}
	}
	return nil
}

// buildFastIoU rewrites sp.iou (rewriteAttention) and checks it against
// exact (a session of sp.iou) on the sample frame: every IoU must agree to
// 1e-4 relative. It returns the session, its model and the screening
// margin.
func buildFastIoU(rt *ort.Runtime, sp *promptGraphs, exact *ort.Session, path string, so ort.Options) (*ort.Session, []byte, float32, int, error) {
	shapes := sp.shapeProbe(rt, path)
	g, blocks, err := rewriteAttention(sp.iou, shapes)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	fast, err := rt.NewSessionFromBytes(path+" ([iou_predictions] per prompt, reordered)", g, so)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	worst, err := compareIoU(exact, fast, sp.sampleFeeds())
	if err != nil {
		fast.Close()
		return nil, nil, 0, 0, err
	}
	// The margin covers differences 100 times the largest seen, and at
	// least 1e-3; it only sends a few more points to the mask pass.
	return fast, g, float32(max(1e-3, 100*worst)), blocks, nil
}

// compareIoU runs exact and fast on each feed and returns the largest
// absolute difference of their iou_predictions, or an error when one
// differs by more than 1e-4 relative to the largest exact value (at
// least 1).
func compareIoU(exact, fast *ort.Session, feeds []map[string]ort.Tensor) (float64, error) {
	worst := 0.0
	for k, in := range feeds {
		want, err := exact.Run(in)
		if err != nil {
			return 0, err
		}
		got, err := fast.Run(in)
		if err != nil {
			return 0, err
		}
		w, h := want["iou_predictions"].F32, got["iou_predictions"].F32
		if err := agree(h, w, 1e-4); err != nil {
			return 0, fmt.Errorf("reordered graph differs on sample %d: IoU %w", k, err)
		}
		for i := range w {
			worst = max(worst, math.Abs(float64(w[i])-float64(h[i])))
		}
	}
	return worst, nil
}

// feed is the per-prompt graphs' input for one click at (x, y) on the
// 96×64 sample frame.
func (sp *promptGraphs) feed(x, y float64) map[string]ort.Tensor {
	coords, labels := sam1PromptTensors(media.Prompt{Points: []media.Point{{X: x, Y: y, Label: 1}}}, 96, 64)
	in := map[string]ort.Tensor{
		"point_coords": ort.F32Tensor(coords, 1, int64(len(labels)), 2),
		"point_labels": ort.F32Tensor(labels, 1, int64(len(labels))),
	}
	for k, v := range sp.frame {
		in[k] = v
	}
	return in
}

// sampleFeeds are clicks spread over the sample frame, for checks.
func (sp *promptGraphs) sampleFeeds() []map[string]ort.Tensor {
	var feeds []map[string]ort.Tensor
	for _, p := range [][2]float64{{3, 2}, {48, 32}, {90, 5}, {10, 60}, {70, 40}, {95, 63}} {
		feeds = append(feeds, sp.feed(p[0], p[1]))
	}
	return feeds
}

// shapeProbe is probeShapes on one sample click.
func (sp *promptGraphs) shapeProbe(rt *ort.Runtime, path string) func(model []byte) (map[string][]int64, error) {
	return probeShapes(rt, path+" (shape probe)", sp.feed(48, 32))
}

// probeShapes is rewriteDecoder's shape source: a function that runs a
// model once on in and returns the shapes of in and of its outputs.
func probeShapes(rt *ort.Runtime, name string, in map[string]ort.Tensor) func(model []byte) (map[string][]int64, error) {
	return func(model []byte) (map[string][]int64, error) {
		sess, err := rt.NewSessionFromBytes(name, model, ort.Options{IntraOpThreads: 1})
		if err != nil {
			return nil, err
		}
		defer sess.Close()
		out, err := sess.Run(in)
		if err != nil {
			return nil, err
		}
		sh := map[string][]int64{}
		for k, v := range in {
			sh[k] = v.Shape
		}
		for k, v := range out {
			sh[k] = v.Shape
		}
		return sh, nil
	}
}

// promptGraphs are the per-prompt halves of a split decoder (iou: only
// iou_predictions; low: iou_predictions and low_res_masks) and the frame
// tensors of a sample frame, to feed them in checks.
type promptGraphs struct {
	iou, low []byte
	frame    map[string]ort.Tensor
}

// splitGraphs creates s.pre and returns the per-prompt graphs of a split
// of the decoder pruned to iou_predictions and low_res_masks. The boundary
// tensors' types and shapes come from runs of pre on sample frames (they
// do not depend on the frame).
func (s *sam1PointScorer) splitGraphs(rt *ort.Runtime, raw []byte, path string) (*promptGraphs, error) {
	both := []string{"iou_predictions", "low_res_masks"}
	pruned, err := onnxedit.PruneToOutputs(raw, both)
	if err != nil {
		return nil, err
	}
	pre, boundary, err := onnxedit.SplitFrameConstant(pruned, []string{"point_coords", "point_labels"})
	if err != nil {
		return nil, err
	}
	if s.pre, err = rt.NewSessionFromBytes(path+" (frame part)", pre, ort.Options{}); err != nil {
		return nil, err
	}
	// Two sample frames (random embeddings, different sizes) give the
	// boundary's types and shapes, and show which boundary tensors are
	// duplicates: equal on both samples means computed alike.
	r := rand.New(rand.NewPCG(1, 2))
	var samples [2]map[string]ort.Tensor
	for k, size := range [2][2]int{{96, 64}, {64, 96}} {
		e := make([]float32, 256*64*64)
		for i := range e {
			e[i] = float32(r.NormFloat64())
		}
		emb := &Embedding{W: size[0], H: size[1], Tensors: map[string]ort.Tensor{"image_embeddings": ort.F32Tensor(e, 1, 256, 64, 64)}}
		if samples[k], err = s.frameTensors(emb); err != nil {
			return nil, err
		}
	}
	bounds := make([]onnxedit.Boundary, len(boundary))
	alias := map[string]string{}
	for i, b := range boundary {
		t, ok := samples[0][b]
		t2 := samples[1][b]
		switch {
		case !ok:
			return nil, fmt.Errorf("frame part did not produce %s", b)
		case t.F32 != nil:
			bounds[i] = onnxedit.Boundary{Name: b, Elem: onnxpb.Float}
		case t.I64 != nil:
			bounds[i] = onnxedit.Boundary{Name: b, Elem: onnxpb.Int64}
		default:
			return nil, fmt.Errorf("frame tensor %s has an unsupported type", b)
		}
		if !slices.Equal(t.Shape, t2.Shape) {
			return nil, fmt.Errorf("frame tensor %s changes shape with the frame size", b)
		}
		bounds[i].Shape = t.Shape
		for _, c := range boundary[:i] {
			if _, dup := alias[c]; dup {
				continue
			}
			if sameTensor(t, samples[0][c]) && sameTensor(t2, samples[1][c]) {
				alias[b] = c
				break
			}
		}
	}
	s.frameEmb, s.frame = nil, nil
	sp := &promptGraphs{frame: samples[0]}
	if sp.iou, err = onnxedit.PromptGraph(pruned, bounds, []string{"iou_predictions"}, alias); err != nil {
		return nil, err
	}
	if sp.low, err = onnxedit.PromptGraph(pruned, bounds, both, alias); err != nil {
		return nil, err
	}
	return sp, nil
}

// sameTensor reports whether a and b hold bitwise the same values.
func sameTensor(a, b ort.Tensor) bool {
	if !slices.Equal(a.Shape, b.Shape) || (a.F32 == nil) != (b.F32 == nil) {
		return false
	}
	if a.F32 != nil {
		if len(a.F32) != len(b.F32) {
			return false
		}
		for i, v := range a.F32 {
			if math.Float32bits(v) != math.Float32bits(b.F32[i]) {
				return false
			}
		}
		return true
	}
	return slices.Equal(a.I64, b.I64)
}

// frameTensors returns the pre outputs for emb, computing them on the
// first call for a new embedding (a one-click prompt fixes the shapes).
func (s *sam1PointScorer) frameTensors(emb *Embedding) (map[string]ort.Tensor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frameEmb == emb && s.frame != nil {
		return s.frame, nil
	}
	in, err := s.inputs(emb, media.Prompt{Points: []media.Point{{X: 0, Y: 0, Label: 1}}})
	if err != nil {
		return nil, err
	}
	out, err := s.pre.Run(in)
	if err != nil {
		return nil, err
	}
	s.frameEmb, s.frame = emb, out
	return out, nil
}

// inputs builds the official decoder's inputs for one prompt without a
// mask prompt.
func (s *sam1PointScorer) inputs(emb *Embedding, p media.Prompt) (map[string]ort.Tensor, error) {
	e, err := embeddingTensor(emb, "image_embeddings", 256*64*64)
	if err != nil {
		return nil, err
	}
	if err := validatePrompt(p, emb.W, emb.H); err != nil {
		return nil, err
	}
	coords, labels := sam1PromptTensors(p, emb.W, emb.H)
	n := int64(len(labels))
	return map[string]ort.Tensor{
		"image_embeddings": ort.F32Tensor(e, 1, 256, 64, 64),
		"point_coords":     ort.F32Tensor(coords, 1, n, 2),
		"point_labels":     ort.F32Tensor(labels, 1, n),
		"mask_input":       ort.F32Tensor(s.zeros, 1, 1, LowResSize, LowResSize),
		"has_mask_input":   ort.F32Tensor(s.hasNoMask, 1),
		"orig_im_size":     ort.F32Tensor([]float32{float32(emb.H), float32(emb.W)}, 2),
	}, nil
}

func (s *sam1PointScorer) workers() int { return s.nWorkers }

func (s *sam1PointScorer) close() error {
	err := closeAll(s.pre, s.iou, s.low, s.fast, s.screen, s.head)
	s.pre, s.iou, s.low, s.fast, s.screen, s.head = nil, nil, nil, nil, nil, nil
	s.frameEmb, s.frame = nil, nil
	return err
}

func (s *sam1PointScorer) run(ctx context.Context, sess *ort.Session, emb *Embedding, prompts []media.Prompt, each func(i int, res map[string]ort.Tensor) error) error {
	return s.runInto(ctx, sess, emb, prompts, nil, func(i int, _, res map[string]ort.Tensor) error { return each(i, res) })
}

// runInto is run with the outputs named in into written into those
// buffers (ort.Session.RunInto), reused from one prompt to the next; each
// also gets the prompt's inputs (frame tensors included).
func (s *sam1PointScorer) runInto(ctx context.Context, sess *ort.Session, emb *Embedding, prompts []media.Prompt, into map[string]ort.Tensor, each func(i int, in, res map[string]ort.Tensor) error) error {
	var frame map[string]ort.Tensor
	if s.pre != nil {
		var err error
		if frame, err = s.frameTensors(emb); err != nil {
			return fmt.Errorf("frame part of the decoder: %w", err)
		}
	}
	for i, p := range prompts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(p.Points) != 1 || p.Box != nil || p.MaskInput != nil {
			return fmt.Errorf("prompt %d: everything mode decodes one click per prompt", i)
		}
		in, err := s.inputs(emb, p)
		if err != nil {
			return fmt.Errorf("prompt %d: %w", i, err)
		}
		for k, v := range frame {
			in[k] = v
		}
		res, err := sess.RunInto(in, into)
		if err != nil {
			return fmt.Errorf("prompt %d: %w", i, err)
		}
		if err := each(i, in, res); err != nil {
			return err
		}
	}
	return nil
}

func (s *sam1PointScorer) first(ctx context.Context, emb *Embedding, prompts []media.Prompt) ([][]float32, []Output, error) {
	if s.screen != nil {
		// No token is above +Inf: IoUs only, no head.
		ious, _, err := s.screenMasks(ctx, emb, prompts, math.Inf(1))
		return ious, nil, err
	}
	sess := s.iou
	if s.fast != nil {
		sess = s.fast
	}
	ious := make([][]float32, len(prompts))
	err := s.run(ctx, sess, emb, prompts, func(i int, res map[string]ort.Tensor) error {
		iou := res["iou_predictions"].F32
		if len(iou) == 0 {
			return fmt.Errorf("decoder gave no iou_predictions")
		}
		ious[i] = iou
		return nil
	})
	if err != nil || s.fast == nil {
		return ious, nil, err
	}
	// Screening values: raised by the margin; processBatch uses the exact
	// IoUs of the points that reach masks.
	for _, iou := range ious {
		for k := range iou {
			iou[k] += s.margin
		}
	}
	return ious, nil, nil
}

func (s *sam1PointScorer) masks(ctx context.Context, emb *Embedding, prompts []media.Prompt) ([]Output, error) {
	if s.screen != nil {
		_, outs, err := s.screenMasks(ctx, emb, prompts, math.Inf(-1))
		return outs, err
	}
	outs := make([]Output, len(prompts))
	err := s.run(ctx, s.low, emb, prompts, func(i int, res map[string]ort.Tensor) error {
		var err error
		outs[i], err = lowResOutput(res["iou_predictions"].F32, res["low_res_masks"].F32)
		return err
	})
	return outs, err
}

// lowResOutput is one prompt's Output from the decoder's IoUs and low-res
// masks.
func lowResOutput(iou, lr []float32) (Output, error) {
	c := len(iou)
	if c == 0 || len(lr) != c*LowResSize*LowResSize {
		return Output{}, fmt.Errorf("decoder gave %d IoUs and %d low-res mask values", c, len(lr))
	}
	o := Output{IoU: iou, LowRes: make([][]float32, c), Best: sam1Best(iou, 2)}
	for k := range c {
		o.LowRes[k] = lr[k*LowResSize*LowResSize : (k+1)*LowResSize*LowResSize : (k+1)*LowResSize*LowResSize]
	}
	return o, nil
}

// screenMasks answers everything mode's IoU filter in one pass when the
// scorer has the reordered screen and head: every point's IoUs, and masks
// (from the screen's own outputs) only for the points with a multimask
// token above predIoU; the other points' Output is empty. ok is false when
// the scorer has no such pair.
func (s *sam1PointScorer) screenMasks(ctx context.Context, emb *Embedding, prompts []media.Prompt, predIoU float64) (ious [][]float32, outs []Output, err error) {
	if s.screen == nil {
		return nil, nil, errors.New("no reordered mask pass")
	}
	// The head's inputs are large (the image rows) and read at once: one
	// set of buffers serves every prompt of the batch.
	into := make(map[string]ort.Tensor, len(s.headCut))
	for _, b := range s.headCut {
		if b.Elem == onnxpb.Int64 {
			into[b.Name] = ort.I64Tensor(make([]int64, cutBytes([]onnxedit.Boundary{b})/8), b.Shape...)
		} else {
			into[b.Name] = ort.F32Tensor(make([]float32, cutBytes([]onnxedit.Boundary{b})/4), b.Shape...)
		}
	}
	ious = make([][]float32, len(prompts))
	outs = make([]Output, len(prompts))
	err = s.runInto(ctx, s.screen, emb, prompts, into, func(i int, in, res map[string]ort.Tensor) error {
		iou := res["iou_predictions"].F32
		ious[i] = iou
		if !anyAbove(iou, predIoU) {
			return nil
		}
		lr, err := s.headMasks(res, in)
		if err != nil {
			return fmt.Errorf("prompt %d: %w", i, err)
		}
		outs[i], err = lowResOutput(iou, lr)
		return err
	})
	return ious, outs, err
}

// canScreenMasks reports whether screenMasks is available.
func (s *sam1PointScorer) canScreenMasks() bool { return s.screen != nil }
