package segment

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"samtrack/internal/testenv"
	"samtrack/media"
	"samtrack/ort"
)

// BenchmarkSAMViTBCostReordered compares, in one run on the full-size SAM
// ViT-B cost model (see BenchmarkSAMViTBCost), everything mode at
// points_per_side 32 with the IoU pass screened by the reordered graph
// ("reordered", the default) and by the exact split graph ("exact"), in
// alternating passes, and the two IoU graphs per call.
// Pass figures include one encoder run (the mean of one before and one
// after the passes); the acceptance ratio is pass/encoder ≤ 3.
//
//	go test -run '^$' -bench SAMViTBCostReordered -benchtime 1x -timeout 30m ./segment
//
// SAMTRACK_COSTBENCH_ROUNDS sets the number of pass pairs (default 2).
func BenchmarkSAMViTBCostReordered(b *testing.B) {
	fix := costFixture()
	if _, err := os.Stat(filepath.Join(fix, "sam_vit_b_encoder.onnx")); err != nil {
		testenv.Missing(b, "SAM ViT-B cost fixture not available (%v)", err)
	}
	dir, err := costCacheDir("sam-vit-b-cost")
	if err != nil {
		b.Fatal(err)
	}
	enc, err := prepareCostModel(fix, dir, "sam_vit_b_encoder")
	if err != nil {
		b.Fatal(err)
	}
	dec, err := prepareCostModel(fix, dir, "sam_vit_b_decoder")
	if err != nil {
		b.Fatal(err)
	}
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(b, err)
	}
	defer rt.Close()
	m, err := Open(rt, enc, dec, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	rounds := 2
	if n, err := strconv.Atoi(os.Getenv("SAMTRACK_COSTBENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	ctx := context.Background()
	img := costFrame()
	opts := DefaultEverythingOptionsFor(FormatSAM1)

	for range b.N {
		encode := func() (*Embedding, float64) {
			t := time.Now()
			emb, err := m.Encode(ctx, img)
			if err != nil {
				b.Fatal(err)
			}
			return emb, time.Since(t).Seconds()
		}
		encode() // warm-up
		emb, enc1 := encode()

		gens := map[string]*Generator{}
		for _, name := range []string{"exact", "reordered"} {
			g, err := NewGenerator(rt, m, opts, GeneratorOptions{KeepExact: true})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			sc, ok := g.sc.(*sam1PointScorer)
			if !ok || sc.fast == nil || !sc.canScreenMasks() {
				b.Fatal("the generator does not decode the SAM ViT-B decoder with the reordered graphs")
			}
			// Both compare the IoU screens alone: with random weights no
			// click passes, so the mask pass never runs.
			closeAll(sc.screen, sc.head)
			sc.screen, sc.head = nil, nil
			if name == "exact" {
				sc.fast.Close()
				sc.fast = nil
			}
			gens[name] = g
		}

		// Per prompt, in the generator's sessions (CPUs/workers threads),
		// the two IoU graphs alternating.
		sc := gens["reordered"].sc.(*sam1PointScorer)
		const nPrompts = 24
		var prompts []media.Prompt
		for _, p := range pointGrid(6, img.W, img.H)[:nPrompts] {
			prompts = append(prompts, media.Prompt{Points: []media.Point{{X: p[0], Y: p[1], Label: 1}}})
		}
		perPrompt := map[string][]float64{}
		for range 2 {
			for _, name := range []string{"exact", "reordered"} {
				sess := sc.iou
				if name == "reordered" {
					sess = sc.fast
				}
				t := time.Now()
				if err := sc.run(ctx, sess, emb, prompts, func(int, map[string]ort.Tensor) error { return nil }); err != nil {
					b.Fatal(err)
				}
				perPrompt[name] = append(perPrompt[name], time.Since(t).Seconds()*1000/nPrompts)
			}
		}

		passes := map[string][]float64{}
		decode := map[string][]float64{}
		for range rounds {
			for _, name := range []string{"exact", "reordered"} {
				t := time.Now()
				_, st, err := gens[name].Run(ctx, img, emb)
				if err != nil {
					b.Fatal(err)
				}
				passes[name] = append(passes[name], time.Since(t).Seconds())
				decode[name] = append(decode[name], st.Decode.Seconds())
				b.Logf("%s: pass %.2f s; %+v", name, time.Since(t).Seconds(), st)
			}
		}
		_, enc2 := encode()
		encS := (enc1 + enc2) / 2
		b.ReportMetric(encS, "encoder_s")
		b.Logf("encoder %.2f s before the passes, %.2f s after", enc1, enc2)
		for _, name := range []string{"exact", "reordered"} {
			pass := slices.Min(passes[name]) + encS
			b.ReportMetric(pass, name+"_s")
			b.ReportMetric(pass/encS, name+"/encoder")
			b.ReportMetric(slices.Min(decode[name])*1000/1024, name+"_ms/point")
			b.ReportMetric(slices.Min(perPrompt[name]), name+"_call_ms/prompt")
		}
	}
}
