package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"samtrack/mask"
	"samtrack/media"
	"samtrack/tracker"
	"samtrack/video"
)

// BackwardDir is the directory of a run's output that holds the labels of
// the backward pass until the run completes (one label PNG per frame with
// objects, and done.json once the pass finished); a completed run removes
// it, an interrupted one keeps it for --resume.
const BackwardDir = "backward"

const backwardDone = "done.json"

// Directions of track.direction.
const (
	DirectionAuto     = "auto"
	DirectionForward  = "forward"
	DirectionBackward = "backward"
	DirectionBoth     = "both"
)

// bidirectional plans a job whose prompts are tracked backwards too: a
// backward pass over frames last..0 (last: the latest prompt's frame) with
// every prompt, spilled to BackwardDir, then the forward pass, which merges
// each frame up to last with the backward labels (see mergePasses).
type bidirectional struct {
	direction string // DirectionBackward or DirectionBoth
	last      int
	prompts   Prompts          // every object with its id assigned
	anchors   map[uint16][]int // the prompt frames of every object, ascending
	maxID     int
	spill     string
	objects   map[uint16]tracker.ObjectSet // the backward pass's objects
}

// planDirection resolves track.direction for a job; nil means forward
// only. Objects prompted with id 0 get their ids here (the next free ids,
// in order), so that both passes give them the same ids.
func planDirection(spec Spec, info video.Info, live bool, log *slog.Logger) (*bidirectional, error) {
	dir := spec.Config.Track.Direction
	p := spec.Prompts
	last := -1
	if p.Mask != "" {
		last = p.MaskFrame
	}
	for _, o := range p.Objects {
		last = max(last, o.Frame)
	}
	switch {
	case dir == DirectionForward || dir == DirectionAuto && last <= 0:
		return nil, nil
	case live && dir == DirectionAuto:
		log.Info("a live stream cannot be tracked backwards: prompts on later frames track forwards from their frame")
		return nil, nil
	case live:
		return nil, fmt.Errorf("track.direction %s: %s is a live stream, which cannot be read backwards; use --direction forward", dir, spec.Input)
	case last < 0:
		return nil, fmt.Errorf("track.direction %s needs prompts (--mask, --prompts, --point or --box) to track backwards from; --everything alone tracks forwards: use --direction forward", dir)
	}
	if info.Frames > 0 && last >= info.Frames {
		return nil, p.pastEnd(info.Frames-1, false)
	}
	if c := spec.Config.Video; c.Start == 0 && c.MaxFrames > 0 && last > (c.MaxFrames-1)*max(c.Stride, 1) {
		return nil, p.pastEnd((c.MaxFrames-1)*max(c.Stride, 1), true)
	}
	if dir == DirectionAuto {
		dir = DirectionBoth
	}
	b := &bidirectional{direction: dir, last: last, prompts: p, anchors: map[uint16][]int{},
		spill: filepath.Join(spec.Out, BackwardDir)}
	b.prompts.Objects = slices.Clone(p.Objects)
	if p.Mask != "" {
		l, err := readLabels(p.Mask, info)
		if err != nil {
			return nil, err
		}
		for _, id := range l.IDs() {
			b.anchor(id, p.MaskFrame)
		}
	}
	for _, o := range p.Objects {
		b.maxID = max(b.maxID, o.ID)
	}
	for i := range b.prompts.Objects {
		o := &b.prompts.Objects[i]
		if o.ID == 0 {
			if b.maxID >= tracker.MaxID {
				return nil, fmt.Errorf("prompts: objects[%d] needs a new id but ids are exhausted (up to %d); give it an id", i, tracker.MaxID)
			}
			b.maxID++
			o.ID = b.maxID
		}
		b.anchor(uint16(o.ID), o.Frame)
	}
	for id := range b.anchors {
		slices.Sort(b.anchors[id])
	}
	return b, nil
}

func (b *bidirectional) anchor(id uint16, frame int) {
	b.anchors[id] = append(b.anchors[id], frame)
	b.maxID = max(b.maxID, int(id))
}

// backwardSummary is BackwardDir/done.json.
type backwardSummary struct {
	Last    int                 `json:"last"`
	Objects []tracker.ObjectSet `json:"objects"`
}

