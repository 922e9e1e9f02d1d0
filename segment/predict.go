package segment

import (
	"context"
	"fmt"
	"math"

	"samtrack/mask"
	"samtrack/media"
)

// TokenAuto asks Predict for the format's default mask choice.
const TokenAuto = -1

// PredictOptions tune Predict.
type PredictOptions struct {
	// Refine runs SAM-Track's two passes: the best multimask output by
	// predicted IoU, then the same prompt again with that output's low-res
	// logits as mask_input, keeping the single-mask output (SAM v1 token 0;
	// SAM 2, which has no single-mask output, the best IoU).
	Refine bool
	// Token picks the mask token of the final pass; TokenAuto (-1) applies
	// the default rule (Output.Best, or the single-mask output after
	// Refine). Note that the zero value picks token 0.
	Token int
}

// DefaultPredictOptions is one pass with the default mask choice.
func DefaultPredictOptions() PredictOptions { return PredictOptions{Token: TokenAuto} }

// validatePrompt checks a prompt against a w×h frame.
func validatePrompt(p media.Prompt, w, h int) error {
	if len(p.Points) == 0 && p.Box == nil {
		return media.PromptErrorf("prompt has no point and no box; give at least one click or a box")
	}
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	inside := func(x, y float64) bool { return x >= 0 && y >= 0 && x <= float64(w) && y <= float64(h) }
	for i, pt := range p.Points {
		if bad(pt.X) || bad(pt.Y) || !inside(pt.X, pt.Y) {
			return media.PromptErrorf("point %d at (%g, %g) is outside the %dx%d frame; points are frame pixels with x in [0,%d] and y in [0,%d]",
				i, pt.X, pt.Y, w, h, w, h)
		}
		if pt.Label != 0 && pt.Label != 1 {
			return media.PromptErrorf("point %d at (%g, %g) has label %d; use 1 for a positive click and 0 for a negative one", i, pt.X, pt.Y, pt.Label)
		}
	}
	if b := p.Box; b != nil {
		if bad(b.X0) || bad(b.Y0) || bad(b.X1) || bad(b.Y1) || !inside(b.X0, b.Y0) || !inside(b.X1, b.Y1) {
			return media.PromptErrorf("box (%g, %g)-(%g, %g) is not inside the %dx%d frame; box corners are frame pixels with x in [0,%d] and y in [0,%d]",
				b.X0, b.Y0, b.X1, b.Y1, w, h, w, h)
		}
		if b.X1 <= b.X0 || b.Y1 <= b.Y0 {
			return media.PromptErrorf("box (%g, %g)-(%g, %g) is empty; give the top-left corner first (x1 > x0 and y1 > y0)", b.X0, b.Y0, b.X1, b.Y1)
		}
	}
	if p.MaskInput != nil && len(p.MaskInput) != LowResSize*LowResSize {
		return fmt.Errorf("mask input has %d values; it must be a %dx%d low-res logit map", len(p.MaskInput), LowResSize, LowResSize)
	}
	return nil
}

// multimaskBest is the best-IoU token among the multimask outputs: tokens
// 1–3 of a 4-token SAM v1 decoder, all tokens otherwise.
func multimaskBest(o Output) int {
	if len(o.IoU) == 4 {
		return 1 + argmax(o.IoU[1:])
	}
	return argmax(o.IoU)
}

// singleMaskToken is the token of the single-mask output (multimask_output
// = False): token 0 of SAM v1 decoders; SAM 2's export returns only the
// multimask outputs, so its best IoU stands in.
func singleMaskToken(o Output) int {
	if len(o.IoU) == 3 {
		return argmax(o.IoU)
	}
	return 0
}

// Predict answers one prompt with one mask at frame size. With
// opts.Refine it runs SAM-Track's two-pass refinement.
func Predict(ctx context.Context, m Model, emb *Embedding, p media.Prompt, opts PredictOptions) (media.Result, error) {
	if m == nil || emb == nil {
		return media.Result{}, fmt.Errorf("predict: need a model and an embedding")
	}
	outs, err := m.Decode(ctx, emb, []media.Prompt{p}, DecodeOptions{})
	if err != nil {
		return media.Result{}, fmt.Errorf("predict: %w", err)
	}
	o := outs[0]
	tok := o.Best
	if opts.Refine {
		p2 := p
		p2.MaskInput = o.LowRes[multimaskBest(o)]
		outs, err = m.Decode(ctx, emb, []media.Prompt{p2}, DecodeOptions{})
		if err != nil {
			return media.Result{}, fmt.Errorf("predict (refinement pass): %w", err)
		}
		o = outs[0]
		tok = singleMaskToken(o)
	}
	if opts.Token != TokenAuto {
		if opts.Token < 0 || opts.Token >= len(o.IoU) {
			return media.Result{}, fmt.Errorf("predict: token %d does not exist; this decoder has tokens 0-%d", opts.Token, len(o.IoU)-1)
		}
		tok = opts.Token
	}
	logits := m.Upscale(emb, o.LowRes[tok])
	if len(logits) != emb.W*emb.H {
		return media.Result{}, fmt.Errorf("predict: upscaling gave %d values for a %dx%d frame", len(logits), emb.W, emb.H)
	}
	return media.Result{Mask: Threshold(logits, emb.W, emb.H), Score: float64(o.IoU[tok]), LowRes: o.LowRes[tok]}, nil
}

// Threshold binarises frame-size logits at 0 (SAM's mask_threshold).
func Threshold(logits []float32, w, h int) *mask.Bitmap {
	b := mask.NewBitmap(w, h)
	for i, v := range logits[:min(len(logits), w*h)] {
		if v > 0 {
			b.Pix[i] = 1
		}
	}
	return b
}
