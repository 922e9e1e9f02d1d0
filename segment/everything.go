package segment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"samtrack/mask"
	"samtrack/media"
)

// Everything mode is segment-anything's SamAutomaticMaskGenerator
// (segment_anything/automatic_mask_generator.py and utils/amg.py) on a
// Model: a grid of single positive clicks, three candidate masks per click,
// filtering by predicted IoU and stability, box NMS within and across crops,
// and optional small-region clean-up. The order of operations and every
// default follow the reference; see docs/reference.md §2.

// DefaultEverythingOptionsFor returns the defaults of the automatic mask
// generator of a model format's family, with pred_iou_thresh set:
// SAM2AutomaticMaskGenerator's for SAM 2 (pred_iou_thresh 0.8, use_m2m off),
// SamAutomaticMaskGenerator's otherwise (0.88).
func DefaultEverythingOptionsFor(format string) media.EverythingOptions {
	return withFamilyDefaults(media.DefaultEverythingOptions(), format)
}

// withFamilyDefaults sets what o leaves to the model family
// (pred_iou_thresh unset) for a model of the given format.
func withFamilyDefaults(o media.EverythingOptions, format string) media.EverythingOptions {
	if o.PredIoUThresh == nil {
		pred := 0.88
		if format == FormatSAM2 {
			pred = 0.8
		}
		o.PredIoUThresh = &pred
	}
	return o
}

// EverythingStats counts the work of one everything pass.
type EverythingStats struct {
	Crops, Encodes, Points int
	// IoUCalls and MaskCalls count decoder calls (one prompt each) of the
	// IoU-only and the mask pass; a scorer without an IoU-only pass makes
	// only mask calls.
	IoUCalls, MaskCalls int
	// Candidates is the number of (point, token) masks considered;
	// IoUPassed, StablePassed and EdgeKept count the survivors of each
	// filter, Kept the final segments.
	Candidates, IoUPassed, StablePassed, EdgeKept, Kept int
	// Encode, Decode and Post are wall times: encoder runs, the decoding
	// pipeline (decoder calls with upscaling and scoring overlapped), and
	// NMS plus small-region clean-up.
	Encode, Decode, Post time.Duration
}

// pointScorer decodes batches of single positive clicks for everything
// mode. first returns each prompt's token IoUs and, when it could not skip
// them, the full outputs (then masks is never called for those points).
type pointScorer interface {
	first(ctx context.Context, emb *Embedding, prompts []media.Prompt) (ious [][]float32, outs []Output, err error)
	masks(ctx context.Context, emb *Embedding, prompts []media.Prompt) ([]Output, error)
	// workers is how many batches may be decoded at once.
	workers() int
	close() error
}

// screenMasker is an optional pointScorer capability: the IoU filter in one
// pass, masks computed only for the points with a token above predIoU and
// from the same run's work (outs[i] is empty for the others).
type screenMasker interface {
	canScreenMasks() bool
	screenMasks(ctx context.Context, emb *Embedding, prompts []media.Prompt, predIoU float64) (ious [][]float32, outs []Output, err error)
}

// IoUDecoder is an optional Model capability: the predicted IoU of every
// mask token without computing the masks (for SAM v1 the mask upscaling
// convolutions and the full-size postprocessing are skipped). Everything
// mode uses it for a cheap first pass and decodes masks only for points
// that pass pred_iou_thresh.
type IoUDecoder interface {
	DecodeIoU(ctx context.Context, emb *Embedding, prompts []media.Prompt) ([][]float32, error)
}

// modelScorer is the portable scorer: Model.Decode for low-res masks, with
// an IoU-only first pass when the Model implements IoUDecoder.
type modelScorer struct{ m Model }

func (s modelScorer) first(ctx context.Context, emb *Embedding, prompts []media.Prompt) ([][]float32, []Output, error) {
	if d, ok := s.m.(IoUDecoder); ok {
		ious, err := d.DecodeIoU(ctx, emb, prompts)
		return ious, nil, err
	}
	outs, err := s.m.Decode(ctx, emb, prompts, DecodeOptions{})
	if err != nil {
		return nil, nil, err
	}
	ious := make([][]float32, len(outs))
	for i, o := range outs {
		ious[i] = o.IoU
	}
	return ious, outs, nil
}

