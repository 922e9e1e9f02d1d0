package pipeline

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"samtrack/video"
)

// TestReadAhead: frames come in order whether or not they were read ahead,
// a peeked frame is the one Next returns after it, and a peek past the
// last frame gives nil and leaves io.EOF for Next.
func TestReadAhead(t *testing.T) {
	ctx := context.Background()
	src, err := video.Open(ctx, sampleMP4, video.Options{MaxFrames: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := &readAhead{src: src}
	var got []int
	for i := 0; ; i++ {
		f, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f.Index)
		if i%2 == 0 {
			next := r.Peek(ctx)
			if f.Index == 4 {
				if next != nil {
					t.Errorf("peek after the last frame gave a picture")
				}
				continue
			}
			if next == nil || len(next.RGB) != len(f.RGB) || &next.RGB[0] == &f.RGB[0] {
				t.Fatalf("peek after frame %d: %v", f.Index, next)
			}
			if again := r.Peek(ctx); again != next {
				t.Errorf("a second peek read another frame")
			}
		}
	}
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("frames %v, want 0 to 4 in order", got)
	}
}
