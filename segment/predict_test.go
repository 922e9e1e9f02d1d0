package segment

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"samtrack/mask"
	"samtrack/media"
	"samtrack/ort"
)

func bitmapAgreement(t *testing.T, b *mask.Bitmap, path string) float64 {
	t.Helper()
	w, h, want := readMaskPNG(t, path)
	if w != b.W || h != b.H {
		t.Fatalf("%s is %dx%d, mask %dx%d", path, w, h, b.W, b.H)
	}
	same := 0
	for i, v := range b.Pix {
		if (v != 0) == want[i] {
			same++
		}
	}
	return float64(same) / float64(len(want))
}

func TestPredictSAM1(t *testing.T) {
	needFixture(t, samRefDir)
	rt := openRuntime(t)
	ctx := context.Background()
	ref := readRef(t, samRefDir)
	m, err := Open(rt, filepath.Join(samRefDir, "encoder.onnx"), filepath.Join(samRefDir, "decoder.onnx"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	stored := mustNpy(t, filepath.Join(samRefDir, "image_embeddings.npy"))
	emb := &Embedding{W: 854, H: 480, Tensors: map[string]ort.Tensor{"image_embeddings": ort.F32Tensor(stored.Data, 1, 256, 64, 64)}}

	for _, tc := range []struct {
		prompt string
		token  int // the select_masks choice for this prompt
	}{{"point", 3}, {"box", 3}, {"two_points", 0}, {"box_and_point", 0}} {
		rp := ref.Prompts[tc.prompt]
		p := rp.prompt(t)
		r, err := Predict(ctx, m, emb, p, DefaultPredictOptions())
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Score-rp.IoU[tc.token]) > maxIoUError {
			t.Errorf("%s: score %.4f, want token %d's %.4f", tc.prompt, r.Score, tc.token, rp.IoU[tc.token])
		}
		if a := bitmapAgreement(t, r.Mask, filepath.Join(samRefDir, rp.MaskFiles[tc.token])); a < minAgreement {
			t.Errorf("%s: mask agrees on %.4f%%", tc.prompt, 100*a)
		}
		// An explicit token.
		r1, err := Predict(ctx, m, emb, p, PredictOptions{Token: 1})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r1.Score-rp.IoU[1]) > maxIoUError {
			t.Errorf("%s token 1: score %.4f, want %.4f", tc.prompt, r1.Score, rp.IoU[1])
		}
		if _, err := Predict(ctx, m, emb, p, PredictOptions{Token: 4}); err == nil {
			t.Errorf("token 4 accepted")
		}
	}

	// Two-pass refinement is two decoder runs: the best multimask output
	// (tokens 1-3) fed back as mask_input, keeping the single-mask token 0.
	p := ref.Prompts["point"].prompt(t)
	r, err := Predict(ctx, m, emb, p, PredictOptions{Refine: true, Token: TokenAuto})
	if err != nil {
		t.Fatal(err)
	}
	first, err := m.Decode(ctx, emb, []media.Prompt{p}, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := 1 + argmax(first[0].IoU[1:])
	p2 := p
	p2.MaskInput = first[0].LowRes[k]
	second, err := m.Decode(ctx, emb, []media.Prompt{p2}, DecodeOptions{FullRes: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Score != float64(second[0].IoU[0]) || !slices.Equal(r.LowRes, second[0].LowRes[0]) {
		t.Errorf("refined score %.4f, want token 0 of the second pass %.4f", r.Score, second[0].IoU[0])
	}
	if a := agreementBitmap(r.Mask, second[0].Logits[0]); a < minAgreement {
		t.Errorf("refined mask agrees with the in-graph mask on %.4f%%", 100*a)
	}

	// The model may be shared by goroutines.
	var wg sync.WaitGroup
	results := make([]media.Result, 3)
	errs := make([]error, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Predict(ctx, m, emb, p, PredictOptions{Refine: true, Token: TokenAuto})
		}()
	}
	wg.Wait()
	for i, cr := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if cr.Score != r.Score || !slices.Equal(cr.Mask.Pix, r.Mask.Pix) {
			t.Errorf("concurrent Predict %d differs: score %v vs %v", i, cr.Score, r.Score)
		}
	}
}

func agreementBitmap(b *mask.Bitmap, logits []float32) float64 {
	same := 0
	for i, v := range b.Pix {
		if (v != 0) == (logits[i] > 0) {
			same++
		}
	}
	return float64(same) / float64(len(b.Pix))
}

func TestPredictSAM2Refine(t *testing.T) {
	needFixture(t, sam2RefDir)
	rt := openRuntime(t)
	ctx := context.Background()
	ref := readRef(t, sam2RefDir)
	m, err := Open(rt, filepath.Join(sam2RefDir, "encoder.onnx"), filepath.Join(sam2RefDir, "decoder.onnx"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	emb := &Embedding{W: 854, H: 480, Tensors: map[string]ort.Tensor{}}
	for _, f := range sam2Feats {
		emb.Tensors[f.name] = ort.F32Tensor(mustNpy(t, filepath.Join(sam2RefDir, f.name+".npy")).Data, f.shape...)
	}
	// SAM 2's "+mask_input" references feed back the best-IoU output of
	// the same prompt, which is exactly the refinement's second pass.
	for _, name := range []string{"point", "two_points", "box", "box_and_point"} {
		rp := ref.Prompts[name+"+mask_input"]
		r, err := Predict(ctx, m, emb, rp.prompt(t), PredictOptions{Refine: true, Token: TokenAuto})
		if err != nil {
			t.Fatal(err)
		}
		best := 0
		for k := range rp.IoU {
			if rp.IoU[k] > rp.IoU[best] {
				best = k
			}
		}
		if math.Abs(r.Score-rp.IoU[best]) > maxIoUError {
			t.Errorf("%s: refined score %.4f, reference %.4f", name, r.Score, rp.IoU[best])
		}
		if a := bitmapAgreement(t, r.Mask, filepath.Join(sam2RefDir, rp.MaskFiles[best])); a < minAgreement {
			t.Errorf("%s: refined mask agrees on %.4f%%", name, 100*a)
		}
	}
}
