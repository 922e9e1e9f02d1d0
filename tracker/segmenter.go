package tracker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"samtrack/ort"
	"samtrack/segment"
	"samtrack/video"
)

// Segmenter answers the SAM work of one frame. The tracker calls it at most
// once per frame with everything that frame needs, so an implementation can
// compute the frame's encoder embedding once and share it between the
// prompts and everything mode.
type Segmenter interface {
	Segment(ctx context.Context, f video.Frame, req SegmentRequest) (SegmentResponse, error)
}

// SegmentRequest is the SAM work for one frame.
type SegmentRequest struct {
	// Prompts to answer, one mask each.
	Prompts []segment.Prompt
	// Everything asks for everything mode's segments.
	Everything bool
}

// SegmentResponse answers a SegmentRequest.
type SegmentResponse struct {
	// Masks holds one frame-size mask per prompt, in order.
	Masks []segment.Result
	// Segments are everything mode's segments, best first.
	Segments []segment.Segment
}

// SAMSegmenter is the Segmenter over a segment.Model: prompts go through
// segment.Predict and everything mode through a segment.Generator, both on
// one embedding per frame. It does not own the Model; Close frees the
// Generator's sessions.
type SAMSegmenter struct {
	m       segment.Model
	gen     *segment.Generator
	po      segment.PredictOptions
	encodes atomic.Int64
}

// NewSAMSegmenter prepares m for the tracker. eo configures everything mode
// (start from segment.DefaultEverythingOptions), po the prompt decoding
// (segment.DefaultPredictOptions, with Refine for SAM-Track's two-pass
// refinement). rt may be nil, which decodes everything mode through
// Model.Decode instead of specialised sessions.
func NewSAMSegmenter(rt *ort.Runtime, m segment.Model, eo segment.EverythingOptions, po segment.PredictOptions) (*SAMSegmenter, error) {
	if m == nil {
		return nil, errors.New("tracker: SAM segmenter needs a model; open one with segment.Open")
	}
	gen, err := segment.NewGenerator(rt, m, eo, segment.GeneratorOptions{})
	if err != nil {
		return nil, fmt.Errorf("tracker: SAM segmenter: %w", err)
	}
	return &SAMSegmenter{m: m, gen: gen, po: po}, nil
}

// Segment encodes f once and answers req on that embedding.
func (s *SAMSegmenter) Segment(ctx context.Context, f video.Frame, req SegmentRequest) (SegmentResponse, error) {
	var resp SegmentResponse
	if len(req.Prompts) == 0 && !req.Everything {
		return resp, nil
	}
	img := segment.Image{W: f.W, H: f.H, RGB: f.RGB}
	emb, err := s.m.Encode(ctx, img)
	if err != nil {
		return resp, fmt.Errorf("SAM encoder on frame %d: %w", f.Index, err)
	}
	s.encodes.Add(1)
	for i, p := range req.Prompts {
		r, err := segment.Predict(ctx, s.m, emb, p, s.po)
		if err != nil {
			return resp, fmt.Errorf("SAM prompt %d on frame %d: %w", i, f.Index, err)
		}
		resp.Masks = append(resp.Masks, r)
	}
	if req.Everything {
		segs, _, err := s.gen.Run(ctx, img, emb)
		if err != nil {
			return resp, fmt.Errorf("everything mode on frame %d: %w", f.Index, err)
		}
		resp.Segments = segs
	}
	return resp, nil
}

// Encodes counts the encoder runs so far (one per frame that needed SAM).
func (s *SAMSegmenter) Encodes() int { return int(s.encodes.Load()) }

// Close frees the everything-mode sessions (not the Model).
func (s *SAMSegmenter) Close() error {
	if s == nil || s.gen == nil {
		return nil
	}
	err := s.gen.Close()
	s.gen = nil
	return err
}
