package inpaint

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samtrack/internal/testgen"
	"samtrack/mask"
	"samtrack/ort"
)

// writeLaMa writes the generated LaMa-contract model with the given output
// scale and skips (fails under CI) without ONNX Runtime.
func writeLaMa(t *testing.T, scale float32) string {
	t.Helper()
	_, err := ort.FindLibrary()
	need(t, "ONNX Runtime not available: run scripts/setup.sh", err)
	p := filepath.Join(t.TempDir(), "lama.onnx")
	if err := testgen.WriteLaMa(p, scale); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLaMaFidelity runs the adapter on the generated model, which fills
// the hole with the mean colour of the pixels around it (within the crop
// the adapter shows it), for both output scales: away from the hole's rim
// the filled pixels have the crop's mean known colour, computed here
// independently, and no pixel outside the hole changes.
func TestLaMaFidelity(t *testing.T) {
	const w, h = 200, 150
	frame := make([]byte, w*h*3)
	for i := 0; i < w*h; i++ {
		x, y := i%w, i/w
		frame[i*3], frame[i*3+1], frame[i*3+2] = byte(40+x), byte(200-y), byte((x*y)%97+60)
	}
	hole := mask.NewBitmap(w, h)
	for y := 60; y < 90; y++ {
		for x := 80; x < 130; x++ {
			hole.Pix[y*w+x] = 1
		}
	}
	r, _ := cropAround(hole)
	var want [3]float64
	n := 0.0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if hole.Pix[y*w+x] == 0 {
				for c := 0; c < 3; c++ {
					want[c] += float64(frame[(y*w+x)*3+c])
				}
				n++
			}
		}
	}
	for c := range want {
		want[c] /= n
	}
	inner, _ := hole.ErodeDisk(3)
	for _, scale := range []float32{255, 1} {
		l, err := OpenLaMa(writeLaMa(t, scale), "")
		if err != nil {
			t.Fatal(err)
		}
		got := append([]byte(nil), frame...)
		if err := l.Synthesize(got, w, h, hole); err != nil {
			t.Fatal(err)
		}
		l.Close()
		worst := 0.0
		for p := range hole.Pix {
			for c := 0; c < 3; c++ {
				switch {
				case hole.Pix[p] == 0 && got[p*3+c] != frame[p*3+c]:
					t.Fatalf("scale %v: pixel %d outside the hole changed", scale, p)
				case inner.Pix[p] != 0:
					worst = math.Max(worst, math.Abs(float64(got[p*3+c])-want[c]))
				}
			}
		}
		t.Logf("output scale %v: inside the hole the fill is within %.1f of the crop's mean colour %.1f", scale, worst, want)
		if worst > 2.5 {
			t.Errorf("output scale %v: fill differs from the mean known colour by %.1f, want <= 2.5", scale, worst)
		}
	}
}

// TestLaMaRefusesOtherModels: a model without the LaMa layout is refused
// by name.
func TestLaMaRefusesOtherModels(t *testing.T) {
	_, err := ort.FindLibrary()
	need(t, "ONNX Runtime not available: run scripts/setup.sh", err)
	b, err := testgen.SAMDecoder(false)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "decoder.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = OpenLaMa(p, "")
	if err == nil || !strings.Contains(err.Error(), "not a LaMa inpainter") || !strings.Contains(err.Error(), "sam1-decoder") {
		t.Fatalf("OpenLaMa(SAM decoder) = %v, want a refusal naming the layout found", err)
	}
}
