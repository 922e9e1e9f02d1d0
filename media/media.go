// Package media owns the value types that samtrack's stages pass to each
// other, free of native code so that the tracker, the writers and the
// evaluator build without cgo: a packed RGB image, a decoded frame (an image
// with its place in the source), the prompts a segmenter answers (point,
// box, prompt), its answers (a chosen mask, an everything-mode segment) and
// the request and response of one frame's segmentation work. Decoding lives
// in package video, models in segment and ort.
package media

import (
	"time"

	"samtrack/mask"
)

// Image is an RGB24 picture: W*H*3 bytes, rows of exactly W*3 bytes
// without padding.
type Image struct {
	W, H int
	RGB  []byte
}

// Frame is one decoded picture in packed RGB24 with its position in the
// source.
type Frame struct {
	// Index counts decoded frames that were delivered, from 0, before
	// stride is applied: with stride 2 the indices are 0, 2, 4, ...
	Index int
	// PTS is the presentation time from the start of the stream.
	PTS time.Duration
	// Name is the file name for an image-directory source, else "".
	Name string
	Image
}

// Point is a click in frame pixels. Label is 1 for a positive click and 0
// for a negative one.
type Point struct {
	X, Y  float64
	Label int
}

// Box is a box in frame pixels, top-left and bottom-right corners.
type Box struct {
	X0, Y0, X1, Y1 float64
}

// Prompt is one query to a segmenter.
type Prompt struct {
	Points []Point
	Box    *Box
	// MaskInput is a previous low-resolution logit map (segment.LowResSize²
	// values, in the model's own low-res geometry) fed as SAM's mask_input.
	MaskInput []float32
}

// Result is a chosen mask with its scores.
type Result struct {
	Mask  *mask.Bitmap
	Score float64
	// LowRes is the chosen token's low-res logits, for feeding back.
	LowRes []float32
}

// Segment is one automatically generated mask (everything mode), with the
// fields of segment-anything's records.
type Segment struct {
	// Mask is the binary mask at frame size.
	Mask *mask.Bitmap
	// Area counts the mask's pixels.
	Area int
	// BBox is the box in XYWH as segment-anything writes it: x0, y0 and
	// the inclusive max corner minus the min corner (so a one-pixel mask
	// has width 0).
	BBox [4]int
	// PredictedIoU is the decoder's IoU estimate for the mask.
	PredictedIoU float64
	// StabilityScore is IoU(logits > offset, logits > -offset).
	StabilityScore float64
	// PointCoords holds the grid click that produced the mask, frame pixels.
	PointCoords [][2]float64
	// CropBox is the crop the mask came from, XYWH.
	CropBox [4]int
}

// SegmentRequest is the segmentation work for one frame.
type SegmentRequest struct {
	// Prompts to answer, one mask each.
	Prompts []Prompt
	// Everything asks for everything mode's segments.
	Everything bool
	// Next is the frame after this one, when the caller has decoded it
	// already (nil otherwise): a segmenter may use the motion between the
	// two (the classical segmenter does, for a box).
	Next *Image
}

// SegmentResponse answers a SegmentRequest.
type SegmentResponse struct {
	// Masks holds one frame-size mask per prompt, in order.
	Masks []Result
	// Segments are everything mode's segments, best first.
	Segments []Segment
}
