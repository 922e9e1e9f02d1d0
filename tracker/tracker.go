package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"

	"samtrack/mask"
	"samtrack/media"
)

// MaxID is the largest object id; ids are uint16 end to end.
const MaxID = math.MaxUint16

// Options configure a Tracker. Start from DefaultOptions: the zero value is
// invalid (sam_gap 0).
type Options struct {
	// SAMGap runs everything mode every SAMGap frames (counted in frames
	// given to Step, from the first) to discover new objects. It must be
	// at least 1 even when Discover is false; to stop discovery, set
	// Discover to false.
	SAMGap int
	// MinNewObjRatio: an everything-mode segment becomes a new object when
	// at least this share of its area lies outside every tracked mask
	// (SAM-Track's min_new_obj_iou, default 0.8).
	MinNewObjRatio float64
	// MinArea: ... and that outside part covers at least this many pixels
	// (default 200).
	MinArea int
	// MaxNewObjFrameRatio: a segment covering more than this share of the
	// frame is not made a new object (in practice it is the background;
	// SAM-Track's instance-segmentation demo uses 0.4). 1 disables the
	// check. Default 0.5.
	MaxNewObjFrameRatio float64
	// LostAfter is the number of consecutive frames without a pixel after
	// which an object is marked lost (default 5). A lost object keeps its
	// id and may return.
	LostAfter int
	// Discover runs everything mode every SAMGap frames and adds the
	// segments that are new (see MinNewObjRatio, MinArea). On the first
	// frame this supplies the initial objects.
	Discover bool
	// Refresh re-segments every tracked object on discovery frames with a
	// SAM click at its most interior pixel (sharing the frame's embedding)
	// and adds the pixels of the answer that nobody tracks when the answer
	// holds the tracked mask almost entirely and its colours match the
	// object's: this completes objects the propagator follows only partly
	// (entering the frame, or coming out from behind another). Tracked
	// pixels are never taken away. Default true.
	Refresh bool
	// EverythingFirst runs everything mode on the first frame to supply
	// the initial objects even when Discover is false.
	EverythingFirst bool
	// ReIDMinSimilarity re-identifies returning objects: when discovery
	// finds a new segment, its colour histogram is compared with those of
	// the objects that have no pixels in this frame (lost, or missing for
	// fewer than LostAfter frames), and the most similar one takes the
	// segment, keeping its id, when the Bhattacharyya coefficient of the
	// two histograms is at least this (0 to 1; 0 disables re-
	// identification). Default 0.7.
	ReIDMinSimilarity float64
	// Logger receives discovery and resume messages (default
	// slog.Default()).
	Logger *slog.Logger
}

// DefaultOptions returns SAM-Track's defaults (sam_gap 10, min_area 200,
// min_new_obj_iou 0.8) with discovery on.
func DefaultOptions() Options {
	return Options{
		SAMGap:              10,
		MinNewObjRatio:      0.8,
		MinArea:             200,
		MaxNewObjFrameRatio: 0.5,
		LostAfter:           5,
		Discover:            true,
		Refresh:             true,
		ReIDMinSimilarity:   0.7,
	}
}

// Validate reports the first unusable option, naming its config key.
func (o Options) Validate() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case o.SAMGap < 1:
		return fmt.Errorf("track.sam_gap is %d; use 1 or more (frames between everything-mode passes); to turn discovery off, disable it instead of setting sam_gap to 0", o.SAMGap)
	case bad(o.MinNewObjRatio) || o.MinNewObjRatio <= 0 || o.MinNewObjRatio > 1:
		return fmt.Errorf("track.min_new_obj_ratio is %v; use a share in (0, 1] (SAM-Track uses 0.8)", o.MinNewObjRatio)
	case o.MinArea < 0:
		return fmt.Errorf("track.min_area is %d; use 0 or more pixels (SAM-Track uses 200)", o.MinArea)
	case bad(o.MaxNewObjFrameRatio) || o.MaxNewObjFrameRatio <= 0 || o.MaxNewObjFrameRatio > 1:
		return fmt.Errorf("track.max_new_obj_frame_ratio is %v; use a share in (0, 1] (1 disables the check)", o.MaxNewObjFrameRatio)
	case o.LostAfter < 1:
		return fmt.Errorf("track.lost_after is %d; use 1 or more frames", o.LostAfter)
	case bad(o.ReIDMinSimilarity) || o.ReIDMinSimilarity < 0 || o.ReIDMinSimilarity > 1:
		return fmt.Errorf("track.reid_min_similarity is %v; use 0 (off) to 1", o.ReIDMinSimilarity)
	}
	return nil
}

