package inpaint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"samtrack/mask"
	"samtrack/video"
)

// need skips a test whose data or tool is missing, and fails it under CI
// (CI=true), where nothing may be skipped silently.
func need(t testing.TB, why string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (required under CI=true): %v", why, err)
	}
	t.Skipf("%s: %v", why, err)
}

func ffmpeg(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	need(t, "ffmpeg binary not installed: run scripts/setup.sh (apt-get install ffmpeg)", err)
	return p
}

// synthClip is a generated clip: a static textured background and a solid
// square moving across it, with a sine-tone audio track.
type synthClip struct {
	w, h, n, side int
	fps           float64
}

func defaultClip() synthClip { return synthClip{w: 320, h: 240, n: 48, side: 44, fps: 25} }

// background is the true static background (packed RGB).
func (c synthClip) background() []byte {
	bg := make([]byte, c.w*c.h*3)
	// Colour varies slowly (4:2:0 video keeps chroma at half resolution);
	// the texture that optical flow locks onto is in the luminance.
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w; x++ {
			luma := 40*math.Sin(float64(x)/6)*math.Cos(float64(y)/5) + 20*math.Sin(float64(x+2*y)/11)
			for ch := 0; ch < 3; ch++ {
				v := 120 + 35*math.Sin(float64(x)/70+float64(ch)*2)*math.Cos(float64(y)/60) + luma
				bg[(y*c.w+x)*3+ch] = byte(math.Round(v))
			}
		}
	}
	return bg
}

// square is the object's box in frame t.
func (c synthClip) square(t int) (x0, y0 int) {
	return 12 + 5*t, 90 + int(math.Round(12*math.Sin(float64(t)/6)))
}

func (c synthClip) truth(t int) *mask.Bitmap {
	b := mask.NewBitmap(c.w, c.h)
	x0, y0 := c.square(t)
	for y := y0; y < y0+c.side; y++ {
		for x := x0; x < x0+c.side; x++ {
			if x >= 0 && y >= 0 && x < c.w && y < c.h {
				b.Pix[y*c.w+x] = 1
			}
		}
	}
	return b
}

func (c synthClip) frame(bg []byte, t int) []byte {
	f := append([]byte(nil), bg...)
	m := c.truth(t)
	for i, v := range m.Pix {
		if v != 0 {
			f[i*3], f[i*3+1], f[i*3+2] = 235, 40, 50
		}
	}
	return f
}

// write encodes the clip (H.264, near-lossless) with an AAC sine tone.
func (c synthClip) write(t testing.TB, path string) {
	t.Helper()
	bg := c.background()
	var raw bytes.Buffer
	for i := 0; i < c.n; i++ {
		raw.Write(c.frame(bg, i))
	}
	dur := fmt.Sprintf("%.3f", float64(c.n)/c.fps)
	cmd := exec.Command(ffmpeg(t), "-v", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", c.w, c.h), "-r", fmt.Sprint(c.fps), "-i", "-",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration="+dur,
		"-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", path)
	cmd.Stdin = &raw
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate clip: %v: %s", err, out)
	}
}

// decodeAll reads every frame of a video.
func decodeAll(t testing.TB, path string) []video.Frame {
	t.Helper()
	src, err := video.Open(context.Background(), path, video.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []video.Frame
	for {
		f, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f.RGB = append([]byte(nil), f.RGB...)
		out = append(out, f)
	}
}

// audioPackets lists the audio packets of a file as ffprobe sees them:
// size and MD5 of the data, one line each.
func audioPackets(t testing.TB, path string) []string {
	t.Helper()
	probe, err := exec.LookPath("ffprobe")
	need(t, "ffprobe not installed: run scripts/setup.sh (apt-get install ffmpeg)", err)
	out, err := exec.Command(probe, "-v", "error", "-select_streams", "a", "-show_packets", "-show_data_hash", "md5",
		"-show_entries", "packet=size,data_hash", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return strings.Fields(string(out))
}

func tempDir(t testing.TB) string {
	t.Helper()
	return filepath.Clean(t.TempDir())
}
