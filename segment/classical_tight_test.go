//go:build !nogocv

package segment

import (
	"context"
	"image"
	"math/rand/v2"
	"testing"

	"samtrack/mask"
	"samtrack/media"
)

// tightScene is a 240×200 noisy grey frame holding three red shapes: an L
// (bars x 50-70 × y 50-150 and x 50-150 × y 130-150), a square B inside
// the L's bounding box but apart from it (x 100-135 × y 60-95), and a
// square D right of the L (x 165-185 × y 60-90). It returns the frame and
// the masks of the three.
func tightScene() (media.Image, [3]*mask.Bitmap) {
	const w, h = 240, 200
	img := media.Image{W: w, H: h, RGB: make([]byte, w*h*3)}
	var m [3]*mask.Bitmap
	rects := [][]image.Rectangle{
		{image.Rect(50, 50, 70, 150), image.Rect(50, 130, 150, 150)},
		{image.Rect(100, 60, 135, 95)},
		{image.Rect(165, 60, 185, 90)},
	}
	for i := range m {
		m[i] = mask.NewBitmap(w, h)
	}
	r := rand.New(rand.NewPCG(3, 5))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := byte(r.IntN(20))
			c := [3]byte{110 + n, 115 + n, 105 + n}
			for i, rs := range rects {
				for _, rc := range rs {
					if image.Pt(x, y).In(rc) {
						c = [3]byte{200 + n, 50 + n, 40 + n}
						m[i].Pix[y*w+x] = 1
					}
				}
			}
			copy(img.RGB[(y*w+x)*3:], c[:])
		}
	}
	return img, m
}

// TestClassicalTightBox checks the tight-box prior on real GrabCut output:
// a blob of the object's colour inside the span the object already covers
// is dropped, and one that the tight box says belongs to the object
// (because it widens that span) is kept. Without a box, the blobs of the
// clicked colour that no click lands on are dropped.
func TestClassicalTightBox(t *testing.T) {
	img, m := tightScene()
	l, b, d := m[0], m[1], m[2]
	c := newClassical(t)
	click := []media.Point{{X: 60, Y: 100, Label: 1}}
	for _, tc := range []struct {
		name       string
		p          media.Prompt
		want, gone []*mask.Bitmap
	}{
		{"box on the L", media.Prompt{Box: &media.Box{X0: 50, Y0: 50, X1: 150, Y1: 150}}, []*mask.Bitmap{l}, []*mask.Bitmap{b, d}},
		{"box on the L and D", media.Prompt{Box: &media.Box{X0: 50, Y0: 50, X1: 185, Y1: 150}}, []*mask.Bitmap{l, d}, []*mask.Bitmap{b}},
		{"box and click on the L", media.Prompt{Box: &media.Box{X0: 50, Y0: 50, X1: 150, Y1: 150}, Points: click}, []*mask.Bitmap{l}, []*mask.Bitmap{b, d}},
		{"click on the L alone", media.Prompt{Points: click}, []*mask.Bitmap{l}, []*mask.Bitmap{b, d}},
		{"clicks on the L and D", media.Prompt{Points: append([]media.Point{{X: 175, Y: 75, Label: 1}}, click...)}, []*mask.Bitmap{l, d}, []*mask.Bitmap{b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Segment(context.Background(), img, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if got := covered(res.Mask, w); got < 0.9 {
					t.Errorf("kept %.2f of a shape the tight box implies, want >= 0.9", got)
				}
			}
			for _, g := range tc.gone {
				if got := covered(res.Mask, g); got > 0.05 {
					t.Errorf("kept %.2f of a blob the prompt does not designate, want <= 0.05", got)
				}
			}
		})
	}
}

// covered is the share of want's pixels that got has.
func covered(got, want *mask.Bitmap) float64 {
	n := 0
	for i, v := range want.Pix {
		if v != 0 && got.Pix[i] != 0 {
			n++
		}
	}
	return float64(n) / float64(max(1, want.Area()))
}

// BenchmarkClassicalTightBox times a box prompt on DAVIS blackswan frame 0
// (854×480) end to end, by default and with pinpoint and the biased run
// off (cv::grabCut alone, the segmenter before them: the baseline its cost
// is quoted against), and the tight-box filter alone on its result, so
// that the filter's cost is quoted as a share of the prompt's; then the
// box, and the box with a click, with frame 1 as the next frame (the path
// of a prompt on a video).
func BenchmarkClassicalTightBox(b *testing.B) {
	const root = "../../shared/data/davis"
	img := readRGB(b, root+"/JPEGImages/480p/blackswan/00000.jpg")
	next := readRGB(b, root+"/JPEGImages/480p/blackswan/00001.jpg")
	truth := readAnnotation(b, root+"/Annotations/480p/blackswan/00000.png")
	prompts, err := davisPrompts(truth)
	if err != nil {
		b.Fatal(err)
	}
	p := prompts["box"]
	c := newClassical(b)
	res, err := c.Segment(context.Background(), img, p)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("segment", func(b *testing.B) {
		for range b.N {
			if _, err := c.Segment(context.Background(), img, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	o := DefaultClassicalOptions()
	o.PinpointRounds, o.BoxBias = 0, 0
	plain, err := NewClassical(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("segment-cv-grabcut", func(b *testing.B) {
		for range b.N {
			if _, err := plain.Segment(context.Background(), img, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("filter", func(b *testing.B) {
		for range b.N {
			if _, err := tightComponents(res.Mask, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, kind := range []string{"box", "box+click"} {
		b.Run("segment-next-"+kind, func(b *testing.B) {
			for range b.N {
				if _, err := c.SegmentNext(context.Background(), img, &next, prompts[kind]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