func (s modelScorer) masks(ctx context.Context, emb *Embedding, prompts []media.Prompt) ([]Output, error) {
	return s.m.Decode(ctx, emb, prompts, DecodeOptions{})
}

func (modelScorer) workers() int { return 1 }
func (modelScorer) close() error { return nil }

// Everything runs automatic mask generation on img: it encodes the frame
// (once when crop_n_layers is 0) and every crop, decodes the point grids
// and returns the surviving masks in segment-anything's order.
func Everything(ctx context.Context, m Model, img media.Image, opts media.EverythingOptions) ([]media.Segment, error) {
	return EverythingWithEmbedding(ctx, m, img, nil, opts)
}

// EverythingWithEmbedding is Everything with the full-frame embedding
// already computed (emb = m.Encode(img)), so that a caller that also
// decodes other prompts on this frame pays for one encoder run. emb may be
// nil.
func EverythingWithEmbedding(ctx context.Context, m Model, img media.Image, emb *Embedding, opts media.EverythingOptions) ([]media.Segment, error) {
	segs, _, err := runEverything(ctx, m, modelScorer{m}, img, emb, opts)
	return segs, err
}

// cropBox is [x0, y0, x1, y1) in frame pixels.
type cropBox [4]int

func (c cropBox) w() int    { return c[2] - c[0] }
func (c cropBox) h() int    { return c[3] - c[1] }
func (c cropBox) area() int { return c.w() * c.h() }

// cropBoxes is amg.generate_crop_boxes: the full frame, then for each layer
// k ≥ 1 a 2^k × 2^k grid of overlapping crops (x outer, y inner).
func cropBoxes(w, h, nLayers int, overlapRatio float64) (boxes []cropBox, layers []int) {
	boxes = append(boxes, cropBox{0, 0, w, h})
	layers = append(layers, 0)
	short := min(w, h)
	cropLen := func(orig, n, overlap int) int {
		return int(math.Ceil(float64(overlap*(n-1)+orig) / float64(n)))
	}
	for k := 0; k < nLayers; k++ {
		n := 1 << (k + 1)
		overlap := int(overlapRatio * float64(short) * (2 / float64(n)))
		cw, ch := cropLen(w, n, overlap), cropLen(h, n, overlap)
		for i := 0; i < n; i++ {
			x0 := (cw - overlap) * i
			for j := 0; j < n; j++ {
				y0 := (ch - overlap) * j
				boxes = append(boxes, cropBox{x0, y0, min(x0+cw, w), min(y0+ch, h)})
				layers = append(layers, k+1)
			}
		}
	}
	return boxes, layers
}

// pointGrid is amg.build_point_grid scaled to a w×h crop: n×n points at
// offsets 1/(2n) … 1−1/(2n), rows (y) outer, columns (x) inner.
func pointGrid(n, w, h int) [][2]float64 {
	off := 1 / (2 * float64(n))
	side := make([]float64, n)
	for i := range side {
		if n == 1 {
			side[i] = off
		} else {
			side[i] = off + float64(i)*(1-2*off)/float64(n-1)
		}
	}
	pts := make([][2]float64, 0, n*n)
	for _, y := range side {
		for _, x := range side {
			pts = append(pts, [2]float64{x * float64(w), y * float64(h)})
		}
	}
	return pts
}

// cropImage copies the crop out of img.
func cropImage(img media.Image, c cropBox) media.Image {
	if c == (cropBox{0, 0, img.W, img.H}) {
		return img
	}
	out := media.Image{W: c.w(), H: c.h(), RGB: make([]byte, c.w()*c.h()*3)}
	for y := 0; y < out.H; y++ {
		src := img.RGB[((c[1]+y)*img.W+c[0])*3:][:out.W*3]
		copy(out.RGB[y*out.W*3:], src)
	}
	return out
}

