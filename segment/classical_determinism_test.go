package segment

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/media"
	"samtrack/video"
)

// TestSegmentClassicalDeterministic: the classical segmenter gives the same
// mask for the same prompt whatever ran before on the thread and next to
// it (OpenCV's k-means draws from a per-thread generator).
func TestSegmentClassicalDeterministic(t *testing.T) {
	const cat = "../../shared/data/videos/cat.mp4"
	if _, err := os.Stat(cat); err != nil {
		testenv.Missing(t, "shared test video missing: %v", err)
	}
	ctx := context.Background()
	src, err := video.Open(ctx, cat, video.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := src.Next(ctx)
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClassical(DefaultClassicalOptions())
	if err != nil {
		t.Fatal(err)
	}
	img := f.Image
	p := media.Prompt{Points: []media.Point{{X: 300, Y: 170, Label: 1}}}
	// On one thread: the same call three times; without reseeding, each
	// GrabCut advances the thread's generator.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	first, err := c.Segment(ctx, img, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Segment(ctx, img, p); err != nil {
		t.Fatal(err)
	}
	again, err := c.Segment(ctx, img, p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Mask.Pix, again.Mask.Pix) {
		t.Errorf("the same prompt gave masks of %d and %d pixels on one thread", first.Mask.Area(), again.Mask.Area())
	}
}

// TestSegmentNextDeterministic: the motion runs (DIS flow, two GrabCut
// runs, the choice between them) give the same mask every time, also when
// two calls run side by side, so a resumed or concurrent job agrees.
func TestSegmentNextDeterministic(t *testing.T) {
	const cat = "../../shared/data/videos/cat.mp4"
	if _, err := os.Stat(cat); err != nil {
		testenv.Missing(t, "shared test video missing: %v", err)
	}
	ctx := context.Background()
	src, err := video.Open(ctx, cat, video.Options{MaxFrames: 2})
	if err != nil {
		t.Fatal(err)
	}
	f0, err0 := src.Next(ctx)
	f1, err1 := src.Next(ctx)
	src.Close()
	if err0 != nil || err1 != nil {
		t.Fatal(err0, err1)
	}
	c, err := NewClassical(DefaultClassicalOptions())
	if err != nil {
		t.Fatal(err)
	}
	box := &media.Box{X0: 200, Y0: 80, X1: 420, Y1: 300}
	for _, p := range []media.Prompt{{Box: box}, {Box: box, Points: []media.Point{{X: 300, Y: 170, Label: 1}}}} {
		first, err := c.SegmentNext(ctx, f0.Image, &f1.Image, p)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 2)
		for range 2 {
			go func() {
				r, err := c.SegmentNext(ctx, f0.Image, &f1.Image, p)
				if err != nil {
					t.Error(err)
					got <- nil
					return
				}
				got <- r.Mask.Pix
			}()
		}
		for range 2 {
			if m := <-got; m != nil && !bytes.Equal(m, first.Mask.Pix) {
				t.Errorf("clicks %d: two calls side by side gave another mask than the first", len(p.Points))
			}
		}
	}
}