// Tracker is the tracking loop: it applies prompts and masks, propagates
// every object with the Propagator, discovers new objects with everything
// mode every SAMGap frames, keeps the object table and reports each frame's
// labels, statistics and events. It is not safe for concurrent use. The
// Propagator and the Segmenter stay owned by the caller, who closes them
// after the Tracker is done.
type Tracker struct {
	opts Options
	log  *slog.Logger
	prop Propagator
	seg  Segmenter

	w, h      int // frame size, fixed by the first frame
	steps     int // frames given to Step so far
	lastIndex int // Frame.Index of the last frame, -1 before the first
	hasRef    bool
	nextID    int // the next new id; max id ever used + 1

	objs    map[uint16]*object
	pending []pendingItem
	seq     int // orders pending items added for the same frame

	replay *replayState
	guide  Guide

	// scratch reused across frames
	slot []int32 // id -> index into acc, -1 when unused this frame
	acc  []accum
}

type pendingKind int

const (
	pendingMask pendingKind = iota
	pendingPrompt
	pendingRemove
)

type pendingItem struct {
	frame  int
	seq    int
	kind   pendingKind
	id     uint16
	prompt media.Prompt
	labels *mask.LabelMap
}

// New returns a Tracker. prop is required; seg may be nil, in which case
// objects can only be given as masks (AddMask) and Discover and
// EverythingFirst must be off.
func New(opts Options, prop Propagator, seg Segmenter) (*Tracker, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if prop == nil {
		return nil, errors.New("tracker: no propagator; pass one (e.g. flow.New(flow.Options{}))")
	}
	if seg == nil && (opts.Discover || opts.EverythingFirst) {
		return nil, errors.New("tracker: discovery needs a SAM model but no segmenter was given; configure a SAM model or turn discovery off")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	t := &Tracker{
		opts:      opts,
		log:       log,
		prop:      prop,
		seg:       seg,
		lastIndex: -1,
		nextID:    1,
		objs:      map[uint16]*object{},
		slot:      make([]int32, MaxID+1),
	}
	for i := range t.slot {
		t.slot[i] = -1
	}
	return t, nil
}

// Options returns the tracker's options.
func (t *Tracker) Options() Options { return t.opts }

// NextID returns the id the next new object will get.
func (t *Tracker) NextID() int { return t.nextID }

// AddPrompt queues a SAM prompt (points and/or a box) for object id, applied
// when Step reaches frameIndex: the prompt is segmented on that frame's
// embedding, the mask replaces the object's pixels (it wins over other
// objects where they overlap) and the frame becomes a propagator
// reference. id 0 asks for a new id (max id ever used + 1), reported by an
// EventAppeared. Several prompts for the same frame and id are merged (their
// points joined; the last box wins).
func (t *Tracker) AddPrompt(frameIndex int, id uint16, p media.Prompt) error {
	if t.seg == nil {
		return fmt.Errorf("tracker: a prompt for object %d at frame %d needs a SAM model, but none is configured; give a mask instead", id, frameIndex)
	}
	if frameIndex < 0 {
		return fmt.Errorf("tracker: prompt for object %d has frame index %d; frame indices start at 0", id, frameIndex)
	}
	if len(p.Points) == 0 && p.Box == nil {
		return fmt.Errorf("tracker: prompt for object %d at frame %d has no point and no box; give at least one click or a box", id, frameIndex)
	}
	if t.done(frameIndex) {
		return nil
	}
	if id != 0 {
		for i := range t.pending {
			q := &t.pending[i]
			if q.kind == pendingPrompt && q.frame == frameIndex && q.id == id {
				q.prompt.Points = append(q.prompt.Points, p.Points...)
				if p.Box != nil {
					q.prompt.Box = p.Box
				}
				if p.MaskInput != nil {
					q.prompt.MaskInput = p.MaskInput
				}
				return nil
			}
		}
	}
	p.Points = slices.Clone(p.Points)
	t.push(pendingItem{frame: frameIndex, kind: pendingPrompt, id: id, prompt: p})
	return nil
}

// AddMask queues a label map for frameIndex: every non-zero id in it is an
// object whose pixels there replace what tracking gives (its other pixels
// are cleared; it wins where it overlaps other objects), and the frame
// becomes a propagator reference. The map must have the video's frame size
// (checked when Step reaches the frame). Ids are kept as given; new ids
// assigned later stay above every id seen.
func (t *Tracker) AddMask(frameIndex int, labels *mask.LabelMap) error {
	if frameIndex < 0 {
		return fmt.Errorf("tracker: mask has frame index %d; frame indices start at 0", frameIndex)
	}
	if err := labels.Validate(); err != nil {
		return fmt.Errorf("tracker: mask for frame %d: %w", frameIndex, err)
	}
	if t.w != 0 && (labels.W != t.w || labels.H != t.h) {
		return sizeError(frameIndex, labels.W, labels.H, t.w, t.h)
	}
	if t.done(frameIndex) {
		return nil
	}
	t.push(pendingItem{frame: frameIndex, kind: pendingMask, labels: labels.Clone()})
	return nil
}

// RemoveObject queues the removal of object id at frameIndex: from that
// frame on it has no pixels, its state becomes removed and its id is never
// given to another object.
func (t *Tracker) RemoveObject(frameIndex int, id uint16) error {
	if frameIndex < 0 {
		return fmt.Errorf("tracker: removal of object %d has frame index %d; frame indices start at 0", id, frameIndex)
	}
	if id == 0 {
		return errors.New("tracker: cannot remove id 0, which is the background")
	}
	if t.done(frameIndex) {
		return nil
	}
	t.push(pendingItem{frame: frameIndex, kind: pendingRemove, id: id})
	return nil
}

func sizeError(frameIndex, mw, mh, w, h int) error {
	return fmt.Errorf("tracker: the mask for frame %d is %dx%d but the video frames are %dx%d; give a mask of the video's size (or resize it with nearest-neighbour scaling)",
		frameIndex, mw, mh, w, h)
}

// done reports whether frameIndex was already processed (or is covered by a
// resumed run); queued work for it would be lost, so it is dropped.
func (t *Tracker) done(frameIndex int) bool {
	last := t.lastIndex
	if t.replay != nil {
		last = max(last, t.replay.last)
	}
	if frameIndex <= last {
		if t.replay != nil {
			// expected when a resumed run queues its prompts again
			t.log.Debug("tracker: dropping a prompt, mask or removal the interrupted run already applied", "frame", frameIndex, "last_done", last)
		} else {
			t.log.Warn("tracker: ignoring a prompt, mask or removal for a frame already processed", "frame", frameIndex, "last_done", last)
		}
		return true
	}
	return false
}

func (t *Tracker) push(p pendingItem) {
	t.seq++
	p.seq = t.seq
	t.pending = append(t.pending, p)
	slices.SortStableFunc(t.pending, func(a, b pendingItem) int { return a.frame - b.frame })
}

// takePending removes and returns the queued items for frames up to index.
func (t *Tracker) takePending(index int) []pendingItem {
	n := 0
	for n < len(t.pending) && t.pending[n].frame <= index {
		n++
	}
	items := slices.Clone(t.pending[:n])
	t.pending = slices.Delete(t.pending, 0, n)
	for _, it := range items {
		if it.frame != index {
			t.log.Warn("tracker: frame was not delivered (stride or skipped frame); applying its prompt, mask or removal to the next frame",
				"frame", it.frame, "applied_at", index)
		}
	}
	return items
}

func (t *Tracker) checkFrame(f media.Frame) error {
	if f.W <= 0 || f.H <= 0 {
		return fmt.Errorf("tracker: frame %d has size %dx%d; pass a decoded frame", f.Index, f.W, f.H)
	}
	if len(f.RGB) != f.W*f.H*3 {
		return fmt.Errorf("tracker: frame %d holds %d bytes of RGB, want %d for %dx%d RGB24", f.Index, len(f.RGB), f.W*f.H*3, f.W, f.H)
	}
	if t.w != 0 && (f.W != t.w || f.H != t.h) {
		return fmt.Errorf("tracker: frame %d is %dx%d but the video started at %dx%d; every frame must have one size", f.Index, f.W, f.H, t.w, t.h)
	}
	if f.Index <= t.lastIndex {
		return fmt.Errorf("tracker: frame index %d does not follow %d; give frames in order, each once", f.Index, t.lastIndex)
	}
	return nil
}

// Step tracks one frame: frames must come in increasing Index order, all of
// one size. It returns the frame's labels, the statistics of every object
// present and the events of the frame. On a resumed tracker (see Resume),
// frames up to the interrupted run's last frame are replayed from its
// stored labels and come back with Replayed set.
func (t *Tracker) Step(ctx context.Context, f media.Frame) (*FrameResult, error) {
	return t.StepNext(ctx, f, nil)
}

// StepNext is Step with the frame after f already decoded (next; nil when
// there is none): prompts answered on f may use the motion between the two
// (media.SegmentRequest.Next). Callers that read ahead do so only where
// PromptsAt says it helps.
func (t *Tracker) StepNext(ctx context.Context, f media.Frame, next *media.Image) (*FrameResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := t.checkFrame(f); err != nil {
		return nil, err
	}
	if t.w == 0 {
		t.w, t.h = f.W, f.H
	}
	if t.replay != nil {
		if f.Index <= t.replay.last {
			return t.replayStep(ctx, f)
		}
		if err := t.finishReplay(); err != nil {
			return nil, err
		}
	}
	return t.liveStep(ctx, f, next)
}

// PromptsAt reports whether the segmenter will be asked for prompts when
// the frame with this index is stepped: a caller that can read the next
// frame ahead passes it to StepNext then.
func (t *Tracker) PromptsAt(index int) bool {
	if t.replay != nil && index <= t.replay.last {
		return false
	}
	for _, it := range t.pending {
		if it.frame > index {
			break
		}
		if it.kind == pendingPrompt {
			return true
		}
	}
	return false
}

// discovers reports whether the frame about to be committed runs
// everything mode: every SAMGap-th frame the tracker steps through (from its
// first) with Discover, and the first frame with EverythingFirst. Live
// tracking and the replay of a resumed run both ask here, so a replayed
// frame reports the discovery its original run made.
func (t *Tracker) discovers() bool {
	return t.seg != nil && (t.opts.Discover && t.steps%t.opts.SAMGap == 0 || t.opts.EverythingFirst && t.steps == 0)
}

func (t *Tracker) liveStep(ctx context.Context, f media.Frame, next *media.Image) (*FrameResult, error) {
	items := t.takePending(f.Index)
	labels, err := t.propagate(ctx, f)
	if err != nil {
		return nil, err
	}
	j := &JournalEntry{Frame: f.Index}
	// Removals first, so that a mask or prompt on the same frame can bring
	// an id back deliberately.
	changed := t.applyRemovals(f, items, labels, j)
	ok, err := t.applyMasks(f, items, labels, j)
	if err != nil {
		return nil, err
	}
	changed = changed || ok
	discover := t.discovers()
	ask, err := t.segmentFrame(ctx, f, next, items, labels, discover)
	if err != nil {
		return nil, err
	}
	ok, err = t.applyPrompts(f, ask, labels, j)
	if err != nil {
		return nil, err
	}
	changed = changed || ok
	if discover {
		e := t.newFrameEdit(f, labels, j)
		if e.refresh(ask.refreshIDs, ask.resp.Masks[len(ask.prompts):]) > 0 {
			changed = true
		}
		n, err := e.discover(ask.resp.Segments)
		if err != nil {
			return nil, err
		}
		changed = changed || n > 0
	}
	if t.guide != nil {
		// Before this pass has anything of its own to track, the merged
		// labels need not become a reference: the objects they bring are
		// tracked by the other pass until their prompts reach this one.
		own := t.hasRef || changed || hasPixels(labels)
		merged, ok, err := t.merge(ctx, f, labels, j)
		if err != nil {
			return nil, err
		}
		labels, changed = merged, changed || ok && own
	}
	if changed {
		if err := t.reference(ctx, f, labels); err != nil {
			return nil, err
		}
		j.Reference = true
	}
	j.NextID = t.nextID
	res := t.commit(f, labels, j)
	res.Discovery = discover
	return res, nil
}

// propagate carries the objects to frame f, or starts an empty label map
// when the propagator has no reference yet.
func (t *Tracker) propagate(ctx context.Context, f media.Frame) (*mask.LabelMap, error) {
	if !t.hasRef {
		return mask.NewLabelMap(f.W, f.H), nil
	}
	l, err := t.prop.Propagate(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("tracker: frame %d: %w", f.Index, err)
	}
	if err := l.Validate(); err != nil || l.W != f.W || l.H != f.H {
		return nil, fmt.Errorf("tracker: frame %d: the propagator returned labels of %dx%d for a %dx%d frame (%v)", f.Index, l.W, l.H, f.W, f.H, err)
	}
	return l, nil
}

// applyRemovals clears the objects removed on this frame from labels and
// journals them; it reports whether any was removed.
func (t *Tracker) applyRemovals(f media.Frame, items []pendingItem, labels *mask.LabelMap, j *JournalEntry) bool {
	changed := false
	for _, it := range items {
		if it.kind != pendingRemove {
			continue
		}
		o := t.objs[it.id]
		if o == nil || o.State == StateRemoved {
			t.log.Warn("tracker: cannot remove an object that does not exist or is already removed", "frame", f.Index, "id", it.id)
			continue
		}
		clearID(labels, it.id)
		j.Removed = append(j.Removed, it.id)
		changed = true
	}
	return changed
}

// applyMasks paints the masks given for this frame over labels, each id
// replacing what it had; it reports whether any was given.
func (t *Tracker) applyMasks(f media.Frame, items []pendingItem, labels *mask.LabelMap, j *JournalEntry) (bool, error) {
	changed := false
	for _, it := range items {
		if it.kind != pendingMask {
			continue
		}
		m := it.labels
		if m.W != f.W || m.H != f.H {
			return false, sizeError(it.frame, m.W, m.H, f.W, f.H)
		}
		ids := m.IDs()
		for _, id := range ids {
			clearID(labels, id)
		}
		for i, v := range m.Pix {
			if v != 0 {
				labels.Pix[i] = v
			}
		}
		for _, id := range ids {
			t.nextID = max(t.nextID, int(id)+1)
			j.Set = append(j.Set, ObjectSet{ID: id, Source: SourceMask, Score: 1})
			j.Removed = slices.DeleteFunc(j.Removed, func(r uint16) bool { return r == id })
		}
		changed = true
	}
	return changed, nil
}

// frameAsk is one frame's segmenter work and its answer: the pending
// prompts, then the refresh prompts of the objects in refreshIDs, answered
// in that order in resp.Masks.
type frameAsk struct {
	prompts    []pendingItem
	refreshIDs []uint16
	resp       media.SegmentResponse
}

// segmentFrame asks the segmenter, at most once, for everything this frame
// needs: the pending prompts and, on a discovery frame, everything mode
// and the refresh of the tracked objects not prompted here.
func (t *Tracker) segmentFrame(ctx context.Context, f media.Frame, next *media.Image, items []pendingItem, labels *mask.LabelMap, discover bool) (frameAsk, error) {
	var ask frameAsk
	prompted := map[uint16]bool{}
	for _, it := range items {
		if it.kind == pendingPrompt {
			ask.prompts = append(ask.prompts, it)
			if it.id != 0 {
				prompted[it.id] = true
			}
		}
	}
	var refreshPr []media.Prompt
	if discover && t.opts.Refresh {
		ask.refreshIDs, refreshPr = refreshPrompts(labels, prompted)
	}
	if len(ask.prompts) == 0 && !discover {
		return ask, nil
	}
	req := media.SegmentRequest{Everything: discover}
	if len(ask.prompts) > 0 {
		req.Next = next
	}
	for _, p := range ask.prompts {
		req.Prompts = append(req.Prompts, p.prompt)
	}
	req.Prompts = append(req.Prompts, refreshPr...)
	resp, err := t.seg.Segment(ctx, f, req)
	if err != nil {
		return ask, fmt.Errorf("tracker: frame %d: %w", f.Index, err)
	}
	if len(resp.Masks) != len(req.Prompts) {
		return ask, fmt.Errorf("tracker: frame %d: the segmenter answered %d of %d prompts", f.Index, len(resp.Masks), len(req.Prompts))
	}
	ask.resp = resp
	return ask, nil
}

// applyPrompts paints the segmenter's mask of each pending prompt over
// labels, under its own id or a new one; it reports whether any was.
func (t *Tracker) applyPrompts(f media.Frame, ask frameAsk, labels *mask.LabelMap, j *JournalEntry) (bool, error) {
	for i, p := range ask.prompts {
		r := ask.resp.Masks[i]
		if r.Mask == nil || r.Mask.W != f.W || r.Mask.H != f.H {
			return false, fmt.Errorf("tracker: frame %d: the segmenter's mask for object %d does not have the frame's size", f.Index, p.id)
		}
		id := p.id
		if id == 0 {
			nid, err := t.newID()
			if err != nil {
				return false, err
			}
			id = nid
		} else {
			t.nextID = max(t.nextID, int(id)+1)
			clearID(labels, id)
		}
		for k, v := range r.Mask.Pix {
			if v != 0 {
				labels.Pix[k] = id
			}
		}
		set := ObjectSet{ID: id, Source: SourcePrompt, Score: r.Score, Warning: PromptWarning(r.Mask.Area(), t.opts.MinArea, r.Score)}
		j.Set = append(j.Set, set)
		j.Removed = slices.DeleteFunc(j.Removed, func(r uint16) bool { return r == id })
	}
	return len(ask.prompts) > 0, nil
}

// reference gives the frame to the propagator as a reference, or resets it
// when no object is left.
func (t *Tracker) reference(ctx context.Context, f media.Frame, labels *mask.LabelMap) error {
	if !hasPixels(labels) {
		t.prop.Reset()
		t.hasRef = false
		return nil
	}
	if err := t.prop.AddReference(ctx, f, labels); err != nil {
		return fmt.Errorf("tracker: frame %d: add reference: %w", f.Index, err)
	}
	t.hasRef = true
	return nil
}

func (t *Tracker) newID() (uint16, error) {
	if t.nextID > MaxID {
		return 0, fmt.Errorf("tracker: object ids are exhausted (%d objects were created; ids are 16-bit and never reused); split the video", MaxID)
	}
	id := uint16(t.nextID)
	t.nextID++
	return id, nil
}

func clearID(l *mask.LabelMap, id uint16) {
	for i, v := range l.Pix {
		if v == id {
			l.Pix[i] = 0
		}
	}
}

func hasPixels(l *mask.LabelMap) bool {
	for _, v := range l.Pix {
		if v != 0 {
			return true
		}
	}
	return false
}

// LowPromptScore is the segmenter score below which a prompt's mask is
// reported as doubtful (SAM's predicted IoU; the classical segmenter's
// share of the seeded foreground it kept).
const LowPromptScore = 0.1

// PromptWarning says why a prompt's mask of area pixels and score is
// doubtful, or "" when it is not: a mask below minArea (track.min_area, at
// least one pixel) is likely lost within a few frames, and a very low score
// means the segmenter itself doubts it.
func PromptWarning(area, minArea int, score float64) string {
	if minArea = max(1, minArea); area < minArea {
		return fmt.Sprintf("the prompt's mask covers %d pixels, below track.min_area (%d): it is likely to be lost within a few frames; give a box around the whole object, more positive clicks, or a mask", area, minArea)
	}
	if score < LowPromptScore {
		return fmt.Sprintf("the segmenter's score for the prompt's mask is %.3f, below %.1f: check the mask; give a box around the whole object, more clicks, or a mask", score, LowPromptScore)
	}
	return ""
}
