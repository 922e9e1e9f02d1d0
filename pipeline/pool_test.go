package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"samtrack/config"
	"samtrack/internal/testenv"
	"samtrack/internal/testgen"
	"samtrack/ort"
)

const sampleMP4 = "../testdata/sample.mp4"

// onnxConfig is a configuration with the generated SAM pair (real SAM
// layouts) and the generated DeAOT-contract propagator, so that a job opens
// three ONNX Runtime sessions.
func onnxConfig(t testing.TB) config.Config {
	t.Helper()
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(t, err)
	}
	rt.Close()
	dir := t.TempDir()
	p, err := testgen.WriteDir(filepath.Join(dir, "sam"))
	if err != nil {
		t.Fatal(err)
	}
	prop := filepath.Join(dir, "prop")
	if err := testgen.WritePropagator(prop, testgen.PropagatorOptions{Height: 96, Width: 176, Stride: 16}); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.SAM.Encoder, c.SAM.Decoder = p.SAMEncoder, p.SAMDecoder
	c.Track.Propagator = prop
	c.Track.Overlay = false
	c.Runtime.Threads = 1
	return c
}

func samplePrompts(x, y float64) Prompts {
	return Prompts{Objects: []ObjectPrompt{
		{ID: 1, Points: [][]float64{{x, y, 1}}},
		{ID: 2, Box: []float64{290, 50, 480, 180}},
	}}
}

func runJob(t testing.TB, pool *ModelPool, c config.Config, p Prompts, out string) {
	t.Helper()
	sum, err := Run(context.Background(), Spec{Input: sampleMP4, Out: out, Prompts: p, Config: c, Models: pool, Overwrite: true},
		Hooks{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("job %s: %v", out, err)
	}
	if !sum.Complete {
		t.Fatalf("job %s incomplete: %+v", out, sum)
	}
}

// sameMasks fails unless both runs wrote byte-identical mask files.
func sameMasks(t *testing.T, a, b string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(a, "masks", "*.png"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no masks in %s (%v)", a, err)
	}
	for _, f := range files {
		x, err1 := os.ReadFile(f)
		y, err2 := os.ReadFile(filepath.Join(b, "masks", filepath.Base(f)))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Fatalf("mask %s differs between %s and %s (%v %v)", filepath.Base(f), a, b, err1, err2)
		}
	}
}

// A job run on models another job used before (and gave back) writes the
// same masks, byte for byte, as on freshly opened models; the pool lends
// the same instances again.
func TestPooledJobsMatchFreshJobs(t *testing.T) {
	c := onnxConfig(t)
	c.Video.MaxFrames = 4
	c.Track.SAMGap = 2 // everything mode on frames 0 and 2: the generator is reused too
	c.Everything.PointsPerSide = 6
	tmp := t.TempDir()
	fresh := filepath.Join(tmp, "fresh")
	runJob(t, nil, c, samplePrompts(420, 280), fresh)

	pool := NewModelPool(4)
	defer pool.Close()
	runJob(t, pool, c, samplePrompts(150, 120), filepath.Join(tmp, "other"))
	seg, release, err := pool.Segmenter(c)
	if err != nil {
		t.Fatal(err)
	}
	release()
	for i := range 2 {
		out := filepath.Join(tmp, "pooled"+strconv.Itoa(i))
		runJob(t, pool, c, samplePrompts(420, 280), out)
		sameMasks(t, fresh, out)
	}
	again, release, err := pool.Segmenter(c)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if again != seg {
		t.Error("the pool opened the segmenter again instead of lending the one it kept")
	}
	if n := len(pool.idle); n != 2 {
		t.Errorf("%d idle models, want 2 (one segmenter, one propagator)", n)
	}
}

