package tracker

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"samtrack/mask"
	"samtrack/media"
)

// State is an object's state in the object table.
type State string

const (
	// StateActive: the object has pixels, or has been missing for fewer
	// than Options.LostAfter frames.
	StateActive State = "active"
	// StateLost: missing for LostAfter frames or more; it keeps its id and
	// returns when discovery re-identifies it.
	StateLost State = "lost"
	// StateRemoved: removed with RemoveObject; its id is never reused.
	StateRemoved State = "removed"
)

// Sources of an object's mask, as recorded in the journal and the table.
const (
	SourcePrompt     = "prompt"     // a SAM prompt (AddPrompt)
	SourceMask       = "mask"       // a given mask (AddMask)
	SourceDiscovered = "discovered" // everything mode found a new object
	SourceReturned   = "returned"   // everything mode found a lost object again
	SourceExtended   = "extended"   // everything mode completed a partly tracked object
	SourcePropagated = "propagated" // an id only the propagator reported
)

// Interval is the half-open frame-index range [Start, End). End is -1 while
// the interval is open (the object is still lost, or still present).
type Interval struct {
	Start, End int
}

// MarshalJSON writes [start, end], with null for an open end.
func (iv Interval) MarshalJSON() ([]byte, error) {
	if iv.End < 0 {
		return fmt.Appendf(nil, "[%d,null]", iv.Start), nil
	}
	return fmt.Appendf(nil, "[%d,%d]", iv.Start, iv.End), nil
}

// UnmarshalJSON reads [start, end] or [start, null].
func (iv *Interval) UnmarshalJSON(b []byte) error {
	var v [2]*int
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("interval: %w", err)
	}
	if v[0] == nil {
		return fmt.Errorf("interval %s has no start", b)
	}
	iv.Start, iv.End = *v[0], -1
	if v[1] != nil {
		iv.End = *v[1]
	}
	return nil
}

// Object is one row of the object table.
type Object struct {
	ID     uint16 `json:"id"`
	Source string `json:"source"`
	State  State  `json:"state"`
	// FirstFrame and LastFrame are the first and last frame indices with
	// pixels (-1 before the object was first seen).
	FirstFrame int `json:"first_frame"`
	LastFrame  int `json:"last_frame"`
	// FramesPresent counts the frames with pixels.
	FramesPresent int `json:"frames_present"`
	// Present lists the runs of consecutive frames with pixels.
	Present []Interval `json:"present"`
	// Lost lists the intervals during which the object was lost; Start is
	// the first frame without pixels, End the frame it returned.
	Lost []Interval `json:"lost_intervals"`
	// Score is the SAM score of the object's latest SAM mask (the decoder's
	// predicted IoU); 1 for given masks.
	Score float64 `json:"score"`
	// RemovedAt is the frame of the removal, -1 if not removed.
	RemovedAt int `json:"removed_at"`
	// Warnings lists why the object's masks are doubtful, one line per
	// warning with its frame (see EventWarning); absent when none.
	Warnings []string `json:"warnings,omitempty"`
}

// MarshalJSON writes the row with present and lost_intervals as arrays,
// empty rather than null when the object has none, so that a reader can
// iterate them without a check.
func (o Object) MarshalJSON() ([]byte, error) {
	type row Object // the same fields, without this method
	r := row(o)
	if r.Present == nil {
		r.Present = []Interval{}
	}
	if r.Lost == nil {
		r.Lost = []Interval{}
	}
	return json.Marshal(r)
}

func (o Object) clone() Object {
	o.Present = slices.Clone(o.Present)
	o.Lost = slices.Clone(o.Lost)
	o.Warnings = slices.Clone(o.Warnings)
	return o
}

// object is the tracker's private record: the public row plus tracking
// state.
type object struct {
	Object
	missing      int  // consecutive frames without pixels
	missingSince int  // first frame of the current absence
	presentPrev  bool // had pixels on the previous frame
	app          appearance
}

