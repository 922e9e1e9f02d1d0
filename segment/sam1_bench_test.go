package segment

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	onnx "github.com/yalue/onnxruntime_go"

	"samtrack/internal/npy"
	"samtrack/internal/testenv"
	"samtrack/media"
	"samtrack/ort"
)

// BenchmarkDecoderOverhead measures what Model.Decode adds to the decoder
// run itself: each iteration runs the reference SAM v1 decoder once through
// a bare onnxruntime_go DynamicAdvancedSession (input tensors built once,
// same threads, all three outputs) and once through Model.Decode with one
// click, full-resolution masks (what the CLI path asks for). Interleaving
// the two keeps machine load from biasing the ratio. It also reports
// low-res decoding (the masks output pruned from the graph) and Predict
// (low-res decoding plus the Go upscale of one token), and ort.Session.Run
// on the same inputs, the wrapper's share of the overhead.
//
//	go test -run '^$' -bench DecoderOverhead -benchtime 30x ./segment
func BenchmarkDecoderOverhead(b *testing.B) {
	if _, err := npy.Read(filepath.Join(samRefDir, "image_embeddings.npy")); err != nil {
		testenv.Missing(b, "fixture %s not available: %v", samRefDir, err)
	}
	rt := openRuntime(b)
	ctx := context.Background()
	decPath := filepath.Join(samRefDir, "decoder.onnx")
	m, err := Open(rt, filepath.Join(samRefDir, "encoder.onnx"), decPath, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	stored := mustNpy(b, filepath.Join(samRefDir, "image_embeddings.npy"))
	const w, h = 854, 480
	emb := &Embedding{W: w, H: h, Tensors: map[string]ort.Tensor{"image_embeddings": ort.F32Tensor(stored.Data, 1, 256, 64, 64)}}
	prompt := media.Prompt{Points: []media.Point{{X: 420, Y: 260, Label: 1}}}

	// The bare baseline: the same inputs, built once.
	so, err := onnx.NewSessionOptions()
	if err != nil {
		b.Fatal(err)
	}
	defer so.Destroy()
	so.SetIntraOpNumThreads(runtime.NumCPU())
	so.SetInterOpNumThreads(1)
	inNames := []string{"image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"}
	outNames := []string{"masks", "iou_predictions", "low_res_masks"}
	bare, err := onnx.NewDynamicAdvancedSession(decPath, inNames, outNames, so)
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Destroy()
	coords, labels := sam1PromptTensors(prompt, w, h)
	var inputs []onnx.Value
	for _, in := range []struct {
		data  []float32
		shape []int64
	}{
		{stored.Data, []int64{1, 256, 64, 64}},
		{coords, []int64{1, int64(len(labels)), 2}},
		{labels, []int64{1, int64(len(labels))}},
		{make([]float32, LowResSize*LowResSize), []int64{1, 1, LowResSize, LowResSize}},
		{[]float32{0}, []int64{1}},
		{[]float32{h, w}, []int64{2}},
	} {
		v, err := onnx.NewTensor(onnx.NewShape(in.shape...), in.data)
		if err != nil {
			b.Fatal(err)
		}
		defer v.Destroy()
		inputs = append(inputs, v)
	}
	runBare := func() {
		outs := make([]onnx.Value, len(outNames))
		if err := bare.Run(inputs, outs); err != nil {
			b.Fatal(err)
		}
		for _, o := range outs {
			o.Destroy()
		}
	}
	decode := func(full bool) func() {
		return func() {
			if _, err := m.Decode(ctx, emb, []media.Prompt{prompt}, DecodeOptions{FullRes: full}); err != nil {
				b.Fatal(err)
			}
		}
	}
	// ort.Session.Run with the same inputs: the wrapper's share (it wraps
	// the Go inputs and copies every output into Go memory).
	ortSess, err := rt.NewSession(decPath, ort.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ortSess.Close()
	ortIn := map[string]ort.Tensor{
		"image_embeddings": ort.F32Tensor(stored.Data, 1, 256, 64, 64),
		"point_coords":     ort.F32Tensor(coords, 1, int64(len(labels)), 2),
		"point_labels":     ort.F32Tensor(labels, 1, int64(len(labels))),
		"mask_input":       ort.F32Tensor(make([]float32, LowResSize*LowResSize), 1, 1, LowResSize, LowResSize),
		"has_mask_input":   ort.F32Tensor([]float32{0}, 1),
		"orig_im_size":     ort.F32Tensor([]float32{h, w}, 2),
	}
	runOrt := func() {
		if _, err := ortSess.Run(ortIn); err != nil {
			b.Fatal(err)
		}
	}
	predict := func() {
		if _, err := Predict(ctx, m, emb, prompt, DefaultPredictOptions()); err != nil {
			b.Fatal(err)
		}
	}
	steps := []struct {
		name string
		f    func()
		d    time.Duration
	}{{"bare", runBare, 0}, {"decode", decode(true), 0}, {"ortrun", runOrt, 0}, {"lowres", decode(false), 0}, {"predict", predict, 0}}
	for i := range steps { // warm up
		steps[i].f()
	}
	b.ResetTimer()
	for range b.N {
		for i := range steps {
			t0 := time.Now()
			steps[i].f()
			steps[i].d += time.Since(t0)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	bareMs := steps[0].d.Seconds() * 1e3 / n
	for _, s := range steps {
		b.ReportMetric(s.d.Seconds()*1e3/n, s.name+"-ms/op")
	}
	b.ReportMetric(100*(steps[1].d.Seconds()*1e3/n-bareMs)/bareMs, "decode-overhead-%")
	b.ReportMetric(100*(steps[2].d.Seconds()*1e3/n-bareMs)/bareMs, "ortrun-overhead-%")
	b.ReportMetric(100*(steps[4].d.Seconds()*1e3/n-bareMs)/bareMs, "predict-vs-bare-%")
}
