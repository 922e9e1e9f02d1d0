package segment

import (
	"context"
	"fmt"
	"math"
	"sync"

	"samtrack/media"
	"samtrack/ort"
)

// sam1Model drives SAM v1 and MobileSAM: a samexporter encoder and the
// official decoder.
type sam1Model struct {
	encLayout string
	enc       *ort.Session
	// dec fetches every output; decLow only iou_predictions and
	// low_res_masks, from a graph without the masks output.
	dec, decLow *ort.Session
	// zeros is the mask_input fed without a mask prompt; ONNX Runtime
	// never writes inputs, so it is shared.
	zeros []float32
	up    upscalers
}

func openSAM1(rt *ort.Runtime, enc, dec Detection, opts OpenOptions) (Model, error) {
	m := &sam1Model{encLayout: enc.Layout.Name, zeros: make([]float32, LowResSize*LowResSize)}
	m.up.build = sam1Upscaler
	so := ort.Options{IntraOpThreads: opts.Threads}
	var err error
	if m.enc, err = rt.NewSession(enc.Path, so); err != nil {
		return nil, fmt.Errorf("encoder %s: %w", enc.Path, err)
	}
	if m.dec, err = rt.NewSession(dec.Path, so); err != nil {
		m.Close()
		return nil, fmt.Errorf("decoder %s: %w", dec.Path, err)
	}
	// For low-res decoding, a copy of the decoder pruned to the low-res
	// outputs and the nodes they need, so that the in-graph upscaling never
	// runs (ONNX Runtime does not drop nodes that feed no requested
	// output). External weights are inlined so the copy loads from memory.
	low := []string{"iou_predictions", "low_res_masks"}
	raw, err := readInlined(dec.Path)
	if err == nil {
		m.decLow, err = prunedSession(rt, raw, dec.Path, so, low...)
	}
	if err != nil {
		opts.logger().Warn("cannot drop the SAM decoder's full-size output; low-res decoding will compute it anyway",
			"decoder", dec.Path, "err", err)
	}
	if m.decLow == nil {
		lo := so
		lo.Outputs = low
		if m.decLow, err = rt.NewSession(dec.Path, lo); err != nil {
			m.Close()
			return nil, fmt.Errorf("decoder %s: %w", dec.Path, err)
		}
	}
	return m, nil
}

func (m *sam1Model) Format() string { return FormatSAM1 }

func (m *sam1Model) Close() error {
	err := closeAll(m.enc, m.dec, m.decLow)
	m.enc, m.dec, m.decLow = nil, nil, nil
	return err
}

