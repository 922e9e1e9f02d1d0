//go:build !nogocv

package segment

import (
	"fmt"
	"math"
	"sort"

	"samtrack/mask"
	"samtrack/media"
)

// tightComponents applies the tight-box prior (Lempitsky et al., ICCV 2009:
// a tight box means every row and column crossing it meets the object) to
// the mask's 8-connected components: the component under a positive click
// (else the largest) stays, and each other component, largest first, stays
// only if it reaches rows or columns of the box that those kept so far do
// not. A separate blob of the object's colours lying within the span the
// object already covers (a second animal behind it, a patch of background)
// is dropped; a limb cut off by a thin gap that widens the span is kept.
// Without a box, it keeps the components under positive clicks
// (clickComponents).
func tightComponents(b *mask.Bitmap, p media.Prompt) (*mask.Bitmap, error) {
	if p.Box == nil {
		return clickComponents(b, p)
	}
	cc, err := mask.ConnectedComponents(b)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: %w", err)
	}
	if cc.N() < 2 {
		return b, nil
	}
	x0, y0 := max(0, int(math.Floor(p.Box.X0))), max(0, int(math.Floor(p.Box.Y0)))
	x1, y1 := min(b.W, int(math.Ceil(p.Box.X1))), min(b.H, int(math.Ceil(p.Box.Y1)))
	rows, cols := componentSpans(cc, x0, y0, x1, y1)
	order := make([]int32, 0, cc.N())
	for k := 1; k <= cc.N(); k++ {
		order = append(order, int32(k))
	}
	sort.SliceStable(order, func(i, j int) bool { return cc.Sizes[order[i]] > cc.Sizes[order[j]] })
	if ks := clickedComponents(cc, p); len(ks) > 0 {
		order = append([]int32{ks[0]}, order...)
	}
	// A component must add at least this many rows or columns: a sliver
	// of a pixel or two at the edge of the span is noise, not the object.
	minNew := max(2, max(x1-x0, y1-y0)/100)
	coveredR, coveredC := make([]bool, y1-y0), make([]bool, x1-x0)
	keep := make([]bool, cc.N()+1)
	for i, k := range order {
		if keep[k] {
			continue
		}
		if i > 0 && countNew(rows[k], coveredR) < minNew && countNew(cols[k], coveredC) < minNew {
			continue
		}
		keep[k] = true
		markSpan(rows[k], coveredR)
		markSpan(cols[k], coveredC)
	}
	return cc.Select(keep), nil
}

// clickComponents keeps, of a mask from clicks alone, the 8-connected
// components under positive clicks: GrabCut also labels far-off patches of
// the clicked colours (a facade the colour of a shirt), and nothing but the
// clicks says what the object is. When no positive click lands on the
// mask, it is returned as it is.
func clickComponents(b *mask.Bitmap, p media.Prompt) (*mask.Bitmap, error) {
	cc, err := mask.ConnectedComponents(b)
	if err != nil {
		return nil, fmt.Errorf("classical segmenter: %w", err)
	}
	if cc.N() < 2 {
		return b, nil
	}
	ks := clickedComponents(cc, p)
	if len(ks) == 0 {
		return b, nil
	}
	keep := make([]bool, cc.N()+1)
	for _, k := range ks {
		keep[k] = true
	}
	return cc.Select(keep), nil
}

// componentSpans lists, for each component, the box rows and columns (box
// coordinates) it has a pixel in.
func componentSpans(cc *mask.Components, x0, y0, x1, y1 int) (rows, cols [][]bool) {
	rows, cols = make([][]bool, cc.N()+1), make([][]bool, cc.N()+1)
	for k := range rows {
		rows[k], cols[k] = make([]bool, max(0, y1-y0)), make([]bool, max(0, x1-x0))
	}
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			if l := cc.Labels[y*cc.W+x]; l > 0 {
				rows[l][y-y0], cols[l][x-x0] = true, true
			}
		}
	}
	return rows, cols
}

// clickedComponents lists the components under positive clicks, in click
// order (a component once per click on it).
func clickedComponents(cc *mask.Components, p media.Prompt) []int32 {
	var ks []int32
	for _, pt := range p.Points {
		x, y := int(pt.X), int(pt.Y)
		if pt.Label == 1 && x >= 0 && y >= 0 && x < cc.W && y < cc.H {
			if l := cc.Labels[y*cc.W+x]; l > 0 {
				ks = append(ks, l)
			}
		}
	}
	return ks
}

// countNew counts the entries set in span and not in covered.
func countNew(span, covered []bool) int {
	n := 0
	for i, v := range span {
		if v && !covered[i] {
			n++
		}
	}
	return n
}

// markSpan sets covered wherever span is set.
func markSpan(span, covered []bool) {
	for i, v := range span {
		if v {
			covered[i] = true
		}
	}
}

// clickDepth is how deep the prompt's positive clicks lie in b: the mean
// over them of the chamfer distance to b's boundary (the frame edge
// counting as boundary) divided by the largest such distance in b; a click
// outside b counts 0. A click marks the middle of the object, so of two
// masks the one deeper under the clicks is the better guess.
func clickDepth(b *mask.Bitmap, p media.Prompt) float64 {
	d := chamferDepth(b)
	var most int32
	for _, v := range d {
		most = max(most, v)
	}
	if most == 0 {
		return 0
	}
	sum, n := 0.0, 0
	for _, pt := range p.Points {
		if pt.Label != 1 {
			continue
		}
		n++
		x, y := int(pt.X), int(pt.Y)
		if x >= 0 && y >= 0 && x < b.W && y < b.H {
			sum += float64(d[y*b.W+x]) / float64(most)
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// medoid is the index of the mask with the largest summed IoU with the
// others (the first on a tie): of three guesses, the one the other two
// bear out.
func medoid(ms []*mask.Bitmap) int {
	best, most := 0, -1.0
	for i, m := range ms {
		sum := 0.0
		for j, o := range ms {
			if j != i {
				sum += mask.IoU(m, o)
			}
		}
		if sum > most {
			best, most = i, sum
		}
	}
	return best
}

// chamferDepth is every pixel's two-pass chamfer distance (weights 3 and 4)
// to the nearest pixel outside b, the frame edge counting as outside; 0
// outside b.
func chamferDepth(b *mask.Bitmap) []int32 {
	const inf = math.MaxInt32 / 2
	w, h := b.W, b.H
	d := make([]int32, w*h)
	at := func(x, y int) int32 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0
		}
		return d[y*w+x]
	}
	for i, v := range b.Pix {
		if v != 0 {
			d[i] = inf
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if i := y*w + x; d[i] > 0 {
				d[i] = min(d[i], at(x-1, y)+3, at(x, y-1)+3, at(x-1, y-1)+4, at(x+1, y-1)+4)
			}
		}
	}
	for y := h - 1; y >= 0; y-- {
		for x := w - 1; x >= 0; x-- {
			if i := y*w + x; d[i] > 0 {
				d[i] = min(d[i], at(x+1, y)+3, at(x, y+1)+3, at(x+1, y+1)+4, at(x-1, y+1)+4)
			}
		}
	}
	return d
}
