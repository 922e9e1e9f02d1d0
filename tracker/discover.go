package tracker

import (
	"slices"

	"samtrack/mask"
	"samtrack/media"
)

// Extension of partly tracked objects. A mask (an everything-mode segment
// or the answer to a refresh prompt) that holds one tracked object almost
// entirely (at least extendMinCover of the object's pixels), overlaps other
// objects little (at most extendMaxOther of the mask) and has an untracked
// part of at least extendMinPixels pixels shows the whole of an object the
// propagator follows only partly: an object entering the frame or coming out
// from behind another, whose new pixels were in no mask on the previous
// frame. Its untracked part is added to that object when its colours match
// the object's (Options.ReIDMinSimilarity). SAM-Track never re-attaches such
// remainders, and since they cover more than a fifth of the segment they are
// never new objects either, so they stay untracked.
const (
	extendMinCover  = 0.8
	extendMaxOther  = 0.1
	extendMinPixels = 20
)

// frameEdit applies SAM masks to one frame's labels, keeping per-id areas.
type frameEdit struct {
	t      *Tracker
	f      media.Frame
	labels *mask.LabelMap
	j      *JournalEntry
	areas  map[uint16]int
	hist   [histBins]float32
	counts [histBins]uint32
}

func (t *Tracker) newFrameEdit(f media.Frame, labels *mask.LabelMap, j *JournalEntry) *frameEdit {
	e := &frameEdit{t: t, f: f, labels: labels, j: j, areas: map[uint16]int{}}
	for _, v := range labels.Pix {
		if v != 0 {
			e.areas[v]++
		}
	}
	return e
}

// untrackedHist fills e.hist with the colour histogram of m's n untracked
// pixels.
func (e *frameEdit) untrackedHist(m *mask.Bitmap, n int) {
	clear(e.counts[:])
	rgb := e.f.RGB
	for i, v := range m.Pix {
		if v != 0 && e.labels.Pix[i] == 0 {
			e.counts[histBin(rgb[3*i], rgb[3*i+1], rgb[3*i+2])]++
		}
	}
	inv := 1 / float32(max(n, 1))
	for i, c := range e.counts {
		e.hist[i] = float32(c) * inv
	}
}

// paint gives m's untracked pixels to id.
func (e *frameEdit) paint(m *mask.Bitmap, id uint16) {
	for i, v := range m.Pix {
		if v != 0 && e.labels.Pix[i] == 0 {
			e.labels.Pix[i] = id
			e.areas[id]++
		}
	}
}

// overlap counts m's area, its untracked pixels and its pixels per tracked
// id.
func (e *frameEdit) overlap(m *mask.Bitmap) (area, outside int, over map[uint16]int) {
	over = map[uint16]int{}
	for i, v := range m.Pix {
		if v != 0 {
			area++
			if l := e.labels.Pix[i]; l == 0 {
				outside++
			} else {
				over[l]++
			}
		}
	}
	return area, outside, over
}

// extend adds m's untracked part to object id when m is the whole of that
// partly tracked object (see extendMinCover); it reports whether it did.
func (e *frameEdit) extend(m *mask.Bitmap, id uint16, area, outside int, over map[uint16]int, score float64) bool {
	t := e.t
	o := t.objs[id]
	if o == nil || o.State == StateRemoved || outside < extendMinPixels || area == 0 {
		return false
	}
	if float64(area) > t.opts.MaxNewObjFrameRatio*float64(e.f.W*e.f.H) {
		return false
	}
	if float64(over[id]) < extendMinCover*float64(e.areas[id]) || e.areas[id] == 0 {
		return false
	}
	other := 0
	for k, n := range over {
		if k != id {
			other += n
		}
	}
	if float64(other) > extendMaxOther*float64(area) {
		return false
	}
	if t.opts.ReIDMinSimilarity > 0 {
		if !o.app.ok {
			return false
		}
		e.untrackedHist(m, outside)
		if similarity(&e.hist, &o.app.hist) < t.opts.ReIDMinSimilarity {
			return false
		}
	}
	t.log.Debug("tracker: extending a partly tracked object", "frame", e.f.Index, "id", id, "added", outside, "had", e.areas[id])
	e.paint(m, id)
	e.j.Set = append(e.j.Set, ObjectSet{ID: id, Source: SourceExtended, Score: score})
	return true
}

