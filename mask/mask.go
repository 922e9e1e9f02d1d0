// Package mask holds the pixel-level results that every stage exchanges: a
// binary Bitmap for one object and a LabelMap with one object id per pixel
// (16-bit, so no 255-object limit). It also owns their encodings: COCO RLE
// and DAVIS palette PNGs (8-bit, or 16-bit greyscale when ids exceed 255).
// It has no native code and knows nothing about models or video.
package mask

// Bitmap is a binary mask, row-major, one byte per pixel: 1 inside, 0 outside.
type Bitmap struct {
	W, H int
	Pix  []uint8
}

// NewBitmap returns an empty w×h mask.
func NewBitmap(w, h int) *Bitmap { return &Bitmap{W: w, H: h, Pix: make([]uint8, w*h)} }

// Area counts the pixels inside.
func (b *Bitmap) Area() int {
	n := 0
	for _, v := range b.Pix {
		if v != 0 {
			n++
		}
	}
	return n
}

// BBox returns the inclusive-exclusive box [x0,x1)×[y0,y1) of the pixels
// inside; ok is false for an empty mask.
func (b *Bitmap) BBox() (x0, y0, x1, y1 int, ok bool) {
	x0, y0, x1, y1 = b.W, b.H, -1, -1
	for y := 0; y < b.H; y++ {
		row := b.Pix[y*b.W : (y+1)*b.W]
		for x, v := range row {
			if v != 0 {
				if x < x0 {
					x0 = x
				}
				if x > x1 {
					x1 = x
				}
				if y < y0 {
					y0 = y
				}
				y1 = y
			}
		}
	}
	if x1 < 0 {
		return 0, 0, 0, 0, false
	}
	return x0, y0, x1 + 1, y1 + 1, true
}

// IoU is the intersection over union of two masks of the same size; two
// empty masks have IoU 1, as in the DAVIS protocol.
func IoU(a, b *Bitmap) float64 {
	inter, union := 0, 0
	for i, v := range a.Pix {
		av, bv := v != 0, b.Pix[i] != 0
		if av && bv {
			inter++
		}
		if av || bv {
			union++
		}
	}
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// LabelMap assigns one object id to each pixel; 0 is background.
type LabelMap struct {
	W, H int
	Pix  []uint16
}

// NewLabelMap returns an all-background w×h map.
func NewLabelMap(w, h int) *LabelMap { return &LabelMap{W: w, H: h, Pix: make([]uint16, w*h)} }

// Object extracts the mask of one id.
func (l *LabelMap) Object(id uint16) *Bitmap {
	b := NewBitmap(l.W, l.H)
	for i, v := range l.Pix {
		if v == id {
			b.Pix[i] = 1
		}
	}
	return b
}

// Paint sets the pixels of m (the same size as l) to id, over whatever
// they held.
func (l *LabelMap) Paint(m *Bitmap, id uint16) {
	for i, v := range m.Pix {
		if v != 0 {
			l.Pix[i] = id
		}
	}
}

// IDs lists the ids present, ascending, without 0.
func (l *LabelMap) IDs() []uint16 {
	var seen [65536]bool
	for _, v := range l.Pix {
		seen[v] = true
	}
	var ids []uint16
	for id := 1; id < len(seen); id++ {
		if seen[id] {
			ids = append(ids, uint16(id))
		}
	}
	return ids
}
