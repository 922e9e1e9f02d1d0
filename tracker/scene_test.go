package tracker

import (
	"math"

	"samtrack/mask"
	"samtrack/media"
)

// This file renders the synthetic test video: solid-colour shapes moving on
// a lightly textured grey background, with ground-truth label maps.

type moverKind int

const (
	kindDisk moverKind = iota
	kindRect
	kindEllipse
)

// mover is one shape. Later movers are painted over earlier ones.
type mover struct {
	name   string
	rgb    [3]float64
	kind   moverKind
	rx, ry float64 // half sizes (radius for a disk)
	// pos gives the centre at frame t.
	pos func(t int) (float64, float64)
}

func (m mover) inside(t int, x, y float64) bool {
	cx, cy := m.pos(t)
	dx, dy := x-cx, y-cy
	switch m.kind {
	case kindRect:
		return math.Abs(dx) < m.rx && math.Abs(dy) < m.ry
	case kindEllipse:
		return (dx*dx)/(m.rx*m.rx)+(dy*dy)/(m.ry*m.ry) <= 1
	default:
		return dx*dx+dy*dy <= m.rx*m.rx
	}
}

// linear moves from (x0,y0) at frame t0 to (x1,y1) at frame t1, clamped.
func linear(t0, t1 int, x0, y0, x1, y1 float64) func(int) (float64, float64) {
	return func(t int) (float64, float64) {
		a := float64(t-t0) / float64(t1-t0)
		a = math.Max(0, math.Min(1, a))
		return x0 + a*(x1-x0), y0 + a*(y1-y0)
	}
}

type synthScene struct {
	w, h, n int
	movers  []mover
}

// noiseAt is a deterministic hash in [-1, 1].
func noiseAt(x, y, c int) float64 {
	h := uint32(x)*73856093 ^ uint32(y)*19349663 ^ uint32(c)*83492791
	h ^= h >> 13
	h *= 0x5bd1e995
	h ^= h >> 15
	return float64(h%2001)/1000 - 1
}

// frame renders frame t and its ground truth (id k+1 for movers[k]).
func (s *synthScene) frame(t int) (media.Frame, *mask.LabelMap) {
	img := make([]byte, s.w*s.h*3)
	gt := mask.NewLabelMap(s.w, s.h)
	for y := 0; y < s.h; y++ {
		for x := 0; x < s.w; x++ {
			u := float64(x) / float64(s.w)
			col := [3]float64{112 + 20*u, 118 + 12*u, 126 + 4*u}
			px, py := float64(x)+0.5, float64(y)+0.5
			for k, m := range s.movers {
				if m.inside(t, px, py) {
					col = m.rgb
					gt.Pix[y*s.w+x] = uint16(k + 1)
				}
			}
			for c := 0; c < 3; c++ {
				v := math.Round(col[c] + 4*noiseAt(x+7*t, y, c))
				img[(y*s.w+x)*3+c] = byte(min(255, max(0, v)))
			}
		}
	}
	return media.Frame{Index: t, Image: media.Image{W: s.w, H: s.h, RGB: img}}, gt
}

// movingScene is 320x240, 80 frames, seven objects: five from the start
// that cross each other (red over blue around frame 40, magenta over green
// around frame 30, yellow over green after frame 65, magenta and cyan after
// frame 60), the yellow box leaving on the right around frame 27 and coming
// back from frame 44, a cyan box entering from the left at frame 22 and a
// white disk entering from the bottom at frame 48.
func movingScene() *synthScene {
	return &synthScene{w: 320, h: 240, n: 80, movers: []mover{
		{"blue box", [3]float64{40, 60, 200}, kindRect, 22, 16, linear(0, 79, 280, 84, 40, 84)},
		{"green ellipse", [3]float64{40, 170, 60}, kindEllipse, 26, 16, linear(0, 79, 60, 195, 250, 120)},
		{"red disk", [3]float64{200, 40, 40}, kindDisk, 20, 20, linear(0, 79, 40, 60, 280, 60)},
		{"magenta disk", [3]float64{200, 50, 200}, kindDisk, 18, 18, linear(0, 79, 132, 220, 132, 78)},
		{"yellow box", [3]float64{225, 205, 40}, kindRect, 18, 18, func(t int) (float64, float64) {
			switch {
			case t < 30:
				return 230 + 4*float64(t), 150
			case t < 40:
				return 350, 150
			default:
				return 350 - 4*float64(t-40), 150
			}
		}},
		{"cyan box", [3]float64{40, 200, 210}, kindRect, 20, 14, linear(22, 79, -20, 120, 150, 120)},
		{"white disk", [3]float64{235, 235, 235}, kindDisk, 16, 16, linear(48, 79, 240, 258, 240, 165)},
	}}
}
