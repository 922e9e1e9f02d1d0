package tracker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"samtrack/mask"
	"samtrack/media"
)

// LabelLoader returns the labels an interrupted run wrote for a frame.
type LabelLoader func(f media.Frame) (*mask.LabelMap, error)

// replayState drives the replay of an interrupted run.
type replayState struct {
	last     int // the interrupted run's last frame index
	journal  map[int]*JournalEntry
	load     LabelLoader
	seen     int // last frame index replayed, -1 before the first
	diverged int // replayed propagations that differ from the stored labels
}

// Resume prepares a fresh Tracker (with a fresh Propagator) to continue an
// interrupted run whose last finished frame was last. The caller then feeds
// every frame from the start of the input again: frames up to last are not
// tracked but replayed from their stored labels (load) and the run's journal
// (the FrameResult.Journal entries it persisted), which rebuilds the object
// table, the appearance models and the propagator's state exactly; they come
// back with Replayed set and their outputs must not be written again. Frames
// after last are tracked as usual, with results identical to an
// uninterrupted run's as long as the propagator and SAM are deterministic.
//
// Propagation is replayed from the first reference frame with exactly the
// calls of the interrupted run, so even a propagator whose state after
// AddReference still depends on its history (scratch buffers, flow
// initialisation) ends in the same state; only SAM is skipped. Queued prompts,
// masks and removals for frames up to last are dropped (the run already
// applied them). last < 0 means nothing was finished: Resume does nothing.
func (t *Tracker) Resume(journal []JournalEntry, last int, load LabelLoader) error {
	if t.lastIndex >= 0 || t.steps > 0 {
		return errors.New("tracker: Resume must be called before the first Step")
	}
	if last < 0 {
		return nil
	}
	if load == nil {
		return errors.New("tracker: Resume needs a loader for the stored labels")
	}
	rs := &replayState{last: last, journal: map[int]*JournalEntry{}, load: load, seen: -1}
	for i := range journal {
		j := journal[i]
		if j.Frame > last {
			continue // written after the last committed frame
		}
		if _, dup := rs.journal[j.Frame]; dup {
			return fmt.Errorf("tracker: resume journal has two entries for frame %d; the output directory is damaged, start a fresh run", j.Frame)
		}
		jj := j
		rs.journal[j.Frame] = &jj
	}
	t.pending = slices.DeleteFunc(t.pending, func(p pendingItem) bool { return p.frame <= last })
	t.replay = rs
	return nil
}

func (t *Tracker) replayStep(ctx context.Context, f media.Frame) (*FrameResult, error) {
	rs := t.replay
	labels, err := rs.load(f)
	if err != nil {
		return nil, fmt.Errorf("tracker: resume: labels of frame %d: %w", f.Index, err)
	}
	if err := labels.Validate(); err != nil {
		return nil, fmt.Errorf("tracker: resume: labels of frame %d: %w", f.Index, err)
	}
	if labels.W != f.W || labels.H != f.H {
		return nil, fmt.Errorf("tracker: resume: the stored labels of frame %d are %dx%d but the frame is %dx%d; the input differs from the interrupted run's",
			f.Index, labels.W, labels.H, f.W, f.H)
	}
	j := rs.journal[f.Index]
	if j == nil {
		j = &JournalEntry{Frame: f.Index}
	}
	if t.hasRef {
		out, err := t.prop.Propagate(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("tracker: resume: frame %d: %w", f.Index, err)
		}
		if !j.Reference && !slices.Equal(out.Pix, labels.Pix) {
			if rs.diverged == 0 {
				t.log.Warn("tracker: resume: the replayed propagation differs from the stored labels; the propagator is not deterministic, so the resumed run's results will differ from an uninterrupted run's",
					"frame", f.Index)
			}
			rs.diverged++
		}
	}
	if j.Reference {
		if err := t.reference(ctx, f, labels); err != nil {
			return nil, err
		}
	}
	if j.NextID == 0 {
		j.NextID = t.nextID
	}
	discovery := t.discovers()
	res := t.commit(f, labels, j)
	res.Replayed = true
	res.Discovery = discovery
	rs.seen = f.Index
	return res, nil
}

// finishReplay checks that the replay covered the interrupted run and
// switches to live tracking.
func (t *Tracker) finishReplay() error {
	rs := t.replay
	t.replay = nil
	if rs.seen != rs.last {
		return fmt.Errorf("tracker: resume: the interrupted run ended at frame %d but the input went from frame %d to a later one; the input or its start/stride settings differ from the interrupted run's",
			rs.last, rs.seen)
	}
	if rs.diverged > 0 {
		t.log.Warn("tracker: resume: replayed propagation differed from the stored labels", "frames", rs.diverged)
	}
	return nil
}

// Replaying reports whether the tracker is still replaying an interrupted
// run.
func (t *Tracker) Replaying() bool { return t.replay != nil }