// EventKind names what happened to an object on a frame.
type EventKind string

const (
	EventAppeared EventKind = "appeared" // first frame with pixels
	EventLost     EventKind = "lost"     // missing for LostAfter frames
	EventReturned EventKind = "returned" // a lost object has pixels again
	EventRemoved  EventKind = "removed"  // RemoveObject took effect
	// EventWarning: the object's mask is doubtful (Detail says why), e.g.
	// a prompt whose mask is smaller than Options.MinArea.
	EventWarning EventKind = "warning"
)

// Event is one change of the object table.
type Event struct {
	Kind  EventKind `json:"kind"`
	ID    uint16    `json:"id"`
	Frame int       `json:"frame"`
	// Detail explains a warning; empty for the other kinds.
	Detail string `json:"detail,omitempty"`
}

// ObjectStats describes one object present on a frame.
type ObjectStats struct {
	ID   uint16
	Area int
	// BBox is the tight box in COCO's XYWH (x, y, width, height).
	BBox     [4]int
	Centroid [2]float64
	// Score is the object's SAM score (see Object.Score).
	Score float64
}

// FrameResult is what Step returns for one frame.
type FrameResult struct {
	Index int
	Name  string
	// Labels is the frame's label map. It is shared with the propagator's
	// reference; do not modify it.
	Labels *mask.LabelMap
	// Objects lists the objects with pixels, ascending id.
	Objects []ObjectStats
	Events  []Event
	// Discovery says everything mode ran on this frame; Reference that the
	// frame became a propagator reference.
	Discovery, Reference bool
	// Replayed marks a frame of an interrupted run replayed by Resume:
	// its outputs were already written.
	Replayed bool
	// Journal is what a resumed run needs to know about this frame and
	// cannot recover from the labels; nil when nothing. Persist it (package
	// export does) and give the entries back to Resume.
	Journal *JournalEntry
	// Table is a copy of the object table after this frame, ascending id.
	Table []Object
}

// JournalEntry records the decisions of one frame that the labels alone do
// not show: the objects created or re-segmented (with their scores), the
// removals and whether the frame became a propagator reference.
type JournalEntry struct {
	Frame     int         `json:"frame"`
	Reference bool        `json:"reference,omitempty"`
	NextID    int         `json:"next_id"`
	Set       []ObjectSet `json:"set,omitempty"`
	Removed   []uint16    `json:"removed,omitempty"`
}

// ObjectSet is an object given a mask by SAM or by the user on a frame.
type ObjectSet struct {
	ID     uint16  `json:"id"`
	Source string  `json:"source"`
	Score  float64 `json:"score"`
	// Warning says why the mask is doubtful (see EventWarning); empty
	// when it is not.
	Warning string `json:"warning,omitempty"`
}

func (j *JournalEntry) empty() bool {
	return !j.Reference && len(j.Set) == 0 && len(j.Removed) == 0
}

// Objects returns a copy of the object table, ascending id.
func (t *Tracker) Objects() []Object {
	ids := make([]uint16, 0, len(t.objs))
	for id := range t.objs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]Object, len(ids))
	for i, id := range ids {
		out[i] = t.objs[id].public()
	}
	return out
}

// public copies the row, closing a still-open present interval at the last
// frame seen.
func (o *object) public() Object {
	c := o.Object.clone()
	if n := len(c.Present); n > 0 && c.Present[n-1].End < 0 {
		c.Present[n-1].End = c.LastFrame + 1
	}
	return c
}

// accum gathers one object's pixels on one frame.
type accum struct {
	id         uint16
	area       int
	x0, y0     int
	x1, y1     int // inclusive
	sx, sy     float64
	hist       [histBins]uint32
	sr, sg, sb float64
}

