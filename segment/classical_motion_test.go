//go:build !nogocv

package segment

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"samtrack/mask"
	"samtrack/media"
)

// waves is a smooth random texture, defined at any real position so that a
// shifted copy is exact.
type waves [][4]float64 // per wave: fx, fy, phase, amplitude

func newWaves(seed uint64) waves {
	r := rand.New(rand.NewPCG(seed, 3))
	w := make(waves, 6)
	for i := range w {
		a := r.Float64() * 2 * math.Pi
		f := 0.08 + 0.15*r.Float64()
		w[i] = [4]float64{f * math.Cos(a), f * math.Sin(a), r.Float64() * 2 * math.Pi, 15 + 10*r.Float64()}
	}
	return w
}

func (w waves) at(x, y float64) float64 {
	v := 128.0
	for _, c := range w {
		v += c[3] * math.Sin(c[0]*x+c[1]*y+c[2])
	}
	return min(255, max(0, v))
}

// movingScene draws a textured background moved by (bx, by) and a
// differently textured square [x0,x0+s)² at (x0+ox, y0+oy).
func movingScene(bx, by, ox, oy float64) media.Image {
	const w, h, x0, y0, s = 240, 180, 80, 50, 70
	bg, ob := newWaves(1), newWaves(2)
	img := media.Image{W: w, H: h, RGB: make([]byte, w*h*3)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x), float64(y)
			v := bg.at(fx-bx, fy-by)
			c := [3]byte{byte(v), byte(v * 0.8), byte(255 - v)}
			if u, q := fx-ox-x0, fy-oy-y0; u >= 0 && q >= 0 && u < s && q < s {
				v = ob.at(u, q)
				c = [3]byte{byte(v), byte(255 - v), byte(v * 0.6)}
			}
			copy(img.RGB[(y*w+x)*3:], c[:])
		}
	}
	return img
}

// TestResidualMotion: the camera pans 3 px right while the square also
// drops 6 px; less the pan fitted outside the box, the background stands
// still and the square moves by about (0, 6).
func TestResidualMotion(t *testing.T) {
	a, b := movingScene(0, 0, 0, 0), movingScene(3, 0, 3, 6)
	seeds := make([]byte, a.W*a.H)
	for y := 0; y < a.H; y++ {
		for x := 0; x < a.W; x++ {
			if x < 60 || x >= 180 || y < 30 || y >= 150 {
				seeds[y*a.W+x] = gcBGD
			} else {
				seeds[y*a.W+x] = gcPrFGD
			}
		}
	}
	res, err := residualMotion(a.RGB, b.RGB, a.W, a.H, seeds)
	if err != nil {
		t.Fatal(err)
	}
	median := func(x0, y0, x1, y1, k int) float64 {
		var v []float64
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				v = append(v, float64(res[y*a.W+x][k]))
			}
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, c := range []struct {
		name           string
		x0, y0, x1, y1 int
		want           [2]float64
	}{
		{"background", 0, 0, 50, 180, [2]float64{0, 0}},
		{"square", 95, 65, 135, 105, [2]float64{0, 6}},
	} {
		got := [2]float64{median(c.x0, c.y0, c.x1, c.y1, 0), median(c.x0, c.y0, c.x1, c.y1, 1)}
		if math.Abs(got[0]-c.want[0]) > 0.75 || math.Abs(got[1]-c.want[1]) > 0.75 {
			t.Errorf("%s: median residual (%.2f, %.2f), want about (%.0f, %.0f)", c.name, got[0], got[1], c.want[0], c.want[1])
		}
	}
}

// TestSegmentNext: the next frame changes only prompts with a box; clicks
// alone and a next frame of another size give what Segment gives. Where
// nothing moves, the motion runs still find the object by colour.
func TestSegmentNext(t *testing.T) {
	c := newClassical(t)
	ctx := context.Background()
	img, truth := clScene()
	still := media.Image{W: img.W, H: img.H, RGB: slices.Clone(img.RGB)}
	other := media.Image{W: img.W / 2, H: img.H / 2, RGB: make([]byte, img.W/2*img.H/2*3)}
	box := &media.Box{X0: 112, Y0: 72, X1: 308, Y1: 238}
	click := []media.Point{{X: 210, Y: 155, Label: 1}}
	for _, tc := range []struct {
		name string
		p    media.Prompt
		next *media.Image
		same bool
	}{
		{"box alone", media.Prompt{Box: box}, &still, false},
		{"click alone", media.Prompt{Points: click}, &still, true},
		{"next frame of another size", media.Prompt{Box: box, Points: click}, &other, true},
		{"box and click", media.Prompt{Box: box, Points: click}, &still, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := c.Segment(ctx, img, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.SegmentNext(ctx, img, tc.next, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if tc.same && !slices.Equal(got.Mask.Pix, want.Mask.Pix) {
				t.Errorf("the next frame changed the mask (IoU %.3f with Segment's)", mask.IoU(got.Mask, want.Mask))
			}
			if iou := mask.IoU(got.Mask, truth); iou < 0.9 {
				t.Errorf("IoU %.3f, want ≥ 0.9", iou)
			}
		})
	}
}

// TestClickDepth: a click at a mask's centre lies deeper than one near its
// edge; one outside counts 0.
func TestClickDepth(t *testing.T) {
	b := mask.NewBitmap(60, 40)
	for y := 10; y < 30; y++ {
		for x := 10; x < 50; x++ {
			b.Pix[y*60+x] = 1
		}
	}
	at := func(x, y float64) float64 {
		return clickDepth(b, media.Prompt{Points: []media.Point{{X: x, Y: y, Label: 1}}})
	}
	if c, e, o := at(30, 20), at(12, 20), at(5, 5); !(c > 0.9 && e < 0.4 && e > 0 && o == 0) {
		t.Errorf("depth at centre %.2f, near the edge %.2f, outside %.2f", c, e, o)
	}
}

// TestMedoid: of three masks, one the other two bear out is kept.
func TestMedoid(t *testing.T) {
	rect := func(x0, x1 int) *mask.Bitmap {
		b := mask.NewBitmap(40, 10)
		for y := 0; y < 10; y++ {
			for x := x0; x < x1; x++ {
				b.Pix[y*40+x] = 1
			}
		}
		return b
	}
	// an outlier first, then two that nearly agree
	if got := medoid([]*mask.Bitmap{rect(0, 5), rect(10, 30), rect(12, 30)}); got != 1 && got != 2 {
		t.Errorf("medoid %d, want 1 or 2", got)
	}
	if got := medoid([]*mask.Bitmap{rect(0, 5)}); got != 0 {
		t.Errorf("medoid of one mask: %d", got)
	}
}
