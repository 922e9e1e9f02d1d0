package flow

import (
	"context"
	"testing"
	"time"

	"samtrack/eval"
	"samtrack/mask"
)

// davisSequences are the sequences of the acceptance check.
func davisSequences() []string { return []string{"blackswan", "car-shadow", "dog"} }

// runSequence propagates the first-frame labels of s through the sequence
// and returns the predictions (frame 0 is the reference itself) and the
// time spent in Propagate.
func runSequence(tb testing.TB, p *Propagator, s *sequence) ([]*mask.LabelMap, time.Duration) {
	tb.Helper()
	ctx := context.Background()
	if err := p.AddReference(ctx, s.frames[0], s.gt[0]); err != nil {
		tb.Fatal(err)
	}
	pred := []*mask.LabelMap{s.gt[0]}
	start := time.Now()
	for _, f := range s.frames[1:] {
		l, err := p.Propagate(ctx, f)
		if err != nil {
			tb.Fatal(err)
		}
		pred = append(pred, l)
	}
	return pred, time.Since(start)
}

// TestDAVISAccuracy is the acceptance check of the classical propagator:
// given only the first-frame mask, the DAVIS J&F-Mean (package eval, the
// semi-supervised protocol) over blackswan, car-shadow and dog must reach
// 0.70.
func TestDAVISAccuracy(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := t.TempDir()
	for _, name := range davisSequences() {
		s := loadSequence(t, davisRoot, name)
		pred, dt := runSequence(t, p, s)
		writePredictions(t, dir, s, pred)
		t.Logf("%-10s %.1f ms/frame in Propagate", name, float64(dt.Microseconds())/1000/float64(len(s.frames)-1))
	}
	r, err := eval.Evaluate(context.Background(), davisRoot, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sequences) != len(davisSequences()) || r.NumObjects != len(davisSequences()) {
		t.Fatalf("evaluated %d sequences and %d objects, want %d of each", len(r.Sequences), r.NumObjects, len(davisSequences()))
	}
	for _, s := range r.Sequences {
		o := s.Objects[0]
		t.Logf("%-10s J %.3f  F %.3f  J&F %.3f", s.Name, o.J.Mean, o.F.Mean, (o.J.Mean+o.F.Mean)/2)
	}
	t.Logf("J&F-Mean %.3f (J %.3f, F %.3f)", r.JFMean, r.J.Mean, r.F.Mean)
	if r.JFMean < 0.70 {
		t.Errorf("J&F-Mean %.3f is below the 0.70 target", r.JFMean)
	}
}
