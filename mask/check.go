package mask

import "fmt"

// Validate reports whether b is well formed: non-negative size and exactly
// W*H pixels. Functions in this package that return an error call it, so a
// malformed mask gives an error rather than a panic.
func (b *Bitmap) Validate() error {
	if b == nil {
		return fmt.Errorf("bitmap is nil: create it with mask.NewBitmap(w, h)")
	}
	return checkGrid("bitmap", b.W, b.H, len(b.Pix), "bytes")
}

// Validate reports whether l is well formed: non-negative size and exactly
// W*H pixels.
func (l *LabelMap) Validate() error {
	if l == nil {
		return fmt.Errorf("label map is nil: create it with mask.NewLabelMap(w, h)")
	}
	return checkGrid("label map", l.W, l.H, len(l.Pix), "ids")
}

// checkGrid is the size check both mask types share: a non-negative w×h
// and exactly w*h pixels (of the given unit) in row-major order.
func checkGrid(kind string, w, h, pixels int, unit string) error {
	if w < 0 || h < 0 {
		return fmt.Errorf("%s size %dx%d is negative", kind, w, h)
	}
	if pixels != w*h {
		return fmt.Errorf("%s %dx%d holds %d pixels, want %d: Pix must be row-major with W*H %s", kind, w, h, pixels, w*h, unit)
	}
	return nil
}

// Clone returns a deep copy of b.
func (b *Bitmap) Clone() *Bitmap {
	return &Bitmap{W: b.W, H: b.H, Pix: append([]uint8(nil), b.Pix...)}
}

// Clone returns a deep copy of l.
func (l *LabelMap) Clone() *LabelMap {
	return &LabelMap{W: l.W, H: l.H, Pix: append([]uint16(nil), l.Pix...)}
}

// MaxID returns the largest id in l (0 for an all-background map).
func (l *LabelMap) MaxID() uint16 {
	var m uint16
	for _, v := range l.Pix {
		if v > m {
			m = v
		}
	}
	return m
}