// commit updates the object table from a frame's final labels and journal
// entry. The live path and the replay of a resumed run both go through it,
// so the table of a resumed run equals the uninterrupted one's.
func (t *Tracker) commit(f media.Frame, labels *mask.LabelMap, j *JournalEntry) *FrameResult {
	t.steps++
	t.lastIndex = f.Index
	t.nextID = max(t.nextID, j.NextID)
	acc := t.gather(f, labels)
	res := &FrameResult{Index: f.Index, Name: f.Name, Labels: labels, Reference: j.Reference}
	t.applyJournal(f.Index, j, res)
	// ids only the propagator knows (should not happen; kept honest)
	for i := range acc {
		if t.objs[acc[i].id] == nil {
			t.newObject(acc[i].id, SourcePropagated).Score = 1
			t.nextID = max(t.nextID, int(acc[i].id)+1)
		}
	}
	ids := make([]uint16, 0, len(t.objs))
	for id := range t.objs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		o := t.objs[id]
		if o.State == StateRemoved {
			continue
		}
		if k := t.slot[id]; k >= 0 {
			t.seen(o, id, &acc[k], f.Index, res)
		} else {
			t.unseen(o, id, f.Index, res)
		}
	}
	for i := range acc {
		t.slot[acc[i].id] = -1
	}
	res.Table = make([]Object, 0, len(ids))
	for _, id := range ids {
		res.Table = append(res.Table, t.objs[id].public())
	}
	if !j.empty() {
		jj := *j
		jj.Set = slices.Clone(j.Set)
		jj.Removed = slices.Clone(j.Removed)
		res.Journal = &jj
	}
	return res
}

// applyJournal applies frame index's journal entry to the object table:
// objects set by a prompt or mask (created, or brought back from removal)
// with their scores and warnings, then the removals.
func (t *Tracker) applyJournal(index int, j *JournalEntry, res *FrameResult) {
	for _, s := range j.Set {
		o := t.objs[s.ID]
		if o == nil {
			o = t.newObject(s.ID, s.Source)
		} else if o.State == StateRemoved {
			o.State, o.RemovedAt = StateActive, -1
			o.Source = s.Source
		}
		o.Score = s.Score
		if s.Warning != "" {
			o.Warnings = append(o.Warnings, fmt.Sprintf("frame %d: %s", index, s.Warning))
			res.Events = append(res.Events, Event{Kind: EventWarning, ID: s.ID, Frame: index, Detail: s.Warning})
		}
	}
	for _, id := range j.Removed {
		o := t.objs[id]
		if o == nil {
			continue
		}
		if o.State == StateLost {
			o.Lost[len(o.Lost)-1].End = index
		}
		if n := len(o.Present); n > 0 && o.Present[n-1].End < 0 {
			o.Present[n-1].End = o.LastFrame + 1
		}
		o.State, o.RemovedAt, o.presentPrev = StateRemoved, index, false
		res.Events = append(res.Events, Event{Kind: EventRemoved, ID: id, Frame: index})
	}
}

// seen records object id present on frame index with the pixels gathered
// in a: it appears or returns, its presence and appearance are updated,
// and its statistics go into res.
func (t *Tracker) seen(o *object, id uint16, a *accum, index int, res *FrameResult) {
	if o.FirstFrame < 0 {
		o.FirstFrame = index
		res.Events = append(res.Events, Event{Kind: EventAppeared, ID: id, Frame: index})
	}
	if o.State == StateLost {
		o.Lost[len(o.Lost)-1].End = index
		res.Events = append(res.Events, Event{Kind: EventReturned, ID: id, Frame: index})
	}
	o.State = StateActive
	o.LastFrame = index
	o.FramesPresent++
	o.missing = 0
	if !o.presentPrev {
		o.Present = append(o.Present, Interval{index, -1})
	}
	o.presentPrev = true
	o.app.update(a)
	res.Objects = append(res.Objects, ObjectStats{
		ID:       id,
		Area:     a.area,
		BBox:     [4]int{a.x0, a.y0, a.x1 - a.x0 + 1, a.y1 - a.y0 + 1},
		Centroid: [2]float64{a.sx/float64(a.area) + 0.5, a.sy/float64(a.area) + 0.5},
		Score:    o.Score,
	})
}