// refreshPrompts builds, for every object with pixels on labels except
// those in skip, a single positive click at its most interior pixel (the
// farthest from its boundary).
func refreshPrompts(labels *mask.LabelMap, skip map[uint16]bool) (ids []uint16, prompts []media.Prompt) {
	type box struct{ x0, y0, x1, y1 int }
	boxes := map[uint16]*box{}
	w := labels.W
	for i, v := range labels.Pix {
		if v == 0 || skip[v] {
			continue
		}
		x, y := i%w, i/w
		b := boxes[v]
		if b == nil {
			boxes[v] = &box{x, y, x, y}
			continue
		}
		b.x0, b.x1 = min(b.x0, x), max(b.x1, x)
		b.y0, b.y1 = min(b.y0, y), max(b.y1, y)
	}
	for id := range boxes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		b := boxes[id]
		x, y := interiorPoint(labels, id, b.x0, b.y0, b.x1, b.y1)
		prompts = append(prompts, media.Prompt{Points: []media.Point{{X: float64(x) + 0.5, Y: float64(y) + 0.5, Label: 1}}})
	}
	return ids, prompts
}

// interiorPoint returns the pixel of id inside the inclusive box that is
// farthest (3-4 chamfer distance) from any pixel that is not id, the frame
// border counting as outside.
func interiorPoint(labels *mask.LabelMap, id uint16, x0, y0, x1, y1 int) (int, int) {
	bw, bh := x1-x0+1, y1-y0+1
	const inf = 1 << 30
	d := make([]int32, bw*bh)
	at := func(x, y int) int32 {
		if x < 0 || y < 0 || x >= bw || y >= bh {
			return 0
		}
		return d[y*bw+x]
	}
	for y := 0; y < bh; y++ {
		for x := 0; x < bw; x++ {
			if labels.Pix[(y0+y)*labels.W+x0+x] != id {
				d[y*bw+x] = 0
				continue
			}
			v := int32(inf)
			v = min(v, at(x-1, y)+3, at(x, y-1)+3, at(x-1, y-1)+4, at(x+1, y-1)+4)
			d[y*bw+x] = v
		}
	}
	bx, by, best := 0, 0, int32(-1)
	for y := bh - 1; y >= 0; y-- {
		for x := bw - 1; x >= 0; x-- {
			i := y*bw + x
			if d[i] == 0 {
				continue
			}
			v := min(d[i], at(x+1, y)+3, at(x, y+1)+3, at(x+1, y+1)+4, at(x-1, y+1)+4)
			d[i] = v
			if v >= best {
				bx, by, best = x, y, v
			}
		}
	}
	return x0 + bx, y0 + by
}

// refresh adopts the answers to the refresh prompts that complete their
// object (see extend). It returns how many objects grew.
func (e *frameEdit) refresh(ids []uint16, res []media.Result) int {
	n := 0
	for k, id := range ids {
		m := res[k].Mask
		if m == nil || m.W != e.f.W || m.H != e.f.H {
			continue
		}
		area, outside, over := e.overlap(m)
		if e.extend(m, id, area, outside, over, res[k].Score) {
			n++
		}
	}
	return n
}

