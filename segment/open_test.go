package segment

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samtrack/media"
	"samtrack/models/onnxpb"
	"samtrack/ort"
)

// writeEdgeSAMLikeDecoder writes a small real ONNX file with EdgeSAM's
// decoder names (no mask_input, orig_im_size), which samtrack must refuse.
func writeEdgeSAMLikeDecoder(t *testing.T, dir string) string {
	t.Helper()
	g := onnxpb.NewGraph("edgesam_like")
	emb := g.Input("image_embeddings", onnxpb.Float, 1, 256, 64, 64)
	g.Input("point_coords", onnxpb.Float, 1, "n", 2)
	labels := g.Input("point_labels", onnxpb.Float, 1, "n")
	g.Output("scores", labels, onnxpb.Float, 1, "n")
	g.Output("masks", emb, onnxpb.Float, 1, 256, 64, 64)
	b, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "edgesam_decoder.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenBadModels(t *testing.T) {
	needFixture(t, samRefDir)
	needFixture(t, sam2RefDir)
	rt := openRuntime(t)
	dir := t.TempDir()
	enc1, dec1 := filepath.Join(samRefDir, "encoder.onnx"), filepath.Join(samRefDir, "decoder.onnx")
	enc2, dec2 := filepath.Join(sam2RefDir, "encoder.onnx"), filepath.Join(sam2RefDir, "decoder.onnx")
	raw, err := os.ReadFile(enc1)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated_encoder.onnx")
	if err := os.WriteFile(truncated, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	edge := writeEdgeSAMLikeDecoder(t, dir)
	tests := []struct {
		name     string
		enc, dec string
		want     []string // substrings of the error
	}{
		{"truncated encoder", truncated, dec1, []string{truncated, "complete ONNX file"}},
		{"missing decoder", enc1, filepath.Join(dir, "nope.onnx"), []string{"nope.onnx"}},
		{"swapped", dec1, enc1, []string{dec1, "expected a SAM encoder", "SAM v1 / MobileSAM decoder", "swapped"}},
		{"sam2 encoder with sam1 decoder", enc2, dec1, []string{enc2, "SAM 2/2.1 encoder", dec1, "same model"}},
		{"sam1 encoder with sam2 decoder", enc1, dec2, []string{"same model"}},
		{"edgesam decoder", enc1, edge, []string{edge, "EdgeSAM decoder", "does not support", "image_embeddings float32[1,256,64,64]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(rt, tc.enc, tc.dec, OpenOptions{Threads: 1})
			if err == nil {
				m.Close()
				t.Fatal("Open succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			t.Logf("%v", err)
		})
	}
}

func TestBadPrompts(t *testing.T) {
	needFixture(t, samRefDir)
	needFixture(t, sam2RefDir)
	rt := openRuntime(t)
	ctx := context.Background()
	for _, dir := range []string{samRefDir, sam2RefDir} {
		m, err := Open(rt, filepath.Join(dir, "encoder.onnx"), filepath.Join(dir, "decoder.onnx"), OpenOptions{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		// A stand-in embedding of the right shapes: prompts are checked
		// before anything runs.
		emb := &Embedding{W: 854, H: 480, Tensors: map[string]ort.Tensor{}}
		emb.Tensors["image_embeddings"] = ort.F32Tensor(make([]float32, 256*64*64), 1, 256, 64, 64)
		for _, f := range sam2Feats {
			emb.Tensors[f.name] = ort.F32Tensor(make([]float32, ort.F32Tensor(nil, f.shape...).Len()), f.shape...)
		}
		tests := []struct {
			name string
			p    media.Prompt
			want []string
		}{
			{"point right of frame", media.Prompt{Points: []media.Point{{X: 900, Y: 100, Label: 1}}}, []string{"(900, 100)", "854x480"}},
			{"point above frame", media.Prompt{Points: []media.Point{{X: 10, Y: 10, Label: 1}, {X: 10, Y: -1, Label: 0}}}, []string{"point 1", "(10, -1)", "854x480"}},
			{"box outside", media.Prompt{Box: &media.Box{X0: 100, Y0: 100, X1: 900, Y1: 300}}, []string{"(100, 100)-(900, 300)", "854x480"}},
			{"box reversed", media.Prompt{Box: &media.Box{X0: 300, Y0: 100, X1: 300, Y1: 200}}, []string{"(300, 100)-(300, 200)", "x1 > x0"}},
			{"bad label", media.Prompt{Points: []media.Point{{X: 10, Y: 10, Label: 2}}}, []string{"label 2"}},
			{"empty prompt", media.Prompt{}, []string{"no point and no box"}},
			{"short mask input", media.Prompt{Points: []media.Point{{X: 10, Y: 10, Label: 1}}, MaskInput: make([]float32, 100)}, []string{"100 values", "256x256"}},
		}
		for _, tc := range tests {
			t.Run(m.Format()+"/"+tc.name, func(t *testing.T) {
				_, err := m.Decode(ctx, emb, []media.Prompt{tc.p}, DecodeOptions{})
				if err == nil {
					t.Fatal("Decode succeeded, want an error")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if _, err := Predict(ctx, m, emb, tc.p, DefaultPredictOptions()); err == nil {
					t.Error("Predict succeeded, want an error")
				}
			})
		}
		t.Run(m.Format()+"/bad image", func(t *testing.T) {
			for _, img := range []media.Image{{W: 10, H: 10, RGB: make([]byte, 299)}, {W: 0, H: 10}} {
				if _, err := m.Encode(ctx, img); err == nil {
					t.Errorf("Encode(%dx%d, %d bytes) succeeded", img.W, img.H, len(img.RGB))
				}
			}
		})
		t.Run(m.Format()+"/foreign embedding", func(t *testing.T) {
			if _, err := m.Decode(ctx, &Embedding{W: 854, H: 480}, []media.Prompt{{Points: []media.Point{{X: 1, Y: 1, Label: 1}}}}, DecodeOptions{}); err == nil ||
				!strings.Contains(err.Error(), "embedding") {
				t.Errorf("Decode with an empty embedding: %v", err)
			}
		})
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Decode(ctx, emb, []media.Prompt{{Points: []media.Point{{X: 1, Y: 1, Label: 1}}}}, DecodeOptions{}); err == nil {
			t.Error("Decode after Close succeeded")
		}
	}
}

// TestSAM1PreprocessEncoderInput drives a stand-in for samexporter's
// --use-preprocess encoder (input_image [H,W,3]) whose embedding is the mean
// of its input, checking that Encode feeds the resized RGB 0-255 picture.
func TestSAM1PreprocessEncoderInput(t *testing.T) {
	needFixture(t, samRefDir)
	rt := openRuntime(t)
	dir := t.TempDir()
	g := onnxpb.NewGraph("sam1_preprocess_encoder")
	in := g.Input("input_image", onnxpb.Float, "h", "w", 3)
	mean := g.OpA("ReduceMean", []string{in}, onnxpb.AttrInt("keepdims", 1))
	g.Output("image_embeddings", g.Op("Expand", mean, g.Ints(1, 256, 64, 64)), onnxpb.Float, 1, 256, 64, 64)
	b, err := g.Model()
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(dir, "encoder_preprocess.onnx")
	if err := os.WriteFile(enc, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(rt, enc, filepath.Join(samRefDir, "decoder.onnx"), OpenOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img := loadJPEG(t, dogFrame)
	emb, err := m.Encode(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	data, rw, rh, err := PreprocessSAM1HWC(img)
	if err != nil {
		t.Fatal(err)
	}
	if rw != 1024 || rh != 576 {
		t.Fatalf("resized to %dx%d", rw, rh)
	}
	var sum float64
	for _, v := range data {
		sum += float64(v)
	}
	want := sum / float64(len(data))
	got := float64(emb.Tensors["image_embeddings"].F32[0])
	if want < 20 || want > 235 || got < want-0.01 || got > want+0.01 {
		t.Errorf("embedding %v, want the mean of the resized 0-255 picture %v", got, want)
	}
}
