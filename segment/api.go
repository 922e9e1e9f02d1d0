// Package segment owns Segment Anything: the ONNX layouts of SAM, MobileSAM
// and SAM 2 (one file per layout, detected from tensor names), their
// preprocessing, coordinate transforms and postprocessing, prompts and the
// official mask-selection rule, SAM-Track's two-pass refinement, everything
// mode (automatic mask generation) and a classical OpenCV segmenter used
// when no model is configured, and the two adapters (SAMSegmenter,
// ClassicalSegmenter) through which the tracker asks for masks. ONNX Runtime
// is reached only through package ort, and ONNX graphs are read and
// rewritten only through models/onnxedit (segment says which SAM decoder
// outputs to keep and which attention blocks to reassociate); pictures,
// prompts and results are package media's plain values.
package segment

import (
	"context"

	"samtrack/media"
	"samtrack/ort"
)

// LowResSize is the side of SAM's low-resolution mask logits.
const LowResSize = 256

// Embedding is the encoder output for one frame. It is computed once per
// frame and shared by every prompt and by everything mode.
type Embedding struct {
	// W, H is the frame size the embedding was computed from.
	W, H int
	// Tensors holds the encoder outputs by name.
	Tensors map[string]ort.Tensor
}

// Output is the decoder's answer to one prompt.
type Output struct {
	// IoU holds the predicted IoU of each mask token.
	IoU []float32
	// LowRes holds each token's LowResSize² logits.
	LowRes [][]float32
	// Logits holds each token's logits at frame size (W*H), when requested.
	Logits [][]float32
	// Best is the token the format's default selection rule picks.
	Best int
}

// DecodeOptions say which outputs a caller needs, so that work for the
// others can be skipped.
type DecodeOptions struct {
	// FullRes asks for Output.Logits.
	FullRes bool
}

// Model is one loaded SAM-family model (an encoder and a decoder).
type Model interface {
	// Format names the detected ONNX layout.
	Format() string
	// Encode computes the embedding of a frame.
	Encode(ctx context.Context, img media.Image) (*Embedding, error)
	// Decode answers prompts on one embedding, batched where the layout
	// allows; the result has one Output per prompt.
	Decode(ctx context.Context, emb *Embedding, prompts []media.Prompt, opts DecodeOptions) ([]Output, error)
	// Upscale applies the layout's postprocessing to one low-res logit map,
	// giving logits at the embedding's frame size.
	Upscale(emb *Embedding, lowRes []float32) []float32
	Close() error
}
