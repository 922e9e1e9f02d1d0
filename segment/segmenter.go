package segment

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"samtrack/media"
	"samtrack/ort"
)

// SAMSegmenter is the tracker's Segmenter over a Model: prompts go through
// Predict and everything mode through a Generator, both on one embedding
// per frame. It does not own the Model; Close frees the Generator's
// sessions.
type SAMSegmenter struct {
	m       Model
	gen     *Generator
	po      PredictOptions
	encodes atomic.Int64
}

// NewSAMSegmenter prepares m for the tracker. eo configures everything mode
// (start from media.DefaultEverythingOptions; an unset pred_iou_thresh
// takes the model family's), po the prompt decoding
// (DefaultPredictOptions, with Refine for SAM-Track's two-pass
// refinement). rt may be nil, which decodes everything mode through
// Model.Decode instead of specialised sessions.
func NewSAMSegmenter(rt *ort.Runtime, m Model, eo media.EverythingOptions, po PredictOptions) (*SAMSegmenter, error) {
	if m == nil {
		return nil, errors.New("segment: SAM segmenter needs a model; open one with segment.Open")
	}
	gen, err := NewGenerator(rt, m, eo, GeneratorOptions{})
	if err != nil {
		return nil, fmt.Errorf("segment: SAM segmenter: %w", err)
	}
	return &SAMSegmenter{m: m, gen: gen, po: po}, nil
}

// Segment encodes f once and answers req on that embedding.
func (s *SAMSegmenter) Segment(ctx context.Context, f media.Frame, req media.SegmentRequest) (media.SegmentResponse, error) {
	var resp media.SegmentResponse
	if len(req.Prompts) == 0 && !req.Everything {
		return resp, nil
	}
	emb, err := s.m.Encode(ctx, f.Image)
	if err != nil {
		return resp, fmt.Errorf("SAM encoder on frame %d: %w", f.Index, err)
	}
	s.encodes.Add(1)
	for i, p := range req.Prompts {
		r, err := Predict(ctx, s.m, emb, p, s.po)
		if err != nil {
			return resp, fmt.Errorf("SAM prompt %d on frame %d: %w", i, f.Index, err)
		}
		resp.Masks = append(resp.Masks, r)
	}
	if req.Everything {
		segs, _, err := s.gen.Run(ctx, f.Image, emb)
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

// ClassicalSegmenter is the tracker's Segmenter over GrabCut, used when no
// SAM model is configured: it answers prompts and cannot run everything
// mode.
type ClassicalSegmenter struct{ c *Classical }

// NewClassicalSegmenter wraps c for the tracker.
func NewClassicalSegmenter(c *Classical) ClassicalSegmenter { return ClassicalSegmenter{c} }

// Segment answers req's prompts on f one by one (with req.Next, when
// given, for the motion runs of SegmentNext).
func (s ClassicalSegmenter) Segment(ctx context.Context, f media.Frame, req media.SegmentRequest) (media.SegmentResponse, error) {
	var resp media.SegmentResponse
	if req.Everything {
		return resp, errors.New("everything mode needs a SAM model; give --model NAME or --sam-encoder/--sam-decoder (config sam.model or sam.encoder/sam.decoder; see `samtrack models list`)")
	}
	for i, p := range req.Prompts {
		r, err := s.c.SegmentNext(ctx, f.Image, req.Next, p)
		if err != nil {
			return resp, fmt.Errorf("classical segmenter, prompt %d on frame %d: %w", i, f.Index, err)
		}
		resp.Masks = append(resp.Masks, r)
	}
	return resp, nil
}
