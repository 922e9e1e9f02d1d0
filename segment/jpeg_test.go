package segment

import (
	"image"
	"image/jpeg"
	"os"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/media"
)

// loadJPEG decodes a JPEG to RGB24 the way libjpeg (and so PIL and OpenCV)
// does by default: Go's decoder gives the Y, Cb and Cr planes; 4:2:0 chroma
// is upsampled with libjpeg's "fancy" triangle filter and converted with
// libjpeg's fixed-point tables. Go's own At() uses nearest chroma, which
// differs from the reference's picture by about a quarter of a grey level
// on average.
func loadJPEG(t testing.TB, path string) media.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		testenv.Missing(t, "frame %s missing (shared data not mounted?): %v", path, err)
	}
	defer f.Close()
	im, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	b := im.Bounds()
	w, h := b.Dx(), b.Dy()
	out := media.Image{W: w, H: h, RGB: make([]byte, w*h*3)}
	yc, ok := im.(*image.YCbCr)
	if !ok || yc.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r, g, bb, _ := im.At(b.Min.X+x, b.Min.Y+y).RGBA()
				i := 3 * (y*w + x)
				out.RGB[i], out.RGB[i+1], out.RGB[i+2] = byte(r>>8), byte(g>>8), byte(bb>>8)
			}
		}
		return out
	}
	cw, ch := (w+1)/2, (h+1)/2
	up := func(plane []byte, stride int) []byte {
		dst := make([]byte, 2*cw*2*ch)
		row := func(r int) []byte {
			r = max(0, min(ch-1, r))
			return plane[r*stride : r*stride+cw]
		}
		for r := 0; r < ch; r++ {
			for v := 0; v < 2; v++ {
				in0 := row(r)
				in1 := row(r - 1)
				if v == 1 {
					in1 = row(r + 1)
				}
				o := dst[(2*r+v)*2*cw:][:2*cw]
				colsum := func(c int) int { return int(in0[c])*3 + int(in1[c]) }
				if cw == 1 {
					s := colsum(0)
					o[0], o[1] = byte((s*4+8)>>4), byte((s*4+7)>>4)
					continue
				}
				this, next := colsum(0), colsum(1)
				o[0] = byte((this*4 + 8) >> 4)
				o[1] = byte((this*3 + next + 7) >> 4)
				last := this
				this = next
				for c := 1; c < cw-1; c++ {
					next = colsum(c + 1)
					o[2*c] = byte((this*3 + last + 8) >> 4)
					o[2*c+1] = byte((this*3 + next + 7) >> 4)
					last, this = this, next
				}
				o[2*(cw-1)] = byte((this*3 + last + 8) >> 4)
				o[2*(cw-1)+1] = byte((this*4 + 7) >> 4)
			}
		}
		return dst
	}
	cb := up(yc.Cb, yc.CStride)
	cr := up(yc.Cr, yc.CStride)
	const scale = 16
	fix := func(x float64) int { return int(x*(1<<scale) + 0.5) }
	half := 1 << (scale - 1)
	clamp := func(v int) byte { return byte(max(0, min(255, v))) }
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			Y := int(yc.Y[y*yc.YStride+x])
			cbv := int(cb[y*2*cw+x]) - 128
			crv := int(cr[y*2*cw+x]) - 128
			r := Y + ((fix(1.40200)*crv + half) >> scale)
			g := Y + ((-fix(0.34414)*cbv - fix(0.71414)*crv + half) >> scale)
			bb := Y + ((fix(1.77200)*cbv + half) >> scale)
			i := 3 * (y*w + x)
			out.RGB[i], out.RGB[i+1], out.RGB[i+2] = clamp(r), clamp(g), clamp(bb)
		}
	}
	return out
}
