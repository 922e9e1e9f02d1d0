package testgen_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"samtrack/internal/testgen"
	"samtrack/ort"
	"samtrack/tracker/deaot/sidecar"
)

func TestPropagatorGraphs(t *testing.T) {
	rt := openRuntime(t)
	for _, o := range []testgen.PropagatorOptions{
		{}, {Layers: 2}, {Stride: 16, Height: 96, Width: 128}, {Slots: 4},
	} {
		files, err := testgen.Propagator(o)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, b := range files {
			total += len(b)
		}
		if total > 2<<20 {
			t.Errorf("%+v: %d bytes, want under 2 MiB", o, total)
		}
		// the sidecar the reader accepts, checks included
		man, err := sidecar.Parse(files[testgen.FilePropagatorManifest], testgen.FilePropagatorManifest)
		if err != nil {
			t.Fatal(err)
		}
		L := int64(man.Tokens.Height * man.Tokens.Width)
		S := int64(man.Slots + 1)
		NL := int64(man.Layers)
		want := map[string]map[string][]int64{
			testgen.FilePropagatorPropagate: {
				"lt_k": {-1, NL, L, 8}, "lt_idv": {-1, NL, L, S}, "st_k": {NL, L, 8},
				"logits": {1, S, -2, -2}, "cur_k": {NL, L, 8}, "cur_id": {NL, L, S},
			},
			testgen.FilePropagatorMemoryWrite: {"idv": {NL, L, S}},
			testgen.FilePropagatorReference:   {"cur_v": {NL, L, 8}},
			testgen.FilePropagatorEncoder:     {"emb": {L, 8}},
		}
		for file, shapes := range want {
			if named := map[string]string{
				testgen.FilePropagatorPropagate: man.Files.Propagate, testgen.FilePropagatorMemoryWrite: man.Files.MemoryWrite,
				testgen.FilePropagatorReference: man.Files.Reference, testgen.FilePropagatorEncoder: man.Files.Encoder,
			}[file]; named != file {
				t.Errorf("sidecar files %v do not name %s", man.Files, file)
			}
			s, err := rt.NewSessionFromBytes(file, files[file], ort.Options{IntraOpThreads: 1})
			if err != nil {
				t.Fatalf("%+v: load %s: %v", o, file, err)
			}
			for _, io := range append(s.Inputs(), s.Outputs()...) {
				w, ok := shapes[io.Name]
				if !ok {
					continue
				}
				for i := range w {
					if w[i] == -2 { // any fixed size
						w[i] = io.Shape[i]
					}
				}
				if !slices.Equal(io.Shape, w) {
					t.Errorf("%+v: %s %s, want %v", o, file, io, w)
				}
			}
			s.Close()
		}
	}
	for _, bad := range []testgen.PropagatorOptions{{Stride: 4}, {Height: 100}, {Slots: 300}, {Layers: 9}} {
		if _, err := testgen.Propagator(bad); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
}

// TestPropagatorReadsByAppearance runs the four graphs by hand: a memory
// frame with a red square labelled slot 3 and a blue one labelled slot 7;
// in the query frame the squares have swapped places, and the read-out must
// follow the colours, not the positions.
func TestPropagatorReadsByAppearance(t *testing.T) {
	rt := openRuntime(t)
	dir := t.TempDir()
	if err := testgen.WritePropagator(dir, testgen.PropagatorOptions{}); err != nil {
		t.Fatal(err)
	}
	load := func(name string) *ort.Session {
		s, err := rt.NewSession(filepath.Join(dir, name), ort.Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	enc, ref, prop, write := load(testgen.FilePropagatorEncoder), load(testgen.FilePropagatorReference),
		load(testgen.FilePropagatorPropagate), load(testgen.FilePropagatorMemoryWrite)
	const H, W, S = 120, 160, 11
	mean, std := [3]float32{0.485, 0.456, 0.406}, [3]float32{0.229, 0.224, 0.225}
	red, blue, grey := [3]float32{0.9, 0.1, 0.1}, [3]float32{0.1, 0.2, 0.9}, [3]float32{0.5, 0.5, 0.5}
	// image paints two 32×32 squares at x0 (colour a) and x1 (colour b).
	image := func(a, b [3]float32) ([]float32, []float32) {
		img := make([]float32, 3*H*W)
		onehot := make([]float32, S*H*W)
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				c, slot := grey, 0
				if y >= 40 && y < 72 && x >= 24 && x < 56 {
					c, slot = a, 3
				}
				if y >= 40 && y < 72 && x >= 104 && x < 136 {
					c, slot = b, 7
				}
				for k := 0; k < 3; k++ {
					img[k*H*W+y*W+x] = (c[k] - mean[k]) / std[k]
				}
				onehot[slot*H*W+y*W+x] = 1
			}
		}
		return img, onehot
	}
	run := func(s *ort.Session, in map[string]ort.Tensor) map[string]ort.Tensor {
		out, err := s.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	img, onehot := image(red, blue)
	e := run(enc, map[string]ort.Tensor{"image": ort.F32Tensor(img, 1, 3, H, W)})
	oh := ort.F32Tensor(onehot, 1, S, H, W)
	r := run(ref, map[string]ort.Tensor{"emb": e["emb"], "onehot": oh})
	idv := run(write, map[string]ort.Tensor{"cur_id": r["cur_id"], "onehot": oh})["idv"]
	const L = 15 * 20
	img2, _ := image(blue, red) // swapped
	e2 := run(enc, map[string]ort.Tensor{"image": ort.F32Tensor(img2, 1, 3, H, W)})
	out := run(prop, map[string]ort.Tensor{
		"emb": e2["emb"], "s4": e2["s4"],
		"lt_k": ort.F32Tensor(r["cur_k"].F32, 1, 1, L, 8), "lt_v": ort.F32Tensor(r["cur_v"].F32, 1, 1, L, 8),
		"lt_idv": ort.F32Tensor(idv.F32, 1, 1, L, S),
		"st_k":   r["cur_k"], "st_v": r["cur_v"], "st_idv": idv,
	})
	lg := out["logits"]
	h4, w4 := int(lg.Shape[2]), int(lg.Shape[3])
	argmax := func(y, x int) int {
		best := 0
		for k := 1; k < S; k++ {
			if lg.F32[k*h4*w4+y*w4+x] > lg.F32[best*h4*w4+y*w4+x] {
				best = k
			}
		}
		return best
	}
	// Centres of the squares on the 1/4 grid: (14, 10) left and (14, 30) right.
	if got := argmax(14, 10); got != 7 {
		t.Errorf("left square (now blue) reads slot %d, want 7", got)
	}
	if got := argmax(14, 30); got != 3 {
		t.Errorf("right square (now red) reads slot %d, want 3", got)
	}
	if got := argmax(2, 2); got != 0 {
		t.Errorf("background reads slot %d, want 0", got)
	}
	// cur_id is the read-out at token resolution: [1,L,S].
	if ci := out["cur_id"]; !slices.Equal(ci.Shape, []int64{1, L, S}) {
		t.Errorf("cur_id shape %v", ci.Shape)
	}
}

func TestWritePropagator(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	if err := testgen.WritePropagator(dir, testgen.PropagatorOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{testgen.FilePropagatorManifest, testgen.FilePropagatorEncoder, testgen.FilePropagatorReference,
		testgen.FilePropagatorPropagate, testgen.FilePropagatorMemoryWrite} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
