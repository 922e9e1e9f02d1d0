package tracker

import (
	"context"
	"fmt"
	"slices"

	"samtrack/mask"
	"samtrack/media"
)

// SourceBackward marks an object that a backward pass (tracking from a
// prompt on a later frame towards the start) brought into the table.
const SourceBackward = "backward"

// Guide merges the labels of another tracking pass into each frame before
// the tracker commits it: the backward pass of a prompt on a later frame
// fills the frames before it. Merge gets the frame's labels after prompts,
// masks and discovery (it must not modify them) and returns the merged
// labels, or nil to keep them, with the objects the merge may bring in
// (recorded in the journal when they are new to the table).
type Guide interface {
	Merge(ctx context.Context, index int, labels *mask.LabelMap) (*mask.LabelMap, []ObjectSet, error)
}

// SetGuide makes every frame tracked from now on go through g. A frame that
// the merge changes becomes a propagator reference (and is journalled as
// one), so tracking continues from the merged labels and a resumed run
// replays exactly what was written; only while the tracker has nothing of
// its own (no reference yet, no object on the frame) are merged frames
// written without becoming references, which skips propagating what the
// other pass already tracks.
func (t *Tracker) SetGuide(g Guide) { t.guide = g }

// ReserveIDs keeps ids up to maxID for objects that are prompted later (or
// come from another pass): new objects found by discovery get ids above it.
func (t *Tracker) ReserveIDs(maxID int) {
	t.nextID = max(t.nextID, min(maxID, MaxID)+1)
}

// merge applies the guide to a frame; changed reports whether it altered
// the labels.
func (t *Tracker) merge(ctx context.Context, f media.Frame, labels *mask.LabelMap, j *JournalEntry) (*mask.LabelMap, bool, error) {
	m, sets, err := t.guide.Merge(ctx, f.Index, labels)
	if err != nil {
		return nil, false, fmt.Errorf("tracker: frame %d: merge: %w", f.Index, err)
	}
	if m == nil || slices.Equal(m.Pix, labels.Pix) {
		return labels, false, nil
	}
	if err := m.Validate(); err != nil || m.W != f.W || m.H != f.H {
		return nil, false, fmt.Errorf("tracker: frame %d: the merged labels are %dx%d for a %dx%d frame (%v)", f.Index, m.W, m.H, f.W, f.H, err)
	}
	present := map[uint16]bool{}
	for _, id := range m.IDs() {
		present[id] = true
	}
	for _, s := range sets {
		if !present[s.ID] || t.objs[s.ID] != nil || slices.ContainsFunc(j.Set, func(o ObjectSet) bool { return o.ID == s.ID }) {
			continue
		}
		j.Set = append(j.Set, s)
		t.nextID = max(t.nextID, int(s.ID)+1)
	}
	return m, true, nil
}
