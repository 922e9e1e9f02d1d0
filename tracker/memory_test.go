package tracker

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"samtrack/mask"
	"samtrack/media"
)

// rssKB reads the resident set size after a full collection that returns
// freed memory to the OS.
func rssKB(t testing.TB) int {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			return kb
		}
	}
	t.Skip("VmRSS not reported")
	return 0
}

// bounceFrame renders frame i of a long 64x48 stream: a red and a blue
// square bouncing around a textured grey background, with their labels.
func bounceFrame(i int, rgb []byte) (media.Frame, *mask.LabelMap) {
	const w, h, side = 64, 48, 12
	tri := func(t, n int) int { // triangle wave 0..n
		t %= 2 * n
		if t > n {
			return 2*n - t
		}
		return t
	}
	x1, y1 := tri(i, w-side), tri(i*2/3, h-side)
	x2, y2 := tri(i*3/4+20, w-side), tri(i/2+9, h-side)
	gt := mask.NewLabelMap(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := [3]byte{120, 122, 126}
			v := byte(noiseAt(x, y, 0)*4 + 4)
			c[0] += v
			c[1] += v
			switch {
			case x >= x1 && x < x1+side && y >= y1 && y < y1+side:
				c = [3]byte{200, 40, 40}
				gt.Pix[y*w+x] = 1
			case x >= x2 && x < x2+side && y >= y2 && y < y2+side:
				c = [3]byte{40, 60, 200}
				gt.Pix[y*w+x] = 2
			}
			copy(rgb[(y*w+x)*3:], c[:])
		}
	}
	return media.Frame{Index: i, Image: media.Image{W: w, H: h, RGB: rgb}}, gt
}

// TestMemoryBounded runs 10,000 frames through the tracker and the flow
// propagator, re-giving the ground truth as a mask every 500 frames, and
// requires the resident set after frame 10,000 to stay within 1.1 × the one
// after frame 1,000.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("long stream")
	}
	o := DefaultOptions()
	o.Discover = false
	tr, err := New(o, newFlow(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rss1k, rss10k int
	start := time.Now()
	for i := 1; i <= 10000; i++ {
		f, gt := bounceFrame(i-1, make([]byte, 64*48*3))
		if (i-1)%500 == 0 {
			if err := tr.AddMask(i-1, gt); err != nil {
				t.Fatal(err)
			}
		}
		res, err := tr.Step(ctx, f)
		if err != nil {
			t.Fatalf("frame %d: %v", i-1, err)
		}
		if len(res.Objects) == 0 && (i-1)%500 == 1 {
			t.Fatalf("frame %d: both objects lost right after a reference", i-1)
		}
		switch i {
		case 1000:
			rss1k = rssKB(t)
		case 10000:
			rss10k = rssKB(t)
		}
	}
	el := time.Since(start)
	ratio := float64(rss10k) / float64(rss1k)
	t.Logf("RSS after frame 1,000: %d kB, after 10,000: %d kB (ratio %.3f); %v for 10,000 frames", rss1k, rss10k, ratio, el.Round(time.Millisecond))
	if ratio > 1.1 {
		t.Errorf("RSS grew from %d kB to %d kB (%.2f×), want at most 1.1×", rss1k, rss10k, ratio)
	}
	for _, ob := range tr.Objects() {
		t.Logf("object %d: %s, present %d frames in %d runs, lost %d times", ob.ID, ob.State, ob.FramesPresent, len(ob.Present), len(ob.Lost))
	}
}