// Jobs with other settings get models of their own; the pool keeps at most
// maxIdle of them and closes the rest; models given back after Close are
// closed.
func TestModelPoolKeysAndBounds(t *testing.T) {
	pool := NewModelPool(2)
	a := config.Default()
	b := config.Default()
	b.Track.LongTermMemGap = a.Track.LongTermMemGap + 1
	s1, r1, err := pool.Segmenter(a)
	if err != nil {
		t.Fatal(err)
	}
	s2, r2, err := pool.Segmenter(a) // s1 is lent: a second instance
	if err != nil {
		t.Fatal(err)
	}
	if s1 == s2 {
		t.Fatal("one segmenter lent to two jobs at once")
	}
	r1()
	r2()
	p1, rp1, err := pool.Propagator(a)
	if err != nil {
		t.Fatal(err)
	}
	rp1()
	if n := len(pool.idle); n != 2 {
		t.Fatalf("%d idle models, want maxIdle 2", n)
	}
	p2, rp2, err := pool.Propagator(b) // other settings: not a's propagator
	if err != nil {
		t.Fatal(err)
	}
	if p2 == p1 {
		t.Fatal("a propagator opened with other settings was lent")
	}
	p3, rp3, err := pool.Propagator(a)
	if err != nil {
		t.Fatal(err)
	}
	if p3 != p1 {
		t.Error("a's propagator was not lent again")
	}
	rp3()
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rp2(); err != nil {
		t.Fatal(err)
	}
	if n := len(pool.idle); n != 0 {
		t.Fatalf("%d idle models after Close", n)
	}
}

// rssBytes is this process's resident set size.
func rssBytes(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatalf("read /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// 200 consecutive jobs on pooled models: memory stays flat (RSS after job
// 200 at most 1.1 x RSS after job 20).
func TestPooledJobsKeepMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("200 jobs; run without -short")
	}
	c := onnxConfig(t)
	c.Video.MaxFrames = 2
	c.Track.Discover = false
	pool := NewModelPool(4)
	defer pool.Close()
	out := filepath.Join(t.TempDir(), "out")
	var at20 int64
	for i := 1; i <= 200; i++ {
		runJob(t, pool, c, samplePrompts(150, 120), out)
		if i == 20 || i == 200 {
			runtime.GC()
			debug.FreeOSMemory()
			if i == 20 {
				at20 = rssBytes(t)
			}
		}
	}
	at200 := rssBytes(t)
	t.Logf("RSS after job 20: %.1f MiB, after job 200: %.1f MiB (%.3f x)", float64(at20)/(1<<20), float64(at200)/(1<<20), float64(at200)/float64(at20))
	if float64(at200) > 1.1*float64(at20) {
		t.Errorf("RSS grew from %d to %d bytes over 180 pooled jobs (> 1.1 x)", at20, at200)
	}
}

// The built-in path (classical segmenter, DIS-flow propagator) lent by the
// pool after a job on another video, of another size, writes the same
// masks as a fresh one: nothing of the earlier job survives the reset.
func TestPooledBuiltinMatchesFreshAcrossVideos(t *testing.T) {
	cat, swan := "../../shared/data/videos/cat.mp4", blackswanMP4
	for _, f := range []string{cat, swan} {
		if _, err := os.Stat(f); err != nil {
			testenv.Missing(t, "the shared test videos are needed: %v", err)
		}
	}
	c := config.Default()
	c.Video.MaxFrames = 12
	c.Track.Overlay = false
	run := func(pool *ModelPool, in string, x, y float64, out string) {
		t.Helper()
		p := Prompts{Objects: []ObjectPrompt{{ID: 1, Points: [][]float64{{x, y, 1}}}}}
		if _, err := Run(context.Background(), Spec{Input: in, Out: out, Prompts: p, Config: c, Models: pool, Overwrite: true},
			Hooks{Logger: quietLogger()}); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	run(nil, cat, 300, 170, filepath.Join(tmp, "fresh-cat"))
	run(nil, swan, 500, 200, filepath.Join(tmp, "fresh-swan"))
	pool := NewModelPool(4)
	defer pool.Close()
	for i, in := range []struct {
		path, ref string
		x, y      float64
	}{{cat, "fresh-cat", 300, 170}, {swan, "fresh-swan", 500, 200}, {cat, "fresh-cat", 300, 170}, {cat, "fresh-cat", 300, 170}, {swan, "fresh-swan", 500, 200}} {
		out := filepath.Join(tmp, "pooled"+strconv.Itoa(i))
		run(pool, in.path, in.x, in.y, out)
		sameMasks(t, filepath.Join(tmp, in.ref), out)
	}
}
