package eval

import (
	"fmt"
	"math"

	"samtrack/mask"
)

// Stats are the per-object statistics of davis2017-evaluation's
// utils.db_statistics over the per-frame values of one measure.
type Stats struct {
	Mean   float64 // mean over the scored frames
	Recall float64 // fraction of scored frames with value > 0.5 (strict)
	Decay  float64 // mean of the first quarter bin minus mean of the last
}

// DecayBins returns the 5 bin edges db_statistics uses for n values:
// round(linspace(1, n, 5) + 1e-10) - 1. Bin i is v[e[i]..e[i+1]] with both
// ends inclusive. Unlike upstream the edges are not cast to uint8, so they
// stay right past 256 frames.
func DecayBins(n int) [5]int {
	var e [5]int
	for i := range e {
		x := 1 + float64(i)*float64(n-1)/4 // numpy linspace, exact here
		if i == 4 {
			x = float64(n)
		}
		e[i] = int(math.RoundToEven(x+1e-10)) - 1 // numpy rounds half to even
	}
	return e
}

// ComputeStats returns Mean, Recall and Decay of v as db_statistics does.
// NaN values are skipped (nanmean); an empty v gives NaN everywhere.
func ComputeStats(v []float64) Stats {
	if len(v) == 0 {
		return Stats{math.NaN(), math.NaN(), math.NaN()}
	}
	var s Stats
	s.Mean = nanMean(v)
	// upstream: nanmean(v > 0.5); the comparison has no NaN (NaN > 0.5 is
	// false), so every frame counts.
	above := 0
	for _, x := range v {
		if x > 0.5 {
			above++
		}
	}
	s.Recall = float64(above) / float64(len(v))
	e := DecayBins(len(v))
	s.Decay = nanMean(v[e[0]:e[1]+1]) - nanMean(v[e[3]:e[4]+1])
	return s
}