// candidate is one mask kept by the per-batch filters, stored as row runs
// at crop resolution so that hundreds of them stay small.
type candidate struct {
	runs      []int32 // pairs: start offset in the crop, length
	box       [4]int  // XYXY, inclusive max corner, frame coordinates
	iou, stab float64
	pt        [2]float64 // frame coordinates
	crop      cropBox
	area      int
}

// bitmap renders the candidate at frame size.
func (c *candidate) bitmap(w, h int) *mask.Bitmap {
	b := mask.NewBitmap(w, h)
	cw := c.crop.w()
	for i := 0; i+1 < len(c.runs); i += 2 {
		s, n := int(c.runs[i]), int(c.runs[i+1])
		y, x := s/cw, s%cw
		off := (c.crop[1]+y)*w + c.crop[0] + x
		for k := 0; k < n; k++ {
			b.Pix[off+k] = 1
		}
	}
	return b
}

// binarise thresholds crop-resolution logits at 0 and returns the row runs,
// the area and the XYXY box with inclusive max corner (amg's
// batched_mask_to_box; [0,0,0,0] when empty).
func binarise(logits []float32, w, h int) (runs []int32, area int, box [4]int) {
	x0, y0, x1, y1 := w, h, -1, -1
	for y := 0; y < h; y++ {
		row := logits[y*w : (y+1)*w]
		start := -1
		for x, v := range row {
			if v > 0 {
				if start < 0 {
					start = x
				}
				continue
			}
			if start >= 0 {
				runs = append(runs, int32(y*w+start), int32(x-start))
				area += x - start
				x0, x1 = min(x0, start), max(x1, x-1)
				y0, y1 = min(y0, y), y
				start = -1
			}
		}
		if start >= 0 {
			runs = append(runs, int32(y*w+start), int32(w-start))
			area += w - start
			x0, x1 = min(x0, start), max(x1, w-1)
			y0, y1 = min(y0, y), y
		}
	}
	if x1 < 0 {
		return nil, 0, [4]int{}
	}
	return runs, area, [4]int{x0, y0, x1, y1}
}

// stability is amg.calculate_stability_score with mask_threshold 0: the
// count of logits above +offset over the count above −offset (0 when
// none is above −offset, where the reference gives NaN and drops the mask).
func stability(logits []float32, offset float64) float64 {
	hi, lo := float32(offset), float32(-offset)
	inter, union := 0, 0
	for _, v := range logits {
		if v > lo {
			union++
			if v > hi {
				inter++
			}
		}
	}
	if union == 0 {
		return 0
	}
	return float64(inter) / float64(union)
}

