package main

import (
	"context"
	"errors"

	"samtrack/segment"
)

// classicalSegmenter is the no-weights fallback: GrabCut seeded by the
// prompt. It has no everything mode.
type classicalSegmenter struct{ c *segment.Classical }

func newClassicalSegmenter() (segmenter, error) {
	c, err := segment.NewClassical(segment.DefaultClassicalOptions())
	if err != nil {
		return nil, err
	}
	return classicalSegmenter{c}, nil
}

func (s classicalSegmenter) Name() string { return s.c.Name() }

func (s classicalSegmenter) Predict(ctx context.Context, img segment.Image, p segment.Prompt, _ bool) (segment.Result, error) {
	return s.c.Segment(ctx, img, p)
}

func (s classicalSegmenter) Everything(context.Context, segment.Image, segment.EverythingOptions) ([]segment.Segment, error) {
	return nil, errors.New("everything mode needs a SAM model; give --model NAME or --sam-encoder/--sam-decoder (see `samtrack models list`)")
}

func (s classicalSegmenter) Close() error { return nil }
