package segment

import (
	"context"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"samtrack/media"
	"samtrack/models/onnxpb"
	"samtrack/ort"
)

// TestEverythingReorderedMatchesExact runs everything mode on the
// reference SAM v1 decoder, which the generator decodes with the
// reordered screen and mask head, and requires the portable path's
// segments (the exact graph) up to float rounding: the same segments in
// the same order, predicted IoUs within 1e-4, stability scores within
// 1e-3 and masks with a pixel IoU of at least 0.999. A threshold between
// the two middle IoUs makes the screen reject half the points.
func TestEverythingReorderedMatchesExact(t *testing.T) {
	needFixture(t, samRefDir)
	rt := openRuntime(t)
	ctx := context.Background()
	img := loadJPEG(t, dogFrame)
	m, err := Open(rt, filepath.Join(samRefDir, "encoder.onnx"), filepath.Join(samRefDir, "decoder.onnx"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	stored := mustNpy(t, filepath.Join(samRefDir, "image_embeddings.npy"))
	emb := &Embedding{W: img.W, H: img.H, Tensors: map[string]ort.Tensor{"image_embeddings": ort.F32Tensor(stored.Data, 1, 256, 64, 64)}}

	o := DefaultEverythingOptionsFor(FormatSAM1)
	o.PointsPerSide = 6
	o.StabilityScoreThresh = 0 // random weights: no stable masks
	o.BoxNMSThresh = 1         // and overlapping ones; keep them all

	gen, err := NewGenerator(rt, m, o, GeneratorOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	sc, ok := gen.sc.(*sam1PointScorer)
	if !ok || !sc.canScreenMasks() {
		t.Fatal("the generator does not decode the reference decoder with the reordered screen and mask head")
	}
	if sc.iou != nil || sc.low != nil || sc.fast != nil {
		t.Error("the exact decoder sessions stay open beside the checked screen and head")
	}
	// The median of the points' best multimask IoU (screen and head).
	var prompts []media.Prompt
	for _, p := range pointGrid(o.PointsPerSide, img.W, img.H) {
		prompts = append(prompts, media.Prompt{Points: []media.Point{{X: p[0], Y: p[1], Label: 1}}})
	}
	outs, err := sc.masks(ctx, emb, prompts)
	if err != nil {
		t.Fatal(err)
	}
	// An IoU-only first pass comes from the screen alone.
	ious, firstOuts, err := sc.first(ctx, emb, prompts)
	if err != nil {
		t.Fatal(err)
	}
	if firstOuts != nil {
		t.Fatal("first returned mask outputs; an IoU-only pass runs no head")
	}
	for i := range prompts {
		if !slices.Equal(ious[i], outs[i].IoU) {
			t.Fatalf("point %d: first gave IoUs %v, the mask pass %v", i, ious[i], outs[i].IoU)
		}
	}
	var best []float64
	for _, out := range outs {
		best = append(best, float64(slices.Max(out.IoU[1:])))
	}
	slices.Sort(best)
	median := (best[len(best)/2-1] + best[len(best)/2]) / 2

	for _, tc := range []struct {
		name   string
		thresh float64
	}{{"median", median}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := o
			opts.PredIoUThresh = new(tc.thresh)
			want, err := EverythingWithEmbedding(ctx, m, img, emb, opts)
			if err != nil {
				t.Fatal(err)
			}
			g, err := NewGenerator(rt, m, opts, GeneratorOptions{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if !g.sc.(*sam1PointScorer).canScreenMasks() {
				t.Fatal("no reordered screen and mask head")
			}
			// Twice: a second run on the same embedding reuses the
			// screening bookkeeping.
			for run := range 2 {
				got, st, err := g.Run(ctx, img, emb)
				if err != nil {
					t.Fatal(err)
				}
				closeSegments(t, "reordered screen and head vs portable", want, got)
				if run == 0 {
					t.Logf("threshold %.4f: %d segments; stats %+v", tc.thresh, len(got), st)
				}
				if st.IoUCalls == 0 || st.IoUPassed == 0 || len(got) == 0 {
					t.Errorf("%d segments, stats %+v: want an IoU pass with points passing it, and segments", len(got), st)
				}
			}
		})
	}
}

// logRecords is a slog.Handler that keeps every record's message.
type logRecords struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

func TestReorderedScreenFallsBack(t *testing.T) {
	rt, p := evModels(t)
	m := evOpen(t, rt, p.SAMEncoder, p.SAMDecoder)
	// The generated SAM decoder has no attention to reorder: the exact
	// IoU graph screens, and a debug record says so.
	logs := &logRecords{}
	g, err := NewGenerator(rt, m, evOpts(), GeneratorOptions{Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sc, ok := g.sc.(*sam1PointScorer)
	if !ok || sc.pre == nil || sc.fast != nil {
		t.Fatalf("scorer %T: want the split exact graphs without a reordered screen", g.sc)
	}
	if !slices.ContainsFunc(logs.msgs, func(s string) bool { return strings.Contains(s, "not reordered") }) {
		t.Errorf("no debug record of the fallback; got %q", logs.msgs)
	}

	// A reordered graph whose IoUs differ is refused.
	graph := func(scale float32) *ort.Session {
		gb := onnxpb.NewGraph("iou")
		x := gb.Input("x", onnxpb.Float, 1, 4)
		gb.Output("iou_predictions", gb.Op("Mul", x, gb.Scalar(scale)), onnxpb.Float, 1, 4)
		model, err := gb.Model()
		if err != nil {
			t.Fatal(err)
		}
		s, err := rt.NewSessionFromBytes("iou", model, ort.Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	feeds := []map[string]ort.Tensor{{"x": ort.F32Tensor([]float32{0.2, 0.9, 0.5, 0.1}, 1, 4)}}
	if d, err := compareIoU(graph(1), graph(1+1e-6), feeds); err != nil || d == 0 || d > 1e-5 {
		t.Errorf("a graph within rounding: difference %g, err %v", d, err)
	}
	if _, err := compareIoU(graph(1), graph(1.001), feeds); err == nil {
		t.Error("a graph 1e-3 off was accepted")
	}
}

// TestAgree is the check that admits a reordered mask pass: values within
// tol of the exact graph's, relative to its largest magnitude (at least 1).
func TestAgree(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want []float32
		ok        bool
	}{
		{"equal", []float32{1, -2, 3}, []float32{1, -2, 3}, true},
		{"rounding", []float32{1, -2, 30.0001}, []float32{1, -2, 30}, true},
		{"small values, absolute", []float32{0.00005, 0}, []float32{0, 0}, true},
		{"one logit off", []float32{1, -2.01, 3}, []float32{1, -2, 3}, false},
		{"NaN", []float32{float32(math.NaN())}, []float32{1}, false},
		{"length", []float32{1, 2}, []float32{1, 2, 3}, false},
		{"empty", nil, nil, false},
	} {
		if err := agree(tc.got, tc.want, 1e-4); (err == nil) != tc.ok {
			t.Errorf("%s: agree = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
