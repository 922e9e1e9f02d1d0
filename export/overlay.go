package export

import (
	"image/color"
	"strconv"

	"samtrack/mask"
	"samtrack/tracker"
)

// overlayColour is the DAVIS palette colour of an id; ids above 255 cycle
// through entries 1-255 (0, black, is the background's).
func overlayColour(pal color.Palette, id uint16) [3]byte {
	c := pal[(int(id)-1)%255+1].(color.RGBA)
	return [3]byte{c.R, c.G, c.B}
}

// digitFont is a 3x5 bitmap font for 0-9, one row per string.
var digitFont = [10][5]string{
	{"###", "#.#", "#.#", "#.#", "###"},
	{".#.", "##.", ".#.", ".#.", "###"},
	{"###", "..#", "###", "#..", "###"},
	{"###", "..#", "###", "..#", "###"},
	{"#.#", "#.#", "###", "..#", "..#"},
	{"###", "#..", "###", "..#", "###"},
	{"###", "#..", "###", "#.#", "###"},
	{"###", "..#", "..#", "..#", "..#"},
	{"###", "#.#", "###", "#.#", "###"},
	{"###", "#.#", "###", "..#", "###"},
}

// renderOverlay draws into dst (w*h*3 RGB, overwritten) the frame with each
// object's mask blended at half opacity in its palette colour, a solid
// one-pixel outline, and its id in white on a dark box at its centroid.
func renderOverlay(dst, rgb []byte, labels *mask.LabelMap, objs []tracker.ObjectStats, pal color.Palette) {
	w, h := labels.W, labels.H
	copy(dst, rgb)
	for i, id := range labels.Pix {
		if id == 0 {
			continue
		}
		c := overlayColour(pal, id)
		x, y := i%w, i/w
		edge := x == 0 || y == 0 || x == w-1 || y == h-1 ||
			labels.Pix[i-1] != id || labels.Pix[i+1] != id || labels.Pix[i-w] != id || labels.Pix[i+w] != id
		p := dst[3*i : 3*i+3]
		if edge {
			copy(p, c[:])
			continue
		}
		for k := 0; k < 3; k++ {
			p[k] = byte((int(p[k]) + int(c[k]) + 1) / 2)
		}
	}
	scale := max(1, h/160)
	for _, o := range objs {
		drawLabel(dst, w, h, int(o.Centroid[0]), int(o.Centroid[1]), strconv.Itoa(int(o.ID)), scale)
	}
}

// drawLabel writes text centred at (cx, cy).
func drawLabel(dst []byte, w, h, cx, cy int, text string, s int) {
	tw := len(text)*4*s - s // 3 columns + 1 spacing per digit
	th := 5 * s
	x0, y0 := cx-tw/2, cy-th/2
	fill := func(x, y int, c byte) {
		if x >= 0 && y >= 0 && x < w && y < h {
			p := dst[3*(y*w+x) : 3*(y*w+x)+3]
			p[0], p[1], p[2] = c, c, c
		}
	}
	for y := y0 - s; y < y0+th+s; y++ {
		for x := x0 - s; x < x0+tw+s; x++ {
			fill(x, y, 0)
		}
	}
	for k, ch := range text {
		g := digitFont[ch-'0']
		for r := 0; r < 5; r++ {
			for col := 0; col < 3; col++ {
				if g[r][col] != '#' {
					continue
				}
				for dy := 0; dy < s; dy++ {
					for dx := 0; dx < s; dx++ {
						fill(x0+(k*4+col)*s+dx, y0+r*s+dy, 255)
					}
				}
			}
		}
	}
}
