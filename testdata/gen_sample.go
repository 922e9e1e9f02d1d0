//go:build ignore

// gen_sample renders the bundled demo inputs: testdata/sample.png (a few
// solid shapes on a textured background) and testdata/sample.mp4 (the same
// shapes moving for 3 seconds). They are made here, so they carry no
// licence of others. Run from the repository root:
//
//	go run testdata/gen_sample.go
package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand"
	"os"

	"samtrack/media"
	"samtrack/video"
)

const w, h = 640, 360

type shape struct {
	in func(x, y float64) bool
	c  color.RGBA
}

// scene returns the shapes at time t in seconds.
func scene(t float64) []shape {
	dx := 60 * math.Sin(t*1.3)
	dy := 25 * math.Sin(t*2.1)
	return []shape{
		{func(x, y float64) bool { return math.Hypot(x-150-dx, y-120-dy) < 70 }, color.RGBA{210, 40, 40, 255}},
		{func(x, y float64) bool { return x > 300-dx && x < 470-dx && y > 60 && y < 170 }, color.RGBA{40, 70, 200, 255}},
		{func(x, y float64) bool { return y > 200 && y < 320 && math.Abs(x-420-30*t) < (y-200)*0.8 }, color.RGBA{40, 170, 60, 255}},
		{func(x, y float64) bool { return math.Pow((x-170-20*t)/90, 2)+math.Pow((y-280+dy)/40, 2) < 1 }, color.RGBA{230, 200, 40, 255}},
	}
}

func render(t float64, bg []byte) []byte {
	rgb := append([]byte(nil), bg...)
	shapes := scene(t)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for _, s := range shapes {
				if s.in(float64(x), float64(y)) {
					i := (y*w + x) * 3
					rgb[i], rgb[i+1], rgb[i+2] = s.c.R, s.c.G, s.c.B
				}
			}
		}
	}
	return rgb
}

func main() {
	rng := rand.New(rand.NewSource(1))
	bg := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint8(rng.Intn(12))
			i := (y*w + x) * 3
			bg[i], bg[i+1], bg[i+2] = uint8(90+x/16)+n, uint8(100+y/12)+n, 110+n
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	first := render(0, bg)
	for i := 0; i < w*h; i++ {
		img.Pix[i*4], img.Pix[i*4+1], img.Pix[i*4+2], img.Pix[i*4+3] = first[i*3], first[i*3+1], first[i*3+2], 255
	}
	f, err := os.Create("testdata/sample.png")
	if err != nil {
		panic(err)
	}
	if err := png.Encode(f, img); err != nil {
		panic(err)
	}
	f.Close()

	const fps, frames = 20, 60
	wr, err := video.NewWriter("testdata/sample.mp4", w, h, fps)
	if err != nil {
		panic(err)
	}
	for i := 0; i < frames; i++ {
		if err := wr.WriteFrame(media.Frame{Index: i, Image: media.Image{W: w, H: h, RGB: render(float64(i)/fps, bg)}}); err != nil {
			panic(err)
		}
	}
	if err := wr.Close(); err != nil {
		panic(err)
	}
}
