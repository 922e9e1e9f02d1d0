package flow

import "image"

// cleanup removes the small islands of object id from labels and fills its
// small holes, inside box (the bounding box of the object in labels). An
// island survives when it holds at least islandFrac of the object's
// largest component; a background hole is filled when it is at most
// holeFrac of the object's area. It returns the object's box after.
func (p *Propagator) cleanup(labels []uint16, w int, id uint16, box image.Rectangle, islandFrac, holeFrac float32) image.Rectangle {
	if box.Empty() {
		return box
	}
	comp := p.comp
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			comp[y*w+x] = -1
		}
	}
	type cc struct {
		area int
		edge bool // touches the box border
	}
	var fg, bg []cc
	// Label the components of the object and of everything else in the box.
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			i := int32(y*w + x)
			if comp[i] >= 0 {
				continue
			}
			in := labels[i] == id
			var n int32
			if in {
				n = int32(len(fg))
			} else {
				n = int32(len(bg))
			}
			area, edge := p.flood(labels, w, box, i, id, in, n)
			if in {
				fg = append(fg, cc{area, edge})
			} else {
				bg = append(bg, cc{area, edge})
			}
		}
	}
	largest, total := 0, 0
	for _, c := range fg {
		largest = max(largest, c.area)
		total += c.area
	}
	minIsland := int(islandFrac * float32(largest))
	maxHole := int(holeFrac * float32(total))
	area := 0
	nb := image.Rectangle{Min: box.Max, Max: box.Min}
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			i := y*w + x
			c := comp[i]
			if labels[i] == id {
				if fg[c].area < minIsland {
					labels[i] = 0
					continue
				}
			} else {
				h := bg[c]
				if h.edge || h.area > maxHole || labels[i] != 0 {
					continue
				}
				labels[i] = id
			}
			area++
			nb.Min.X, nb.Min.Y = min(nb.Min.X, x), min(nb.Min.Y, y)
			nb.Max.X, nb.Max.Y = max(nb.Max.X, x+1), max(nb.Max.Y, y+1)
		}
	}
	if area == 0 {
		return image.Rectangle{}
	}
	return nb
}

// flood labels with n the 4-connected component of seed whose pixels are
// (in) or are not (!in) id, inside box; it returns its area and whether it
// touches the border of the box.
func (p *Propagator) flood(labels []uint16, w int, box image.Rectangle, seed int32, id uint16, in bool, n int32) (int, bool) {
	q := append(p.queue[:0], seed)
	p.comp[seed] = n
	area, edge := 0, false
	for len(q) > 0 {
		i := q[len(q)-1]
		q = q[:len(q)-1]
		area++
		x, y := int(i)%w, int(i)/w
		if x == box.Min.X || y == box.Min.Y || x == box.Max.X-1 || y == box.Max.Y-1 {
			edge = true
		}
		try := func(j int32) {
			if p.comp[j] < 0 && (labels[j] == id) == in {
				p.comp[j] = n
				q = append(q, j)
			}
		}
		if x > box.Min.X {
			try(i - 1)
		}
		if x < box.Max.X-1 {
			try(i + 1)
		}
		if y > box.Min.Y {
			try(i - int32(w))
		}
		if y < box.Max.Y-1 {
			try(i + int32(w))
		}
	}
	p.queue = q
	return area, edge
}
