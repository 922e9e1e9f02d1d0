package segment

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"samtrack/internal/testenv"
	"samtrack/media"
	"samtrack/ort"
)

// The cost benchmarks run the full-size SAM ViT-B graphs of
// shared/fixtures/sam-vit-b-cost with random weights rebuilt in a cache
// directory. They take minutes and are never part of `go test`'s default
// run:
//
//	go test -run '^$' -bench SAMViTBCost -benchtime 1x -timeout 30m ./segment
//
// (-tags nogocv builds the package without OpenCV, for a machine that has
// ONNX Runtime but not OpenCV.)

// costFixture is the fixture directory: $SAMTRACK_COST_FIXTURE, else
// shared/fixtures/sam-vit-b-cost beside the repository.
func costFixture() string {
	if d := os.Getenv("SAMTRACK_COST_FIXTURE"); d != "" {
		return d
	}
	return "../../shared/fixtures/sam-vit-b-cost"
}

// costWeights is a fixture's <model>.weights.json.
type costWeights struct {
	File  string `json:"weights_file"`
	Bytes int64  `json:"bytes"`
}

// costCacheDir is $SAMTRACK_CACHE/<name> or <user cache>/samtrack/<name>.
func costCacheDir(name string) (string, error) {
	base := os.Getenv("SAMTRACK_CACHE")
	if base == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory (set SAMTRACK_CACHE): %w", err)
		}
		base = filepath.Join(d, "samtrack")
	}
	return filepath.Join(base, name), nil
}

// prepareCostModel copies fixture model base (without .onnx) into dir and
// rebuilds its external weights file when it is missing or has the wrong
// size: little-endian float32 normal(0, 0.02) from a generator seeded by
// the file name, with no zeros or denormals.
func prepareCostModel(src, dir, base string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cost model cache: %w", err)
	}
	graph, err := os.ReadFile(filepath.Join(src, base+".onnx"))
	if err != nil {
		return "", fmt.Errorf("read cost fixture: %w", err)
	}
	dst := filepath.Join(dir, base+".onnx")
	if old, err := os.ReadFile(dst); err != nil || !bytes.Equal(old, graph) {
		if err := os.WriteFile(dst, graph, 0o644); err != nil {
			return "", fmt.Errorf("copy cost fixture: %w", err)
		}
	}
	j, err := os.ReadFile(filepath.Join(src, base+".weights.json"))
	if err != nil {
		return "", fmt.Errorf("read cost fixture weights spec: %w", err)
	}
	var w costWeights
	if err := json.Unmarshal(j, &w); err != nil || w.File == "" || w.Bytes <= 0 || w.Bytes%4 != 0 || filepath.Base(w.File) != w.File {
		return "", fmt.Errorf("bad weights spec %s.weights.json (%v): want weights_file and a byte count divisible by 4", base, err)
	}
	wp := filepath.Join(dir, w.File)
	if st, err := os.Stat(wp); err == nil && st.Size() == w.Bytes {
		return dst, nil
	}
	tmp, err := os.CreateTemp(dir, w.File+".tmp*")
	if err != nil {
		return "", fmt.Errorf("write cost weights: %w", err)
	}
	defer os.Remove(tmp.Name())
	var seed uint64
	for _, c := range w.File {
		seed = seed*131 + uint64(c)
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	bw := bufio.NewWriterSize(tmp, 1<<20)
	var buf [4]byte
	for i := int64(0); i < w.Bytes/4; i++ {
		v := float32(r.NormFloat64() * 0.02)
		for math.Abs(float64(v)) < 1e-30 {
			v = float32(r.NormFloat64() * 0.02)
		}
		binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
		bw.Write(buf[:])
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write cost weights: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write cost weights: %w", err)
	}
	if err := os.Rename(tmp.Name(), wp); err != nil {
		return "", fmt.Errorf("write cost weights: %w", err)
	}
	return dst, nil
}

// costFrame is the first blackswan frame when the DAVIS data is mounted,
// else a synthetic 854×480 picture (the cost does not depend on content).
func costFrame() media.Image {
	if f, err := os.Open("../../shared/data/davis/JPEGImages/480p/blackswan/00000.jpg"); err == nil {
		defer f.Close()
		if im, _, err := image.Decode(f); err == nil {
			b := im.Bounds()
			rgba := image.NewRGBA(b)
			draw.Draw(rgba, b, im, b.Min, draw.Src)
			out := media.Image{W: b.Dx(), H: b.Dy(), RGB: make([]byte, b.Dx()*b.Dy()*3)}
			for i := 0; i < out.W*out.H; i++ {
				copy(out.RGB[i*3:i*3+3], rgba.Pix[i*4:i*4+3])
			}
			return out
		}
	}
	img := media.Image{W: 854, H: 480, RGB: make([]byte, 854*480*3)}
	for i := range img.RGB {
		img.RGB[i] = byte(i * 7 % 251)
	}
	return img
}

