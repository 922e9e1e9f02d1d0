package segment

import (
	"context"
	"fmt"
	"sync"

	"samtrack/media"
	"samtrack/ort"
)

// sam2Model drives SAM 2 / 2.1 in samexporter's layout.
type sam2Model struct {
	enc, dec *ort.Session
	zeros    []float32
	up       upscalers

	// iou is the decoder pruned to iou_predictions (DecodeIoU), built on
	// first use from rt and so; iouErr keeps a failure to build it.
	rt     *ort.Runtime
	so     ort.Options
	iouMu  sync.Mutex
	iou    *ort.Session
	iouErr error
}

// The three SAM 2 feature maps, with their sizes.
var sam2Feats = []struct {
	name  string
	shape []int64
}{
	{"image_embed", []int64{1, 256, 64, 64}},
	{"high_res_feats_0", []int64{1, 32, 256, 256}},
	{"high_res_feats_1", []int64{1, 64, 128, 128}},
}

func openSAM2(rt *ort.Runtime, enc, dec Detection, opts OpenOptions) (Model, error) {
	m := &sam2Model{zeros: make([]float32, LowResSize*LowResSize), rt: rt}
	m.up.build = sam2Upscaler
	so := ort.Options{IntraOpThreads: opts.Threads}
	m.so = so
	// ONNX Runtime 1.25.1's ConstantFolding miscomputes the Hiera
	// positional embedding (the Tile of pos_embed_window that it folds at
	// load time) of SAM 2 encoders exported from transformers: features off
	// by 4-8 % relative L2, or NaN, and different from session to session.
	// Without it the encoder matches PyTorch to 2e-4; the unfolded
	// subgraph costs little next to the encoder.
	eo := so
	eo.DisableOptimizers = []string{"ConstantFolding"}
	var err error
	if m.enc, err = rt.NewSession(enc.Path, eo); err != nil {
		return nil, fmt.Errorf("encoder %s: %w", enc.Path, err)
	}
	if m.dec, err = rt.NewSession(dec.Path, so); err != nil {
		m.Close()
		return nil, fmt.Errorf("decoder %s: %w", dec.Path, err)
	}
	return m, nil
}

func (m *sam2Model) Format() string { return FormatSAM2 }

func (m *sam2Model) Close() error {
	m.iouMu.Lock()
	err := closeAll(m.enc, m.dec, m.iou)
	m.enc, m.dec, m.iou = nil, nil, nil
	m.iouMu.Unlock()
	return err
}

// DecodeIoU implements IoUDecoder: the predicted IoU of each prompt's three
// masks from the decoder pruned to iou_predictions, which leaves out the
// mask upscaling (the part that reads the two high-resolution feature
// maps). Everything mode screens its grid with it and decodes masks only
// for the points that pass pred_iou_thresh, as SAM2AutomaticMaskGenerator
// keeps only those. The pruned graph is the same computation, so the IoUs
// are the full decoder's.
func (m *sam2Model) DecodeIoU(ctx context.Context, emb *Embedding, prompts []media.Prompt) ([][]float32, error) {
	sess, err := m.iouSession()
	if err != nil {
		return nil, err
	}
	feeds, err := m.feeds(emb, prompts)
	if err != nil {
		return nil, err
	}
	order, groups := groupByPointCount(prompts)
	ious := make([][]float32, len(prompts))
	for _, n := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := m.decodeIoUGroup(sess, emb, prompts, groups[n], n, feeds, ious); err != nil {
			return nil, err
		}
	}
	return ious, nil
}

// decodeIoUGroup runs the IoU-only decoder once for the prompts idx, which
// all have n points, and stores their IoUs in ious.
func (m *sam2Model) decodeIoUGroup(sess *ort.Session, emb *Embedding, prompts []media.Prompt, idx []int, n int, feeds map[string]ort.Tensor, ious [][]float32) error {
	m.promptFeeds(emb, prompts, idx, n, feeds)
	res, err := sess.Run(feeds)
	if err != nil {
		return fmt.Errorf("decode IoU: %d prompt(s) of %d points: %w", len(idx), n, err)
	}
	iou := res["iou_predictions"].F32
	if len(iou) != 3*len(idx) {
		return fmt.Errorf("decode IoU: %s gave iou_predictions %v for %d prompts", sess.Path(), res["iou_predictions"].Shape, len(idx))
	}
	for j, i := range idx {
		ious[i] = iou[3*j : 3*j+3 : 3*j+3]
	}
	return nil
}