// unseen records object id absent from frame index: its presence interval
// ends, and an active object missing for lost_after frames becomes lost.
func (t *Tracker) unseen(o *object, id uint16, index int, res *FrameResult) {
	if o.presentPrev {
		o.Present[len(o.Present)-1].End = index
		o.presentPrev = false
	}
	if o.FirstFrame < 0 || o.State != StateActive {
		return
	}
	o.missing++
	if o.missing == 1 {
		o.missingSince = index
	}
	if o.missing >= t.opts.LostAfter {
		o.State = StateLost
		o.Lost = append(o.Lost, Interval{o.missingSince, -1})
		res.Events = append(res.Events, Event{Kind: EventLost, ID: id, Frame: index})
	}
}

func (t *Tracker) newObject(id uint16, source string) *object {
	o := &object{Object: Object{ID: id, Source: source, State: StateActive, FirstFrame: -1, LastFrame: -1, RemovedAt: -1}}
	t.objs[id] = o
	return o
}

// gather scans the labels once, accumulating each present id's area, box,
// centroid and colours. t.slot maps an id to its index in the result until
// commit resets it.
func (t *Tracker) gather(f media.Frame, labels *mask.LabelMap) []accum {
	acc := t.acc[:0]
	w := labels.W
	for i, id := range labels.Pix {
		if id == 0 {
			continue
		}
		k := t.slot[id]
		if k < 0 {
			k = int32(len(acc))
			t.slot[id] = k
			if cap(acc) > len(acc) {
				acc = acc[:len(acc)+1]
				acc[k] = accum{}
			} else {
				acc = append(acc, accum{})
			}
			a := &acc[k]
			a.id = id
			a.x0, a.y0, a.x1, a.y1 = w, labels.H, -1, -1
		}
		a := &acc[k]
		x, y := i%w, i/w
		a.area++
		a.x0, a.x1 = min(a.x0, x), max(a.x1, x)
		a.y0, a.y1 = min(a.y0, y), max(a.y1, y)
		a.sx += float64(x)
		a.sy += float64(y)
		r, g, b := f.RGB[3*i], f.RGB[3*i+1], f.RGB[3*i+2]
		a.hist[histBin(r, g, b)]++
		a.sr += float64(r)
		a.sg += float64(g)
		a.sb += float64(b)
	}
	t.acc = acc
	return acc
}

// Colour appearance used to re-identify returning objects: a joint RGB
// histogram with 3 bits per channel, kept as an exponential moving average
// over the frames an object is seen.
const (
	histBits = 3
	histBins = 1 << (3 * histBits)
	appAlpha = 0.2 // weight of the newest frame
)

func histBin(r, g, b uint8) int {
	const s = 8 - histBits
	return int(r>>s)<<(2*histBits) | int(g>>s)<<histBits | int(b>>s)
}

type appearance struct {
	hist [histBins]float32 // normalised
	ok   bool
}

func (a *appearance) update(c *accum) {
	if c.area == 0 {
		return
	}
	inv := 1 / float32(c.area)
	if !a.ok {
		for i, v := range c.hist {
			a.hist[i] = float32(v) * inv
		}
		a.ok = true
		return
	}
	for i, v := range c.hist {
		a.hist[i] = (1-appAlpha)*a.hist[i] + appAlpha*float32(v)*inv
	}
}

// similarity is the Bhattacharyya coefficient of two normalised histograms:
// 1 for identical colour distributions, 0 for disjoint ones.
func similarity(a, b *[histBins]float32) float64 {
	s := 0.0
	for i := range a {
		if a[i] > 0 && b[i] > 0 {
			s += math.Sqrt(float64(a[i]) * float64(b[i]))
		}
	}
	return s
}
