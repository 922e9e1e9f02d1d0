package segment

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/media"
	"samtrack/ort"
)

// Fidelity against the reference fixtures: real SAM / SAM 2 architectures
// with random weights, where any preprocessing, coordinate or
// postprocessing mistake shows.

const (
	maxPreprocessMAD = 0.01
	maxEncoderRelL2  = 1e-2
	maxIoUError      = 1e-3
	minAgreement     = 0.999
)

// promptNames orders prompts so that each base prompt comes before its
// "+mask_input" variant.
func promptNames(r *refFile) []string {
	var names []string
	for k := range r.Prompts {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int {
		ma, mb := strings.HasSuffix(a, "+mask_input"), strings.HasSuffix(b, "+mask_input")
		if ma != mb {
			if ma {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	return names
}

func checkCoords(t *testing.T, name string, coords, labels []float32, rp refPrompt) {
	t.Helper()
	if len(labels) != len(rp.PointLabels) {
		t.Fatalf("%s: %d points fed, reference fed %d (%v vs %v)", name, len(labels), len(rp.PointLabels), labels, rp.PointLabels)
	}
	for i := range labels {
		if float64(labels[i]) != rp.PointLabels[i] {
			t.Errorf("%s: label %d is %v, reference %v", name, i, labels[i], rp.PointLabels[i])
		}
		for a := 0; a < 2; a++ {
			if d := math.Abs(float64(coords[2*i+a]) - rp.PointCoords1024[i][a]); d > 1e-3 {
				t.Errorf("%s: point %d axis %d is %v, reference %v", name, i, a, coords[2*i+a], rp.PointCoords1024[i][a])
			}
		}
	}
}

func TestFidelitySAM1(t *testing.T) {
	needFixture(t, samRefDir)
	rt := openRuntime(t)
	ctx := context.Background()
	img := loadJPEG(t, dogFrame)
	ref := readRef(t, samRefDir)
	if ref.OrigImSize[0] != img.H || ref.OrigImSize[1] != img.W {
		t.Fatalf("frame is %dx%d, reference says %v", img.W, img.H, ref.OrigImSize)
	}

	t.Run("preprocess", func(t *testing.T) {
		want := mustNpy(t, filepath.Join(samRefDir, "input_image.npy"))
		got, err := PreprocessSAM1(img)
		if err != nil {
			t.Fatal(err)
		}
		mad := meanAbsDiff(got, want.Data)
		t.Logf("SAM v1 preprocessing: mean abs diff %.5f (limit %g)", mad, maxPreprocessMAD)
		if mad > maxPreprocessMAD {
			t.Errorf("mean abs diff %.5f > %g", mad, maxPreprocessMAD)
		}
	})

	m, err := Open(rt, filepath.Join(samRefDir, "encoder.onnx"), filepath.Join(samRefDir, "decoder.onnx"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Format() != FormatSAM1 {
		t.Fatalf("format %s", m.Format())
	}
	stored := mustNpy(t, filepath.Join(samRefDir, "image_embeddings.npy"))

	t.Run("encoder", func(t *testing.T) {
		emb, err := m.Encode(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		rel := relL2(emb.Tensors["image_embeddings"].F32, stored.Data)
		t.Logf("SAM v1 encoder: relative L2 to image_embeddings.npy %.2e (limit %g)", rel, maxEncoderRelL2)
		if rel > maxEncoderRelL2 {
			t.Errorf("relative L2 %.3g > %g", rel, maxEncoderRelL2)
		}
	})

	emb := &Embedding{W: img.W, H: img.H, Tensors: map[string]ort.Tensor{
		"image_embeddings": ort.F32Tensor(stored.Data, 1, 256, 64, 64)}}
	lowRes0 := map[string][]float32{}
	var maxIoUErr, minAgree, minAgreeGo, maxUpErr float64 = 0, 1, 1, 0
	for _, name := range promptNames(ref) {
		rp := ref.Prompts[name]
		p := rp.prompt(t)
		coords, labels := sam1PromptTensors(p, img.W, img.H)
		checkCoords(t, name, coords, labels, rp)
		if rp.HasMaskInput == 1 {
			base := strings.TrimSuffix(name, "+mask_input")
			if !strings.Contains(*rp.MaskInput, "low_res_masks[0] of '"+base+"'") {
				t.Fatalf("%s: unexpected mask_input source %q", name, *rp.MaskInput)
			}
			p.MaskInput = lowRes0[base]
		}
		outs, err := m.Decode(ctx, emb, []media.Prompt{p}, DecodeOptions{FullRes: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o := outs[0]
		if len(o.IoU) != 4 || len(o.Logits) != 4 {
			t.Fatalf("%s: %d tokens", name, len(o.IoU))
		}
		lowRes0[name] = o.LowRes[0]
		for k := range 4 {
			e := math.Abs(float64(o.IoU[k]) - rp.IoU[k])
			maxIoUErr = max(maxIoUErr, e)
			if e > maxIoUError {
				t.Errorf("%s token %d: iou %.5f, reference %.5f", name, k, o.IoU[k], rp.IoU[k])
			}
			w, h, want := readMaskPNG(t, filepath.Join(samRefDir, rp.MaskFiles[k]))
			if w != img.W || h != img.H {
				t.Fatalf("%s: mask is %dx%d", rp.MaskFiles[k], w, h)
			}
			a := agreement(o.Logits[k], want)
			minAgree = min(minAgree, a)
			if a < minAgreement {
				t.Errorf("%s token %d: in-graph mask agrees on %.4f%% of pixels", name, k, 100*a)
			}
			// The same postprocessing in Go, from the low-res logits.
			up := m.Upscale(emb, o.LowRes[k])
			ag := agreement(up, want)
			minAgreeGo = min(minAgreeGo, ag)
			if ag < minAgreement {
				t.Errorf("%s token %d: Go-upscaled mask agrees on %.4f%% of pixels", name, k, 100*ag)
			}
			for i, v := range up {
				maxUpErr = max(maxUpErr, math.Abs(float64(v-o.Logits[k][i])))
			}
		}
		// The default choice follows select_masks.
		wantBest := 0
		if len(rp.PointLabels) <= 2 {
			wantBest = 1
			for k := 2; k < 4; k++ {
				if rp.IoU[k] > rp.IoU[wantBest] {
					wantBest = k
				}
			}
		}
		if o.Best != wantBest {
			t.Errorf("%s: Best = %d, select_masks picks %d", name, o.Best, wantBest)
		}
		// Low-res only decoding gives the same low-res logits and IoUs.
		lo, err := m.Decode(ctx, emb, []media.Prompt{p}, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if lo[0].Logits != nil || !slices.Equal(lo[0].IoU, o.IoU) || relL2(lo[0].LowRes[3], o.LowRes[3]) > 1e-6 {
			t.Errorf("%s: low-res decoding differs from full decoding", name)
		}
	}
	t.Logf("SAM v1 decoder, %d prompts: max |iou error| %.2e (limit %g); min pixel agreement %.4f%% in-graph, %.4f%% Go upscale (limit %.1f%%); max |Go upscale - in-graph logit| %.2e",
		len(ref.Prompts), maxIoUErr, maxIoUError, 100*minAgree, 100*minAgreeGo, 100*minAgreement, maxUpErr)
}

func TestFidelitySAM2(t *testing.T) {
	needFixture(t, sam2RefDir)
	rt := openRuntime(t)
	ctx := context.Background()
	img := loadJPEG(t, dogFrame)
	ref := readRef(t, sam2RefDir)

	t.Run("preprocess", func(t *testing.T) {
		want := mustNpy(t, filepath.Join(sam2RefDir, "input_image.npy"))
		got, err := PreprocessSAM2(img)
		if err != nil {
			t.Fatal(err)
		}
		mad := meanAbsDiff(got, want.Data)
		t.Logf("SAM 2 preprocessing: mean abs diff %.5f (limit %g)", mad, maxPreprocessMAD)
		if mad > maxPreprocessMAD {
			t.Errorf("mean abs diff %.5f > %g", mad, maxPreprocessMAD)
		}
	})

	m, err := Open(rt, filepath.Join(sam2RefDir, "encoder.onnx"), filepath.Join(sam2RefDir, "decoder.onnx"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Format() != FormatSAM2 {
		t.Fatalf("format %s", m.Format())
	}
	emb := &Embedding{W: img.W, H: img.H, Tensors: map[string]ort.Tensor{}}
	for _, f := range sam2Feats {
		a := mustNpy(t, filepath.Join(sam2RefDir, f.name+".npy"))
		emb.Tensors[f.name] = ort.F32Tensor(a.Data, f.shape...)
	}

	t.Run("encoder", func(t *testing.T) {
		got, err := m.Encode(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range sam2Feats {
			rel := relL2(got.Tensors[f.name].F32, emb.Tensors[f.name].F32)
			t.Logf("SAM 2 encoder: %s relative L2 %.2e (limit %g)", f.name, rel, maxEncoderRelL2)
			if rel > maxEncoderRelL2 {
				t.Errorf("%s: relative L2 %.3g > %g", f.name, rel, maxEncoderRelL2)
			}
		}
	})

	bestLow := map[string][]float32{}
	var maxIoUErr, minAgree float64 = 0, 1
	for _, name := range promptNames(ref) {
		rp := ref.Prompts[name]
		p := rp.prompt(t)
		coords, labels := sam2PromptTensors(p, img.W, img.H)
		checkCoords(t, name, coords, labels, rp)
		if rp.HasMaskInput == 1 {
			base := strings.TrimSuffix(name, "+mask_input")
			if !strings.Contains(*rp.MaskInput, "of '"+base+"' (best iou)") {
				t.Fatalf("%s: unexpected mask_input source %q", name, *rp.MaskInput)
			}
			p.MaskInput = bestLow[base]
		}
		outs, err := m.Decode(ctx, emb, []media.Prompt{p}, DecodeOptions{FullRes: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o := outs[0]
		if len(o.IoU) != 3 || len(o.Logits) != 3 {
			t.Fatalf("%s: %d tokens", name, len(o.IoU))
		}
		bestLow[name] = o.LowRes[o.Best]
		if o.Best != argmax([]float32{float32(rp.IoU[0]), float32(rp.IoU[1]), float32(rp.IoU[2])}) {
			t.Errorf("%s: Best = %d, reference ious %v", name, o.Best, rp.IoU)
		}
		for k := range 3 {
			e := math.Abs(float64(o.IoU[k]) - rp.IoU[k])
			maxIoUErr = max(maxIoUErr, e)
			if e > maxIoUError {
				t.Errorf("%s token %d: iou %.5f, reference %.5f", name, k, o.IoU[k], rp.IoU[k])
			}
			_, _, want := readMaskPNG(t, filepath.Join(sam2RefDir, rp.MaskFiles[k]))
			a := agreement(o.Logits[k], want)
			minAgree = min(minAgree, a)
			if a < minAgreement {
				t.Errorf("%s token %d: mask agrees on %.4f%% of pixels", name, k, 100*a)
			}
		}
	}
	t.Logf("SAM 2 decoder, %d prompts: max |iou error| %.2e (limit %g); min pixel agreement %.4f%% (limit %.1f%%)",
		len(ref.Prompts), maxIoUErr, maxIoUError, 100*minAgree, 100*minAgreement)

	t.Run("batch", func(t *testing.T) {
		bc := ref.BatchCheck
		if bc == nil {
			testenv.Missing(t, "no batch_check in reference.json")
		}
		var prompts []media.Prompt
		for i, pts := range bc.PointCoords1024 {
			var p media.Prompt
			for j, xy := range pts {
				// Back to frame pixels; the transform must give xy again.
				p.Points = append(p.Points, media.Point{X: xy[0] * float64(img.W) / EncoderSize, Y: xy[1] * float64(img.H) / EncoderSize, Label: int(bc.PointLabels[i][j])})
			}
			prompts = append(prompts, p)
		}
		batch, err := m.Decode(ctx, emb, prompts, DecodeOptions{FullRes: true})
		if err != nil {
			t.Fatal(err)
		}
		var maxIoU, maxLogit float64
		for i, p := range prompts {
			single, err := m.Decode(ctx, emb, []media.Prompt{p}, DecodeOptions{FullRes: true})
			if err != nil {
				t.Fatal(err)
			}
			for k := range 3 {
				if e := math.Abs(float64(batch[i].IoU[k]) - bc.IoU[i][k]); e > maxIoUError {
					t.Errorf("batch prompt %d token %d: iou %.5f, reference %.5f", i, k, batch[i].IoU[k], bc.IoU[i][k])
				}
				maxIoU = max(maxIoU, math.Abs(float64(batch[i].IoU[k]-single[0].IoU[k])))
				for j, v := range batch[i].LowRes[k] {
					maxLogit = max(maxLogit, math.Abs(float64(v-single[0].LowRes[k][j])))
				}
				same := 0
				for j, v := range batch[i].Logits[k] {
					if (v > 0) == (single[0].Logits[k][j] > 0) {
						same++
					}
				}
				if a := float64(same) / float64(len(batch[i].Logits[k])); a < 0.9999 {
					t.Errorf("batch prompt %d token %d: batched and single masks agree on %.4f%% of pixels", i, k, 100*a)
				}
			}
		}
		t.Logf("SAM 2 batch of %d vs single calls: max |iou diff| %.2e, max |low-res logit diff| %.2e", len(prompts), maxIoU, maxLogit)
		if maxIoU > 1e-4 || maxLogit > 1e-3 {
			t.Errorf("batched and single decoding differ: iou %.3g, logits %.3g", maxIoU, maxLogit)
		}
	})

	// DecodeIoU (everything mode's screen: the decoder pruned to
	// iou_predictions) gives the full decoder's IoUs, for single prompts,
	// prompts with a mask input and a batch of prompts with one point and
	// two (two decoder batches).
	t.Run("iou only", func(t *testing.T) {
		var prompts []media.Prompt
		for _, name := range promptNames(ref) {
			p := ref.Prompts[name].prompt(t)
			if ref.Prompts[name].HasMaskInput == 1 {
				p.MaskInput = bestLow[strings.TrimSuffix(name, "+mask_input")]
			}
			prompts = append(prompts, p)
		}
		d, ok := m.(IoUDecoder)
		if !ok {
			t.Fatal("the SAM 2 model does not implement IoUDecoder")
		}
		ious, err := d.DecodeIoU(ctx, emb, prompts)
		if err != nil {
			t.Fatal(err)
		}
		full, err := m.Decode(ctx, emb, prompts, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range prompts {
			for k := range 3 {
				worst = max(worst, math.Abs(float64(ious[i][k]-full[i].IoU[k])))
			}
		}
		t.Logf("SAM 2 IoU-only decoder against the full one, %d prompts: max |iou diff| %.2e", len(prompts), worst)
		if worst > 1e-5 {
			t.Errorf("IoU-only and full decoder differ by %.3g", worst)
		}
	})
}
