//go:build tune

package flow

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDAVISTune runs the DAVIS sequences with options and tuning parameters
// from the environment, e.g. FLOW_TUNE="cw=0.5 sigma=3 preset=0"; it is a
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
	line := ""
	for _, name := range davisSequences() {
		s := loadSequence(t, davisRoot, name)
		pred, dt := runSequence(t, p, s)
		sc := quickScore(t, pred, s.gt)
		sum += (sc.J + sc.F) / 2
		line += fmt.Sprintf("%-10s J %.3f F %.3f %5.1fms  ", name, sc.J, sc.F, float64(dt.Microseconds())/1000/float64(len(s.frames)-1))
	}
	t.Logf("%s| J&F %.4f  [%s]", line, sum/float64(len(davisSequences())), spec)
}
