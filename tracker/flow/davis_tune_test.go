//go:build tune

package flow

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDAVISTune runs the nine DAVIS sequences (nineSequences) with options
// and tuning parameters from the environment, e.g. FLOW_TUNE="cw=0.5
// sigma=3 preset=0", and logs each sequence and the worst; it is a
// development harness, built only with -tags tune so that a normal run
// (and CI) has no test that skips by design:
//
//	FLOW_TUNE="cw=0.5" go test -tags tune -run DAVISTune -v ./tracker/flow
func TestDAVISTune(t *testing.T) {
	spec := os.Getenv("FLOW_TUNE")
	if spec == "" {
		t.Fatal("set FLOW_TUNE to the knobs to try, e.g. FLOW_TUNE=\"cw=0.5 sigma=3\"")
	}
	opts := Options{}
	tu := defaultTuning()
	for _, kv := range strings.Fields(spec) {
		k, v, _ := strings.Cut(kv, "=")
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("FLOW_TUNE %s: %v", kv, err)
		}
		switch k {
		case "scale":
			opts.FlowScale = x
		case "lscale":
			opts.LongFlowScale = x
		case "preset":
			opts.Preset = Preset(x)
		case "lpreset":
			opts.LongPreset = Preset(x)
		default:
			if !tu.set(k, x) {
				t.Fatalf("FLOW_TUNE: unknown knob %s", k)
			}
		}
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.tune = tu
	var sum float64
	worst, worstName := 2.0, ""
	for _, r := range nineSequences() {
		s := loadSequence(t, r.root, r.name)
		pred, dt := runSequence(t, p, s)
		sc := quickScore(t, pred, s.gt)
		jf := (sc.J + sc.F) / 2
		sum += jf
		if jf < worst {
			worst, worstName = jf, r.name
		}
		t.Logf("%-18s J %.3f F %.3f J&F %.3f %5.1f ms/frame", r.name, sc.J, sc.F, jf, float64(dt.Microseconds())/1000/float64(len(s.frames)-1))
	}
	t.Logf("J&F mean over %d %.4f, worst %.3f (%s) [%s]", len(nineSequences()), sum/float64(len(nineSequences())), worst, worstName, spec)
}
