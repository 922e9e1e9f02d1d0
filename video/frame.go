package video

import "time"

// Frame is one decoded picture in packed RGB24 (3 bytes a pixel, rows of
// exactly W*3 bytes, no padding), with its position in the source.
type Frame struct {
	// Index counts decoded frames that were delivered, from 0, before
	// stride is applied: with stride 2 the indices are 0, 2, 4, ...
	Index int
	// PTS is the presentation time from the start of the stream.
	PTS time.Duration
	// Name is the file name for an image-directory source, else "".
	Name string
	W, H int
	RGB  []byte
}
