package segment

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"samtrack/ort"
)

// sam1PointScorer decodes everything-mode grid clicks with two pruned
// copies of the official SAM v1 decoder (pruneToOutputs): one that only
// computes iou_predictions (the transformer and the IoU head; the mask
// upscaling convolutions, the mask products and the in-graph resizes to
// full size are removed) and one that stops at low_res_masks. Sessions get
// CPUs/workers intra-op threads so that `workers` batches decode at once.
//
// Unless noSplit is set, both are also split (splitFrameConstant): the
// work that depends only on the frame (the embedding and the empty mask
// prompt) runs once per embedding in a third session, pre, and its results
// are fed to every per-prompt call. On the SAM ViT-B cost model (2 cores)
// the split made the IoU pass 1.6 times faster.
type sam1PointScorer struct {
	iou, low  *ort.Session
	nWorkers  int
	zeros     []float32
	hasNoMask []float32

	pre      *ort.Session // nil when the graphs are not split
	mu       sync.Mutex
	frameEmb *Embedding            // the embedding whose pre outputs frame holds
	frame    map[string]ort.Tensor // pre outputs by name
}

func newSAM1PointScorer(rt *ort.Runtime, m *sam1Model, workers int, noSplit bool, log *slog.Logger) (*sam1PointScorer, error) {
	if log == nil {
		log = slog.Default()
	}
	if m.dec == nil {
		return nil, fmt.Errorf("model is closed")
	}
	path := m.dec.Path()
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read decoder: %w", err)
	}
	raw, _, err = inlineExternalData(raw, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("decoder %s: %w", path, err)
	}
	threads := max(1, runtime.NumCPU()/workers)
	s := &sam1PointScorer{nWorkers: workers, zeros: make([]float32, LowResSize*LowResSize), hasNoMask: []float32{0}}
	so := ort.Options{IntraOpThreads: threads}
	if !noSplit {
		err := s.buildSplit(rt, raw, path, so)
		if err == nil {
			return s, nil
		}
		s.close()
		log.Debug("everything mode: decoder not split; every prompt recomputes the frame's part", "decoder", path, "err", err)
	}
	build := func(keep ...string) (*ort.Session, error) {
		pruned, err := pruneToOutputs(raw, keep)
		if err != nil {
			return nil, fmt.Errorf("prune decoder %s to %v: %w", path, keep, err)
		}
		return rt.NewSessionFromBytes(fmt.Sprintf("%s (%v only)", path, keep), pruned, so)
	}
	if s.iou, err = build("iou_predictions"); err != nil {
		return nil, err
	}
	if s.low, err = build("iou_predictions", "low_res_masks"); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// buildSplit creates pre, iou and low from a split of the decoder pruned to
// iou_predictions and low_res_masks. The boundary tensors' types and shapes
// come from one run of pre on an empty frame (they do not depend on it).
func (s *sam1PointScorer) buildSplit(rt *ort.Runtime, raw []byte, path string, so ort.Options) error {
	both := []string{"iou_predictions", "low_res_masks"}
	pruned, err := pruneToOutputs(raw, both)
	if err != nil {
		return err
	}
	pre, boundary, err := splitFrameConstant(pruned, []string{"point_coords", "point_labels"})
	if err != nil {
		return err
	}
	if s.pre, err = rt.NewSessionFromBytes(path+" (frame part)", pre, ort.Options{}); err != nil {
		return err
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
			return err
		}
	}
	elems := make([]int, len(boundary))
	shapes := make([][]int64, len(boundary))
	alias := map[string]string{}
	for i, b := range boundary {
		t, ok := samples[0][b]
		t2 := samples[1][b]
		switch {
		case !ok:
			return fmt.Errorf("frame part did not produce %s", b)
		case t.F32 != nil:
			elems[i] = pbFloat
		case t.I64 != nil:
			elems[i] = pbInt64
		default:
			return fmt.Errorf("frame tensor %s has an unsupported type", b)
		}
		if !slices.Equal(t.Shape, t2.Shape) {
			return fmt.Errorf("frame tensor %s changes shape with the frame size", b)
		}
		shapes[i] = t.Shape
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
	for _, keep := range [][]string{{"iou_predictions"}, both} {
		g, err := promptGraph(pruned, boundary, elems, shapes, keep, alias)
		if err != nil {
			return err
		}
		sess, err := rt.NewSessionFromBytes(fmt.Sprintf("%s (%v per prompt)", path, keep), g, so)
		if err != nil {
			return err
		}
		if len(keep) == 1 {
			s.iou = sess
		} else {
			s.low = sess
		}
	}
	return nil
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
	in, err := s.inputs(emb, Prompt{Points: []Point{{X: 0, Y: 0, Label: 1}}})
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
func (s *sam1PointScorer) inputs(emb *Embedding, p Prompt) (map[string]ort.Tensor, error) {
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
	err := closeAll(s.pre, s.iou, s.low)
	s.pre, s.iou, s.low = nil, nil, nil
	s.frameEmb, s.frame = nil, nil
	return err
}

func (s *sam1PointScorer) run(ctx context.Context, sess *ort.Session, emb *Embedding, prompts []Prompt, each func(i int, res map[string]ort.Tensor) error) error {
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
		res, err := sess.Run(in)
		if err != nil {
			return fmt.Errorf("prompt %d: %w", i, err)
		}
		if err := each(i, res); err != nil {
			return err
		}
	}
	return nil
}

func (s *sam1PointScorer) first(ctx context.Context, emb *Embedding, prompts []Prompt) ([][]float32, []Output, error) {
	ious := make([][]float32, len(prompts))
	err := s.run(ctx, s.iou, emb, prompts, func(i int, res map[string]ort.Tensor) error {
		iou := res["iou_predictions"].F32
		if len(iou) == 0 {
			return fmt.Errorf("decoder gave no iou_predictions")
		}
		ious[i] = iou
		return nil
	})
	return ious, nil, err
}

func (s *sam1PointScorer) masks(ctx context.Context, emb *Embedding, prompts []Prompt) ([]Output, error) {
	outs := make([]Output, len(prompts))
	err := s.run(ctx, s.low, emb, prompts, func(i int, res map[string]ort.Tensor) error {
		iou := res["iou_predictions"].F32
		lr := res["low_res_masks"].F32
		c := len(iou)
		if c == 0 || len(lr) != c*LowResSize*LowResSize {
			return fmt.Errorf("decoder gave %d IoUs and low_res_masks of shape %v", c, res["low_res_masks"].Shape)
		}
		o := Output{IoU: iou, LowRes: make([][]float32, c), Best: sam1Best(iou, 2)}
		for k := range c {
			o.LowRes[k] = lr[k*LowResSize*LowResSize : (k+1)*LowResSize*LowResSize : (k+1)*LowResSize*LowResSize]
		}
		outs[i] = o
		return nil
	})
	return outs, err
}
