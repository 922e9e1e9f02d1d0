//go:build ignore

// gen_sample renders testdata/sample.png, the bundled demo picture: a few
// solid shapes on a textured background, made here so it carries no licence
// of others. Run: go run testdata/gen_sample.go
package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand"
	"os"
)

func main() {
	const w, h = 640, 360
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewSource(1))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint8(rng.Intn(12))
			img.Set(x, y, color.RGBA{uint8(90 + x/16) + n, uint8(100+y/12) + n, 110 + n, 255})
		}
	}
	type shape struct {
		in func(x, y float64) bool
		c  color.RGBA
	}
	shapes := []shape{
		{func(x, y float64) bool { return math.Hypot(x-150, y-120) < 70 }, color.RGBA{210, 40, 40, 255}},
		{func(x, y float64) bool { return x > 300 && x < 470 && y > 60 && y < 170 }, color.RGBA{40, 70, 200, 255}},
		{func(x, y float64) bool { return y > 200 && y < 320 && math.Abs(x-420) < (y-200)*0.8 }, color.RGBA{40, 170, 60, 255}},
		{func(x, y float64) bool { return math.Pow((x-170)/90, 2)+math.Pow((y-280)/40, 2) < 1 }, color.RGBA{230, 200, 40, 255}},
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for _, s := range shapes {
				if s.in(float64(x), float64(y)) {
					img.Set(x, y, s.c)
				}
			}
		}
	}
	f, err := os.Create("testdata/sample.png")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		panic(err)
	}
}
