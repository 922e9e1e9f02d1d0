// Package synthclip generates the test clip for object removal: a static
// textured background with a known true value at every pixel, a solid
// square moving across it, and a sine-tone audio track, encoded to H.264
// and AAC by the ffmpeg command. Tests of package inpaint and of samtrack
// remove measure their fill against Background.
package synthclip

import (
	"bytes"
	"fmt"
	"math"
	"os/exec"

	"samtrack/mask"
)

// Clip describes the clip. The zero value is not usable; start from
// Default.
type Clip struct {
	W, H, Frames, Side int
	FPS                float64
}

// Default is 48 frames of 320x240 at 25 fps with a 44-pixel square.
func Default() Clip { return Clip{W: 320, H: 240, Frames: 48, Side: 44, FPS: 25} }

// Background is the true static background (packed RGB24). Colour varies
// slowly (4:2:0 video keeps chroma at half resolution); the texture that
// optical flow locks onto is in the luminance.
func (c Clip) Background() []byte {
	bg := make([]byte, c.W*c.H*3)
	for y := 0; y < c.H; y++ {
		for x := 0; x < c.W; x++ {
			luma := 40*math.Sin(float64(x)/6)*math.Cos(float64(y)/5) + 20*math.Sin(float64(x+2*y)/11)
			for ch := 0; ch < 3; ch++ {
				v := 120 + 35*math.Sin(float64(x)/70+float64(ch)*2)*math.Cos(float64(y)/60) + luma
				bg[(y*c.W+x)*3+ch] = byte(math.Round(v))
			}
		}
	}
	return bg
}

// SquareAt is the top-left corner of the square in frame t: it moves 5
// pixels a frame to the right and bobs up and down.
func (c Clip) SquareAt(t int) (x0, y0 int) {
	return 12 + 5*t, 90 + int(math.Round(12*math.Sin(float64(t)/6)))
}

// Truth is the square's mask in frame t.
func (c Clip) Truth(t int) *mask.Bitmap {
	b := mask.NewBitmap(c.W, c.H)
	x0, y0 := c.SquareAt(t)
	for y := max(0, y0); y < min(c.H, y0+c.Side); y++ {
		for x := max(0, x0); x < min(c.W, x0+c.Side); x++ {
			b.Pix[y*c.W+x] = 1
		}
	}
	return b
}

// Frame is frame t: the background with the square painted on. The
// square carries its own texture (a red-to-yellow gradient with a dark
// cross, not periodic), as real objects do, so that optical flow can
// follow it.
func (c Clip) Frame(bg []byte, t int) []byte {
	f := append([]byte(nil), bg...)
	x0, y0 := c.SquareAt(t)
	for i, v := range c.Truth(t).Pix {
		if v != 0 {
			x, y := i%c.W-x0, i/c.W-y0
			f[i*3], f[i*3+1], f[i*3+2] = 235, byte(40+4*x), byte(50+2*y)
			if x == y || x == c.Side-1-y || x == y+1 || x == c.Side-y {
				f[i*3], f[i*3+1], f[i*3+2] = 60, 20, 30
			}
		}
	}
	return f
}

// Write encodes the clip to path (H.264 at CRF 10, yuv420p, with an AAC
// sine tone as long as the video) with the ffmpeg binary at ffmpeg.
func (c Clip) Write(ffmpeg, path string) error {
	bg := c.Background()
	var raw bytes.Buffer
	for i := 0; i < c.Frames; i++ {
		raw.Write(c.Frame(bg, i))
	}
	dur := fmt.Sprintf("%.3f", float64(c.Frames)/c.FPS)
	cmd := exec.Command(ffmpeg, "-v", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", c.W, c.H), "-r", fmt.Sprint(c.FPS), "-i", "-",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration="+dur,
		"-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", path)
	cmd.Stdin = &raw
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("generate %s: %w: %s", path, err, out)
	}
	return nil
}

// Seen marks the pixels where the background shows in at least one frame.
func (c Clip) Seen() *mask.Bitmap {
	seen := mask.NewBitmap(c.W, c.H)
	for i := 0; i < c.Frames; i++ {
		for p, v := range c.Truth(i).Pix {
			if v == 0 {
				seen.Pix[p] = 1
			}
		}
	}
	return seen
}

// FillError is the mean absolute error (per channel, of 255) between frame
// t of a result and the true background, over the square's pixels in
// frame t where the background shows in some frame; n counts the values.
func (c Clip) FillError(seen *mask.Bitmap, rgb, truth []byte, t int) (mae float64, n int) {
	var s float64
	for p, v := range c.Truth(t).Pix {
		if v == 0 || seen.Pix[p] == 0 {
			continue
		}
		for ch := 0; ch < 3; ch++ {
			s += math.Abs(float64(rgb[p*3+ch]) - float64(truth[p*3+ch]))
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return s / float64(n), n
}
