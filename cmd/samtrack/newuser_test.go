package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The tests in this file are issue 9's: what a new user hits on clips the
// project had never seen, one test per numbered item, through the real
// binary.

const blackswanMP4 = shared + "/data/videos/blackswan.mp4"

// TestOutRefusesEarlierRun (item 5): a fresh run into a folder that holds a
// finished run is refused with a message naming --resume and --overwrite,
// and leaves the earlier masks alone; --overwrite replaces them.
func TestOutRefusesEarlierRun(t *testing.T) {
	needShared(t, blackswanMP4)
	out := filepath.Join(t.TempDir(), "out")
	args := func(frames string, extra ...string) []string {
		return append([]string{"track", blackswanMP4, "--point", "400,200", "--max-frames", frames, "--overlay=false", "--out", out}, extra...)
	}
	if r := run(t, args("12")...); r.code != 0 {
		t.Fatalf("first run: %s", r.stderr)
	}
	r := run(t, args("3")...)
	if r.code == 0 {
		t.Fatal("a second run without --resume or --overwrite replaced the first one")
	}
	for _, want := range []string{"--resume", "--overwrite", "12 frames", out} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal does not mention %q:\n%s", want, r.stderr)
		}
	}
	if n := countMasks(t, out); n != 12 {
		t.Errorf("after the refused run %d masks remain, want the first run's 12", n)
	}
	if r := run(t, args("3", "--overwrite")...); r.code != 0 {
		t.Fatalf("--overwrite: %s", r.stderr)
	}
	if m := readManifest(t, out); !m.Complete || m.FramesDone != 3 {
		t.Errorf("after --overwrite the manifest is %+v, want a complete 3-frame run", m)
	}
	if n := countMasks(t, out); n != 3 {
		t.Errorf("after --overwrite %d masks, want 3", n)
	}
}

func countMasks(t *testing.T, out string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(out, "masks", "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestSmallThings (item 7): --help exits 0 quietly, and a resume with other
// options names only the keys that differ.
func TestSmallThings(t *testing.T) {
	t.Run("help", func(t *testing.T) {
		for _, cmd := range []string{"track", "segment", "eval", "serve"} {
			r := run(t, cmd, "--help")
			if r.code != 0 {
				t.Errorf("%s --help: exit %d, want 0", cmd, r.code)
			}
			if strings.Contains(r.stdout+r.stderr, "help requested") {
				t.Errorf("%s --help prints pflag's error:\n%s", cmd, r.stderr)
			}
			if !strings.Contains(r.stdout, "--config") {
				t.Errorf("%s --help does not print the usage on stdout:\n%s", cmd, r.stdout)
			}
		}
	})
	t.Run("resume names the differing keys", func(t *testing.T) {
		needShared(t, blackswanMP4)
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"track", blackswanMP4, "--point", "400,200", "--max-frames", "3", "--overlay=false", "--out", out}
		if r := run(t, args...); r.code != 0 {
			t.Fatalf("first run: %s", r.stderr)
		}
		r := run(t, append(args, "--resume", "--sam-gap", "7")...)
		if r.code == 0 {
			t.Fatal("resume with another --sam-gap succeeded")
		}
		if !strings.Contains(r.stderr, "sam_gap") || !strings.Contains(r.stderr, "was 10, now 7") {
			t.Errorf("the refusal does not name sam_gap 10 -> 7:\n%s", r.stderr)
		}
		for _, other := range []string{"max_side", "propagator", "points_per_side"} {
			if strings.Contains(r.stderr, other) {
				t.Errorf("the refusal names %s, which did not change:\n%s", other, r.stderr)
			}
		}
	})
}
