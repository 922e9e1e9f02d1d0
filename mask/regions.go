package mask

import "fmt"

// Components is an 8-connected component labelling of a binary mask.
// Labels holds one label per pixel, row-major: 0 outside the mask, 1..N for
// the components, numbered in raster order of their first (top-most, then
// left-most) pixel, as OpenCV's connectedComponents numbers them.
// Sizes[k] is the pixel count of label k; Sizes[0] counts the pixels outside.
type Components struct {
	W, H   int
	Labels []int32
	Sizes  []int
}

// N is the number of components.
func (c *Components) N() int { return len(c.Sizes) - 1 }

// Select is the mask of the pixels whose label is marked in keep (one
// entry per label, 0 included).
func (c *Components) Select(keep []bool) *Bitmap {
	out := NewBitmap(c.W, c.H)
	for i, l := range c.Labels {
		if keep[l] {
			out.Pix[i] = 1
		}
	}
	return out
}

// ConnectedComponents labels the 8-connected components of the pixels inside
// b with a two-pass union-find scan (no recursion, linear time).
func ConnectedComponents(b *Bitmap) (*Components, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("connected components: %w", err)
	}
	return components(b.Pix, b.W, b.H, 0), nil
}

// components labels the 8-connected components of the pixels whose value
// (normalised to 0/1) differs from bg.
func components(pix []uint8, w, h int, bg uint8) *Components {
	labels := make([]int32, w*h)
	uf := &unionFind{parent: []int32{0}} // provisional label 0 is the background
	inv := bg != 0
	for y := 0; y < h; y++ {
		row := y * w
		for x := 0; x < w; x++ {
			i := row + x
			if (pix[i] != 0) == inv {
				continue
			}
			// Neighbours already scanned: W, NW, N, NE. N touches all the
			// others and W touches NW, so those pairs were merged already;
			// only NE with W (or NE with NW) may still need a union.
			var nw, n, ne, wl int32
			if x > 0 {
				wl = labels[i-1]
			}
			if y > 0 {
				up := i - w
				n = labels[up]
				if x > 0 {
					nw = labels[up-1]
				}
				if x+1 < w {
					ne = labels[up+1]
				}
			}
			var l int32
			switch {
			case n != 0:
				l = n
			case ne != 0:
				l = ne
				if wl != 0 {
					l = uf.union(ne, wl)
				} else if nw != 0 {
					l = uf.union(ne, nw)
				}
			case wl != 0:
				l = wl
			case nw != 0:
				l = nw
			default:
				l = uf.add()
			}
			labels[i] = l
		}
	}
	return uf.compact(labels, w, h)
}

// unionFind holds the provisional labels of the first pass and their sets.
type unionFind struct{ parent []int32 }

// add makes a new provisional label, a set of its own.
func (u *unionFind) add() int32 {
	l := int32(len(u.parent))
	u.parent = append(u.parent, l)
	return l
}

func (u *unionFind) find(x int32) int32 {
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

func (u *unionFind) union(a, b int32) int32 {
	ra, rb := u.find(a), u.find(b)
	if ra < rb {
		u.parent[rb] = ra
		return ra
	}
	u.parent[ra] = rb
	return rb
}

// compact renumbers the sets 1..n and counts their pixels. Roots are the
// smallest provisional label of each set, which was created at the set's
// first raster pixel, so ascending roots keep raster order.
func (u *unionFind) compact(labels []int32, w, h int) *Components {
	final := make([]int32, len(u.parent))
	n := int32(0)
	for p := 1; p < len(u.parent); p++ {
		r := u.find(int32(p))
		if r == int32(p) {
			n++
			final[p] = n
		} else {
			final[p] = final[r]
		}
	}
	sizes := make([]int, n+1)
	for i, l := range labels {
		if l != 0 {
			l = final[l]
			labels[i] = l
		}
		sizes[l]++
	}
	return &Components{W: w, H: h, Labels: labels, Sizes: sizes}
}

// RegionMode selects what [RemoveSmallRegions] removes.
type RegionMode string

const (
	// Holes fills the small components of the inverted mask.
	Holes RegionMode = "holes"
	// Islands deletes the small components of the mask.
	Islands RegionMode = "islands"
)

// RemoveSmallRegions is segment-anything's amg.remove_small_regions: in
// Holes mode it fills every 8-connected component of the inverted mask whose
// area is below areaThresh (strictly; that includes background regions
// touching the border, as upstream does), in Islands mode it deletes every
// component of the mask below areaThresh, except that when all of them are
// small the largest one (the first, on ties) is kept. changed reports whether
// any region was below the limit; when false the result is b itself,
// otherwise a new Bitmap (b is never modified).
func RemoveSmallRegions(b *Bitmap, areaThresh float64, mode RegionMode) (out *Bitmap, changed bool, err error) {
	if err := b.Validate(); err != nil {
		return nil, false, fmt.Errorf("remove small regions: %w", err)
	}
	var holes bool
	switch mode {
	case Holes:
		holes = true
	case Islands:
	default:
		return nil, false, fmt.Errorf("remove small regions: mode %q is neither %q nor %q", mode, Holes, Islands)
	}
	var bg uint8
	if holes {
		bg = 1 // label the components of the inverted mask
	}
	c := components(b.Pix, b.W, b.H, bg)
	small := make([]bool, len(c.Sizes))
	nSmall := 0
	for k := 1; k < len(c.Sizes); k++ {
		if float64(c.Sizes[k]) < areaThresh {
			small[k] = true
			nSmall++
		}
	}
	if nSmall == 0 {
		return b, false, nil
	}
	keep := make([]bool, len(c.Sizes)) // labels that end up inside
	if holes {
		keep[0] = true // the original mask
		for k := 1; k < len(keep); k++ {
			keep[k] = small[k]
		}
	} else {
		for k := 1; k < len(keep); k++ {
			keep[k] = !small[k]
		}
		if nSmall == c.N() { // every island is small: keep the largest
			best := 1
			for k := 2; k < len(c.Sizes); k++ {
				if c.Sizes[k] > c.Sizes[best] {
					best = k
				}
			}
			keep[best] = true
		}
	}
	return c.Select(keep), true, nil
}
