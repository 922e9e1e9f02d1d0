package segment

import (
	"context"
	"fmt"

	"samtrack/media"
)

// refineM2M is SAM2AutomaticMaskGenerator's use_m2m refinement: every
// multimask candidate of every click is decoded once more with the same
// click and its own low-res logits as mask_input, asking for one mask
// (multimask_output=False), and the refined mask and IoU replace the
// candidate's. The single-mask answer is token 0 where the decoder has
// SAM's four mask tokens. samexporter's SAM 2 decoder keeps only the three
// multimask tokens, so there the refined output's best token by predicted
// IoU stands in for it: what SAM 2's own single-mask output falls back to
// when token 0 is unstable (dynamic_multimask_via_stability), but not
// always its answer. docs/ARCHITECTURE.md notes the difference.
func refineM2M(ctx context.Context, m Model, emb *Embedding, prompts []media.Prompt, outs []Output) ([]Output, error) {
	type ref struct{ i, k int }
	var req []media.Prompt
	var refs []ref
	out := make([]Output, len(outs))
	for i, o := range outs {
		lo, hi := multimaskTokens(len(o.IoU))
		if len(o.LowRes) < hi {
			return nil, fmt.Errorf("everything: use_m2m: click %d has %d low-res masks for %d IoUs", i, len(o.LowRes), len(o.IoU))
		}
		out[i] = Output{IoU: append([]float32(nil), o.IoU...), LowRes: append([][]float32(nil), o.LowRes...), Best: o.Best}
		for k := lo; k < hi; k++ {
			req = append(req, media.Prompt{Points: prompts[i].Points, MaskInput: o.LowRes[k]})
			refs = append(refs, ref{i, k})
		}
	}
	if len(req) == 0 {
		return out, nil
	}
	res, err := m.Decode(ctx, emb, req, DecodeOptions{})
	if err != nil {
		return nil, fmt.Errorf("everything: use_m2m refinement: %w", err)
	}
	if len(res) != len(req) {
		return nil, fmt.Errorf("everything: use_m2m: decoder gave %d outputs for %d prompts", len(res), len(req))
	}
	for j, r := range refs {
		t := singleMaskToken(res[j])
		if t >= len(res[j].LowRes) {
			return nil, fmt.Errorf("everything: use_m2m: decoder gave %d low-res masks for %d IoUs", len(res[j].LowRes), len(res[j].IoU))
		}
		out[r.i].IoU[r.k] = res[j].IoU[t]
		out[r.i].LowRes[r.k] = res[j].LowRes[t]
	}
	return out, nil
}
