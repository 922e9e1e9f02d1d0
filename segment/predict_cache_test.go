package segment

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"samtrack/media"
)

func TestEmbeddingCacheAndMemory(t *testing.T) {
	needFixture(t, samRefDir)
	rt := openRuntime(t)
	ctx := context.Background()
	m, err := Open(rt, filepath.Join(samRefDir, "encoder.onnx"), filepath.Join(samRefDir, "decoder.onnx"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img := loadJPEG(t, dogFrame)
	c := NewEmbeddingCache(1)
	e0, err := c.Encode(ctx, m, 0, img)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Encode(ctx, m, 0, img); e != e0 {
		t.Error("second Encode of frame 0 was not served from the cache")
	}
	e1, err := c.Encode(ctx, m, 1, img)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Encode(ctx, m, 1, img); e != e1 || e1 == e0 {
		t.Error("frame 1 was not cached")
	}
	if h, miss := c.Stats(); h != 2 || miss != 2 || c.Len() != 1 {
		t.Errorf("hits %d misses %d len %d, want 2, 2, 1 (frame 0 evicted)", h, miss, c.Len())
	}

	// A long prompt loop keeps memory flat (Go heap and native).
	p := media.Prompt{Points: []media.Point{{X: 420, Y: 260, Label: 1}}}
	loop := func(n int) {
		for range n {
			if _, err := Predict(ctx, m, e0, p, PredictOptions{Refine: true, Token: TokenAuto}); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Decode(ctx, e0, []media.Prompt{p}, DecodeOptions{FullRes: true}); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		debug.FreeOSMemory()
	}
	loop(3)
	before := rssMiB(t)
	loop(10)
	after := rssMiB(t)
	t.Logf("RSS %.1f MiB before, %.1f MiB after 10 refined predictions and 10 full decodes", before, after)
	if after-before > 40 {
		t.Errorf("RSS grew by %.1f MiB over the loop", after-before)
	}
}

func rssMiB(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.Atoi(f[1])
	return float64(pages*os.Getpagesize()) / (1 << 20)
}