// discover adds everything-mode segments that are new to labels. It follows
// SAM-Track's find_new_objs with its defects fixed:
//
//   - segments are taken one by one in everything mode's order (best
//     predicted IoU first) instead of being painted into one map where later
//     masks overwrite earlier ones, so nested and overlapping segments are
//     judged against everything accepted before them;
//   - a segment is new when at least MinNewObjRatio of its area lies outside
//     every tracked mask (including objects accepted earlier on this frame)
//     and that outside part covers at least MinArea pixels; segments larger
//     than MaxNewObjFrameRatio of the frame (the background) are skipped;
//   - only the outside part is added, as upstream does;
//   - a segment that is not new but holds most of one tracked object
//     completes that object (see extendMinCover);
//   - a new segment is first compared with the objects that have no pixels
//     on this frame (lost, or missing for fewer than LostAfter frames): if
//     the colour histogram of its outside part has a Bhattacharyya
//     coefficient of at least ReIDMinSimilarity with one of theirs, the most
//     similar object takes it back under its own id; otherwise it gets a
//     new id, max id ever used + 1 (upstream reuses the largest existing id
//     for its first new object, issue #160).
//
// It returns how many objects were added, returned or completed.
func (e *frameEdit) discover(segs []media.Segment) (int, error) {
	t := e.t
	if len(segs) == 0 {
		return 0, nil
	}
	missing := e.missingCandidates()
	frameArea := float64(e.f.W * e.f.H)
	added := 0
	for si, s := range segs {
		m := s.Mask
		if m == nil || m.W != e.f.W || m.H != e.f.H {
			continue
		}
		area, outside, over := e.overlap(m)
		if area == 0 || float64(area) > t.opts.MaxNewObjFrameRatio*frameArea || outside == 0 {
			continue
		}
		if outside < t.opts.MinArea || float64(outside) < t.opts.MinNewObjRatio*float64(area) {
			if e.completeMostCovered(m, area, outside, over, s.PredictedIoU) {
				added++
			}
			continue
		}
		var id uint16
		source := SourceDiscovered
		if best, sim := e.reidentify(m, outside, missing); best != nil {
			best.used = true
			id = best.o.ID
			source = SourceReturned
			t.log.Info("tracker: re-identified a returning object", "frame", e.f.Index, "id", id, "similarity", sim, "segment", si, "area", outside)
		} else {
			nid, err := t.newID()
			if err != nil {
				return added, err
			}
			id = nid
			t.log.Info("tracker: new object", "frame", e.f.Index, "id", id, "segment", si, "area", outside, "of", area)
		}
		e.paint(m, id)
		e.j.Set = append(e.j.Set, ObjectSet{ID: id, Source: source, Score: s.PredictedIoU})
		added++
	}
	return added, nil
}

// reidCandidate is an object with no pixels on this frame that a new segment
// may give back; used once a frame.
type reidCandidate struct {
	o    *object
	used bool
}

// missingCandidates lists, by id, the objects a new segment may re-identify
// (none when re-identification is off).
func (e *frameEdit) missingCandidates() []*reidCandidate {
	t := e.t
	if t.opts.ReIDMinSimilarity <= 0 {
		return nil
	}
	ids := make([]uint16, 0, len(t.objs))
	for id, o := range t.objs {
		if o.State != StateRemoved && o.FirstFrame >= 0 && e.areas[id] == 0 && o.app.ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	missing := make([]*reidCandidate, 0, len(ids))
	for _, id := range ids {
		missing = append(missing, &reidCandidate{o: t.objs[id]})
	}
	return missing
}

// completeMostCovered lets a segment that is not new complete the tracked
// object it overlaps most (ties: the lower id), as extend decides.
func (e *frameEdit) completeMostCovered(m *mask.Bitmap, area, outside int, over map[uint16]int, score float64) bool {
	var id uint16
	for k, n := range over {
		if id == 0 || n > over[id] || n == over[id] && k < id {
			id = k
		}
	}
	return id != 0 && e.extend(m, id, area, outside, over, score)
}

// reidentify returns the unused missing object whose colour histogram is most
// similar to the segment's outside part, if at least ReIDMinSimilarity; ties
// go to the most recently seen object.
func (e *frameEdit) reidentify(m *mask.Bitmap, outside int, missing []*reidCandidate) (*reidCandidate, float64) {
	if len(missing) == 0 {
		return nil, 0
	}
	best, bestSim := (*reidCandidate)(nil), e.t.opts.ReIDMinSimilarity
	e.untrackedHist(m, outside)
	for _, c := range missing {
		if c.used {
			continue
		}
		if sim := similarity(&e.hist, &c.o.app.hist); sim >= bestSim {
			if best == nil || sim > bestSim || c.o.LastFrame > best.o.LastFrame {
				best, bestSim = c, sim
			}
		}
	}
	return best, bestSim
}
