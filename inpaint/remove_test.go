package inpaint

import (
	"context"
	"path/filepath"
	"testing"

	"samtrack/internal/synthclip"
	"samtrack/mask"
	"samtrack/video"
)

// TestRemoveSyntheticTruth removes the moving square with its true masks
// and compares the filled pixels with the known background; the output
// keeps the input's frames, timestamps and audio.
func TestRemoveSyntheticTruth(t *testing.T) {
	c := synthclip.Default()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.mp4"), filepath.Join(dir, "out.mp4")
	if err := c.Write(tool(t, "ffmpeg"), in); err != nil {
		t.Fatal(err)
	}
	res, err := Remove(context.Background(), Spec{Input: in, Out: out, Masks: func(f video.Frame) (*mask.Bitmap, error) {
		return c.Truth(f.Index), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sources of the filled pixels: %+v", res.Stats)
	if res.Synthesised != 0 {
		t.Errorf("%d pixels synthesised, but every hidden pixel shows in another frame", res.Synthesised)
	}
	rep, err := c.Measure(tool(t, "ffprobe"), in, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if rep.FillMAE >= 3 {
		t.Fatalf("MAE %.2f/255 in the filled region, want < 3", rep.FillMAE)
	}
}

func TestDistances(t *testing.T) {
	got := distances(30)
	want := []int{1, 2, 3, 4, 5, 7, 9, 12, 15, 19, 24, 30}
	if len(got) != len(want) {
		t.Fatalf("distances(30) = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("distances(30) = %v, want %v", got, want)
		}
	}
}
