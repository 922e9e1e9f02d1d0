package inpaint

import (
	"context"
	"path/filepath"
	"testing"

	"samtrack/internal/synthclip"
	"samtrack/mask"
	"samtrack/media"
)

// BenchmarkRemove times the removal of the synthetic square (48 frames,
// 320x240, true masks) against a baseline measured in the same run: the
// same decode and encode with empty masks (nothing to fill), so the ratio
// is what the temporal fill costs on top of transcoding.
//
//	go test -run '^$' -bench BenchmarkRemove -benchtime 3x ./inpaint/
func BenchmarkRemove(b *testing.B) {
	c := synthclip.Default()
	dir := b.TempDir()
	in := filepath.Join(dir, "in.mp4")
	if err := c.Write(synthclip.Tool(b, "ffmpeg"), in); err != nil {
		b.Fatal(err)
	}
	empty := mask.NewBitmap(c.W, c.H)
	for _, bc := range []struct {
		name  string
		masks MaskSource
	}{
		{"transcode", func(media.Frame) (*mask.Bitmap, error) { return empty, nil }},
		{"remove", func(f media.Frame) (*mask.Bitmap, error) { return c.Truth(f.Index), nil }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Remove(context.Background(), Spec{Input: in, Out: filepath.Join(dir, bc.name+".mp4"), Masks: bc.masks}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.Frames)/1e6, "ms/frame")
		})
	}
}
