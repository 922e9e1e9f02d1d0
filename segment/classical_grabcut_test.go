//go:build !nogocv

package segment

import (
	"image"
	"math/rand/v2"
	"testing"
)

// legsScene is a 200×160 frame of grey noise with blue patches (x 0-60
// and 140-200 over y 90-160), and an object whose top (x 70-130 × y
// 30-100) is red and whose legs (x 80-120 × y 100-140) are the blue of the
// background. It returns the colours and the object's box.
func legsScene() ([]byte, int, int, image.Rectangle) {
	const w, h = 200, 160
	rgb := make([]byte, w*h*3)
	r := rand.New(rand.NewPCG(7, 11))
	blue := []image.Rectangle{image.Rect(0, 90, 60, 160), image.Rect(140, 90, 200, 160), image.Rect(80, 100, 120, 140)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := byte(r.IntN(16))
			c := [3]byte{120 + n, 120 + n, 120 + n}
			if image.Pt(x, y).In(image.Rect(70, 30, 130, 100)) {
				c = [3]byte{200 + n, 40 + n, 40 + n}
			}
			for _, b := range blue {
				if image.Pt(x, y).In(b) {
					c = [3]byte{30 + n, 60 + n, 200 + n}
				}
			}
			copy(rgb[(y*w+x)*3:], c[:])
		}
	}
	return rgb, w, h, image.Rect(70, 30, 130, 140)
}

// boxSeeds are GrabCut's seeds for box r: outside background, inside
// probable foreground.
func boxSeeds(w, h int, r image.Rectangle) []byte {
	s := make([]byte, w*h)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			s[y*w+x] = gcPrFGD
		}
	}
	return s
}

// emptyLines counts the rows and columns of r with no foreground.
func emptyLines(g *grabCut, r image.Rectangle) int {
	empty := func(x, y, dx, dy, n int) int {
		for k := range n {
			if isFG(g.labels[(y+k*dy)*g.w+x+k*dx]) {
				return 0
			}
		}
		return 1
	}
	c := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		c += empty(r.Min.X, y, 1, 0, r.Dx())
	}
	for x := r.Min.X; x < r.Max.X; x++ {
		c += empty(x, r.Min.Y, 0, 1, r.Dy())
	}
	return c
}

// TestGrabCutPinpoint checks the tight-box prior at pixel level on a
// legged object whose legs have the background's colour: plain GrabCut
// drops the legs, leaving box rows empty; pinpoint reports those rows and
// leaves none empty. (Here colour cannot tell the legs from the blue
// around them, so it pins one pixel a row and does not bring them back
// whole; on DAVIS dog and dance-twirl it does, TestClassicalDAVISNine.)
func TestGrabCutPinpoint(t *testing.T) {
	rgb, w, h, box := legsScene()
	g := newGrabCut(rgb, w, h, boxSeeds(w, h, box), 50)
	if err := g.iterate(5); err != nil {
		t.Fatal(err)
	}
	before := emptyLines(g, box)
	if before < 20 {
		t.Fatalf("plain GrabCut left %d box rows and columns empty; the scene no longer tests pinpoint", before)
	}
	pins, err := g.pinpoint(box, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if pins != before {
		t.Errorf("pinpoint reported %d empty rows and columns, want %d", pins, before)
	}
	if n := emptyLines(g, box); n != 0 {
		t.Errorf("%d box rows and columns still empty after pinpoint", n)
	}
	t.Logf("empty rows and columns: %d before pinpoint, %d after", before, emptyLines(g, box))
}
