package tracker

import (
	"context"

	"samtrack/media"
)

// Segmenter answers the SAM work of one frame. The tracker calls it at most
// once per frame with everything that frame needs, so an implementation can
// compute the frame's encoder embedding once and share it between the
// prompts and everything mode. segment.SAMSegmenter and
// segment.ClassicalSegmenter implement it.
type Segmenter interface {
	Segment(ctx context.Context, f media.Frame, req media.SegmentRequest) (media.SegmentResponse, error)
}
