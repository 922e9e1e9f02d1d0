package export

import (
	"samtrack/mask"
)

// encodeRLEs run-length encodes every listed id of l in one column-major
// pass, giving for each exactly what mask.EncodeRLE gives for its Bitmap
// (COCO's uncompressed RLE: counts alternate 0-runs and 1-runs, starting
// with a 0-run). ids must be sorted ascending; ids absent from l get a
// single all-zero run.
func encodeRLEs(l *mask.LabelMap, ids []uint16) []*mask.RLE {
	w, h := l.W, l.H
	type runState struct {
		counts []uint32
		start  int // column-major index where the current run began
		inside bool
	}
	st := make([]runState, len(ids))
	idx := make(map[uint16]int, len(ids))
	for i, id := range ids {
		idx[id] = i
	}
	// look up the slot of a label quickly: most pixels repeat the previous
	// pixel's label
	var prev uint16
	prevSlot := -1
	t := 0
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			v := l.Pix[y*w+x]
			if v != prev {
				if prevSlot >= 0 { // the previous label's run of 1s ends
					s := &st[prevSlot]
					s.counts = append(s.counts, uint32(t-s.start))
					s.start, s.inside = t, false
				}
				prevSlot = -1
				if k, ok := idx[v]; ok && v != 0 {
					s := &st[k]
					s.counts = append(s.counts, uint32(t-s.start))
					s.start, s.inside = t, true
					prevSlot = k
				}
				prev = v
			}
			t++
		}
	}
	out := make([]*mask.RLE, len(ids))
	for k := range st {
		s := &st[k]
		s.counts = append(s.counts, uint32(t-s.start))
		out[k] = &mask.RLE{Size: [2]int{h, w}, Counts: s.counts}
	}
	return out
}
