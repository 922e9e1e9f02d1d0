package flow

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// rssBytes reads the resident set size of this process from /proc.
func rssBytes(tb testing.TB) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status (%v): RSS cannot be measured here", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("parse VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	tb.Skip("VmRSS not found in /proc/self/status")
	return 0
}

func settledRSS(tb testing.TB) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rssBytes(tb)
}

// TestMemoryFlat propagates 2,000 frames of a small synthetic video, with a
// reference every 500 frames, and checks that RSS does not grow between the
// first and the last thousand frames; it then creates and closes many
// propagators and checks the same.
func TestMemoryFlat(t *testing.T) {
	const (
		n = 2000
		// Allocator noise is well under these; leaking one Mat header per
		// warp (3 objects, 2 warps a frame) grows RSS by about 1.2 MiB over
		// 1,000 frames, and it pins the frame buffers, so New/Close cycles
		// then grow by hundreds of MiB.
		loopSlack  = 1 << 20
		cycleSlack = 4 << 20
	)
	v := newSynthVideo(160, 120, []disc{
		{id: 1, x: 40, y: 30, r: 14, vx: 2, rgb: [3]float64{200, 50, 45}},
		{id: 2, x: 120, y: 64, r: 16, vx: -1.5, rgb: [3]float64{50, 190, 60}},
		{id: 300, x: 60, y: 98, r: 12, vx: 1, rgb: [3]float64{55, 70, 210}},
	}, 3)
	ctx := context.Background()
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var mid int64
	for i := 0; i < n; i++ {
		f, gt := v.frame(i)
		if i%500 == 0 {
			if err := p.AddReference(ctx, f, gt); err != nil {
				t.Fatal(err)
			}
		} else if _, err := p.Propagate(ctx, f); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			mid = settledRSS(t)
		}
	}
	end := settledRSS(t)
	t.Logf("RSS after %d frames %.1f MiB, after %d frames %.1f MiB", n/2, float64(mid)/(1<<20), n, float64(end)/(1<<20))
	if end-mid > loopSlack {
		t.Errorf("RSS grew by %.1f MiB over %d frames: native memory leaks", float64(end-mid)/(1<<20), n/2)
	}

	// New/AddReference/Propagate/Close cycles free everything they made.
	f0, l0 := v.frame(0)
	f1, _ := v.frame(1)
	cycle := func() {
		q, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.AddReference(ctx, f0, l0); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Propagate(ctx, f1); err != nil {
			t.Fatal(err)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		cycle()
	}
	before := settledRSS(t)
	for i := 0; i < 300; i++ {
		cycle()
	}
	after := settledRSS(t)
	t.Logf("RSS before 300 New/Close cycles %.1f MiB, after %.1f MiB", float64(before)/(1<<20), float64(after)/(1<<20))
	if after-before > cycleSlack {
		t.Errorf("RSS grew by %.1f MiB over 300 New/Close cycles: Close leaks native memory", float64(after-before)/(1<<20))
	}
}