// runBackward tracks frames last..0 with every prompt and writes their
// labels to the spill directory; a resumed run reuses a finished pass.
func (b *bidirectional) runBackward(ctx context.Context, spec Spec, seg tracker.Segmenter, opts tracker.Options, log *slog.Logger) (err error) {
	if spec.Resume && b.loadSummary() == nil {
		log.Info("backward pass already done; reusing it", "dir", b.spill)
		return nil
	}
	if err := os.RemoveAll(b.spill); err != nil {
		return fmt.Errorf("backward pass: clear %s: %w", b.spill, err)
	}
	if err := os.MkdirAll(b.spill, 0o755); err != nil {
		return fmt.Errorf("backward pass: %w", err)
	}
	c := spec.Config
	rev, err := video.OpenReverse(ctx, spec.Input, b.last, VideoOptions(c, log))
	if err != nil {
		return fmt.Errorf("backward pass: %w", err)
	}
	defer rev.Close()
	prop, releaseProp, err := spec.Models.Propagator(c)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, releaseProp()) }()
	// The backward tracker sees frame i as index last-i, so it runs
	// forwards; discovery stays with the forward pass (one owner of new ids).
	opts.Discover, opts.Refresh, opts.EverythingFirst = false, false, false
	tr, err := tracker.New(opts, prop, seg)
	if err != nil {
		return err
	}
	// A prompt between two frames of the stride applies, backwards, to the
	// delivered frame before it (forwards, to the one after it).
	stride := max(c.Video.Stride, 1)
	first := rev.First()
	mirror := func(frame int) int { return b.last - (frame - (frame-first)%stride) }
	mirrored := b.prompts
	mirrored.MaskFrame = mirror(mirrored.MaskFrame)
	mirrored.Objects = slices.Clone(b.prompts.Objects)
	for i := range mirrored.Objects {
		mirrored.Objects[i].Frame = mirror(mirrored.Objects[i].Frame)
	}
	if err := applyPrompts(tr, mirrored, rev.Info(), log); err != nil {
		return err
	}
	log.Info("backward pass: tracking the prompted objects towards the first frame", "from_frame", b.last)
	n, err := b.track(ctx, rev, tr, log)
	if err != nil {
		return err
	}
	if err := b.saveSummary(tr.Objects()); err != nil {
		return err
	}
	log.Info("backward pass done", "frames", n, "decoded", rev.Stats().Decoded)
	return nil
}

// track steps tr over frames last..0 (seen as 0..last) and spills every
// frame's labels that hold an object.
func (b *bidirectional) track(ctx context.Context, rev *video.Reverse, tr *tracker.Tracker, log *slog.Logger) (int, error) {
	n, logged := 0, time.Now()
	frames := &readAhead{src: rev}
	for {
		if time.Since(logged) >= 2*time.Second {
			logged = time.Now()
			log.Info("backward pass", "frames", n, "of", b.last+1)
		}
		f, err := frames.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("backward pass: %w", err)
		}
		real := f.Index
		f.Index = b.last - real
		var next *media.Image // the frame before, in time: motion either way
		if tr.PromptsAt(f.Index) {
			next = frames.Peek(ctx)
		}
		res, err := tr.StepNext(ctx, f, next)
		if err != nil {
			return n, fmt.Errorf("backward pass: frame %d: %w", real, err)
		}
		if len(res.Objects) > 0 {
			if err := mask.WriteFileAtomic(b.framePath(real), func(w io.Writer) error { return mask.WritePalettePNG(w, res.Labels) }); err != nil {
				return n, fmt.Errorf("backward pass: frame %d: %w", real, err)
			}
		}
		n++
	}
}

// saveSummary records the finished pass and its objects (done.json).
func (b *bidirectional) saveSummary(objs []tracker.Object) error {
	sum := backwardSummary{Last: b.last}
	b.objects = map[uint16]tracker.ObjectSet{}
	for _, o := range objs {
		s := tracker.ObjectSet{ID: o.ID, Source: o.Source, Score: o.Score}
		sum.Objects = append(sum.Objects, s)
		b.objects[o.ID] = s
	}
	doc, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return fmt.Errorf("backward pass: %w", err)
	}
	if err := mask.WriteFileAtomic(filepath.Join(b.spill, backwardDone), func(w io.Writer) error { _, err := w.Write(doc); return err }); err != nil {
		return fmt.Errorf("backward pass: %w", err)
	}
	return nil
}

func (b *bidirectional) framePath(index int) string {
	return filepath.Join(b.spill, fmt.Sprintf("%05d.png", index))
}

