package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"samtrack/mask"
)

// evalJF scores a masks directory against a DAVIS sequence with
// `samtrack eval` and returns its J&F-Mean.
type tracksDoc struct {
	Objects []struct {
		ID         int    `json:"id"`
		Source     string `json:"source"`
		FirstFrame int    `json:"first_frame"`
		LastFrame  int    `json:"last_frame"`
	} `json:"objects"`
}

func readTracks(t *testing.T, dir string) tracksDoc {
	t.Helper()
	var d tracksDoc
	b, err := os.ReadFile(filepath.Join(dir, "tracks.json"))
	if err == nil {
		err = json.Unmarshal(b, &d)
	}
	if err != nil {
		t.Fatalf("tracks.json: %v", err)
	}
	return d
}

// TestTrackBothDirectionsOnDAVIS is the acceptance check of tracking in
// both directions: blackswan prompted only with its ground-truth mask of
// the middle frame (the default direction is then both) scores within 0.05
// J&F of the same sequence tracked forwards from frame 0, with the built-in
// propagator; every frame before the prompt has the object, and tracks.json
// says it starts on frame 0. --direction backward gives exactly the frames
// up to the prompt, equal to the both run's.
func TestTrackBothDirectionsOnDAVIS(t *testing.T) {
	const seq, frames, mid = "blackswan", 50, 25
	needShared(t, davis)
	gt := davis + "/Annotations/480p/" + seq
	in := davis + "/JPEGImages/480p/" + seq
	track := func(name string, args ...string) string {
		out := filepath.Join(t.TempDir(), name)
		r := run(t, append([]string{"track", in, "--propagator", "builtin", "--overlay=false", "--out", out}, args...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", name, r.code, r.stderr)
		}
		if m := readManifest(t, out); !m.Complete {
			t.Fatalf("%s: manifest %+v", name, m)
		}
		if _, err := os.Stat(filepath.Join(out, "backward")); !os.IsNotExist(err) {
			t.Errorf("%s: the backward pass's labels were left behind (%v)", name, err)
		}
		return out
	}
	fwd := track("forward", "--mask", gt+"/00000.png")
	both := track("both", "--mask", fmt.Sprintf("%s/%05d.png", gt, mid), "--mask-frame", fmt.Sprint(mid))
	back := track("backward", "--mask", fmt.Sprintf("%s/%05d.png", gt, mid), "--mask-frame", fmt.Sprint(mid), "--direction", "backward")

	jfFwd, jfBoth := evalJF(t, gt, filepath.Join(fwd, "masks")), evalJF(t, gt, filepath.Join(both, "masks"))
	t.Logf("%s J&F-Mean: forwards from frame 0 %.4f, both directions from frame %d %.4f (difference %+.4f)", seq, jfFwd, mid, jfBoth, jfBoth-jfFwd)
	if d := jfBoth - jfFwd; d < -0.05 || d > 0.05 {
		t.Errorf("both directions score %.4f, not within 0.05 of forwards' %.4f", jfBoth, jfFwd)
	}

	for i := 0; i < frames; i++ {
		l, err := mask.ReadLabelPNGFile(filepath.Join(both, "masks", fmt.Sprintf("%05d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.IDs()) != 1 || l.IDs()[0] != 1 {
			t.Fatalf("both: frame %d has objects %v, want [1]", i, l.IDs())
		}
	}
	tr := readTracks(t, both)
	if len(tr.Objects) != 1 || tr.Objects[0].FirstFrame != 0 || tr.Objects[0].LastFrame != frames-1 || tr.Objects[0].Source != "mask" {
		t.Errorf("both: tracks.json %+v, want object 1 (source mask) on frames 0..%d", tr.Objects, frames-1)
	}

	for i := 0; i < frames; i++ {
		name := fmt.Sprintf("%05d.png", i)
		b, err := os.ReadFile(filepath.Join(back, "masks", name))
		if i > mid {
			if err == nil {
				t.Fatalf("backward: frame %d was written after the prompt's frame %d", i, mid)
			}
			continue
		}
		a, _ := os.ReadFile(filepath.Join(both, "masks", name))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("backward: frame %d differs from the both run's (%v)", i, err)
		}
	}
	if m := readManifest(t, back); m.FramesDone != mid+1 {
		t.Errorf("backward: %d frames done, want %d", m.FramesDone, mid+1)
	}
}

// TestTrackBothDirectionsResume: a run prompted on a later frame of an
// H.264 clip (read backwards from the file) and interrupted during its
// forward pass resumes to outputs identical to an uninterrupted run's.
func TestTrackBothDirectionsResume(t *testing.T) {
	needShared(t, catMP4)
	const frames, prompt = 90, 60
	prompts := filepath.Join(t.TempDir(), "prompts.json")
	if err := os.WriteFile(prompts, []byte(fmt.Sprintf(`{"objects": [{"frame": %d, "points": [[300, 170]]}]}`, prompt)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(out string) []string {
		return []string{"track", catMP4, "--prompts", prompts, "--max-frames", fmt.Sprint(frames), "--overlay=false", "--out", out}
	}
	full := filepath.Join(t.TempDir(), "full")
	if r := run(t, args(full)...); r.code != 0 {
		t.Fatalf("uninterrupted run: %s", r.stderr)
	}
	if m := readManifest(t, full); !m.Complete || m.FramesDone != frames {
		t.Fatalf("uninterrupted manifest: %+v", m)
	}
	tr := readTracks(t, full)
	if len(tr.Objects) != 1 || tr.Objects[0].FirstFrame >= prompt {
		t.Fatalf("tracks.json %+v: the object prompted on frame %d was not tracked backwards", tr.Objects, prompt)
	}
	t.Logf("object prompted on frame %d starts on frame %d", prompt, tr.Objects[0].FirstFrame)

	part := filepath.Join(t.TempDir(), "part")
	interruptRun(t, args(part), part, 10)
	if m := readManifest(t, part); m.Complete || m.FramesDone >= frames {
		t.Fatalf("interrupted manifest: %+v", m)
	}
	if _, err := os.Stat(filepath.Join(part, "backward", "done.json")); err != nil {
		t.Fatalf("the interrupted run did not keep its finished backward pass: %v", err)
	}
	r := run(t, append(args(part), "--resume")...)
	if r.code != 0 {
		t.Fatalf("resume: %s", r.stderr)
	}
	if m := readManifest(t, part); !m.Complete || m.FramesDone != frames {
		t.Fatalf("resumed manifest: %+v", m)
	}
	for i := 0; i < frames; i++ {
		name := fmt.Sprintf("%05d.png", i)
		a, _ := os.ReadFile(filepath.Join(full, "masks", name))
		b, _ := os.ReadFile(filepath.Join(part, "masks", name))
		if !bytes.Equal(a, b) {
			t.Fatalf("frame %d differs between the resumed and the uninterrupted run", i)
		}
	}
	for _, f := range []string{"annotations.json", "tracks.json"} {
		a, _ := os.ReadFile(filepath.Join(full, f))
		b, _ := os.ReadFile(filepath.Join(part, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the resumed and the uninterrupted run", f)
		}
	}
}
