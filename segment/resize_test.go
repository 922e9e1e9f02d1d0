package segment

import (
	"math"
	"math/rand"
	"testing"

	"samtrack/media"
)

// refBilinear is the textbook half-pixel bilinear resize (torch
// F.interpolate, align_corners=False, no antialias), one output at a time.
func refBilinear(src []float32, sw, sh, dw, dh int) []float32 {
	dst := make([]float32, dw*dh)
	coord := func(i, in, out int) (int, int, float64) {
		s := (float64(i)+0.5)*float64(in)/float64(out) - 0.5
		if s < 0 {
			s = 0
		}
		i0 := min(int(s), in-1)
		i1 := min(i0+1, in-1)
		return i0, i1, s - float64(i0)
	}
	for y := 0; y < dh; y++ {
		y0, y1, ly := coord(y, sh, dh)
		for x := 0; x < dw; x++ {
			x0, x1, lx := coord(x, sw, dw)
			v := (1-ly)*((1-lx)*float64(src[y0*sw+x0])+lx*float64(src[y0*sw+x1])) +
				ly*((1-lx)*float64(src[y1*sw+x0])+lx*float64(src[y1*sw+x1]))
			dst[y*dw+x] = float32(v)
		}
	}
	return dst
}

func maxAbs(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

func randPlane(n int, seed int64) []float32 {
	r := rand.New(rand.NewSource(seed))
	p := make([]float32, n)
	for i := range p {
		p[i] = float32(r.NormFloat64() * 5)
	}
	return p
}

func TestLinearResize(t *testing.T) {
	for _, c := range [][4]int{{256, 256, 854, 480}, {256, 256, 1920, 1080}, {256, 256, 100, 60}, {7, 5, 3, 11}, {1, 1, 4, 4}} {
		src := randPlane(c[0]*c[1], 1)
		got := make([]float32, c[2]*c[3])
		resizer{kx: linearKernel(c[0], c[2]), ky: linearKernel(c[1], c[3])}.resize(src, got, nil)
		if d := maxAbs(got, refBilinear(src, c[0], c[1], c[2], c[3])); d > 1e-4 {
			t.Errorf("%v: max diff %g", c, d)
		}
	}
}

// The SAM v1 upscale in one separable step equals the graph's three steps
// (256→1024, crop, →frame).
func TestSAM1UpscaleComposition(t *testing.T) {
	for _, sz := range [][2]int{{854, 480}, {480, 854}, {1920, 1080}, {640, 640}, {333, 17}} {
		w, h := sz[0], sz[1]
		src := randPlane(LowResSize*LowResSize, 2)
		big := refBilinear(src, LowResSize, LowResSize, EncoderSize, EncoderSize)
		cw, ch := sam1CropSize(w, h)
		crop := make([]float32, cw*ch)
		for y := 0; y < ch; y++ {
			copy(crop[y*cw:(y+1)*cw], big[y*EncoderSize:])
		}
		want := refBilinear(crop, cw, ch, w, h)
		got := make([]float32, w*h)
		sam1Upscaler(w, h).resize(src, got, nil)
		if d := maxAbs(got, want); d > 1e-4 {
			t.Errorf("%dx%d: max diff %g", w, h, d)
		}
	}
}

func TestPILKernelEnlargingIsBilinear(t *testing.T) {
	for _, c := range [][2]int{{854, 1024}, {480, 576}, {480, 1024}, {3, 10}} {
		a, b := pilKernel(c[0], c[1]), linearKernel(c[0], c[1])
		src := randPlane(c[0], 3)
		x, y := make([]float32, c[1]), make([]float32, c[1])
		convolveRow(src, x, a)
		convolveRow(src, y, b)
		if d := maxAbs(x, y); d > 1e-5 {
			t.Errorf("%v: max diff %g", c, d)
		}
	}
}

func TestPILKernelShrinkingAntialiases(t *testing.T) {
	// Halving averages pairs (a box of width 2 under the triangle of
	// support 2): output i = (x[2i-1]/4 + x[2i]*3/4 ... normalised).
	k := pilKernel(8, 4)
	src := []float32{0, 0, 0, 0, 8, 8, 8, 8}
	dst := make([]float32, 4)
	convolveRow(src, dst, k)
	if dst[0] != 0 || dst[3] != 8 || !(dst[1] > 0 && dst[1] < 4) || !(dst[2] > 4 && dst[2] < 8) {
		t.Errorf("halving a step gives %v", dst)
	}
	var sum float32
	for _, w := range k.w[:k.taps] {
		sum += w
	}
	if math.Abs(float64(sum-1)) > 1e-6 {
		t.Errorf("weights sum to %v", sum)
	}
}

func TestResizedSize(t *testing.T) {
	for _, c := range [][4]int{{854, 480, 1024, 576}, {1920, 1080, 1024, 576}, {480, 854, 576, 1024}, {1024, 1024, 1024, 1024}, {100, 3, 1024, 31}, {3840, 2160, 1024, 576}} {
		if w, h := ResizedSize(c[0], c[1]); w != c[2] || h != c[3] {
			t.Errorf("ResizedSize(%d,%d) = %d,%d, want %d,%d", c[0], c[1], w, h, c[2], c[3])
		}
	}
}

func TestResizeRGB8Constant(t *testing.T) {
	// A flat picture stays flat at every scale, exactly (8-bit rounding).
	for _, c := range [][4]int{{854, 480, 1024, 576}, {1920, 1080, 1024, 576}, {5, 3, 1024, 1024}} {
		src := make([]byte, c[0]*c[1]*3)
		for i := range src {
			src[i] = byte(37 + i%3*50)
		}
		dst := resizeRGB8(src, c[0], c[1], c[2], c[3])
		for i, v := range dst {
			if v != byte(37+i%3*50) {
				t.Fatalf("%v: pixel %d channel %d = %d", c, i/3, i%3, v)
			}
		}
	}
}

func BenchmarkUpscale(b *testing.B) {
	src := randPlane(LowResSize*LowResSize, 4)
	for _, sz := range [][2]int{{854, 480}, {1920, 1080}} {
		r := sam1Upscaler(sz[0], sz[1])
		dst := make([]float32, sz[0]*sz[1])
		tmp := make([]float32, LowResSize*sz[0])
		b.Run("sam1_"+itoa(sz[0])+"x"+itoa(sz[1]), func(b *testing.B) {
			for range b.N {
				r.resize(src, dst, tmp)
			}
		})
	}
}

func BenchmarkPreprocessSAM1(b *testing.B) {
	img := media.Image{W: 1920, H: 1080, RGB: make([]byte, 1920*1080*3)}
	for i := range img.RGB {
		img.RGB[i] = byte(i * 7)
	}
	for range b.N {
		if _, err := PreprocessSAM1(img); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	s := ""
	for ; v > 0; v /= 10 {
		s = string(rune('0'+v%10)) + s
	}
	return s
}
