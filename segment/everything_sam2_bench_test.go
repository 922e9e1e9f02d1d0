package segment

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"samtrack/media"
)

// fullDecodeOnly is a Model without the IoUDecoder capability: everything
// mode then decodes masks for every grid point (the path before the SAM 2
// screen), the baseline of BenchmarkSAM2Everything.
type fullDecodeOnly struct{ Model }

// BenchmarkSAM2Everything measures SAM 2 everything mode (points_per_side
// 32, the real decoder architecture of ../shared/fixtures/sam2-reference)
// with its IoU screen ("screened": the decoder pruned to iou_predictions
// for every point, the full decoder only for the points that pass) against
// the full decoder for every point ("full"), in alternating passes of one
// run, where none and where half of the points pass pred_iou_thresh (set to
// the matching quantile of the points' best predicted IoU, as random
// weights pass nothing at SAM 2's 0.8). Pass times exclude the encoder (a
// reduced Hiera here, so no ratio to it means anything for real models).
//
//	go test -run '^$' -bench SAM2Everything -benchtime 1x -timeout 30m ./segment
//
// SAMTRACK_SAM2BENCH_SIDE sets points_per_side (default 32),
// SAMTRACK_SAM2BENCH_ROUNDS the passes of each kind (default 2; the best
// counts).
func BenchmarkSAM2Everything(b *testing.B) {
	needFixture(b, sam2RefDir)
	rt := openRuntime(b)
	m, err := Open(rt, filepath.Join(sam2RefDir, "encoder.onnx"), filepath.Join(sam2RefDir, "decoder.onnx"), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	side, rounds := 32, 2
	if n, err := strconv.Atoi(os.Getenv("SAMTRACK_SAM2BENCH_SIDE")); err == nil && n > 0 {
		side = n
	}
	if n, err := strconv.Atoi(os.Getenv("SAMTRACK_SAM2BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	ctx := context.Background()
	img := loadJPEG(b, dogFrame)
	for range b.N {
		t := time.Now()
		emb, err := m.Encode(ctx, img)
		if err != nil {
			b.Fatal(err)
		}
		encode := time.Since(t).Seconds()
		// the points' best multimask IoU, for the thresholds
		grid := pointGrid(side, img.W, img.H)
		prompts := make([]media.Prompt, len(grid))
		for i, p := range grid {
			prompts[i] = media.Prompt{Points: []media.Point{{X: p[0], Y: p[1], Label: 1}}}
		}
		ious, err := m.(IoUDecoder).DecodeIoU(ctx, emb, prompts)
		if err != nil {
			b.Fatal(err)
		}
		best := make([]float64, len(ious))
		for i, iou := range ious {
			best[i] = float64(slices.Max(iou))
		}
		slices.Sort(best)
		thresholds := []struct {
			name string
			t    float64
		}{{"none", best[len(best)-1]}, {"50%", best[len(best)/2-1]}}
		b.Logf("encoder %.2f s; %d points; best IoU from %.4f to %.4f", encode, len(grid), best[0], best[len(best)-1])
		for _, th := range thresholds {
			// best of rounds, screened and full alternating (this
			// machine's timings move by tens of per cent from run to run)
			secs := [2]float64{math.Inf(1), math.Inf(1)}
			for range rounds {
				for k, model := range []Model{m, fullDecodeOnly{m}} {
					opts := DefaultEverythingOptionsFor(FormatSAM2)
					opts.PointsPerSide = side
					opts.PredIoUThresh = &th.t
					opts.StabilityScoreThresh = 0
					t := time.Now()
					segs, st, err := runEverything(ctx, model, modelScorer{model}, img, emb, opts)
					if err != nil {
						b.Fatal(err)
					}
					s := time.Since(t).Seconds()
					secs[k] = min(secs[k], s)
					b.Logf("%s passing (pred_iou_thresh %.4f), %s: %.2f s, %d IoU passed, %d segments",
						th.name, th.t, []string{"screened", "full"}[k], s, st.IoUPassed, len(segs))
				}
			}
			b.ReportMetric(secs[0]/secs[1], fmt.Sprintf("screened/full_%s", th.name))
		}
	}
}
