package tracker

import (
	"testing"
	"time"

	"samtrack/segment"
)

// TestTrackSyntheticVideo tracks the synthetic video end to end with real
// components: the generated SAM test models for discovery (everything mode
// every sam_gap frames) and the optical-flow propagator (tracker/flow).
// Every object must be found (entering ones within sam_gap frames of
// becoming discoverable), keep one id throughout (the yellow box leaves the
// frame and comes back) and reach a mean IoU of at least 0.9.
func TestTrackSyntheticVideo(t *testing.T) {
	for _, tc := range []struct {
		name string
		prop func(t *testing.T) Propagator
	}{
		{"flow", func(t *testing.T) Propagator { return newFlow(t) }},
		{"generated-onnx-deaot", func(t *testing.T) Propagator { return newDeAOT(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) { trackSynthetic(t, tc.prop(t)) })
	}
}

func trackSynthetic(t *testing.T, prop Propagator) {
	rt, m := samModels(t)
	eo := testEverything()
	seg, err := segment.NewSAMSegmenter(rt, m, eo, segmentPredictDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	opts := DefaultOptions()
	opts.SAMGap = 5
	tr, err := New(opts, prop, seg)
	if err != nil {
		t.Fatal(err)
	}
	s := movingScene()
	start := time.Now()
	run := trackScene(t, tr, s)
	el := time.Since(start)
	t.Logf("%d frames in %v (%v a frame), %d encoder runs", s.n, el.Round(time.Millisecond), (el / time.Duration(s.n)).Round(time.Millisecond), seg.Encodes())
	if want := (s.n + opts.SAMGap - 1) / opts.SAMGap; seg.Encodes() != want {
		t.Errorf("the encoder ran %d times, want %d (once per discovery frame)", seg.Encodes(), want)
	}
	evs := evaluate(s, run, opts.MinArea, eo.PointsPerSide)
	used := map[uint16]string{}
	for _, e := range evs {
		t.Log(e)
		if len(e.ids) != 1 {
			t.Errorf("%s: matched by ids %v, want exactly one id (no id switch, no duplicate)", e.name, e.ids)
		}
		for _, id := range e.ids {
			if other, ok := used[id]; ok {
				t.Errorf("id %d matches both %s and %s", id, other, e.name)
			}
			used[id] = e.name
		}
		if e.meanIoU < 0.9 {
			t.Errorf("%s: mean IoU %.3f, want ≥ 0.9", e.name, e.meanIoU)
		}
		for _, l := range e.latency {
			if l >= opts.SAMGap {
				t.Errorf("%s: found %d frames after it became discoverable, want fewer than sam_gap %d", e.name, l, opts.SAMGap)
			}
		}
	}
	if !evs[4].returned {
		t.Errorf("the yellow box left and came back but was not found again under its id")
	}
	// no object beyond the seven
	for _, o := range tr.Objects() {
		if _, ok := used[o.ID]; !ok {
			t.Errorf("object %d (%s, frames %d-%d) matches no ground-truth object", o.ID, o.Source, o.FirstFrame, o.LastFrame)
		}
		t.Logf("object %d: %s %s frames %d-%d present %v lost %v", o.ID, o.Source, o.State, o.FirstFrame, o.LastFrame, o.Present, o.Lost)
	}
	checkIDsIncreasing(t, run)
}

// checkIDsIncreasing asserts that ids appear in increasing order over the
// video: a new id is always larger than every id before it.
func checkIDsIncreasing(t *testing.T, run *trackRun) {
	t.Helper()
	maxID := uint16(0)
	for _, res := range run.results {
		for _, ev := range res.Events {
			if ev.Kind != EventAppeared {
				continue
			}
			if ev.ID <= maxID {
				t.Errorf("frame %d: new object %d is not above the largest earlier id %d", res.Index, ev.ID, maxID)
			}
			maxID = max(maxID, ev.ID)
		}
	}
}
