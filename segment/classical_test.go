//go:build !nogocv

package segment

import (
	"context"
	"image"
	"image/draw"
	_ "image/jpeg"
	_ "image/png"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/mask"
	"samtrack/media"
)

// clScene is a 400×300 frame: a textured grey-green background with a
// red-orange ellipse (itself slightly noisy), and its true mask.
func clScene() (media.Image, *mask.Bitmap) {
	const w, h = 400, 300
	img := media.Image{W: w, H: h, RGB: make([]byte, w*h*3)}
	truth := mask.NewBitmap(w, h)
	r := rand.New(rand.NewPCG(7, 11))
	sh := evShape{ellipse: true, x0: 120, y0: 80, x1: 300, y1: 230}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := byte(r.IntN(24))
			c := [3]byte{90 + n, 120 + n, 80 + byte((x/16+y/16)%2)*30}
			if sh.contains(x, y) {
				c = [3]byte{200 + n/2, 70 + n, 40 + n}
				truth.Pix[y*w+x] = 1
			}
			copy(img.RGB[(y*w+x)*3:], c[:])
		}
	}
	return img, truth
}

func newClassical(t testing.TB) *Classical {
	t.Helper()
	c, err := NewClassical(DefaultClassicalOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClassicalSynthetic(t *testing.T) {
	img, truth := clScene()
	c := newClassical(t)
	for _, tc := range []struct {
		name string
		p    media.Prompt
	}{
		{"box", media.Prompt{Box: &media.Box{X0: 112, Y0: 72, X1: 308, Y1: 238}}},
		{"point", media.Prompt{Points: []media.Point{{X: 210, Y: 155, Label: 1}}}},
		{"points+negative", media.Prompt{Points: []media.Point{{X: 210, Y: 155, Label: 1}, {X: 40, Y: 40, Label: 0}}}},
		{"box+point", media.Prompt{Box: &media.Box{X0: 100, Y0: 60, X1: 320, Y1: 250}, Points: []media.Point{{X: 210, Y: 155, Label: 1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Segment(context.Background(), img, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			iou := mask.IoU(res.Mask, truth)
			t.Logf("IoU %.3f, score %.3f", iou, res.Score)
			if iou < 0.9 {
				t.Errorf("IoU %.3f, want ≥ 0.9", iou)
			}
		})
	}
}

// readRGB decodes an image file to an Image.
func readRGB(t testing.TB, path string) media.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		testenv.Missing(t, "DAVIS frame not available (shared data not mounted): %v", err)
	}
	defer f.Close()
	im, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	b := im.Bounds()
	rgba := image.NewRGBA(b)
	draw.Draw(rgba, b, im, b.Min, draw.Src)
	out := media.Image{W: b.Dx(), H: b.Dy(), RGB: make([]byte, b.Dx()*b.Dy()*3)}
	for i := 0; i < out.W*out.H; i++ {
		copy(out.RGB[i*3:i*3+3], rgba.Pix[i*4:i*4+3])
	}
	return out
}

// readAnnotation decodes a DAVIS palette PNG to the mask of every object.
func readAnnotation(t testing.TB, path string) *mask.Bitmap {
	t.Helper()
	return readAnnotationID(t, path, 0)
}

// readAnnotationID decodes a DAVIS palette PNG to the mask of object id,
// or with id 0 of every object (DAVIS 2017's void index 255 is none).
func readAnnotationID(t testing.TB, path string, id int) *mask.Bitmap {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		testenv.Missing(t, "DAVIS annotation not available: %v", err)
	}
	defer f.Close()
	im, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	p, ok := im.(*image.Paletted)
	if !ok {
		t.Fatalf("%s is not a palette PNG", path)
	}
	b := mask.NewBitmap(p.Rect.Dx(), p.Rect.Dy())
	for y := 0; y < b.H; y++ {
		for x := 0; x < b.W; x++ {
			v := int(p.Pix[y*p.Stride+x])
			if id == 0 && v != 0 && v != 255 || id > 0 && v == id {
				b.Pix[y*b.W+x] = 1
			}
		}
	}
	return b
}

func TestClassicalBadInput(t *testing.T) {
	c := newClassical(t)
	ctx := context.Background()
	img, _ := clScene()
	for _, tc := range []struct {
		name string
		img  media.Image
		p    media.Prompt
	}{
		{"empty prompt", img, media.Prompt{}},
		{"negative only", img, media.Prompt{Points: []media.Point{{X: 5, Y: 5, Label: 0}}}},
		{"point outside", img, media.Prompt{Points: []media.Point{{X: 500, Y: 5, Label: 1}}}},
		{"short pixels", media.Image{W: 10, H: 10, RGB: make([]byte, 10)}, media.Prompt{Points: []media.Point{{X: 5, Y: 5, Label: 1}}}},
		{"empty box", img, media.Prompt{Box: &media.Box{X0: 10, Y0: 10, X1: 10, Y1: 40}}},
	} {
		if _, err := c.Segment(ctx, tc.img, tc.p); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// Degenerate but valid inputs must not reach OpenCV in a state that
	// aborts the process.
	tiny := media.Image{W: 4, H: 3, RGB: make([]byte, 36)}
	for _, p := range []media.Prompt{
		{Points: []media.Point{{X: 1, Y: 1, Label: 1}}},
		{Box: &media.Box{X0: 0, Y0: 0, X1: 4, Y1: 3}},
	} {
		if _, err := c.Segment(ctx, tiny, p); err != nil {
			t.Errorf("tiny frame: %v", err)
		}
	}
	if res, err := c.Segment(ctx, img, media.Prompt{Box: &media.Box{X0: 0, Y0: 0, X1: 400, Y1: 300}}); err != nil || res.Mask == nil {
		t.Errorf("whole-frame box: %v", err)
	}
	for _, o := range []ClassicalOptions{{}, {MaxSide: 512, Iterations: 0, SeedRadius: 0.06}} {
		if _, err := NewClassical(o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// rssBytes reads the resident set size from /proc.
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func TestClassicalNoLeak(t *testing.T) {
	// A 1600×1200 frame worked at 256 px: GrabCut is cheap, while the
	// native Mats are large (the upsampled mask alone is 1.9 MB), so a Mat
	// left open on any path shows as tens of MB over the loop.
	small, _ := clScene()
	const w, h = 1600, 1200
	img := media.Image{W: w, H: h, RGB: make([]byte, w*h*3)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			copy(img.RGB[(y*w+x)*3:][:3], small.RGB[((y/4)*small.W+x/4)*3:])
		}
	}
	o := DefaultClassicalOptions()
	o.Iterations, o.MaxSide = 1, 256
	c, err := NewClassical(o)
	if err != nil {
		t.Fatal(err)
	}
	p := media.Prompt{Box: &media.Box{X0: 448, Y0: 288, X1: 1232, Y1: 952}, Points: []media.Point{{X: 840, Y: 620, Label: 1}}}
	run := func(n int) {
		for i := 0; i < n; i++ {
			var next *media.Image // every other call takes the motion runs too
			if i%2 == 1 {
				next = &img
			}
			if _, err := c.SegmentNext(context.Background(), img, next, p); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		debug.FreeOSMemory()
	}
	run(5)
	before := rssBytes(t)
	const n = 40
	run(n)
	after := rssBytes(t)
	if grow := after - before; grow > 20<<20 { // a leaked 1.9 MB mask a call would be 76 MB
		t.Errorf("resident memory grew by %d MB over %d calls; a Mat is not closed", grow>>20, n)
	}
	t.Logf("RSS %d MB -> %d MB over %d calls", before>>20, after>>20, n)
}
