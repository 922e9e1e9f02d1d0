package segment

import (
	"context"
	"testing"

	"samtrack/media"
)

// TestEverythingM2M runs everything mode with use_m2m on the generated SAM
// and SAM 2 models: every segment's predicted IoU is that of a refinement
// decoded here through the public API (its click, one of the click's
// multimask low-res masks as mask_input, the single-mask token), not a
// first-pass IoU. With the SAM model the shapes are still found once each;
// the generated SAM 2 decoder answers some refinements with degenerate
// one-row masks (zero-area boxes, which box NMS cannot compare, as in
// torchvision), so only the wiring is checked there.
func TestEverythingM2M(t *testing.T) {
	rt, p := evModels(t)
	sc := newEvScene()
	ctx := context.Background()
	for _, tc := range []struct{ name, enc, dec string }{
		{"sam1", p.SAMEncoder, p.SAMDecoder},
		{"sam2", p.SAM2Encoder, p.SAM2Decoder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := evOpen(t, rt, tc.enc, tc.dec)
			opts := evOpts()
			opts.PointsPerSide = 8 // every click is decoded 4 times: keep it quick
			opts.UseM2M = true
			emb, err := m.Encode(ctx, sc.img)
			if err != nil {
				t.Fatal(err)
			}
			segs, err := EverythingWithEmbedding(ctx, m, sc.img, emb, opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "sam1" {
				checkShapesOnce(t, sc, segs)
			}
			changed := 0
			for i, s := range segs {
				pt := media.Point{X: s.PointCoords[0][0], Y: s.PointCoords[0][1], Label: 1}
				first, err := m.Decode(ctx, emb, []media.Prompt{{Points: []media.Point{pt}}}, DecodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				lo, hi := multimaskTokens(len(first[0].IoU))
				refined, firstIoU := false, false
				for k := lo; k < hi; k++ {
					firstIoU = firstIoU || float64(first[0].IoU[k]) == s.PredictedIoU
					r, err := m.Decode(ctx, emb, []media.Prompt{{Points: []media.Point{pt}, MaskInput: first[0].LowRes[k]}}, DecodeOptions{})
					if err != nil {
						t.Fatal(err)
					}
					refined = refined || float64(r[0].IoU[singleMaskToken(r[0])]) == s.PredictedIoU
				}
				if !refined {
					t.Errorf("segment %d (click %v): IoU %.6f is no refinement's", i, pt, s.PredictedIoU)
				}
				if !firstIoU {
					changed++
				}
			}
			if changed == 0 {
				t.Errorf("no segment's IoU differs from the first pass: the refinement had no effect")
			}
			t.Logf("%d of %d segments carry a refined IoU unlike any first-pass one", changed, len(segs))
		})
	}
}

func TestEverythingDefaultsPerFamily(t *testing.T) {
	for _, tc := range []struct {
		format string
		pred   float64
	}{{FormatSAM1, 0.88}, {FormatSAM2, 0.8}} {
		o := DefaultEverythingOptionsFor(tc.format)
		if o.PredIoUThresh == nil || *o.PredIoUThresh != tc.pred || o.UseM2M || o.StabilityScoreThresh != 0.95 || o.PointsPerSide != 32 {
			t.Errorf("%s: %+v, want pred_iou_thresh %g and the rest of SAM's defaults", tc.format, o, tc.pred)
		}
	}
}
