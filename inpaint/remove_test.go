package inpaint

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"samtrack/mask"
	"samtrack/video"
)

// TestRemoveSyntheticTruth removes the moving square with its true masks
// and compares the filled pixels with the known background.
func TestRemoveSyntheticTruth(t *testing.T) {
	c := defaultClip()
	dir := tempDir(t)
	in, out := filepath.Join(dir, "in.mp4"), filepath.Join(dir, "out.mp4")
	c.write(t, in)
	res, err := Remove(context.Background(), Spec{Input: in, Out: out, Masks: func(f video.Frame) (*mask.Bitmap, error) {
		return c.truth(f.Index), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("result: %+v", res)
	checkSynthetic(t, c, in, out)
}

// checkSynthetic asserts the acceptance figures of a removal of the square.
func checkSynthetic(t *testing.T, c synthClip, in, out string) {
	t.Helper()
	src, got := decodeAll(t, in), decodeAll(t, out)
	if len(got) != len(src) || len(src) != c.n {
		t.Fatalf("output has %d frames, input %d, clip %d", len(got), len(src), c.n)
	}
	for i := range got {
		if got[i].PTS != src[i].PTS {
			t.Fatalf("frame %d: output timestamp %v, input %v", i, got[i].PTS, src[i].PTS)
		}
	}
	if a, b := audioPackets(t, in), audioPackets(t, out); len(a) == 0 || !slices.Equal(a, b) {
		t.Fatalf("audio differs: input %d packets, output %d", len(a), len(b))
	}
	bg := c.background()
	var seen = mask.NewBitmap(c.w, c.h) // background visible in some frame
	for i := 0; i < c.n; i++ {
		m := c.truth(i)
		for p, v := range m.Pix {
			if v == 0 {
				seen.Pix[p] = 1
			}
		}
	}
	var sum, n float64
	worst := 0.0
	for i, f := range got {
		var fs, fn float64
		for p, v := range c.truth(i).Pix {
			if v == 0 || seen.Pix[p] == 0 {
				continue
			}
			for ch := 0; ch < 3; ch++ {
				fs += math.Abs(float64(f.RGB[p*3+ch]) - float64(bg[p*3+ch]))
				fn++
			}
		}
		sum, n = sum+fs, n+fn
		if fs/fn > 4 {
			var es, en float64
			for p := range bg {
				es += math.Abs(float64(f.RGB[p]) - float64(bg[p]))
				en++
			}
			t.Logf("frame %d: MAE %.2f in the filled region, %.2f over the whole frame", i, fs/fn, es/en)
		}
		worst = math.Max(worst, fs/fn)
	}
	mae := sum / n
	// The encoding floor: the same error where nothing was filled (far from
	// the square), in the input and in the output.
	for name, fr := range map[string][]video.Frame{"input": src, "output": got} {
		var es, en float64
		for i, f := range fr {
			far, _ := c.truth(i).DilateDisk(30)
			for p, v := range far.Pix {
				if v == 0 {
					for ch := 0; ch < 3; ch++ {
						es += math.Abs(float64(f.RGB[p*3+ch]) - float64(bg[p*3+ch]))
						en++
					}
				}
			}
		}
		t.Logf("%s vs true background away from the square (encoding floor): MAE %.2f/255", name, es/en)
	}
	t.Logf("filled region vs true background: MAE %.2f/255 over %d frames (worst frame %.2f)", mae, len(got), worst)
	if mae >= 3 {
		t.Fatalf("MAE %.2f/255 in the filled region, want < 3", mae)
	}
}
