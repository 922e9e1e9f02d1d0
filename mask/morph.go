package mask

import "fmt"

// ResizeNearest scales b to w×h by nearest neighbour: destination pixel
// (x, y) takes source pixel (floor(x*W/w), floor(y*H/h)), the rule of
// OpenCV's INTER_NEAREST and PyTorch's "nearest" interpolation.
func (b *Bitmap) ResizeNearest(w, h int) (*Bitmap, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("resize bitmap: %w", err)
	}
	if err := checkResize(b.W, b.H, w, h); err != nil {
		return nil, fmt.Errorf("resize bitmap: %w", err)
	}
	out := NewBitmap(w, h)
	resizeNearest(out.Pix, b.Pix, b.W, b.H, w, h)
	return out, nil
}

// ResizeNearest scales l to w×h by nearest neighbour (see
// [Bitmap.ResizeNearest]); ids are never blended.
func (l *LabelMap) ResizeNearest(w, h int) (*LabelMap, error) {
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("resize label map: %w", err)
	}
	if err := checkResize(l.W, l.H, w, h); err != nil {
		return nil, fmt.Errorf("resize label map: %w", err)
	}
	out := NewLabelMap(w, h)
	resizeNearest(out.Pix, l.Pix, l.W, l.H, w, h)
	return out, nil
}

// resizeNearest fills dst (w×h) from src (sw×sh) by nearest neighbour,
// the pixel rule of both mask types' ResizeNearest.
func resizeNearest[T any](dst, src []T, sw, sh, w, h int) {
	xs := nearestIndex(sw, w)
	for y := 0; y < h; y++ {
		row := src[(y*sh/h)*sw:]
		out := dst[y*w : (y+1)*w]
		for x, sx := range xs {
			out[x] = row[sx]
		}
	}
}

// Downsample scales l to a smaller (or equal) w×h by nearest neighbour,
// picking for each target pixel the source pixel that ResizeNearest back to
// l's size maps onto it: l.Downsample(w, h) undoes m.ResizeNearest(l.W, l.H)
// exactly for any w×h label map m.
func (l *LabelMap) Downsample(w, h int) (*LabelMap, error) {
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("downsample label map: %w", err)
	}
	if err := checkResize(l.W, l.H, w, h); err != nil {
		return nil, fmt.Errorf("downsample label map: %w", err)
	}
	if w > l.W || h > l.H {
		return nil, fmt.Errorf("downsample label map: %dx%d is larger than %dx%d", w, h, l.W, l.H)
	}
	out := NewLabelMap(w, h)
	for y := 0; y < h; y++ {
		src := l.Pix[ceilDiv(y*l.H, h)*l.W:]
		dst := out.Pix[y*w : (y+1)*w]
		for x := range dst {
			dst[x] = src[ceilDiv(x*l.W, w)]
		}
	}
	return out, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func checkResize(sw, sh, w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("target size %dx%d is empty", w, h)
	}
	if sw == 0 || sh == 0 {
		return fmt.Errorf("source size %dx%d is empty", sw, sh)
	}
	return nil
}

func nearestIndex(src, dst int) []int {
	xs := make([]int, dst)
	for x := range xs {
		xs[x] = x * src / dst
	}
	return xs
}

// diskHalfWidths returns, for dy = -r..r, the largest dx with
// dx²+dy² ≤ r²: the disk is every offset with dx²+dy² ≤ r² (skimage's
// morphology.disk).
func diskHalfWidths(r int) []int {
	hw := make([]int, 2*r+1)
	for dy := -r; dy <= r; dy++ {
		k := 0
		for (k+1)*(k+1)+dy*dy <= r*r {
			k++
		}
		hw[dy+r] = k
	}
	return hw
}

// DilateDisk returns b dilated by a disk of radius r (every offset with
// dx²+dy² ≤ r²). Pixels outside the image are ignored.
func (b *Bitmap) DilateDisk(r int) (*Bitmap, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("dilate: %w", err)
	}
	out := NewBitmap(b.W, b.H)
	if err := DilateDiskInto(out, b, r); err != nil {
		return nil, err
	}
	return out, nil
}

// ErodeDisk returns b eroded by a disk of radius r: a pixel stays inside
// when the whole disk around it is inside, pixels beyond the image counting
// as inside (OpenCV's default border for erode), so a mask touching the
// border is not eaten away there.
func (b *Bitmap) ErodeDisk(r int) (*Bitmap, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("erode: %w", err)
	}
	inv := NewBitmap(b.W, b.H)
	for i, v := range b.Pix {
		if v == 0 {
			inv.Pix[i] = 1
		}
	}
	out := NewBitmap(b.W, b.H)
	if err := DilateDiskInto(out, inv, r); err != nil {
		return nil, fmt.Errorf("erode: %w", err)
	}
	for i, v := range out.Pix {
		out.Pix[i] = 1 - v
	}
	return out, nil
}

// DilateDiskInto writes src dilated by a disk of radius r into dst, which
// must have src's size and is overwritten (src and dst must not share
// pixels). It stamps, for each horizontal run of inside pixels and each row
// of the disk, one span, so its cost follows the number of runs rather than
// the area: thin contours such as DAVIS boundary maps dilate in a fraction of
// a full-image pass. Callers that dilate many masks reuse dst.
func DilateDiskInto(dst, src *Bitmap, r int) error {
	if err := src.Validate(); err != nil {
		return fmt.Errorf("dilate: %w", err)
	}
	if err := dst.Validate(); err != nil {
		return fmt.Errorf("dilate: destination: %w", err)
	}
	if dst.W != src.W || dst.H != src.H {
		return fmt.Errorf("dilate: destination is %dx%d but source is %dx%d", dst.W, dst.H, src.W, src.H)
	}
	if r < 0 {
		return fmt.Errorf("dilate: radius %d is negative", r)
	}
	w, h := src.W, src.H
	clear(dst.Pix)
	if w == 0 || h == 0 {
		return nil
	}
	hw := diskHalfWidths(r)
	ones := make([]uint8, w)
	for i := range ones {
		ones[i] = 1
	}
	for y := 0; y < h; y++ {
		row := src.Pix[y*w : (y+1)*w]
		for x := 0; x < w; {
			if row[x] == 0 {
				x++
				continue
			}
			x0 := x
			for x < w && row[x] != 0 {
				x++
			}
			x1 := x - 1 // run [x0, x1]
			for dy := max(-r, -y); dy <= r && y+dy < h; dy++ {
				k := hw[dy+r]
				a, b := max(x0-k, 0), min(x1+k, w-1)
				o := (y + dy) * w
				copy(dst.Pix[o+a:o+b+1], ones)
			}
		}
	}
	return nil
}
