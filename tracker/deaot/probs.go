package deaot

// Turning the engines' logits into a label map, in aot-benchmark's order of
// operations (AOTEngine.decode_current_logits, AOTInferEngine.
// soft_logit_aggregation and the evaluator): every engine's logits are
// resized bilinearly to the frame (align_corners from the sidecar), unused
// slots are masked, each engine takes a softmax over its slots; with more
// than one engine the probabilities are merged (background = product of the
// engines' backgrounds), clamped to [1e-5, 1−1e-5], turned back into logits
// and normalised by a final softmax; the label is the argmax.

// aggClamp is soft_logit_aggregation's clamp of the merged probabilities.
const aggClamp = 1e-5

// channel is one merged output channel: background or an engine's slot.
type channel struct {
	id     uint16
	engine int
	slot   uint8
}

// liveSlots lists an engine's slots in use (slot 0, background, first) and
// the merged channel of each.
type liveSlots struct {
	slots []int
	chans []uint16
}

// channels numbers the merged channels: background, then every engine's
// live slots in slot order, engine after engine (aot-benchmark's order). It
// also returns each engine's live slots and how many slots are free in all
// engines (each still takes part in the final softmax with the clamped
// probability, as in aot-benchmark).
func (p *Propagator) channels() ([]channel, []liveSlots, int) {
	chans := []channel{{id: 0, engine: -1}}
	lives := make([]liveSlots, len(p.st.engines))
	free := 0
	for ei, e := range p.st.engines {
		lv := liveSlots{slots: []int{0}, chans: []uint16{0}}
		for k := 1; k < p.S; k++ {
			if e.ids[k] == 0 {
				free++
				continue
			}
			lv.slots = append(lv.slots, k)
			lv.chans = append(lv.chans, uint16(len(chans)))
			chans = append(chans, channel{id: e.ids[k], engine: ei, slot: uint8(k)})
		}
		lives[ei] = lv
	}
	return chans, lives, free
}

// decider resizes the logits of one frame row by row.
type decider struct {
	lives      []liveSlots
	nch, free  int
	lw, lh     int
	cells      int
	xm, ym     axisMap
	logits     [][]float32
	rows       [][][]float32 // [engine][live slot][lw]: the current row, resized vertically
	vals, prob []float32     // per pixel: one engine's values; merged probabilities per channel
	odds       []float64     // per pixel: the merged channels' odds (several engines)
}

// decide writes each pixel's most probable merged channel to out (fw×fh)
// and, when probs is not nil, the merged probabilities, channel-major
// ([len(chans)][fh][fw]), as aot-benchmark's evaluator computes them. It
// returns the channels.
func (p *Propagator) decide(logits [][]float32, fw, fh int, out []uint16, probs []float32) []channel {
	chans, lives, free := p.channels()
	lw, lh := p.man.Logits.Width, p.man.Logits.Height
	d := decider{lives: lives, nch: len(chans), free: free, lw: lw, lh: lh, cells: lw * lh, logits: logits,
		vals: make([]float32, p.S), prob: make([]float32, len(chans)), odds: make([]float64, len(chans))}
	if p.man.Logits.AlignCorners {
		d.xm, d.ym = alignCornersMap(fw, lw), alignCornersMap(fh, lh)
	} else {
		d.xm, d.ym = halfPixelMap(fw, lw), halfPixelMap(fh, lh)
	}
	d.rows = make([][][]float32, len(lives))
	for ei, lv := range lives {
		d.rows[ei] = make([][]float32, len(lv.slots))
		for i := range lv.slots {
			d.rows[ei][i] = make([]float32, lw)
		}
	}
	plane := fw * fh
	for y := 0; y < fh; y++ {
		d.resizeRow(y)
		for x := 0; x < fw; x++ {
			if probs == nil && len(lives) == 1 {
				out[y*fw+x] = d.argmaxOne(x) // softmax keeps the order
				continue
			}
			out[y*fw+x] = d.pixel(x, probs != nil)
			if probs != nil {
				for c, v := range d.prob {
					probs[c*plane+y*fw+x] = v
				}
			}
		}
	}
	return chans
}

// resizeRow interpolates every live slot's logits vertically for row y.
func (d *decider) resizeRow(y int) {
	r0, r1 := int(d.ym.i0[y])*d.lw, int(d.ym.i1[y])*d.lw
	wy := d.ym.w[y]
	for ei, lv := range d.lives {
		lg := d.logits[ei]
		for i, k := range lv.slots {
			src, dst := lg[k*d.cells:], d.rows[ei][i]
			for x := range dst {
				dst[x] = (1-wy)*src[r0+x] + wy*src[r1+x]
			}
		}
	}
}

// argmaxOne is the argmax of column x for a single engine, whose softmax
// does not change the order of its logits.
func (d *decider) argmaxOne(x int) uint16 {
	i0, i1, wx := int(d.xm.i0[x]), int(d.xm.i1[x]), d.xm.w[x]
	best, bestV := 0, float32(0)
	for i, row := range d.rows[0] {
		if v := (1-wx)*row[i0] + wx*row[i1]; i == 0 || v > bestV {
			best, bestV = i, v
		}
	}
	return d.lives[0].chans[best]
}

// pixel computes the merged probabilities of column x of the current row
// into d.prob and returns the argmax (the first channel on ties, as
// torch.argmax). Without needProbs, several engines' probabilities are
// left clamped but not normalised: the final logit and softmax keep their
// order, so the argmax is the same.
func (d *decider) pixel(x int, needProbs bool) uint16 {
	i0, i1, wx := int(d.xm.i0[x]), int(d.xm.i1[x]), d.xm.w[x]
	multi := len(d.lives) > 1
	bg := float32(1)
	for ei, lv := range d.lives {
		vals := d.vals[:len(lv.slots)]
		mx := float32(-3.4e38)
		for i, row := range d.rows[ei] {
			v := (1-wx)*row[i0] + wx*row[i1]
			vals[i] = v
			mx = max(mx, v)
		}
		sum := float32(0)
		for i, v := range vals {
			vals[i] = exp32(v - mx)
			sum += vals[i]
		}
		bg *= vals[0] / sum
		for i := 1; i < len(vals); i++ {
			d.prob[lv.chans[i]] = vals[i] / sum
		}
	}
	d.prob[0] = bg
	if !multi {
		return argmax(d.prob)
	}
	if !needProbs {
		lo, hi := float32(aggClamp), float32(1-aggClamp)
		for c, v := range d.prob {
			d.prob[c] = min(max(v, lo), hi)
		}
		return argmax(d.prob)
	}
	// softmax(logit(clamp(p))) over every channel, free slots included.
	// (float64: near the clamp, 1−p in float32 loses most of its digits.)
	const lo, hi = aggClamp, 1 - aggClamp
	sum := float64(d.free) * (lo / (1 - lo))
	for c, v := range d.prob {
		q := min(max(float64(v), lo), hi)
		d.odds[c] = q / (1 - q)
		sum += d.odds[c]
	}
	for c, o := range d.odds {
		d.prob[c] = float32(o / sum)
	}
	return argmax(d.prob)
}

func argmax(v []float32) uint16 {
	best := 0
	for c := 1; c < len(v); c++ {
		if v[c] > v[best] {
			best = c
		}
	}
	return uint16(best)
}