// loadSummary reads a finished backward pass of the same plan.
func (b *bidirectional) loadSummary() error {
	raw, err := os.ReadFile(filepath.Join(b.spill, backwardDone))
	if err != nil {
		return err
	}
	var s backwardSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	if s.Last != b.last {
		return fmt.Errorf("backward pass from frame %d, want %d", s.Last, b.last)
	}
	b.objects = map[uint16]tracker.ObjectSet{}
	for _, o := range s.Objects {
		b.objects[o.ID] = o
	}
	return nil
}

// Merge implements tracker.Guide for the forward pass.
func (b *bidirectional) Merge(ctx context.Context, index int, fwd *mask.LabelMap) (*mask.LabelMap, []tracker.ObjectSet, error) {
	if index > b.last {
		return nil, nil, nil
	}
	bwd, err := mask.ReadLabelPNGFile(b.framePath(index))
	if errors.Is(err, fs.ErrNotExist) {
		bwd = nil // no object on this frame backwards
	} else if err != nil {
		return nil, nil, fmt.Errorf("backward labels: %w", err)
	} else if bwd.W != fwd.W || bwd.H != fwd.H {
		return nil, nil, fmt.Errorf("backward labels of frame %d are %dx%d, the frame is %dx%d", index, bwd.W, bwd.H, fwd.W, fwd.H)
	}
	out, fromBack := mergePasses(index, fwd, bwd, b.anchors, b.direction == DirectionBackward)
	var sets []tracker.ObjectSet
	for _, id := range fromBack {
		s, ok := b.objects[id]
		if !ok {
			s = tracker.ObjectSet{ID: id, Source: tracker.SourceBackward, Score: 1}
		}
		sets = append(sets, s)
	}
	return out, sets, nil
}

// mergePasses merges frame i's forward labels fwd with its backward labels
// bwd (nil: none). Each object takes its mask from the pass whose prompt is
// nearer in time: forwards, the object's latest prompt frame at or before i;
// backwards, its earliest prompt frame at or after i (forwards wins a tie,
// and objects without prompts, found by discovery, are forwards only). So a
// prompt frame keeps its own masks, and between two prompts of an object
// each half follows the nearer one. Where two objects claim a pixel, the one
// nearer its prompt wins (forwards on a tie; a discovered object yields to
// a prompted one). With backwardOnly, forwards
// counts only on prompt frames. It returns the objects taken from bwd.
func mergePasses(i int, fwd, bwd *mask.LabelMap, anchors map[uint16][]int, backwardOnly bool) (*mask.LabelMap, []uint16) {
	const far = math.MaxInt
	// dist returns how far frame i is from the prompt that the given pass
	// tracks the object from.
	dist := func(a []int, forwards bool) int {
		if forwards {
			k, _ := slices.BinarySearch(a, i+1)
			if k == 0 || backwardOnly && a[k-1] != i {
				return far
			}
			return i - a[k-1]
		}
		k, _ := slices.BinarySearch(a, i)
		if k == len(a) {
			return far
		}
		return a[k] - i
	}
	type choice struct {
		back bool
		d    int
	}
	pick := map[uint16]choice{}
	decide := func(id uint16) {
		if _, done := pick[id]; done {
			return
		}
		a, ok := anchors[id]
		if !ok {
			pick[id] = choice{false, far} // discovered: forwards only
			return
		}
		df, db := dist(a, true), dist(a, false)
		back := db < df
		if backwardOnly {
			back = df != 0 // forwards only on its prompt frames
		}
		pick[id] = choice{back, min(df, db)}
	}
	for _, id := range fwd.IDs() {
		decide(id)
	}
	var backIDs []uint16
	if bwd != nil {
		backIDs = bwd.IDs()
		for _, id := range backIDs {
			decide(id)
		}
	}
	out := mask.NewLabelMap(fwd.W, fwd.H)
	for p, f := range fwd.Pix {
		best, d := uint16(0), 0
		if f != 0 {
			if c := pick[f]; !c.back {
				best, d = f, c.d
			}
		}
		if bwd != nil {
			if b := bwd.Pix[p]; b != 0 {
				if c := pick[b]; c.back && (best == 0 || c.d < d) {
					best = b
				}
			}
		}
		out.Pix[p] = best
	}
	var fromBack []uint16
	for _, id := range backIDs {
		if pick[id].back {
			fromBack = append(fromBack, id)
		}
	}
	return out, fromBack
}
