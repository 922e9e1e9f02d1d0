package synthclip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"slices"
	"strings"

	"samtrack/media"
	"samtrack/video"
)

// Report is what Measure found in a removal of the square.
type Report struct {
	// FillMAE is the mean absolute error (of 255) of the filled square
	// against the true background where some frame shows it; WorstFrame the
	// largest per-frame value.
	FillMAE, WorstFrame float64
	// FloorIn and FloorOut are the same error far from the square, where
	// nothing was filled: what encoding alone costs in the input and output.
	FloorIn, FloorOut float64
	Frames            int
	AudioPackets      int
}

func (r Report) String() string {
	return fmt.Sprintf("filled square vs true background: MAE %.2f/255 over %d frames (worst frame %.2f); encoding floor away from the square: input %.2f, output %.2f; %d audio packets identical",
		r.FillMAE, r.Frames, r.WorstFrame, r.FloorIn, r.FloorOut, r.AudioPackets)
}

// Measure checks that out (a removal of the square from in, the clip)
// has in's frame count, timestamps and audio packets, and measures the
// fill. ffprobe is the ffprobe binary.
func (c Clip) Measure(ffprobe, in, out string) (Report, error) {
	var r Report
	src, err := DecodeAll(in)
	if err != nil {
		return r, err
	}
	got, err := DecodeAll(out)
	if err != nil {
		return r, err
	}
	if len(got) != len(src) || len(src) != c.Frames {
		return r, fmt.Errorf("output has %d frames, input %d, clip %d", len(got), len(src), c.Frames)
	}
	for i := range got {
		if got[i].PTS != src[i].PTS {
			return r, fmt.Errorf("frame %d: output timestamp %v, input %v", i, got[i].PTS, src[i].PTS)
		}
	}
	a, err := audioPackets(ffprobe, in)
	if err != nil {
		return r, err
	}
	b, err := audioPackets(ffprobe, out)
	if err != nil {
		return r, err
	}
	if len(a) == 0 || !slices.Equal(a, b) {
		return r, fmt.Errorf("audio differs: input %d packets, output %d", len(a), len(b))
	}
	bg, seen := c.Background(), c.Seen()
	var sum, n float64
	for i, f := range got {
		mae, k := c.FillError(seen, f.RGB, bg, i)
		sum, n, r.WorstFrame = sum+mae*float64(k), n+float64(k), math.Max(r.WorstFrame, mae)
	}
	r.FillMAE, r.Frames, r.AudioPackets = sum/n, len(got), len(a)
	r.FloorIn, r.FloorOut = c.floor(src, bg), c.floor(got, bg)
	return r, nil
}

// floor is the error against the true background more than 30 pixels from
// the square.
func (c Clip) floor(frames []media.Frame, bg []byte) float64 {
	var s, n float64
	for i, f := range frames {
		far, _ := c.Truth(i).DilateDisk(30)
		for p, v := range far.Pix {
			if v == 0 {
				for ch := 0; ch < 3; ch++ {
					s += math.Abs(float64(f.RGB[p*3+ch]) - float64(bg[p*3+ch]))
					n++
				}
			}
		}
	}
	return s / n
}

// DecodeAll reads every frame of a video into memory (for short test
// clips).
func DecodeAll(path string) ([]media.Frame, error) {
	src, err := video.Open(context.Background(), path, video.Options{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var out []media.Frame
	for {
		f, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		f.RGB = append([]byte(nil), f.RGB...)
		out = append(out, f)
	}
}

// audioPackets lists the audio packets of a file as ffprobe sees them:
// size and MD5 of the data, one entry each.
func audioPackets(ffprobe, path string) ([]string, error) {
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "a", "-show_packets", "-show_data_hash", "md5",
		"-show_entries", "packet=size,data_hash", "-of", "csv=p=0", path).Output()
	if err != nil {
		return nil, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	return strings.Fields(string(out)), nil
}