func nanMean(v []float64) float64 {
	sum, n := 0.0, 0
	for _, x := range v {
		if !math.IsNaN(x) {
			sum += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// BoundaryRadius is the F-measure tolerance for a w×h image:
// ceil(0.008 * sqrt(h² + w²)), 8 px at 854x480.
func BoundaryRadius(w, h int) int {
	return int(math.Ceil(0.008 * math.Sqrt(float64(h*h+w*w))))
}

// RegionJ is the DAVIS region similarity: the IoU of gt and pred, 1 when
// both are empty.
func RegionJ(gt, pred *mask.Bitmap) (float64, error) {
	if err := sameSize(gt, pred); err != nil {
		return 0, fmt.Errorf("region J: %w", err)
	}
	return mask.IoU(gt, pred), nil
}

// BoundaryF is the DAVIS boundary F-measure of pred against gt (see
// [Evaluate] for the definition).
func BoundaryF(gt, pred *mask.Bitmap) (float64, error) {
	if err := sameSize(gt, pred); err != nil {
		return 0, fmt.Errorf("boundary F: %w", err)
	}
	g, p := make([]uint16, len(gt.Pix)), make([]uint16, len(pred.Pix))
	for i := range g {
		g[i], p[i] = uint16(min(gt.Pix[i], 1)), uint16(min(pred.Pix[i], 1))
	}
	_, f := newScorer(gt.W, gt.H).score(g, p, 1)
	return f, nil
}

func sameSize(gt, pred *mask.Bitmap) error {
	if err := gt.Validate(); err != nil {
		return fmt.Errorf("ground truth: %w", err)
	}
	if err := pred.Validate(); err != nil {
		return fmt.Errorf("prediction: %w", err)
	}
	if gt.W != pred.W || gt.H != pred.H {
		return fmt.Errorf("prediction is %dx%d but ground truth is %dx%d", pred.W, pred.H, gt.W, gt.H)
	}
	return nil
}

// scorer holds the per-worker buffers for one image size. F depends only on
// the boundary pixels and their distances, and every boundary pixel lies in
// the union's bounding box grown by one pixel to the top-left, so the
// boundary maps are computed on that crop, grown by one more pixel to the
// bottom-right where the image continues (so the crop's own last row and
// column, which seg2bmap treats specially, are empty in both masks and
// carry no boundary). The result is exactly the full-image one.
type scorer struct {
	w, h, r       int
	gt, pr        *mask.Bitmap // 0/1 masks of one object, crop-sized
	gtB, prB, dil *mask.Bitmap
}

func newScorer(w, h int) *scorer {
	return &scorer{w: w, h: h, r: BoundaryRadius(w, h),
		gt: &mask.Bitmap{}, pr: &mask.Bitmap{}, gtB: &mask.Bitmap{}, prB: &mask.Bitmap{}, dil: &mask.Bitmap{}}
}

// resize sets every buffer to cw×ch, reusing memory.
func (s *scorer) resize(cw, ch int) {
	for _, b := range []*mask.Bitmap{s.gt, s.pr, s.gtB, s.prB, s.dil} {
		if cap(b.Pix) < cw*ch {
			b.Pix = make([]uint8, cw*ch, s.w*s.h)
		}
		b.W, b.H, b.Pix = cw, ch, b.Pix[:cw*ch]
	}
}

// score returns J and F of object id k, given label maps of the scorer's
// size (gt with void already removed).
func (s *scorer) score(gt, pr []uint16, k uint16) (j, f float64) {
	w, h := s.w, s.h
	inter, union := 0, 0
	x0, y0, x1, y1 := w, h, -1, -1
	for y := 0; y < h; y++ {
		g := gt[y*w : (y+1)*w]
		p := pr[y*w : (y+1)*w]
		p = p[:len(g)]
		rx0, rx1 := -1, -1
		for x, gv := range g {
			a, b := gv == k, p[x] == k
			if a || b {
				union++
				if a && b {
					inter++
				}
				if rx0 < 0 {
					rx0 = x
				}
				rx1 = x
			}
		}
		if rx0 >= 0 {
			x0, x1 = min(x0, rx0), max(x1, rx1)
			y0 = min(y0, y)
			y1 = y
		}
	}
	if union == 0 {
		return 1, 1 // both empty: no boundaries either
	}
	j = float64(inter) / float64(union)
	cx0, cy0 := max(x0-1, 0), max(y0-1, 0)
	cx1, cy1 := min(x1+2, w), min(y1+2, h) // exclusive
	cw, ch := cx1-cx0, cy1-cy0
	s.resize(cw, ch)
	for y := 0; y < ch; y++ {
		g := gt[(cy0+y)*w+cx0 : (cy0+y)*w+cx1]
		p := pr[(cy0+y)*w+cx0 : (cy0+y)*w+cx1]
		gm := s.gt.Pix[y*cw : (y+1)*cw]
		pm := s.pr.Pix[y*cw : (y+1)*cw]
		p, gm, pm = p[:len(g)], gm[:len(g)], pm[:len(g)]
		for x, gv := range g {
			gm[x], pm[x] = b2u(gv == k), b2u(p[x] == k)
		}
	}
	return j, s.boundaryF()
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// boundaryF computes F from s.gt and s.pr (0/1), as
// davis2017-evaluation's metrics.f_measure does.
func (s *scorer) boundaryF() float64 {
	nGt := seg2bmap(s.gt, s.gtB)
	nFg := seg2bmap(s.pr, s.prB)
	var precision, recall float64
	switch {
	case nFg == 0 && nGt > 0:
		precision, recall = 1, 0
	case nFg > 0 && nGt == 0:
		precision, recall = 0, 1
	case nFg == 0 && nGt == 0:
		precision, recall = 1, 1
	default:
		// pred boundary pixels within r of the GT boundary
		_ = mask.DilateDiskInto(s.dil, s.gtB, s.r)
		fgMatch := countAnd(s.prB.Pix, s.dil.Pix)
		// GT boundary pixels within r of the pred boundary
		_ = mask.DilateDiskInto(s.dil, s.prB, s.r)
		gtMatch := countAnd(s.gtB.Pix, s.dil.Pix)
		precision = float64(fgMatch) / float64(nFg)
		recall = float64(gtMatch) / float64(nGt)
	}
	if precision+recall == 0 {
		return 0
	}
	return 2 * precision * recall / (precision + recall)
}

func countAnd(a, b []uint8) int {
	n := 0
	for i, v := range a {
		n += int(v & b[i])
	}
	return n
}

// seg2bmap writes the boundary map of seg (0/1) into dst and returns its
// pixel count, as davis2017-evaluation's _seg2bmap does: a pixel is a
// boundary when it differs from its right, bottom or bottom-right neighbour;
// in the last row only the right neighbour is compared, in the last column
// only the bottom one, and the bottom-right corner is never a boundary.
func seg2bmap(seg, dst *mask.Bitmap) int {
	w, h := seg.W, seg.H
	if w == 0 || h == 0 {
		return 0
	}
	n := 0
	for y := 0; y < h-1; y++ {
		cur := seg.Pix[y*w : (y+1)*w]
		nxt := seg.Pix[(y+1)*w : (y+2)*w]
		d := dst.Pix[y*w : (y+1)*w]
		nxt = nxt[:len(cur)]
		d = d[:len(cur)]
		for x := 0; x < len(cur)-1; x++ {
			v := cur[x]
			b := (v ^ cur[x+1]) | (v ^ nxt[x]) | (v ^ nxt[x+1])
			d[x] = b
			n += int(b)
		}
		b := cur[w-1] ^ nxt[w-1] // last column: bottom only
		d[w-1] = b
		n += int(b)
	}
	cur := seg.Pix[(h-1)*w : h*w] // last row: right only
	d := dst.Pix[(h-1)*w : h*w]
	d = d[:len(cur)]
	for x := 0; x < len(cur)-1; x++ {
		b := cur[x] ^ cur[x+1]
		d[x] = b
		n += int(b)
	}
	d[w-1] = 0 // bottom-right corner
	return n
}
