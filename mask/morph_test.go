package mask

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestResizeNearest(t *testing.T) {
	l := &LabelMap{W: 3, H: 2, Pix: []uint16{1, 2, 3, 4, 5, 300}}
	up, err := l.ResizeNearest(6, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{
		1, 1, 2, 2, 3, 3,
		1, 1, 2, 2, 3, 3,
		4, 4, 5, 5, 300, 300,
		4, 4, 5, 5, 300, 300,
	}
	if !slices.Equal(up.Pix, want) {
		t.Errorf("upscale %v, want %v", up.Pix, want)
	}
	down, err := up.ResizeNearest(3, 2)
	if err != nil || !slices.Equal(down.Pix, l.Pix) {
		t.Errorf("downscale %v (%v), want %v", down.Pix, err, l.Pix)
	}
	// 5 -> 2 picks source columns floor(0*5/2)=0 and floor(1*5/2)=2.
	b := bitmapFromRows("10100")
	d, err := b.ResizeNearest(2, 1)
	if err != nil || !slices.Equal(d.Pix, []uint8{1, 1}) {
		t.Errorf("5->2 %v (%v), want [1 1]", d.Pix, err)
	}
	for _, sz := range [][2]int{{0, 3}, {3, 0}, {-1, 2}} {
		if _, err := b.ResizeNearest(sz[0], sz[1]); err == nil {
			t.Errorf("no error for target %v", sz)
		}
	}
	if _, err := NewLabelMap(0, 0).ResizeNearest(2, 2); err == nil {
		t.Error("no error for an empty source")
	}
}

// bruteDilate is the definition: a pixel is inside when some inside pixel
// lies within dx²+dy² ≤ r².
func bruteDilate(b *Bitmap, r int) *Bitmap {
	out := NewBitmap(b.W, b.H)
	for y := 0; y < b.H; y++ {
		for x := 0; x < b.W; x++ {
			for dy := -r; dy <= r && out.Pix[y*b.W+x] == 0; dy++ {
				for dx := -r; dx <= r; dx++ {
					xx, yy := x+dx, y+dy
					if dx*dx+dy*dy <= r*r && xx >= 0 && yy >= 0 && xx < b.W && yy < b.H && b.Pix[yy*b.W+xx] != 0 {
						out.Pix[y*b.W+x] = 1
						break
					}
				}
			}
		}
	}
	return out
}

// bruteErode: inside when every disk offset inside the image is inside.
func bruteErode(b *Bitmap, r int) *Bitmap {
	out := NewBitmap(b.W, b.H)
	for y := 0; y < b.H; y++ {
		for x := 0; x < b.W; x++ {
			in := uint8(1)
			for dy := -r; dy <= r; dy++ {
				for dx := -r; dx <= r; dx++ {
					xx, yy := x+dx, y+dy
					if dx*dx+dy*dy <= r*r && xx >= 0 && yy >= 0 && xx < b.W && yy < b.H && b.Pix[yy*b.W+xx] == 0 {
						in = 0
					}
				}
			}
			out.Pix[y*b.W+x] = in
		}
	}
	return out
}

func TestDilateErodeDisk(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, r := range []int{0, 1, 2, 3, 5, 8} {
		for _, fill := range []float64{0, 0.01, 0.2, 0.9} {
			w, h := 5+rng.IntN(40), 5+rng.IntN(40)
			b := NewBitmap(w, h)
			for i := range b.Pix {
				if rng.Float64() < fill {
					b.Pix[i] = 1
				}
			}
			d, err := b.DilateDisk(r)
			if err != nil {
				t.Fatal(err)
			}
			if !equalBitmaps(d, bruteDilate(b, r)) {
				t.Errorf("dilate r=%d fill=%v %dx%d differs from the definition", r, fill, w, h)
			}
			e, err := b.ErodeDisk(r)
			if err != nil {
				t.Fatal(err)
			}
			if !equalBitmaps(e, bruteErode(b, r)) {
				t.Errorf("erode r=%d fill=%v %dx%d differs from the definition", r, fill, w, h)
			}
		}
	}
	// The radius-8 disk has 197 offsets (skimage.morphology.disk(8).sum()).
	one := NewBitmap(17, 17)
	one.Pix[8*17+8] = 1
	d, _ := one.DilateDisk(8)
	if got := d.Area(); got != 197 {
		t.Errorf("disk(8) area %d, want 197", got)
	}
	if _, err := one.DilateDisk(-1); err == nil {
		t.Error("no error for a negative radius")
	}
	if err := DilateDiskInto(NewBitmap(3, 3), one, 1); err == nil {
		t.Error("no error for a destination of another size")
	}
}

func BenchmarkDilateDisk8Contour(b *testing.B) {
	m := randomBlobs(854, 480, 2)
	// keep only a one-pixel contour, as the DAVIS F measure dilates
	c := NewBitmap(m.W, m.H)
	for y := 0; y < m.H-1; y++ {
		for x := 0; x < m.W-1; x++ {
			i := y*m.W + x
			if m.Pix[i] != m.Pix[i+1] || m.Pix[i] != m.Pix[i+m.W] {
				c.Pix[i] = 1
			}
		}
	}
	dst := NewBitmap(m.W, m.H)
	for b.Loop() {
		DilateDiskInto(dst, c, 8)
	}
}

// TestDownsampleUndoesResizeNearest: scaling a working-size label map up to
// the source size and back gives it back exactly, for ratios that are not
// whole numbers too (what a resumed run with video.max_side relies on).
func TestDownsampleUndoesResizeNearest(t *testing.T) {
	for _, tc := range []struct{ w, h, sw, sh int }{{427, 240, 854, 480}, {1280, 720, 1920, 1080}, {97, 61, 853, 479}, {5, 3, 5, 3}} {
		m := NewLabelMap(tc.w, tc.h)
		for i := range m.Pix {
			m.Pix[i] = uint16(i*7919) % 13
		}
		up, err := m.ResizeNearest(tc.sw, tc.sh)
		if err != nil {
			t.Fatal(err)
		}
		back, err := up.Downsample(tc.w, tc.h)
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.Pix {
			if back.Pix[i] != m.Pix[i] {
				t.Fatalf("%dx%d via %dx%d: pixel %d is %d, was %d", tc.w, tc.h, tc.sw, tc.sh, i, back.Pix[i], m.Pix[i])
			}
		}
	}
	if _, err := NewLabelMap(4, 4).Downsample(8, 4); err == nil {
		t.Error("Downsample to a larger size accepted")
	}
}
