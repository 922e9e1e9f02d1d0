package inpaint

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"samtrack/internal/synthclip"
	"samtrack/mask"
	"samtrack/media"
)

// TestRemoveSyntheticTruth removes the moving square with its true masks
// and compares the filled pixels with the known background; the output
// keeps the input's frames, timestamps and audio.
func TestRemoveSyntheticTruth(t *testing.T) {
	c := synthclip.Default()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.mp4"), filepath.Join(dir, "out.mp4")
	if err := c.Write(synthclip.Tool(t, "ffmpeg"), in); err != nil {
		t.Fatal(err)
	}
	res, err := Remove(context.Background(), Spec{Input: in, Out: out, Masks: func(f media.Frame) (*mask.Bitmap, error) {
		return c.Truth(f.Index), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sources of the filled pixels: %+v", res.Stats)
	if res.Synthesised != 0 {
		t.Errorf("%d pixels synthesised, but every hidden pixel shows in another frame", res.Synthesised)
	}
	rep, err := c.Measure(synthclip.Tool(t, "ffprobe"), in, out)
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

// TestFillerHoldsBoundedWindow: however long the video, the filler holds
// at most 2·Window+1 frames, returns every frame once, in order, and
// leaves frames without a hole untouched.
func TestFillerHoldsBoundedWindow(t *testing.T) {
	const w, h, n, window = 48, 32, 40, 3
	fl, err := NewFiller(Options{Window: window, Margin: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	var got []media.Frame
	var in [][]byte
	for i := 0; i < n; i++ {
		rgb := make([]byte, w*h*3)
		for p := range rgb {
			rgb[p] = byte((p*7 + i) % 251)
		}
		in = append(in, append([]byte(nil), rgb...))
		hole := mask.NewBitmap(w, h)
		if i%2 == 0 {
			hole.Pix[(h/2)*w+w/2] = 1
		}
		out, err := fl.Push(context.Background(), media.Frame{Index: i, Image: media.Image{W: w, H: h, RGB: rgb}}, hole)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out...)
		if len(fl.win) > 2*window+1 {
			t.Fatalf("after frame %d the filler holds %d frames, want at most %d", i, len(fl.win), 2*window+1)
		}
	}
	rest, err := fl.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, rest...)
	if len(got) != n {
		t.Fatalf("%d frames out, %d in", len(got), n)
	}
	for i, f := range got {
		if f.Index != i {
			t.Fatalf("frame %d came out as %d", i, f.Index)
		}
		if i%2 == 1 && !slices.Equal(f.RGB, in[i]) {
			t.Fatalf("frame %d had no hole but changed", i)
		}
	}
}