func (m *sam1Model) Encode(ctx context.Context, img media.Image) (*Embedding, error) {
	if m.enc == nil {
		return nil, fmt.Errorf("encode: model is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in, err := sam1EncoderInput(m.encLayout, img)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	out, err := m.enc.Run(map[string]ort.Tensor{"input_image": in})
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	e := out["image_embeddings"]
	if e.Len() != 256*64*64 || len(e.F32) != e.Len() {
		return nil, fmt.Errorf("encode: %s gave image_embeddings of shape %v, want [1,256,64,64]", m.enc.Path(), e.Shape)
	}
	return &Embedding{W: img.W, H: img.H, Tensors: map[string]ort.Tensor{"image_embeddings": e}}, nil
}

// sam1PromptTensors builds point_coords and point_labels for one prompt in
// the official order: clicks, then the box corners (labels 2, 3); with no
// box a padding point (0,0) labelled -1. Coordinates are scaled per axis by
// the ratio of the rounded resized size to the frame size
// (ResizeLongestSide.apply_coords).
func sam1PromptTensors(p media.Prompt, w, h int) (coords, labels []float32) {
	rw, rh := ResizedSize(w, h)
	sx, sy := float64(rw)/float64(w), float64(rh)/float64(h)
	n := len(p.Points) + 2
	coords = make([]float32, 0, 2*n)
	labels = make([]float32, 0, n)
	for _, pt := range p.Points {
		coords = append(coords, float32(pt.X*sx), float32(pt.Y*sy))
		labels = append(labels, float32(pt.Label))
	}
	if p.Box != nil {
		b := p.Box
		coords = append(coords, float32(b.X0*sx), float32(b.Y0*sy), float32(b.X1*sx), float32(b.Y1*sy))
		labels = append(labels, 2, 3)
	} else {
		coords = append(coords, 0, 0)
		labels = append(labels, -1)
	}
	return coords, labels
}

// sam1Best is the official select_masks rule: with 4 tokens, N ≤ 2 points
// (counting the padding point) picks the best IoU among the multimask
// tokens 1–3 and N ≥ 3 picks token 0; a single-mask export has one token.
func sam1Best(iou []float32, n int) int {
	if len(iou) < 4 {
		return 0
	}
	if n <= 2 {
		return 1 + argmax(iou[1:])
	}
	return 0
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func embeddingTensor(emb *Embedding, name string, n int) ([]float32, error) {
	if emb == nil {
		return nil, fmt.Errorf("no embedding; call Encode first")
	}
	t, ok := emb.Tensors[name]
	if !ok || len(t.F32) != n {
		return nil, fmt.Errorf("embedding has no %s of %d values; was it computed by this model's encoder?", name, n)
	}
	return t.F32, nil
}

func (m *sam1Model) Decode(ctx context.Context, emb *Embedding, prompts []media.Prompt, opts DecodeOptions) ([]Output, error) {
	if m.dec == nil {
		return nil, fmt.Errorf("decode: model is closed")
	}
	e, err := embeddingTensor(emb, "image_embeddings", 256*64*64)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	for i, p := range prompts {
		if err := validatePrompt(p, emb.W, emb.H); err != nil {
			return nil, fmt.Errorf("decode: prompt %d: %w", i, err)
		}
	}
	sess := m.decLow
	if opts.FullRes {
		sess = m.dec
	}
	embT := ort.F32Tensor(e, 1, 256, 64, 64)
	size := ort.F32Tensor([]float32{float32(emb.H), float32(emb.W)}, 2)
	outs := make([]Output, len(prompts))
	for i, p := range prompts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		coords, labels := sam1PromptTensors(p, emb.W, emb.H)
		n := int64(len(labels))
		mask, has := m.zeros, float32(0)
		if p.MaskInput != nil {
			mask, has = p.MaskInput, 1
		}
		res, err := sess.Run(map[string]ort.Tensor{
			"image_embeddings": embT,
			"point_coords":     ort.F32Tensor(coords, 1, n, 2),
			"point_labels":     ort.F32Tensor(labels, 1, n),
			"mask_input":       ort.F32Tensor(mask, 1, 1, LowResSize, LowResSize),
			"has_mask_input":   ort.F32Tensor([]float32{has}, 1),
			"orig_im_size":     size,
		})
		if err != nil {
			return nil, fmt.Errorf("decode: prompt %d: %w", i, err)
		}
		iou := res["iou_predictions"].F32
		c := len(iou)
		lr := res["low_res_masks"].F32
		if c == 0 || len(lr) != c*LowResSize*LowResSize {
			return nil, fmt.Errorf("decode: %s gave %d IoUs and low_res_masks of shape %v", sess.Path(), c, res["low_res_masks"].Shape)
		}
		o := Output{IoU: iou, LowRes: make([][]float32, c), Best: sam1Best(iou, int(n))}
		for k := range c {
			o.LowRes[k] = lr[k*LowResSize*LowResSize : (k+1)*LowResSize*LowResSize : (k+1)*LowResSize*LowResSize]
		}
		if opts.FullRes {
			fm := res["masks"].F32
			px := emb.W * emb.H
			if len(fm) != c*px {
				return nil, fmt.Errorf("decode: %s gave masks of shape %v for a %dx%d frame", sess.Path(), res["masks"].Shape, emb.W, emb.H)
			}
			o.Logits = make([][]float32, c)
			for k := range c {
				o.Logits[k] = fm[k*px : (k+1)*px : (k+1)*px]
			}
		}
		outs[i] = o
	}
	return outs, nil
}

// Upscale is the official decoder's postprocessing done in Go: bilinear
// 256→1024 (align_corners=False), crop to the resized frame, bilinear to the
// frame size. It returns nil when lowRes is not LowResSize² values.
func (m *sam1Model) Upscale(emb *Embedding, lowRes []float32) []float32 {
	return m.up.upscale(emb, lowRes)
}

// sam1CropSize is the graph's resize_longest_image_size, computed like the
// exported graph in float32: floor(size·(1024/max) + 0.5).
func sam1CropSize(w, h int) (cw, ch int) {
	s := float32(EncoderSize) / float32(max(w, h))
	cw = int(math.Floor(float64(float32(w)*s + 0.5)))
	ch = int(math.Floor(float64(float32(h)*s + 0.5)))
	return min(cw, EncoderSize), min(ch, EncoderSize)
}

func sam1Upscaler(w, h int) resizer {
	cw, ch := sam1CropSize(w, h)
	kx := linearKernel(LowResSize, EncoderSize).crop(cw).then(linearKernel(cw, w))
	ky := linearKernel(LowResSize, EncoderSize).crop(ch).then(linearKernel(ch, h))
	return resizer{kx: kx, ky: ky}
}

// upscalers caches one resizer per frame size and scratch buffers.
type upscalers struct {
	build func(w, h int) resizer
	mu    sync.Mutex
	bySz  map[[2]int]resizer
	tmp   sync.Pool
}

func (u *upscalers) get(w, h int) resizer {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bySz == nil {
		u.bySz = map[[2]int]resizer{}
	}
	r, ok := u.bySz[[2]int{w, h}]
	if !ok {
		if len(u.bySz) >= 8 {
			clear(u.bySz)
		}
		r = u.build(w, h)
		u.bySz[[2]int{w, h}] = r
	}
	return r
}

func (u *upscalers) upscale(emb *Embedding, lowRes []float32) []float32 {
	if emb == nil || emb.W <= 0 || emb.H <= 0 || len(lowRes) != LowResSize*LowResSize {
		return nil
	}
	r := u.get(emb.W, emb.H)
	need := r.srcH() * r.dstW()
	var tmp []float32
	if p, ok := u.tmp.Get().(*[]float32); ok && cap(*p) >= need {
		tmp = (*p)[:need]
	} else {
		tmp = make([]float32, need)
	}
	dst := make([]float32, emb.W*emb.H)
	r.resize(lowRes, dst, tmp)
	u.tmp.Put(&tmp)
	return dst
}
