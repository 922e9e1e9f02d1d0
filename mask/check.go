package mask

import "fmt"

// Validate reports whether b is well formed: non-negative size and exactly
// W*H pixels. Functions in this package that return an error call it, so a
// malformed mask gives an error rather than a panic.
func (b *Bitmap) Validate() error {
	if b == nil {
		return fmt.Errorf("bitmap is nil: create it with mask.NewBitmap(w, h)")
	}
	if b.W < 0 || b.H < 0 {
		return fmt.Errorf("bitmap size %dx%d is negative", b.W, b.H)
	}
	if len(b.Pix) != b.W*b.H {
		return fmt.Errorf("bitmap %dx%d holds %d pixels, want %d: Pix must be row-major with W*H bytes", b.W, b.H, len(b.Pix), b.W*b.H)
	}
	return nil
}

// Validate reports whether l is well formed: non-negative size and exactly
// W*H pixels.
func (l *LabelMap) Validate() error {
	if l == nil {
		return fmt.Errorf("label map is nil: create it with mask.NewLabelMap(w, h)")
	}
	if l.W < 0 || l.H < 0 {
		return fmt.Errorf("label map size %dx%d is negative", l.W, l.H)
	}
	if len(l.Pix) != l.W*l.H {
		return fmt.Errorf("label map %dx%d holds %d pixels, want %d: Pix must be row-major with W*H ids", l.W, l.H, len(l.Pix), l.W*l.H)
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
