package deaot_test

import (
	"context"
	"testing"
	"time"

	"samtrack/internal/testgen"
	"samtrack/tracker/deaot"
)

// BenchmarkOnePass measures Propagate per frame with 1, 10 (one engine, the
// same single pass) and 12 objects (two engines) on the generated model,
// 160×120 frames, long-term memory at its cap of 16 frames. It reports the
// 10-object/1-object cost ratio, which DeAOT's ID bank should keep near 1.
//
//	go test -run '^$' -bench OnePass ./tracker/deaot
func BenchmarkOnePass(b *testing.B) {
	rt := openRuntime(b)
	dir := genDir(b, testgen.PropagatorOptions{})
	ctx := context.Background()
	type run struct {
		n     int
		p     *deaot.Propagator
		s     scene
		spent time.Duration
	}
	runs := []*run{{n: 1}, {n: 10}, {n: 12}}
	for _, r := range runs {
		r.p = openProp(b, rt, dir, deaot.Options{})
		r.s = gridScene(160, 120, 4, 3, r.n, 11, 6, nil)
		f, gt := r.s.frame(0)
		if err := r.p.AddReference(ctx, f, gt); err != nil {
			b.Fatal(err)
		}
		// Fill the long-term memory to its cap (16 frames at a gap of 5).
		for i := 1; i <= 80; i++ {
			f, _ := r.s.frame(i)
			if _, err := r.p.Propagate(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range runs {
			f, _ := r.s.frame(81 + i)
			start := time.Now()
			if _, err := r.p.Propagate(ctx, f); err != nil {
				b.Fatal(err)
			}
			r.spent += time.Since(start)
		}
	}
	b.StopTimer()
	per := func(r *run) float64 { return float64(r.spent.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(per(runs[0]), "ms/frame-1obj")
	b.ReportMetric(per(runs[1]), "ms/frame-10obj")
	b.ReportMetric(per(runs[2]), "ms/frame-12obj")
	b.ReportMetric(per(runs[1])/per(runs[0]), "ratio-10/1")
	b.ReportMetric(per(runs[2])/per(runs[0]), "ratio-12/1")
}