// openCostModel opens the SAM ViT-B cost model, rebuilding its weights in
// the cache directory when needed; both are closed when b ends.
func openCostModel(b *testing.B) (*ort.Runtime, Model) {
	costFixtureDir := costFixture()
	if _, err := os.Stat(filepath.Join(costFixtureDir, "sam_vit_b_encoder.onnx")); err != nil {
		testenv.Missing(b, "SAM ViT-B cost fixture not available (%v)", err)
	}
	dir, err := costCacheDir("sam-vit-b-cost")
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	enc, err := prepareCostModel(costFixtureDir, dir, "sam_vit_b_encoder")
	if err != nil {
		b.Fatal(err)
	}
	dec, err := prepareCostModel(costFixtureDir, dir, "sam_vit_b_decoder")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("cost models ready in %s (%s)", dir, time.Since(t0).Round(time.Millisecond))
	rt, err := ort.Open("")
	if err != nil {
		testenv.NoORT(b, err)
	}
	b.Cleanup(func() { rt.Close() })
	m, err := Open(rt, enc, dec, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return rt, m
}

// measureEncoder runs the encoder once to warm up, then once measured (the
// baseline of every ratio), reporting encoder_s.
func measureEncoder(b *testing.B, m Model, img media.Image) (*Embedding, float64) {
	if _, err := m.Encode(context.Background(), img); err != nil {
		b.Fatal(err)
	}
	t := time.Now()
	emb, err := m.Encode(context.Background(), img)
	if err != nil {
		b.Fatal(err)
	}
	encS := time.Since(t).Seconds()
	b.ReportMetric(encS, "encoder_s")
	return emb, encS
}

// BenchmarkSAMViTBCost measures, in one run on the full-size SAM ViT-B
// graphs: the encoder per frame, the decoder per single-point prompt as
// the CLI runs it (full-size masks) and at low resolution, and everything
// mode at points_per_side 32 (1,024 prompts): the portable path
// (Model.Decode, one prompt after the other: "portable"), the Generator
// (pruned IoU-only first pass, pruned low-res mask pass for the points that
// pass, frame-constant decoder work split off, 2 concurrent 1-thread calls:
// "everything"), and the Generator with one change each: no split
// ("nosplit"), one 2-thread call at a time ("1worker"), and no IoU filter so
// that every point goes through the mask pass ("allmask", the worst case,
// when every point passes pred_iou_thresh). Every figure includes one
// encoder run. The acceptance ratio is everything/encoder ≤ 3.
// SAMTRACK_COSTBENCH_SKIP_NAIVE=1 runs the acceptance pass only.
func BenchmarkSAMViTBCost(b *testing.B) {
	rt, m := openCostModel(b)
	ctx := context.Background()
	img := costFrame()
	skipNaive := os.Getenv("SAMTRACK_COSTBENCH_SKIP_NAIVE") != ""

	for i := 0; i < b.N; i++ {
		emb, encS := measureEncoder(b, m, img)
		t := time.Now()

		// Decoder per prompt, one point, as the CLI runs it.
		const nPrompts = 16
		prompt := func(k int) []media.Prompt {
			return []media.Prompt{{Points: []media.Point{{X: float64(30 + 50*k%img.W), Y: float64(img.H / 2), Label: 1}}}}
		}
		m.Decode(ctx, emb, prompt(0), DecodeOptions{FullRes: true})
		for _, full := range []bool{true, false} {
			t = time.Now()
			for k := 0; k < nPrompts; k++ {
				if _, err := m.Decode(ctx, emb, prompt(k), DecodeOptions{FullRes: full}); err != nil {
					b.Fatal(err)
				}
			}
			ms := time.Since(t).Seconds() * 1000 / nPrompts
			if full {
				b.ReportMetric(ms, "decoder_ms/prompt")
			} else {
				b.ReportMetric(ms, "decoder_lowres_ms/prompt")
			}
		}

		opts := DefaultEverythingOptionsFor(FormatSAM1)
		if !skipNaive {
			// Portable everything mode, emb already computed: decode only.
			t = time.Now()
			if _, err := EverythingWithEmbedding(ctx, m, img, emb, opts); err != nil {
				b.Fatal(err)
			}
			naive := time.Since(t).Seconds() + encS
			b.ReportMetric(naive, "everything_portable_s")
			b.ReportMetric(naive/encS, "portable/encoder")
		}

		// The generator variants: the acceptance configuration first, then
		// one change at a time.
		worst := opts
		worst.PredIoUThresh = new(0.0)    // every point through the mask pass
		worst.StabilityScoreThresh = 1.01 // and no mask kept, so NMS is free
		for _, v := range []struct {
			name string
			opts media.EverythingOptions
			g    GeneratorOptions
			emb  *Embedding // nil: the pass encodes the frame itself
		}{
			{"everything", opts, GeneratorOptions{}, nil},
			{"nosplit", opts, GeneratorOptions{NoSplit: true}, emb},
			{"1worker", opts, GeneratorOptions{Workers: 1}, emb},
			{"allmask", worst, GeneratorOptions{}, emb},
		} {
			if v.name != "everything" && skipNaive {
				continue
			}
			gen, err := NewGenerator(rt, m, v.opts, v.g)
			if err != nil {
				b.Fatal(err)
			}
			if !gen.Specialised() {
				b.Fatal("the generator could not specialise the SAM ViT-B decoder")
			}
			t = time.Now()
			_, st, err := gen.Run(ctx, img, v.emb)
			gen.Close()
			if err != nil {
				b.Fatal(err)
			}
			sec := time.Since(t).Seconds()
			if v.emb != nil {
				sec += encS // same footing: a pass that encodes its frame
			}
			b.ReportMetric(sec, v.name+"_s")
			b.ReportMetric(sec/encS, v.name+"/encoder")
			if v.name == "everything" {
				b.ReportMetric(st.Decode.Seconds(), "everything_decode_s")
				b.ReportMetric(float64(st.IoUPassed), "iou_passed")
			}
			b.Logf("%s: %.1f s = %.2f × encoder; %+v", v.name, sec, sec/encS, st)
		}
	}
}
