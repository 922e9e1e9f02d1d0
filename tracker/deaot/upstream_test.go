package deaot

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"samtrack/internal/npy"
	"samtrack/mask"
	"samtrack/ort"
	"samtrack/video"
)

// aotFixture is what aot-benchmark's own DeAOTInferEngine computed (see its
// README): a random-weight DeAOT-T checkpoint, frames, labels and softmax
// probabilities of every frame.
const aotFixture = "../../../shared/fixtures/deaot-reference"

// aotPython is the Python that runs the exporter: $SAMTRACK_PYTHON, else
// Debian's /usr/bin/python3 (where python3-torch installs), else python3.
func aotPython() string {
	if p := os.Getenv("SAMTRACK_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// TestMatchesAOTBenchmark exports the fixture's checkpoint with
// models/convert/export_deaot.py and checks that samtrack reproduces
// aot-benchmark's engine on every frame of both cases: 3 objects (one
// engine) and 12 (two engines, soft aggregation). Probabilities: mean
// absolute difference ≤ 1e-3 and maximum ≤ 2e-2 per frame; labels: ≥ 99.9 %
// of the pixels. It needs aot-benchmark's source (SAMTRACK_AOT_ROOT) and
// PyTorch, so it is the one test allowed to skip in CI.
func TestMatchesAOTBenchmark(t *testing.T) {
	root := os.Getenv("SAMTRACK_AOT_ROOT")
	if root == "" {
		t.Skip("needs aot-benchmark's source: set SAMTRACK_AOT_ROOT to a checkout of yoxu515/aot-benchmark " +
			"(and install python3-torch) to export ../shared/fixtures/deaot-reference and compare with it")
	}
	if _, err := os.Stat(filepath.Join(aotFixture, "deaott_random.pth")); err != nil {
		t.Fatalf("fixture %s is missing (../shared not mounted?): %v", aotFixture, err)
	}
	rt, err := ort.Open("")
	if err != nil {
		t.Fatalf("ONNX Runtime: %v (run scripts/setup.sh)", err)
	}
	defer rt.Close()
	dir := t.TempDir()
	cmd := exec.Command(aotPython(), "../../models/convert/export_deaot.py", "--aot-root", root, "--model", "deaott",
		"--ckpt", filepath.Join(aotFixture, "deaott_random.pth"), "--size", "241x433", "--out", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, tail(out, 3000))
	}
	for _, tc := range []struct {
		name    string
		objects int
	}{{"dog3", 3}, {"blackswan12", 12}} {
		t.Run(tc.name, func(t *testing.T) { compareWithAOT(t, rt, dir, tc.name, tc.objects) })
	}
}

func compareWithAOT(t *testing.T, rt *ort.Runtime, model, name string, objects int) {
	ctx := context.Background()
	p, err := Open(rt, model, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	caseDir := filepath.Join(aotFixture, name)
	ref, err := npy.ReadNPZ(filepath.Join(caseDir, "probs.npz"))
	if err != nil {
		t.Fatal(err)
	}
	// probs holds every channel upstream outputs (1 + 10 per engine);
	// channels 0..objects are background and the objects, the rest unused
	// slots.
	probs := ref["probs"]
	if probs == nil || len(probs.Shape) != 4 || probs.Shape[1] < objects+1 {
		t.Fatalf("probs.npz: want probs [frames, ≥ %d, H, W]", objects+1)
	}
	nch := probs.Shape[1]
	// The frames through samtrack's own reader, as samtrack track reads them.
	src, err := video.Open(ctx, filepath.Join(caseDir, "frames"), video.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f0, err := src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, err := mask.ReadLabelPNGFile(filepath.Join(caseDir, "first_mask.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddReference(ctx, f0, first); err != nil {
		t.Fatal(err)
	}
	plane := f0.W * f0.H
	for i := 1; i <= probs.Shape[0]; i++ {
		f, err := src.Next(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		p.mu.Lock()
		got, fp, err := p.propagate(ctx, f, true)
		p.mu.Unlock()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		// Our channel of each object id (0 = background); -1 if absent.
		chOf := make([]int, objects+1)
		for k := range chOf {
			chOf[k] = -1
		}
		for c, ch := range fp.chans {
			if int(ch.id) <= objects {
				chOf[ch.id] = c
			}
		}
		want := probs.Data[(i-1)*nch*plane : i*nch*plane]
		sum, worst := 0.0, 0.0
		for k := 0; k <= objects; k++ {
			for j := 0; j < plane; j++ {
				var v float32
				if chOf[k] >= 0 {
					v = fp.p[chOf[k]*plane+j]
				}
				d := math.Abs(float64(v - want[k*plane+j]))
				sum += d
				worst = max(worst, d)
			}
		}
		mean := sum / float64((objects+1)*plane)
		labels, err := mask.ReadLabelPNGFile(filepath.Join(caseDir, "labels", fmt.Sprintf("%05d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		same := 0
		for j, v := range labels.Pix {
			if got.Pix[j] == v {
				same++
			}
		}
		agree := float64(same) / float64(plane)
		t.Logf("frame %d: probabilities mean |Δ| %.2e, max |Δ| %.2e; labels agree on %.4f %% of pixels", i, mean, worst, 100*agree)
		if mean > 1e-3 || worst > 2e-2 || agree < 0.999 {
			t.Errorf("frame %d differs from aot-benchmark: mean |Δp| %.2e (≤ 1e-3), max %.2e (≤ 2e-2), labels %.4f %% (≥ 99.9 %%)",
				i, mean, worst, 100*agree)
		}
	}
}

func tail(b []byte, n int) []byte { return b[max(0, len(b)-n):] }
