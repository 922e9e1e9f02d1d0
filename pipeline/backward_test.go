package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"samtrack/config"
	"samtrack/internal/testenv"
	"samtrack/mask"
	"samtrack/video"
)

// row builds a 1-pixel-high label map.
func row(ids ...uint16) *mask.LabelMap {
	l := mask.NewLabelMap(len(ids), 1)
	copy(l.Pix, ids)
	return l
}

func TestMergePasses(t *testing.T) {
	// object 1 prompted on frames 10 and 30, object 2 on frame 20; 9 was
	// found by discovery (no prompt).
	anchors := map[uint16][]int{1: {10, 30}, 2: {20}}
	cases := []struct {
		name     string
		frame    int
		fwd, bwd *mask.LabelMap
		backOnly bool
		want     []uint16
		fromBack []uint16
	}{
		{"before every prompt: backwards, and prompted beats discovered", 5, row(0, 0, 9, 9), row(1, 2, 2, 0), false, []uint16{1, 2, 2, 9}, []uint16{1, 2}},
		{"prompt frame keeps its own mask", 20, row(1, 2, 0, 0), row(2, 2, 2, 1), false, []uint16{1, 2, 0, 0}, nil},
		{"nearer prompt wins: forwards from 10", 14, row(1, 1, 0, 2), row(0, 1, 1, 0), false, []uint16{1, 1, 0, 0}, nil},
		{"nearer prompt wins: backwards from 30", 26, row(1, 1, 0, 2), row(0, 1, 1, 2), false, []uint16{0, 1, 1, 2}, []uint16{1}},
		{"overlap: nearer object wins", 12, row(0, 0, 0, 0), row(2, 2, 0, 0), false, []uint16{2, 2, 0, 0}, []uint16{2}},
		{"overlap: forward object near its prompt beats a far backward one", 11, row(1, 1, 0, 0), row(2, 2, 2, 0), false, []uint16{1, 1, 2, 0}, []uint16{2}},
		{"no backward labels: backward objects vanish", 15, row(1, 2, 2, 9), nil, false, []uint16{1, 0, 0, 9}, nil},
		{"backward only: forwards counts on prompt frames only", 14, row(1, 1, 0, 9), row(0, 1, 1, 0), true, []uint16{0, 1, 1, 9}, []uint16{1}},
		{"backward only: prompt frame", 10, row(1, 1, 0, 0), row(1, 0, 0, 0), true, []uint16{1, 1, 0, 0}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, from := mergePasses(c.frame, c.fwd, c.bwd, anchors, c.backOnly)
			if !slices.Equal(got.Pix, c.want) {
				t.Errorf("labels %v, want %v", got.Pix, c.want)
			}
			if !slices.Equal(from, c.fromBack) {
				t.Errorf("taken from backwards %v, want %v", from, c.fromBack)
			}
		})
	}
}

