package mask

import (
	"fmt"
	"math"
	"strings"
)

// RLE is COCO's uncompressed run-length encoding of a binary mask, the form
// pycocotools calls "uncompressed RLE" and segment-anything's amg.py emits as
// output_mode "uncompressed_rle". Runs are taken in column-major (Fortran)
// order: down the first column, then down the second, and so on. Counts
// alternate between runs of 0s and runs of 1s and always start with a run of
// 0s, which is 0 long when the top-left pixel is inside. The counts sum to
// height*width.
type RLE struct {
	Size   [2]int   `json:"size"` // [height, width], as COCO stores it
	Counts []uint32 `json:"counts"`
}

// CompressedRLE is COCO's compressed RLE: the same counts written as a string
// by pycocotools' rleToString (see [RLE.Compress]).
type CompressedRLE struct {
	Size   [2]int `json:"size"` // [height, width]
	Counts string `json:"counts"`
}

// EncodeRLE run-length encodes b in column-major order, exactly as
// pycocotools' rleEncode does (a 0-pixel mask gives the single count 0).
func EncodeRLE(b *Bitmap) (*RLE, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("encode RLE: %w", err)
	}
	w, h := b.W, b.H
	counts := make([]uint32, 0, 8)
	var prev uint8 // runs start with 0s
	var c uint32
	for x := 0; x < w; x++ {
		for i := x; i < w*h; i += w {
			v := b.Pix[i]
			if v != 0 {
				v = 1
			}
			if v != prev {
				counts = append(counts, c)
				c = 0
				prev = v
			}
			c++
		}
	}
	counts = append(counts, c)
	return &RLE{Size: [2]int{h, w}, Counts: counts}, nil
}

// Validate checks that the size is non-negative and that the counts cover
// exactly height*width pixels.
func (r *RLE) Validate() error {
	if r == nil {
		return fmt.Errorf("RLE is nil")
	}
	h, w := r.Size[0], r.Size[1]
	if h < 0 || w < 0 {
		return fmt.Errorf("RLE size [%d %d] is negative", h, w)
	}
	if uint64(h)*uint64(w) > maxPNGPixels || (h > maxPNGPixels || w > maxPNGPixels) {
		// Also keeps h*w from overflowing: [2^32 2^32] "holds" 0 pixels.
		return fmt.Errorf("RLE size [%d %d] is over the %d-pixel limit of a mask", h, w, maxPNGPixels)
	}
	var sum uint64
	for _, c := range r.Counts {
		sum += uint64(c)
	}
	if sum != uint64(h)*uint64(w) {
		return fmt.Errorf("RLE counts sum to %d but size [%d %d] holds %d pixels: the counts do not belong to this size", sum, h, w, h*w)
	}
	return nil
}

// Decode expands r back to a row-major Bitmap.
func (r *RLE) Decode() (*Bitmap, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("decode RLE: %w", err)
	}
	h, w := r.Size[0], r.Size[1]
	b := NewBitmap(w, h)
	t := 0 // column-major index
	for j, c := range r.Counts {
		if j%2 == 1 && c > 0 {
			x, y := t/h, t%h
			for n := int(c); n > 0; n-- {
				b.Pix[y*w+x] = 1
				if y++; y == h {
					y, x = 0, x+1
				}
			}
		}
		t += int(c)
	}
	return b, nil
}

// Area returns the number of pixels inside (the sum of the runs of 1s), as
// pycocotools' area does.
func (r *RLE) Area() int {
	a := 0
	for j := 1; j < len(r.Counts); j += 2 {
		a += int(r.Counts[j])
	}
	return a
}

// BBox returns the tight box [x, y, width, height] (COCO's XYWH) of the
// pixels inside, as pycocotools' toBbox does; an empty mask gives all zeros.
func (r *RLE) BBox() [4]int {
	h := r.Size[0]
	if h <= 0 {
		return [4]int{}
	}
	xs, ys, xe, ye := math.MaxInt, math.MaxInt, -1, -1
	t := 0
	for j, c := range r.Counts {
		if j%2 == 1 && c > 0 {
			first, last := t, t+int(c)-1
			x0, y0 := first/h, first%h
			x1, y1 := last/h, last%h
			xs, xe = min(xs, x0), max(xe, x1)
			if x1 > x0 { // the run wraps into the next column: it spans every row
				y0, y1 = 0, h-1
			}
			ys, ye = min(ys, y0), max(ye, y1)
		}
		t += int(c)
	}
	if xe < 0 {
		return [4]int{}
	}
	return [4]int{xs, ys, xe - xs + 1, ye - ys + 1}
}

// Compress writes the counts as COCO's compressed string, byte for byte what
// pycocotools' rleToString produces: each value is written in 5-bit groups,
// least significant first, one character (48 + group, plus 32 when more
// groups follow) per group, the last group's bit 4 acting as a sign bit.
// From the fourth count on (index > 2, pycocotools' quirk) the value written
// is the count minus the count two places before, which is small and may be
// negative.
func (r *RLE) Compress() CompressedRLE {
	var sb strings.Builder
	for i, c := range r.Counts {
		x := int64(c)
		if i > 2 {
			x -= int64(r.Counts[i-2])
		}
		for more := true; more; {
			ch := byte(x & 0x1f)
			x >>= 5 // arithmetic shift, as in C on a signed long
			if ch&0x10 != 0 {
				more = x != -1
			} else {
				more = x != 0
			}
			if more {
				ch |= 0x20
			}
			sb.WriteByte(ch + 48)
		}
	}
	return CompressedRLE{Size: r.Size, Counts: sb.String()}
}

// Decompress parses the compressed string back to counts, as pycocotools'
// rleFrString does, and checks that they cover the size.
func (c CompressedRLE) Decompress() (*RLE, error) {
	s := c.Counts
	counts := make([]uint32, 0, len(s)/2+1)
	for p := 0; p < len(s); {
		var x int64
		k := 0
		for more := true; more; {
			if p >= len(s) {
				return nil, fmt.Errorf("compressed RLE %q ends inside a value: the string is truncated", s)
			}
			ch := s[p]
			if ch < 48 || ch > 48+63 {
				return nil, fmt.Errorf("compressed RLE has byte %q at %d, outside '0'..'o': not a COCO RLE string", ch, p)
			}
			ch -= 48
			if 5*k >= 63 {
				return nil, fmt.Errorf("compressed RLE value at %d is longer than 64 bits: not a COCO RLE string", p)
			}
			x |= int64(ch&0x1f) << (5 * k)
			more = ch&0x20 != 0
			p++
			k++
			if !more && ch&0x10 != 0 {
				x |= -1 << (5 * k)
			}
		}
		if len(counts) > 2 {
			x += int64(counts[len(counts)-2])
		}
		if x < 0 || x > math.MaxUint32 {
			return nil, fmt.Errorf("compressed RLE count %d (index %d) is out of range: the string is corrupt", x, len(counts))
		}
		counts = append(counts, uint32(x))
	}
	r := &RLE{Size: c.Size, Counts: counts}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("decompress RLE: %w", err)
	}
	return r, nil
}

// Decode expands the compressed RLE to a Bitmap.
func (c CompressedRLE) Decode() (*Bitmap, error) {
	r, err := c.Decompress()
	if err != nil {
		return nil, err
	}
	return r.Decode()
}
