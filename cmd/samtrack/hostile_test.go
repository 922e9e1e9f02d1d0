package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"samtrack/internal/testimg"
)

const sampleMP4 = "../../testdata/sample.mp4"

// writePrompts writes n point prompts of distinct ids on frame 0.
func writeManyPrompts(t *testing.T, dir, name string, n int) string {
	t.Helper()
	objs := make([]map[string]any, n)
	for i := range objs {
		objs[i] = map[string]any{"id": i + 1, "frame": 0, "points": [][]float64{{float64(10 + i%600), float64(10 + i/600%340)}}}
	}
	b, err := json.Marshal(map[string]any{"objects": objs})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTrackPromptLimit: a prompts file of 10,000 objects is refused at
// once, naming the limit; a file at the configured limit runs.
func TestTrackPromptLimit(t *testing.T) {
	dir := t.TempDir()
	huge := writeManyPrompts(t, dir, "huge.json", 10000)
	r, took, cpu, _ := runMeasured(t, "track", sampleMP4, "--prompts", huge, "--overlay=false", "--out", filepath.Join(dir, "huge"))
	if r.code == 0 {
		t.Fatal("10,000 prompts: exit 0; want a refusal")
	}
	if !strings.Contains(r.stderr, "10000 prompts") || !strings.Contains(r.stderr, "track.max_prompts") {
		t.Errorf("stderr does not name the count and the limit:\n%s", r.stderr)
	}
	if cpu > 2*time.Second || took > 10*time.Second {
		t.Errorf("refusing 10,000 prompts took %v CPU (%v wall); want under 2 s", cpu, took)
	}
	t.Logf("10,000 prompts refused in %v wall, %v CPU: %s", took, cpu, strings.TrimSpace(r.stderr))

	// At the limit (set to 4 here) the job runs; one over is refused.
	at := filepath.Join("..", "..", "testdata", "sample_prompts.json")
	env := "SAMTRACK_TRACK_MAX_PROMPTS=4"
	ok := runEnv(t, []string{env}, "track", sampleMP4, "--prompts", at, "--max-frames", "2", "--overlay=false", "--out", filepath.Join(dir, "at"))
	if ok.code != 0 {
		t.Fatalf("4 prompts with track.max_prompts = 4: exit %d\n%s", ok.code, ok.stderr)
	}
	over := writeManyPrompts(t, dir, "five.json", 5)
	r = runEnv(t, []string{env}, "track", sampleMP4, "--prompts", over, "--max-frames", "2", "--overlay=false", "--out", filepath.Join(dir, "over"))
	if r.code == 0 || !strings.Contains(r.stderr, "limit of 4") {
		t.Errorf("5 prompts with track.max_prompts = 4: exit %d\n%s", r.code, r.stderr)
	}
	// Per frame.
	r = runEnv(t, []string{"SAMTRACK_TRACK_MAX_FRAME_PROMPTS=3"}, "track", sampleMP4, "--prompts", at, "--max-frames", "2", "--overlay=false", "--out", filepath.Join(dir, "frame"))
	if r.code == 0 || !strings.Contains(r.stderr, "track.max_frame_prompts") {
		t.Errorf("4 prompts on frame 0 with track.max_frame_prompts = 3: exit %d\n%s", r.code, r.stderr)
	}
}

func runEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return run(t, args...)
}