func TestPlanDirection(t *testing.T) {
	spec := func(dir string, p Prompts) Spec {
		c := config.Default()
		c.Track.Direction = dir
		return Spec{Input: "in.mp4", Out: t.TempDir(), Prompts: p, Config: c}
	}
	later := Prompts{Objects: []ObjectPrompt{
		{Frame: 7, Points: [][]float64{{1, 2}}},
		{ID: 4, Frame: 3, Box: []float64{0, 0, 5, 5}},
		{Frame: 2, Points: [][]float64{{3, 3}}},
		{ID: 4, Frame: 9, Points: [][]float64{{4, 4}}},
	}}
	first := Prompts{Objects: []ObjectPrompt{{Frame: 0, Points: [][]float64{{1, 2}}}}}
	info := video.Info{Width: 8, Height: 8}
	log := quietLogger()

	b, err := planDirection(spec("auto", later), info, false, log)
	if err != nil || b == nil {
		t.Fatalf("auto with later prompts: %v %v", b, err)
	}
	if b.direction != DirectionBoth || b.last != 9 || b.maxID != 6 {
		t.Errorf("plan %s last %d max id %d, want both, 9, 6", b.direction, b.last, b.maxID)
	}
	ids := []int{}
	for _, o := range b.prompts.Objects {
		ids = append(ids, o.ID)
	}
	if !slices.Equal(ids, []int{5, 4, 6, 4}) {
		t.Errorf("ids %v, want [5 4 6 4] (id-0 prompts numbered after the highest given id)", ids)
	}
	if !slices.Equal(b.anchors[4], []int{3, 9}) || !slices.Equal(b.anchors[5], []int{7}) {
		t.Errorf("anchors %v", b.anchors)
	}
	if b, err := planDirection(spec("auto", first), info, false, log); b != nil || err != nil {
		t.Errorf("auto with frame-0 prompts: %v %v, want forward", b, err)
	}
	if b, err := planDirection(spec("forward", later), info, false, log); b != nil || err != nil {
		t.Errorf("forward: %v %v", b, err)
	}
	if b, err := planDirection(spec("auto", later), info, true, log); b != nil || err != nil {
		t.Errorf("auto on a live stream: %v %v, want forward", b, err)
	}
	if _, err := planDirection(spec("both", later), info, true, log); err == nil || !strings.Contains(err.Error(), "--direction forward") {
		t.Errorf("both on a live stream: %v", err)
	}
	if _, err := planDirection(spec("both", later), video.Info{Frames: 9}, false, log); err == nil || !strings.Contains(err.Error(), "has 9 frames") {
		t.Errorf("a prompt past the end: %v", err)
	}
	short := spec("both", later)
	short.Config.Video.MaxFrames = 9
	if _, err := planDirection(short, info, false, log); err == nil || !strings.Contains(err.Error(), "max_frames") {
		t.Errorf("a prompt past max_frames: %v", err)
	}
	short.Config.Video.MaxFrames = 10
	if _, err := planDirection(short, info, false, log); err != nil {
		t.Errorf("a prompt on the last frame max_frames reaches: %v", err)
	}
	if _, err := planDirection(spec("backward", Prompts{}), info, false, log); err == nil || !strings.Contains(err.Error(), "--direction forward") {
		t.Errorf("backward without prompts: %v", err)
	}
}

// BenchmarkBothDirections runs `samtrack track` on blackswan.mp4 (50
// frames, H.264 read backwards from the file) prompted with the DAVIS mask
// of frame 25 in both directions, against the same job forwards from the
// mask of frame 0 in the same run (the baseline): the backward pass tracks
// 26 frames more and the forward pass merges frames 0..25 with its labels.
// Metrics, best of b.N:
//
//	ratio      both-directions wall time / forward wall time
//	cpu_ratio  the same in CPU time of the process
//
//	go test -run '^$' -bench BothDirections -benchtime 3x ./pipeline
func BenchmarkBothDirections(b *testing.B) {
	const midMask = "../../shared/data/davis/Annotations/480p/blackswan/00025.png"
	for _, p := range []string{blackswanMP4, blackswanMask, midMask} {
		if _, err := os.Stat(p); err != nil {
			testenv.Missing(b, "shared data missing: %v", err)
		}
	}
	c := config.Default()
	c.Track.Overlay = false
	timed := func(p Prompts) (wall, cpu time.Duration) {
		out := filepath.Join(b.TempDir(), "out")
		t0, c0 := time.Now(), processCPU()
		if _, err := Run(context.Background(), Spec{Input: blackswanMP4, Out: out, Prompts: p, Config: c}, Hooks{Logger: quietLogger()}); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0), processCPU() - c0
	}
	bestF, bestB := time.Duration(1<<62), time.Duration(1<<62)
	cpuF, cpuB := time.Duration(1<<62), time.Duration(1<<62)
	for range b.N {
		w, c := timed(Prompts{Mask: blackswanMask})
		bestF, cpuF = min(bestF, w), min(cpuF, c)
		w, c = timed(Prompts{Mask: midMask, MaskFrame: 25})
		bestB, cpuB = min(bestB, w), min(cpuB, c)
	}
	b.ReportMetric(float64(bestB)/float64(bestF), "ratio")
	b.ReportMetric(float64(cpuB)/float64(cpuF), "cpu_ratio")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