// nearCropEdge is amg.is_box_near_crop_edge with atol 20: the box (frame
// XYXY) lies within 20 px of a crop edge that is not a frame edge.
func nearCropEdge(box [4]int, c cropBox, w, h int) bool {
	const atol = 20
	img := [4]int{0, 0, w, h}
	for i := 0; i < 4; i++ {
		nearCrop := abs(box[i]-c[i]) <= atol
		nearImg := abs(box[i]-img[i]) <= atol
		if nearCrop && !nearImg {
			return true
		}
	}
	return false
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// multimaskTokens lists the tokens everything mode uses: SAM v1's
// four-token decoder puts the multimask outputs in tokens 1-3; SAM 2 and
// single-token exports use what they have.
func multimaskTokens(n int) (lo, hi int) {
	if n == 4 {
		return 1, 4
	}
	return 0, n
}

// nms is torchvision's batched_nms with one category: indices sorted by
// score (descending, stable), dropping any box whose IoU with a kept box
// exceeds thresh. Boxes are XYXY as amg passes them (areas (x1-x0)(y1-y0)).
func nms(boxes [][4]int, scores []float64, thresh float64) []int {
	order := make([]int, len(boxes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	area := func(b [4]int) float64 { return float64(b[2]-b[0]) * float64(b[3]-b[1]) }
	var keep []int
	removed := make([]bool, len(boxes))
	for oi, i := range order {
		if removed[i] {
			continue
		}
		keep = append(keep, i)
		bi := boxes[i]
		ai := area(bi)
		for _, j := range order[oi+1:] {
			if removed[j] {
				continue
			}
			bj := boxes[j]
			iw := float64(min(bi[2], bj[2]) - max(bi[0], bj[0]))
			ih := float64(min(bi[3], bj[3]) - max(bi[1], bj[1]))
			if iw <= 0 || ih <= 0 {
				continue
			}
			inter := iw * ih
			union := ai + area(bj) - inter
			if union > 0 && inter/union > thresh {
				removed[j] = true
			}
		}
	}
	return keep
}

// runEverything is the pipeline shared by every entry point.
func runEverything(ctx context.Context, m Model, sc pointScorer, img media.Image, emb *Embedding, opts media.EverythingOptions) ([]media.Segment, EverythingStats, error) {
	var st EverythingStats
	if m == nil {
		return nil, st, errors.New("everything: no model; open one with segment.Open")
	}
	if err := opts.Validate(); err != nil {
		return nil, st, err
	}
	opts = withFamilyDefaults(opts, m.Format())
	if err := checkImage(img); err != nil {
		return nil, st, fmt.Errorf("everything: %w", err)
	}
	if emb != nil && (emb.W != img.W || emb.H != img.H) {
		return nil, st, fmt.Errorf("everything: embedding is for a %dx%d frame but the image is %dx%d; encode this frame", emb.W, emb.H, img.W, img.H)
	}
	crops, layers := cropBoxes(img.W, img.H, opts.CropNLayers, opts.CropOverlapRatio)
	st.Crops = len(crops)
	var all []*candidate
	for ci, c := range crops {
		if c.w() <= 0 || c.h() <= 0 {
			continue // a frame a few pixels wide has empty deep crops
		}
		e := emb
		if ci != 0 || e == nil {
			t := time.Now()
			var err error
			e, err = m.Encode(ctx, cropImage(img, c))
			if err != nil {
				return nil, st, fmt.Errorf("everything: encode crop %v: %w", c, err)
			}
			st.Encodes++
			st.Encode += time.Since(t)
		}
		t := time.Now()
		cands, err := processCrop(ctx, m, sc, e, c, img.W, img.H, pointGrid(opts.LayerPoints(layers[ci]), c.w(), c.h()), opts, &st)
		st.Decode += time.Since(t)
		if err != nil {
			return nil, st, err
		}
		all = append(all, cands...)
	}
	t := time.Now()
	if len(crops) > 1 {
		boxes := make([][4]int, len(all))
		scores := make([]float64, len(all))
		for i, c := range all {
			boxes[i] = c.box
			scores[i] = 1 / float64(c.crop.area())
		}
		all = pick(all, nms(boxes, scores, opts.CropNMSThresh))
	}
	var bitmaps []*mask.Bitmap
	if opts.MinMaskRegionArea > 0 && len(all) > 0 {
		var err error
		all, bitmaps, err = removeSmallRegions(ctx, all, img.W, img.H, float64(opts.MinMaskRegionArea), max(opts.BoxNMSThresh, opts.CropNMSThresh))
		if err != nil {
			return nil, st, err
		}
	}
	segs := make([]media.Segment, len(all))
	for i, c := range all {
		b := c.bitmap(img.W, img.H)
		if bitmaps != nil && bitmaps[i] != nil {
			b = bitmaps[i]
		}
		segs[i] = media.Segment{
			Mask:           b,
			Area:           c.area,
			BBox:           [4]int{c.box[0], c.box[1], c.box[2] - c.box[0], c.box[3] - c.box[1]},
			PredictedIoU:   c.iou,
			StabilityScore: c.stab,
			PointCoords:    [][2]float64{c.pt},
			CropBox:        [4]int{c.crop[0], c.crop[1], c.crop.w(), c.crop.h()},
		}
	}
	st.Kept = len(segs)
	st.Post += time.Since(t)
	return segs, st, nil
}

func pick(c []*candidate, idx []int) []*candidate {
	out := make([]*candidate, len(idx))
	for i, k := range idx {
		out[i] = c[k]
	}
	return out
}

// batchResult is what one worker returns for one batch of points.
type batchResult struct {
	cands                                   []*candidate
	iouCalls, maskCalls                     int
	candidates, iouPassed, stable, edgeKept int
}

// processCrop decodes one crop's grid in batches (on sc.workers()
// goroutines; results are assembled in point order, so the output does not
// depend on scheduling) and applies the in-crop box NMS.
func processCrop(ctx context.Context, m Model, sc pointScorer, emb *Embedding, c cropBox, fw, fh int, pts [][2]float64, opts media.EverythingOptions, st *EverythingStats) ([]*candidate, error) {
	st.Points += len(pts)
	nb := (len(pts) + opts.PointsPerBatch - 1) / opts.PointsPerBatch
	results := make([]batchResult, nb)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	ad := &adaptive{}
	workers := max(1, min(sc.workers(), nb))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				lo := b * opts.PointsPerBatch
				hi := min(lo+opts.PointsPerBatch, len(pts))
				r, err := processBatch(ctx, m, sc, emb, c, fw, fh, pts[lo:hi], opts, ad)
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				results[b] = r
			}
		}()
	}
	for b := 0; b < nb; b++ {
		select {
		case jobs <- b:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cands []*candidate
	for _, r := range results {
		cands = append(cands, r.cands...)
		st.IoUCalls += r.iouCalls
		st.MaskCalls += r.maskCalls
		st.Candidates += r.candidates
		st.IoUPassed += r.iouPassed
		st.StablePassed += r.stable
		st.EdgeKept += r.edgeKept
	}
	boxes := make([][4]int, len(cands))
	scores := make([]float64, len(cands))
	for i, cd := range cands {
		boxes[i] = cd.box
		scores[i] = cd.iou
	}
	return pick(cands, nms(boxes, scores, opts.BoxNMSThresh)), nil
}

// adaptive decides per batch whether the IoU-only first pass pays: with
// survivor share r, it costs tIoU + r·tMask per point against tMask for
// going straight to masks. Decisions change only the work done, never the
// result.
type adaptive struct {
	mu                sync.Mutex
	iouN, maskN       int
	iouTime, maskTime time.Duration
	points, survivors int
}

func (a *adaptive) skipIoU() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.iouN == 0 || a.maskN == 0 || a.points == 0 {
		return false
	}
	tIoU := a.iouTime.Seconds() / float64(a.iouN)
	tMask := a.maskTime.Seconds() / float64(a.maskN)
	r := float64(a.survivors) / float64(a.points)
	return tIoU+r*tMask >= tMask
}

func (a *adaptive) record(iouN int, iouT time.Duration, maskN int, maskT time.Duration, points, survivors int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.iouN += iouN
	a.iouTime += iouT
	a.maskN += maskN
	a.maskTime += maskT
	a.points += points
	a.survivors += survivors
}

// processBatch decodes one batch of grid points of crop c and keeps the
// candidate masks that pass the IoU, stability and crop-edge filters.
func processBatch(ctx context.Context, m Model, sc pointScorer, emb *Embedding, c cropBox, fw, fh int, pts [][2]float64, opts media.EverythingOptions, ad *adaptive) (batchResult, error) {
	var r batchResult
	prompts := make([]media.Prompt, len(pts))
	for i, p := range pts {
		prompts[i] = media.Prompt{Points: []media.Point{{X: p[0], Y: p[1], Label: 1}}}
	}
	ious, outs, err := r.decode(ctx, sc, emb, prompts, opts, ad)
	if err != nil {
		return r, err
	}
	if opts.UseM2M {
		if outs, err = refineM2M(ctx, m, emb, prompts, outs); err != nil {
			return r, err
		}
		r.maskCalls += len(prompts)
	}
	err = r.keep(m, emb, c, fw, fh, pts, ious, outs, opts)
	return r, err
}

// decode answers the batch's prompts: with the IoU filter on (and neither
// use_m2m nor the adaptive rule against it), a first pass that may give
// IoUs only (ious), then masks for the points with a passing token; else
// masks for every point. outs has one Output per prompt, with nil IoU for
// a point no token of which passed.
func (r *batchResult) decode(ctx context.Context, sc pointScorer, emb *Embedding, prompts []media.Prompt, opts media.EverythingOptions, ad *adaptive) (ious [][]float32, outs []Output, err error) {
	predIoU := *opts.PredIoUThresh // set by runEverything
	filterIoU := predIoU > 0
	// use_m2m filters the refined masks, so no click may be screened out
	// on its first answer.
	if sm, ok := sc.(screenMasker); ok && filterIoU && !opts.UseM2M && sm.canScreenMasks() {
		if ious, outs, err = sm.screenMasks(ctx, emb, prompts, predIoU); err != nil {
			return nil, nil, fmt.Errorf("everything: decode: %w", err)
		}
		r.iouCalls += len(prompts)
		for _, o := range outs {
			if o.IoU != nil {
				r.maskCalls++
			}
		}
		return ious, outs, nil
	}
	t := time.Now()
	if !filterIoU || opts.UseM2M || ad.skipIoU() {
		if outs, err = sc.masks(ctx, emb, prompts); err != nil {
			return nil, nil, fmt.Errorf("everything: decode: %w", err)
		}
		r.maskCalls += len(prompts)
		ad.record(0, 0, len(prompts), time.Since(t), 0, 0)
	} else {
		if ious, outs, err = sc.first(ctx, emb, prompts); err != nil {
			return nil, nil, fmt.Errorf("everything: decode: %w", err)
		}
		if outs == nil {
			r.iouCalls += len(prompts)
			ad.record(len(prompts), time.Since(t), 0, 0, 0, 0)
		} else {
			r.maskCalls += len(prompts)
		}
	}
	if outs == nil {
		if outs, err = r.passingMasks(ctx, sc, emb, prompts, ious, predIoU, ad); err != nil {
			return nil, nil, err
		}
	}
	if len(outs) != len(prompts) {
		return nil, nil, fmt.Errorf("everything: decoder gave %d outputs for %d prompts", len(outs), len(prompts))
	}
	return ious, outs, nil
}

// anyAbove reports whether a multimask token's IoU is above predIoU.
func anyAbove(iou []float32, predIoU float64) bool {
	lo, hi := multimaskTokens(len(iou))
	for k := lo; k < hi; k++ {
		if float64(iou[k]) > predIoU {
			return true
		}
	}
	return false
}

// passingMasks follows an IoU-only pass: it decodes masks only for the
// points with a token whose IoU passes predIoU, leaving the others' Output
// empty.
func (r *batchResult) passingMasks(ctx context.Context, sc pointScorer, emb *Embedding, prompts []media.Prompt, ious [][]float32, predIoU float64, ad *adaptive) ([]Output, error) {
	var need []int
	for i, iou := range ious {
		if anyAbove(iou, predIoU) {
			need = append(need, i)
		}
	}
	outs := make([]Output, len(prompts))
	if len(need) == 0 {
		ad.record(0, 0, 0, 0, len(prompts), 0)
		return outs, nil
	}
	sub := make([]media.Prompt, len(need))
	for j, i := range need {
		sub[j] = prompts[i]
	}
	t := time.Now()
	mo, err := sc.masks(ctx, emb, sub)
	if err != nil {
		return nil, fmt.Errorf("everything: decode masks: %w", err)
	}
	if len(mo) != len(sub) {
		return nil, fmt.Errorf("everything: decoder gave %d outputs for %d prompts", len(mo), len(sub))
	}
	r.maskCalls += len(sub)
	ad.record(0, 0, len(sub), time.Since(t), len(prompts), len(need))
	for j, i := range need {
		outs[i] = mo[j]
	}
	return outs, nil
}

// keep adds to r.cands every token of outs that passes the IoU and
// stability filters and does not touch an inner crop edge, counting the
// survivors of each filter.
func (r *batchResult) keep(m Model, emb *Embedding, c cropBox, fw, fh int, pts [][2]float64, ious [][]float32, outs []Output, opts media.EverythingOptions) error {
	predIoU := *opts.PredIoUThresh
	filterIoU := predIoU > 0
	cw, ch := c.w(), c.h()
	for i, o := range outs {
		// The mask pass's IoUs are final; the first pass's may only screen
		// (raised by a margin), so they count only for points it skipped.
		iou := o.IoU
		if iou == nil && ious != nil {
			iou = ious[i]
		}
		lo, hi := multimaskTokens(len(iou))
		r.candidates += hi - lo
		if o.IoU == nil { // skipped: no token passed the IoU pass
			continue
		}
		for k := lo; k < hi; k++ {
			if filterIoU && !(float64(iou[k]) > predIoU) {
				continue
			}
			r.iouPassed++
			if k >= len(o.LowRes) {
				return fmt.Errorf("everything: decoder gave %d low-res masks for %d IoUs", len(o.LowRes), len(iou))
			}
			logits := m.Upscale(emb, o.LowRes[k])
			if len(logits) != cw*ch {
				return fmt.Errorf("everything: upscaled mask has %d values for a %dx%d crop", len(logits), cw, ch)
			}
			s := stability(logits, opts.StabilityScoreOffset)
			if opts.StabilityScoreThresh > 0 && !(s >= opts.StabilityScoreThresh) {
				continue
			}
			r.stable++
			runs, area, box := binarise(logits, cw, ch)
			fb := [4]int{box[0] + c[0], box[1] + c[1], box[2] + c[0], box[3] + c[1]}
			if nearCropEdge(fb, c, fw, fh) {
				continue
			}
			r.edgeKept++
			r.cands = append(r.cands, &candidate{
				runs: runs, box: fb, iou: float64(iou[k]), stab: s, area: area,
				pt:   [2]float64{pts[i][0] + float64(c[0]), pts[i][1] + float64(c[1])},
				crop: c,
			})
		}
	}
	return nil
}

// removeSmallRegions is amg's postprocess_small_regions: fill small holes,
// remove small islands, score changed masks 0 and unchanged ones 1, and box
// NMS again. Changed masks that survive get their new mask and box; the
// returned bitmaps (nil for unchanged masks) are aligned with the result.
func removeSmallRegions(ctx context.Context, cands []*candidate, w, h int, minArea, thresh float64) ([]*candidate, []*mask.Bitmap, error) {
	type fixed struct {
		bm      *mask.Bitmap
		changed bool
		box     [4]int
	}
	fx := make([]fixed, len(cands))
	var wg sync.WaitGroup
	errs := make([]error, len(cands))
	sem := make(chan struct{}, runtime.NumCPU())
	for i, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, c *candidate) {
			defer wg.Done()
			defer func() { <-sem }()
			b := c.bitmap(w, h)
			b1, ch1, err := mask.RemoveSmallRegions(b, minArea, mask.Holes)
			if err != nil {
				errs[i] = err
				return
			}
			b2, ch2, err := mask.RemoveSmallRegions(b1, minArea, mask.Islands)
			if err != nil {
				errs[i] = err
				return
			}
			f := fixed{bm: b2, changed: ch1 || ch2}
			if f.changed {
				if x0, y0, x1, y1, ok := b2.BBox(); ok {
					f.box = [4]int{x0, y0, x1 - 1, y1 - 1}
				}
			} else {
				f.box = c.box
				f.bm = nil
			}
			fx[i] = f
		}(i, c)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("everything: remove small regions: %w", err)
		}
	}
	boxes := make([][4]int, len(cands))
	scores := make([]float64, len(cands))
	for i, f := range fx {
		boxes[i] = f.box
		if !f.changed {
			scores[i] = 1
		}
	}
	keep := nms(boxes, scores, thresh)
	out := make([]*candidate, len(keep))
	bms := make([]*mask.Bitmap, len(keep))
	for j, i := range keep {
		c := cands[i]
		if fx[i].changed {
			cc := *c
			cc.box = fx[i].box
			cc.area = fx[i].bm.Area()
			c = &cc
			bms[j] = fx[i].bm
		}
		out[j] = c
	}
	return out, bms, nil
}