// TestTrackSilentAcceptance: prompts that used to be accepted silently are
// errors (or, for a byte-order mark, accepted).
func TestTrackSilentAcceptance(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, prompts string
		extra         []string
		want          string // "" : success
	}{
		{"frame past the end", `{"objects": [{"id": 1, "frame": 100000, "points": [[150, 120]]}, {"id": 2, "box": [290, 50, 480, 180]}]}`,
			nil, "past the end: the input has 60 frames"},
		{"frame 2^63-1", `{"objects": [{"id": 1, "frame": 9223372036854775807, "points": [[150, 120]]}]}`,
			nil, "on frame 9223372036854775807, past the end"},
		{"frame past max_frames", `{"objects": [{"id": 1, "frame": 10, "points": [[150, 120]]}, {"id": 2, "box": [290, 50, 480, 180]}]}`,
			[]string{"--max-frames", "3"}, "run ended at frame 2 (video.max_frames)"},
		{"id 0", `{"objects": [{"id": 0, "points": [[150, 120]]}]}`, nil, "id 0 is the background"},
		{"id twice on one frame", `{"objects": [{"id": 3, "frame": 1, "points": [[150, 120]]}, {"id": 3, "frame": 1, "box": [290, 50, 480, 180]}]}`,
			nil, "object id 3 is prompted twice on frame 1"},
		{"id on two frames", `{"objects": [{"id": 3, "frame": 0, "points": [[150, 120]]}, {"id": 3, "frame": 1, "points": [[160, 125]]}]}`,
			[]string{"--max-frames", "3"}, ""},
		{"byte-order mark", "\xef\xbb\xbf" + `{"objects": [{"id": 1, "points": [[150, 120]]}]}`, []string{"--max-frames", "2"}, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(fmt.Sprintf("p%d.json", i), tc.prompts)
			args := append([]string{"track", sampleMP4, "--prompts", p, "--overlay=false", "--out", filepath.Join(dir, fmt.Sprint("o", i))}, tc.extra...)
			r := run(t, args...)
			if tc.want == "" {
				if r.code != 0 {
					t.Fatalf("exit %d; want success\n%s", r.code, r.stderr)
				}
				return
			}
			if r.code == 0 {
				t.Fatalf("exit 0; want an error saying %q\n%s", tc.want, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, r.stderr)
			}
		})
	}
}

// TestSegmentHugeImage: a small PNG that declares 20000x20000 pixels is
// refused from its header, quickly and without allocating the picture.
func TestSegmentHugeImage(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.png")
	if err := os.WriteFile(big, testimg.HugePNG(20000, 20000), 0o644); err != nil {
		t.Fatal(err)
	}
	res, took, cpu, rss := runMeasured(t, "segment", "--image", big, "--point", "10,10", "--out", filepath.Join(dir, "m.png"))
	if res.code == 0 {
		t.Fatal("a 20000x20000 image: exit 0; want a refusal")
	}
	if !strings.Contains(res.stderr, "20000x20000") || !strings.Contains(res.stderr, "video.max_pixels") {
		t.Errorf("stderr does not name the size and the limit:\n%s", res.stderr)
	}
	t.Logf("refused in %v wall, %v CPU, peak RSS %.0f MB: %s", took, cpu, float64(rss)/1e6, strings.TrimSpace(res.stderr))
	// CPU time, not wall time, is held to 2 s: the test machine is shared,
	// and the wall clock of a process start varies with its load. Decoding
	// the picture took 34 s of CPU.
	if cpu > 2*time.Second || took > 10*time.Second {
		t.Errorf("refusal took %v CPU (%v wall); want under 2 s", cpu, took)
	}
	if rss > 500e6 {
		t.Errorf("peak RSS %d bytes; want under 500 MB", rss)
	}
	// The same file as a one-image video input is refused from its header too.
	r := run(t, "track", big, "--point", "10,10", "--out", filepath.Join(dir, "o"))
	if r.code == 0 || !strings.Contains(r.stderr, "video.max_pixels") {
		t.Errorf("track on the image: exit %d\n%s", r.code, r.stderr)
	}
}

// runMeasured runs the binary and returns its wall time, CPU time (user +
// system) and peak RSS in bytes, from the kernel's accounting of the child.
func runMeasured(t *testing.T, args ...string) (r result, wall, cpu time.Duration, rss int64) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	wall = time.Since(start)
	r = result{stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run samtrack: %v", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
	return r, wall, cpu, ru.Maxrss * 1024 // Linux: KiB
}
