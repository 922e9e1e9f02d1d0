package tracker

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"samtrack/mask"
	"samtrack/media"
	"samtrack/segment"
)

// countingModel counts the encoder runs of a real model.
type countingModel struct {
	segment.Model
	encodes atomic.Int32
}

func (c *countingModel) Encode(ctx context.Context, img media.Image) (*segment.Embedding, error) {
	c.encodes.Add(1)
	return c.Model.Encode(ctx, img)
}

// TestEmbeddingSharedPerFrame checks that a frame needing both a prompt and
// everything mode runs the encoder once, and a frame needing neither runs
// it not at all.
func TestEmbeddingSharedPerFrame(t *testing.T) {
	_, m := samModels(t)
	cm := &countingModel{Model: m}
	// the wrapper hides the model's type, so everything mode takes the
	// portable path: a coarse grid keeps it quick
	eo := testEverything()
	eo.PointsPerSide = 6
	seg, err := segment.NewSAMSegmenter(nil, cm, eo, segmentPredictDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	opts := DefaultOptions()
	opts.SAMGap = 3
	tr, err := New(opts, newFlow(t), seg)
	if err != nil {
		t.Fatal(err)
	}
	s := movingScene()
	// a click on the red disk at frame 0 (a discovery frame) and on the
	// blue box at frame 1 (not one)
	if err := tr.AddPrompt(0, 0, media.Prompt{Points: []media.Point{{X: 40, Y: 60, Label: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := tr.AddPrompt(1, 0, media.Prompt{Box: &media.Box{X0: 254, Y0: 66, X1: 304, Y1: 102}}); err != nil {
		t.Fatal(err)
	}
	want := []int32{1, 2, 2, 3}
	for i, w := range want {
		f, _ := s.frame(i)
		res, err := tr.Step(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if got := cm.encodes.Load(); got != w {
			t.Errorf("after frame %d the encoder ran %d times, want %d", i, got, w)
		}
		t.Logf("frame %d: discovery %v, objects %d, events %v", i, res.Discovery, len(res.Objects), res.Events)
	}
	if seg.Encodes() != int(cm.encodes.Load()) {
		t.Errorf("SAMSegmenter.Encodes says %d, the model counted %d", seg.Encodes(), cm.encodes.Load())
	}
	// the prompted red disk got id 1 and the everything pass of frame 0
	// did not add it again
	objs := tr.Objects()
	if len(objs) == 0 || objs[0].ID != 1 || objs[0].Source != SourcePrompt {
		t.Fatalf("object table %+v: want the prompted object as id 1", objs)
	}
}

func maskWithSquares(w, h int, sq ...[4]int) *mask.LabelMap {
	l := mask.NewLabelMap(w, h)
	for _, s := range sq { // id, x0, y0, side
		for y := s[2]; y < s[2]+s[3]; y++ {
			for x := s[1]; x < s[1]+s[3]; x++ {
				l.Pix[y*w+x] = uint16(s[0])
			}
		}
	}
	return l
}

// TestIDsNeverReused: removal does not free an id, a new object gets the
// largest id ever used + 1 (not the largest existing one, SAM-Track's bug
// #160), and ids above 255 work.
func TestIDsNeverReused(t *testing.T) {
	_, m := samModels(t)
	seg, err := segment.NewSAMSegmenter(nil, m, testEverything(), segmentPredictDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	opts := DefaultOptions()
	opts.Discover = false
	tr, err := New(opts, newFlow(t), seg)
	if err != nil {
		t.Fatal(err)
	}
	s := movingScene()
	// frame 0: red disk = 1, blue box = 2 from a mask
	f0, gt0 := s.frame(0)
	init := mask.NewLabelMap(f0.W, f0.H)
	for i, v := range gt0.Pix {
		switch v {
		case 3:
			init.Pix[i] = 1
		case 1:
			init.Pix[i] = 2
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tr.AddMask(0, init))
	must(tr.RemoveObject(2, 2))
	// frame 4: a click on the magenta disk with id 0 (new id)
	mx, my := s.movers[3].pos(4)
	must(tr.AddPrompt(4, 0, media.Prompt{Points: []media.Point{{X: mx, Y: my, Label: 1}}}))
	// frame 6: a mask for id 300 (the green ellipse)
	f6, gt6 := s.frame(6)
	m300 := mask.NewLabelMap(f6.W, f6.H)
	for i, v := range gt6.Pix {
		if v == 2 {
			m300.Pix[i] = 300
		}
	}
	must(tr.AddMask(6, m300))
	// frame 8: a click on the yellow box, new id
	yx, yy := s.movers[4].pos(8)
	must(tr.AddPrompt(8, 0, media.Prompt{Points: []media.Point{{X: yx, Y: yy, Label: 1}}}))
	var appeared []uint16
	var removed []uint16
	for i := 0; i < 10; i++ {
		f, _ := s.frame(i)
		res, err := tr.Step(context.Background(), f)
		must(err)
		for _, ev := range res.Events {
			switch ev.Kind {
			case EventAppeared:
				appeared = append(appeared, ev.ID)
			case EventRemoved:
				removed = append(removed, ev.ID)
			}
		}
		if i >= 2 {
			for _, o := range res.Objects {
				if o.ID == 2 {
					t.Errorf("frame %d: removed object 2 still has %d pixels", i, o.Area)
				}
			}
		}
		if i == 9 {
			ids := res.Labels.IDs()
			t.Logf("frame 9 ids %v", ids)
			if !containsAll(ids, 1, 3, 300, 301) {
				t.Errorf("frame 9 holds ids %v, want 1, 3, 300 and 301", ids)
			}
		}
	}
	if want := []uint16{1, 2, 3, 300, 301}; !equalIDs(appeared, want) {
		t.Errorf("appeared %v, want %v", appeared, want)
	}
	if !equalIDs(removed, []uint16{2}) {
		t.Errorf("removed %v, want [2]", removed)
	}
	if tr.NextID() != 302 {
		t.Errorf("next id %d, want 302", tr.NextID())
	}
	for _, o := range tr.Objects() {
		if o.ID == 2 && (o.State != StateRemoved || o.RemovedAt != 2) {
			t.Errorf("object 2: state %s removed at %d, want removed at 2", o.State, o.RemovedAt)
		}
	}
}

func containsAll(ids []uint16, want ...uint16) bool {
	for _, w := range want {
		found := false
		for _, id := range ids {
			found = found || id == w
		}
		if !found {
			return false
		}
	}
	return true
}

func equalIDs(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBadInput(t *testing.T) {
	prop := newFlow(t)
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"sam_gap 0", func(o *Options) { o.SAMGap = 0 }, "sam_gap is 0"},
		{"sam_gap negative", func(o *Options) { o.SAMGap = -4 }, "sam_gap is -4"},
		{"min_new_obj_ratio", func(o *Options) { o.MinNewObjRatio = 1.5 }, "min_new_obj_ratio"},
		{"min_area", func(o *Options) { o.MinArea = -1 }, "min_area"},
		{"lost_after", func(o *Options) { o.LostAfter = 0 }, "lost_after"},
		{"discovery without SAM", func(o *Options) {}, "no segmenter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.mod(&o)
			_, err := New(o, prop, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := New(Options{}, prop, nil); err == nil || !strings.Contains(err.Error(), "sam_gap") {
		t.Errorf("zero Options: error %v, want one naming sam_gap", err)
	}
	o := DefaultOptions()
	o.Discover = false
	if _, err := New(o, nil, nil); err == nil {
		t.Error("no error without a propagator")
	}

	t.Run("mask of another size", func(t *testing.T) {
		tr, err := New(o, prop, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.AddMask(0, maskWithSquares(100, 80, [4]int{1, 10, 10, 20})); err != nil {
			t.Fatal(err)
		}
		_, err = tr.Step(context.Background(), squareFrame(0, 320, 240, 50, 50, 30))
		if err == nil || !strings.Contains(err.Error(), "100x80") || !strings.Contains(err.Error(), "320x240") {
			t.Fatalf("error %v, want one naming both sizes", err)
		}
	})
	t.Run("frames out of order or resized", func(t *testing.T) {
		tr, err := New(o, prop, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.AddMask(0, maskWithSquares(64, 48, [4]int{1, 10, 10, 12})); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := tr.Step(ctx, squareFrame(0, 64, 48, 10, 10, 12)); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Step(ctx, squareFrame(0, 64, 48, 10, 10, 12)); err == nil {
			t.Error("no error for a repeated frame index")
		}
		if _, err := tr.Step(ctx, squareFrame(1, 80, 48, 10, 10, 12)); err == nil || !strings.Contains(err.Error(), "80x48") {
			t.Errorf("error %v for a frame of another size, want one naming it", err)
		}
		bad := squareFrame(2, 64, 48, 10, 10, 12)
		bad.RGB = bad.RGB[:100]
		if _, err := tr.Step(ctx, bad); err == nil {
			t.Error("no error for a short RGB buffer")
		}
		if err := tr.AddMask(5, maskWithSquares(32, 48)); err == nil || !strings.Contains(err.Error(), "32x48") {
			t.Errorf("error %v for a mask of another size once the size is known", err)
		}
	})
	t.Run("prompt without SAM", func(t *testing.T) {
		tr, err := New(o, prop, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = tr.AddPrompt(0, 1, media.Prompt{Points: []media.Point{{X: 1, Y: 1, Label: 1}}})
		if err == nil || !strings.Contains(err.Error(), "SAM model") {
			t.Errorf("error %v, want one saying a SAM model is needed", err)
		}
	})
}
