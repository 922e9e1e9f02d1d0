package mask

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzReadLabelPNG: any file read as a mask is refused or gives a label map
// of its declared size that survives writing and reading back. Seeds:
// testdata/fuzz/FuzzReadLabelPNG.
func FuzzReadLabelPNG(f *testing.F) {
	l := NewLabelMap(3, 2)
	l.Pix[1], l.Pix[4] = 1, 300
	var b bytes.Buffer
	if err := WritePalettePNG(&b, l); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ReadLabelPNG(bytes.NewReader(data))
		if err != nil {
			return
		}
		if l.W <= 0 || l.H <= 0 || len(l.Pix) != l.W*l.H {
			t.Fatalf("label map %dx%d with %d pixels", l.W, l.H, len(l.Pix))
		}
		var out bytes.Buffer
		if err := WritePalettePNG(&out, l); err != nil {
			t.Fatalf("write back: %v", err)
		}
		back, err := ReadLabelPNG(&out)
		if err != nil || back.W != l.W || back.H != l.H || !slices.Equal(back.Pix, l.Pix) {
			t.Fatalf("label map does not survive a round trip: %v", err)
		}
	})
}

// FuzzCompressedRLE: any COCO compressed RLE is refused or decodes to a
// mask whose area is the RLE's, and its counts survive compression. Seeds:
// testdata/fuzz/FuzzCompressedRLE.
func FuzzCompressedRLE(f *testing.F) {
	f.Add(2, 3, "03")
	f.Add(1<<32, 1<<32, "") // h*w overflows to 0: found by review of this target
	f.Fuzz(func(t *testing.T, h, w int, counts string) {
		c := CompressedRLE{Size: [2]int{h, w}, Counts: counts}
		r, err := c.Decompress()
		if err != nil {
			return
		}
		again, err := r.Compress().Decompress()
		if err != nil || !slices.Equal(again.Counts, r.Counts) {
			t.Fatalf("counts %v do not survive compression: %v", r.Counts, err)
		}
		b, err := r.Decode()
		if err != nil {
			return // refused (for instance over the pixel limit)
		}
		if b.W != w || b.H != h || (w == 0 && len(b.Pix) != 0) || (w > 0 && (len(b.Pix)%w != 0 || len(b.Pix)/w != h)) {
			t.Fatalf("size [%d %d] decoded to a %dx%d bitmap of %d pixels", h, w, b.W, b.H, len(b.Pix))
		}
		n := 0
		for _, v := range b.Pix {
			if v != 0 {
				n++
			}
		}
		if n != r.Area() {
			t.Fatalf("decoded %d pixels inside, RLE area %d", n, r.Area())
		}
	})
}