// iouSession builds the IoU-only decoder once.
func (m *sam2Model) iouSession() (*ort.Session, error) {
	m.iouMu.Lock()
	defer m.iouMu.Unlock()
	if m.dec == nil {
		return nil, fmt.Errorf("decode IoU: model is closed")
	}
	if m.iou != nil || m.iouErr != nil {
		return m.iou, m.iouErr
	}
	path := m.dec.Path()
	raw, err := readInlined(path)
	if err == nil {
		m.iou, err = prunedSession(m.rt, raw, path, m.so, "iou_predictions")
	}
	if err != nil {
		m.iouErr = fmt.Errorf("decode IoU: decoder %s without its masks: %w", path, err)
	}
	return m.iou, m.iouErr
}

func (m *sam2Model) Encode(ctx context.Context, img media.Image) (*Embedding, error) {
	if m.enc == nil {
		return nil, fmt.Errorf("encode: model is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := PreprocessSAM2(img)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	out, err := m.enc.Run(map[string]ort.Tensor{"image": ort.F32Tensor(data, 1, 3, EncoderSize, EncoderSize)})
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	emb := &Embedding{W: img.W, H: img.H, Tensors: map[string]ort.Tensor{}}
	for _, f := range sam2Feats {
		t := out[f.name]
		if t.Len() != ort.F32Tensor(nil, f.shape...).Len() || len(t.F32) != t.Len() {
			return nil, fmt.Errorf("encode: %s gave %s of shape %v, want %v", m.enc.Path(), f.name, t.Shape, f.shape)
		}
		emb.Tensors[f.name] = t
	}
	return emb, nil
}

// sam2PromptTensors builds one prompt's points in SAM 2's order: box
// corners first (labels 2, 3), then clicks; no padding point (the graph
// adds it). Coordinates are scaled to the stretched 1024×1024 frame.
func sam2PromptTensors(p media.Prompt, w, h int) (coords, labels []float32) {
	sx, sy := float64(EncoderSize)/float64(w), float64(EncoderSize)/float64(h)
	n := sam2PointCount(p)
	coords = make([]float32, 0, 2*n)
	labels = make([]float32, 0, n)
	if p.Box != nil {
		b := p.Box
		coords = append(coords, float32(b.X0*sx), float32(b.Y0*sy), float32(b.X1*sx), float32(b.Y1*sy))
		labels = append(labels, 2, 3)
	}
	for _, pt := range p.Points {
		coords = append(coords, float32(pt.X*sx), float32(pt.Y*sy))
		labels = append(labels, float32(pt.Label))
	}
	return coords, labels
}

func sam2PointCount(p media.Prompt) int {
	n := len(p.Points)
	if p.Box != nil {
		n += 2
	}
	return n
}

// Decode runs prompts with the same number of points as one batch each.
func (m *sam2Model) Decode(ctx context.Context, emb *Embedding, prompts []media.Prompt, opts DecodeOptions) ([]Output, error) {
	if m.dec == nil {
		return nil, fmt.Errorf("decode: model is closed")
	}
	feeds, err := m.feeds(emb, prompts)
	if err != nil {
		return nil, err
	}
	order, groups := groupByPointCount(prompts)
	outs := make([]Output, len(prompts))
	for _, n := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := m.decodeGroup(emb, prompts, groups[n], n, feeds, opts, outs); err != nil {
			return nil, err
		}
	}
	return outs, nil
}

// feeds checks prompts against the frame and returns the decoder's frame
// inputs (the three feature maps of emb).
func (m *sam2Model) feeds(emb *Embedding, prompts []media.Prompt) (map[string]ort.Tensor, error) {
	feeds := map[string]ort.Tensor{}
	for _, f := range sam2Feats {
		t, err := embeddingTensor(emb, f.name, ort.F32Tensor(nil, f.shape...).Len())
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		feeds[f.name] = ort.F32Tensor(t, f.shape...)
	}
	for i, p := range prompts {
		if err := validatePrompt(p, emb.W, emb.H); err != nil {
			return nil, fmt.Errorf("decode: prompt %d: %w", i, err)
		}
	}
	return feeds, nil
}

// groupByPointCount groups prompt indexes by SAM 2 point count (one decoder
// batch needs one count), groups in order of first appearance, prompts in
// their order within a group.
func groupByPointCount(prompts []media.Prompt) (order []int, groups map[int][]int) {
	groups = map[int][]int{}
	for i, p := range prompts {
		n := sam2PointCount(p)
		if _, ok := groups[n]; !ok {
			order = append(order, n)
		}
		groups[n] = append(groups[n], i)
	}
	return order, groups
}

// promptFeeds sets the decoder's prompt inputs in feeds for the prompts idx,
// which all have n points, as one batch.
func (m *sam2Model) promptFeeds(emb *Embedding, prompts []media.Prompt, idx []int, n int, feeds map[string]ort.Tensor) {
	const px = LowResSize * LowResSize
	b := len(idx)
	coords := make([]float32, 0, b*n*2)
	labels := make([]float32, 0, b*n)
	has := make([]float32, b)
	var masks []float32
	if b == 1 && prompts[idx[0]].MaskInput == nil {
		masks = m.zeros
	} else {
		masks = make([]float32, b*px)
	}
	for j, i := range idx {
		c, l := sam2PromptTensors(prompts[i], emb.W, emb.H)
		coords = append(coords, c...)
		labels = append(labels, l...)
		if mi := prompts[i].MaskInput; mi != nil {
			copy(masks[j*px:], mi)
			has[j] = 1
		}
	}
	feeds["point_coords"] = ort.F32Tensor(coords, int64(b), int64(n), 2)
	feeds["point_labels"] = ort.F32Tensor(labels, int64(b), int64(n))
	feeds["mask_input"] = ort.F32Tensor(masks, int64(b), 1, LowResSize, LowResSize)
	feeds["has_mask_input"] = ort.F32Tensor(has, int64(b))
}

// decodeGroup runs the decoder once for the prompts idx, which all have n
// points, and stores their outputs in outs.
func (m *sam2Model) decodeGroup(emb *Embedding, prompts []media.Prompt, idx []int, n int, feeds map[string]ort.Tensor, opts DecodeOptions, outs []Output) error {
	const px = LowResSize * LowResSize
	b := len(idx)
	m.promptFeeds(emb, prompts, idx, n, feeds)
	res, err := m.dec.Run(feeds)
	if err != nil {
		return fmt.Errorf("decode: %d prompt(s) of %d points: %w", b, n, err)
	}
	iou, lr := res["iou_predictions"].F32, res["masks"].F32
	if len(iou) != 3*b || len(lr) != 3*b*px {
		return fmt.Errorf("decode: %s gave iou_predictions %v and masks %v for %d prompts", m.dec.Path(),
			res["iou_predictions"].Shape, res["masks"].Shape, b)
	}
	for j, i := range idx {
		o := Output{IoU: iou[3*j : 3*j+3 : 3*j+3], LowRes: make([][]float32, 3)}
		for k := range 3 {
			off := (3*j + k) * px
			o.LowRes[k] = lr[off : off+px : off+px]
		}
		o.Best = argmax(o.IoU)
		if opts.FullRes {
			o.Logits = make([][]float32, 3)
			for k := range 3 {
				o.Logits[k] = m.Upscale(emb, o.LowRes[k])
			}
		}
		outs[i] = o
	}
	return nil
}

// Upscale resizes SAM 2's 256×256 logits to the frame (bilinear, half-pixel
// centres, no antialiasing: F.interpolate(align_corners=False)). It returns
// nil when lowRes is not LowResSize² values.
func (m *sam2Model) Upscale(emb *Embedding, lowRes []float32) []float32 {
	return m.up.upscale(emb, lowRes)
}

func sam2Upscaler(w, h int) resizer {
	return resizer{kx: linearKernel(LowResSize, w), ky: linearKernel(LowResSize, h)}
}
