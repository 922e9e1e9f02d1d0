package eval

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"samtrack/internal/testenv"
	"samtrack/mask"
)

const (
	davisGT    = "../../shared/data/davis/Annotations/480p"
	davisRoot  = "../../shared/data/davis"
	osvosPred  = "../../shared/data/davis-eval-reference/osvos"
	osvosCSV   = "../../shared/data/davis-eval-reference/osvos_per_frame.csv"
	tennisDir  = "../../shared/data/davis2017-partial/Annotations/480p/tennis"
	dataReason = "DAVIS reference data missing under ../../shared/data (see /work/shared/data/README.md)"
)

func needData(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			testenv.Missing(t, "%s: %v", dataReason, err)
		}
	}
}

type refRow struct {
	seq, frame string
	obj        int
	j, f       float64
	counted    bool
}

func readRefCSV(t *testing.T) []refRow {
	t.Helper()
	f, err := os.Open(osvosCSV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []refRow
	for _, r := range recs[1:] {
		obj, _ := strconv.Atoi(r[2])
		j, err1 := strconv.ParseFloat(r[3], 64)
		fv, err2 := strconv.ParseFloat(r[4], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad CSV row %v", r)
		}
		rows = append(rows, refRow{r[0], r[1], obj, j, fv, strings.TrimSpace(r[5]) == "1"})
	}
	return rows
}

// TestOSVOSReference reproduces the official davis2017-evaluation numbers
// for the OSVOS predictions: every per-frame J and F and every per-sequence
// mean within 1e-6 (the reference numbers are rounded to 6 decimals, so
// rounding alone accounts for up to 5e-7), as docs/BENCHMARKS.md claims.
func TestOSVOSReference(t *testing.T) {
	const osvosTol = 1e-6
	needData(t, davisGT, osvosPred, osvosCSV)
	rep, err := Evaluate(context.Background(), davisGT, osvosPred)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Sequence{}
	for i := range rep.Sequences {
		byName[rep.Sequences[i].Name] = &rep.Sequences[i]
	}
	rows := readRefCSV(t)
	maxJ, maxF := 0.0, 0.0
	counted := 0
	for _, r := range rows {
		s := byName[r.seq]
		if s == nil {
			t.Fatalf("sequence %s missing from the report", r.seq)
		}
		var j, f float64
		if r.counted {
			idx := -1
			for i, fr := range s.Frames {
				if fr == r.frame {
					idx = i
				}
			}
			if idx < 0 || r.obj > len(s.Objects) {
				t.Fatalf("%s frame %s object %d not in the report", r.seq, r.frame, r.obj)
			}
			j, f = s.Objects[r.obj-1].JFrames[idx], s.Objects[r.obj-1].FFrames[idx]
			counted++
		} else {
			// The first and last frames are not scored by the protocol, but
			// the reference lists them: score them directly.
			j, f = scoreOne(t, filepath.Join(davisGT, r.seq, r.frame+".png"), filepath.Join(osvosPred, r.seq, r.frame+".png"), r.obj)
			if idx := indexOf(s.Frames, r.frame); idx >= 0 {
				t.Errorf("%s frame %s is excluded officially but scored", r.seq, r.frame)
			}
		}
		dj, df := math.Abs(j-r.j), math.Abs(f-r.f)
		maxJ, maxF = max(maxJ, dj), max(maxF, df)
		if dj > osvosTol || df > osvosTol {
			t.Errorf("%s %s obj %d: J %.6f F %.6f, reference J %.6f F %.6f", r.seq, r.frame, r.obj, j, f, r.j, r.f)
		}
	}
	if counted != 144 {
		t.Errorf("%d counted reference rows matched, want 144", counted)
	}
	t.Logf("per-frame max |dJ| = %.2e, max |dF| = %.2e over %d rows", maxJ, maxF, len(rows))

	official := map[string][2]float64{
		"blackswan":  {0.943020, 0.974096},
		"car-shadow": {0.928402, 0.917407},
		"dog":        {0.710792, 0.691109},
	}
	var jm, fm float64
	for name, want := range official {
		s := byName[name]
		if s == nil || len(s.Objects) != 1 {
			t.Fatalf("sequence %s: want one object", name)
		}
		o := s.Objects[0]
		dj, df := o.J.Mean-want[0], o.F.Mean-want[1]
		t.Logf("%-10s J-Mean %.6f (official %.6f, %+.1e)  F-Mean %.6f (official %.6f, %+.1e)", name, o.J.Mean, want[0], dj, o.F.Mean, want[1], df)
		if math.Abs(dj) > osvosTol || math.Abs(df) > osvosTol {
			t.Errorf("%s: means differ from the official ones by more than %g", name, osvosTol)
		}
		jm += want[0] / 3
		fm += want[1] / 3
	}
	if rep.NumObjects != 3 || math.Abs(rep.JFMean-(jm+fm)/2) > osvosTol {
		t.Errorf("global J&F-Mean %.6f over %d objects, official %.6f", rep.JFMean, rep.NumObjects, (jm+fm)/2)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", text.String())
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func scoreOne(t *testing.T, gtPath, predPath string, obj int) (j, f float64) {
	t.Helper()
	gt, err := readGT(gtPath)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := mask.ReadLabelPNGFile(predPath)
	if err != nil {
		t.Fatal(err)
	}
	return newScorer(gt.W, gt.H).score(gt.Pix, pred.Pix, uint16(obj))
}

// TestLayouts evaluates the same data through the accepted folder layouts.
func TestLayouts(t *testing.T) {
	needData(t, davisGT, osvosPred)
	ctx := context.Background()
	full, err := Evaluate(ctx, davisRoot, osvosPred) // Annotations/480p/<seq>
	if err != nil {
		t.Fatal(err)
	}
	one, err := Evaluate(ctx, filepath.Join(davisGT, "car-shadow"), filepath.Join(osvosPred, "car-shadow"))
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Sequences) != 1 || one.Sequences[0].Name != "car-shadow" {
		t.Fatalf("single-folder layout gave %d sequences", len(one.Sequences))
	}
	// A single GT sequence with DAVIS-style prediction folders.
	one2, err := Evaluate(ctx, filepath.Join(davisGT, "car-shadow"), osvosPred)
	if err != nil {
		t.Fatal(err)
	}
	// samtrack runs' output folders, whose masks are in masks/: one run, and
	// one run per sequence.
	runs := t.TempDir()
	for _, seq := range full.Sequences {
		src, err := filepath.Abs(filepath.Join(osvosPred, seq.Name))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(runs, seq.Name, "masks")
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		names, err := listPNGs(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.Symlink(filepath.Join(src, n), filepath.Join(dst, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	run, err := Evaluate(ctx, filepath.Join(davisGT, "car-shadow"), filepath.Join(runs, "car-shadow"))
	if err != nil {
		t.Fatalf("a samtrack run folder: %v", err)
	}
	perRun, err := Evaluate(ctx, davisRoot, runs)
	if err != nil {
		t.Fatalf("samtrack run folders per sequence: %v", err)
	}
	if perRun.JFMean != full.JFMean {
		t.Errorf("J&F-Mean %v from run folders, %v from the masks", perRun.JFMean, full.JFMean)
	}
	want := full.Sequences[indexOfSeq(full, "car-shadow")].Objects[0].J.Mean
	for _, r := range []*Report{one, one2, run} {
		if got := r.Sequences[0].Objects[0].J.Mean; got != want {
			t.Errorf("car-shadow J-Mean %v alone, %v with the others", got, want)
		}
	}
}

func indexOfSeq(r *Report, name string) int {
	for i, s := range r.Sequences {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// TestFrameEdgeCases checks J and F on hand-made masks.
func TestFrameEdgeCases(t *testing.T) {
	const w, h = 40, 30
	box := func(x0, y0, x1, y1 int) *mask.Bitmap {
		b := mask.NewBitmap(w, h)
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				b.Pix[y*w+x] = 1
			}
		}
		return b
	}
	empty := mask.NewBitmap(w, h)
	full := box(0, 0, w, h)
	tests := []struct {
		name     string
		gt, pred *mask.Bitmap
		j, f     float64
	}{
		{"both empty", empty, empty, 1, 1},
		{"empty prediction", box(5, 5, 20, 20), empty, 0, 0},
		{"empty ground truth", empty, box(5, 5, 20, 20), 0, 0},
		{"identical", box(5, 5, 20, 20), box(5, 5, 20, 20), 1, 1},
		{"shift within tolerance", box(5, 5, 20, 20), box(6, 5, 21, 20), 14.0 / 16, 1},
		{"far apart", box(0, 0, 5, 5), box(30, 20, 35, 25), 0, 0},
		// upstream quirk: a full-image mask has no boundary pixels at all,
		// so against an empty one both boundaries are empty and F is 1.
		{"full vs empty (no boundaries)", empty, full, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := RegionJ(tc.gt, tc.pred)
			if err != nil {
				t.Fatal(err)
			}
			f, err := BoundaryF(tc.gt, tc.pred)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(j-tc.j) > 1e-12 || math.Abs(f-tc.f) > 1e-12 {
				t.Errorf("J %v F %v, want J %v F %v", j, f, tc.j, tc.f)
			}
		})
	}
	if BoundaryRadius(854, 480) != 8 {
		t.Errorf("radius at 854x480 = %d, want 8", BoundaryRadius(854, 480))
	}
	if _, err := BoundaryF(box(0, 0, 1, 1), mask.NewBitmap(w+1, h)); err == nil {
		t.Error("no error for masks of different sizes")
	}
	if _, err := RegionJ(box(0, 0, 1, 1), mask.NewBitmap(w, h+1)); err == nil {
		t.Error("no error for masks of different sizes")
	}
}

func TestSeg2bmap(t *testing.T) {
	// 1s at (1,1),(2,1),(1,2),(2,2) of a 4x4 image.
	seg := &mask.Bitmap{W: 4, H: 4, Pix: []uint8{
		0, 0, 0, 0,
		0, 1, 1, 0,
		0, 1, 1, 0,
		0, 0, 0, 0,
	}}
	// (0,0): its bottom-right (1,1) differs. (1,0),(2,0): bottom differs;
	// (3,0) last column compares only bottom (3,1)=0: no. Row 1: (0,1)
	// right differs; (1,1) bottom-right (2,2) same, right same, bottom
	// same: no; (2,1) right (3,1) differs; (3,1) bottom same: no. Row 2
	// likewise plus bottoms. Last row: only right neighbours, all 0: no.
	want := []uint8{
		1, 1, 1, 0,
		1, 0, 1, 0,
		1, 1, 1, 0,
		0, 0, 0, 0,
	}
	dst := mask.NewBitmap(4, 4)
	n := seg2bmap(seg, dst)
	for i := range want {
		if dst.Pix[i] != want[i] {
			t.Fatalf("boundary map %v, want %v", dst.Pix, want)
		}
	}
	if n != 8 {
		t.Errorf("count %d, want 8", n)
	}
	// Last row and column rules: a mask only on the last row/column.
	seg = &mask.Bitmap{W: 3, H: 2, Pix: []uint8{0, 0, 1, 1, 0, 1}}
	want = []uint8{
		1, 1, 0, // (0,0) bottom differs; (1,0) right/bottom-right differ; (2,0) bottom same
		1, 1, 0, // last row: right only; corner never
	}
	dst = mask.NewBitmap(3, 2)
	seg2bmap(seg, dst)
	for i := range want {
		if dst.Pix[i] != want[i] {
			t.Fatalf("boundary map %v, want %v", dst.Pix, want)
		}
	}
}

// bruteF is f_measure written naively: dilation by scanning the disk
// around every pixel.
func bruteF(gt, pr *mask.Bitmap, r int) float64 {
	w, h := gt.W, gt.H
	gb, pb := mask.NewBitmap(w, h), mask.NewBitmap(w, h)
	ng, np := seg2bmap(gt, gb), seg2bmap(pr, pb)
	near := func(b *mask.Bitmap, x, y int) bool {
		for dy := -r; dy <= r; dy++ {
			for dx := -r; dx <= r; dx++ {
				xx, yy := x+dx, y+dy
				if dx*dx+dy*dy <= r*r && xx >= 0 && yy >= 0 && xx < w && yy < h && b.Pix[yy*w+xx] != 0 {
					return true
				}
			}
		}
		return false
	}
	var fgMatch, gtMatch int
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if pb.Pix[y*w+x] != 0 && near(gb, x, y) {
				fgMatch++
			}
			if gb.Pix[y*w+x] != 0 && near(pb, x, y) {
				gtMatch++
			}
		}
	}
	var p, rc float64
	switch {
	case np == 0 && ng > 0:
		p, rc = 1, 0
	case np > 0 && ng == 0:
		p, rc = 0, 1
	case np == 0 && ng == 0:
		p, rc = 1, 1
	default:
		p, rc = float64(fgMatch)/float64(np), float64(gtMatch)/float64(ng)
	}
	if p+rc == 0 {
		return 0
	}
	return 2 * p * rc / (p + rc)
}

func TestBoundaryFAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	blob := func(w, h int) *mask.Bitmap {
		b := mask.NewBitmap(w, h)
		for k := 0; k < 1+rng.IntN(6); k++ {
			cx, cy, r := rng.IntN(w), rng.IntN(h), 1+rng.IntN(12)
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
						b.Pix[y*w+x] ^= 1
					}
				}
			}
		}
		return b
	}
	for trial := 0; trial < 200; trial++ {
		w, h := 10+rng.IntN(50), 10+rng.IntN(50)
		sc := newScorer(w, h)
		sc.r = 1 + trial%8
		gt, pr := blob(w, h), blob(w, h)
		g, p := make([]uint16, w*h), make([]uint16, w*h)
		for i := range g {
			g[i], p[i] = uint16(gt.Pix[i]), uint16(pr.Pix[i])
		}
		_, got := sc.score(g, p, 1)  // cropped to the union's box
		want := bruteF(gt, pr, sc.r) // full image
		if math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d (%dx%d r=%d): F %v, brute force %v", trial, w, h, sc.r, got, want)
		}
	}
}

func TestDecayBins(t *testing.T) {
	tests := []struct {
		n    int
		want [5]int
	}{
		{1, [5]int{0, 0, 0, 0, 0}},
		{2, [5]int{0, 0, 1, 1, 1}},
		{4, [5]int{0, 1, 2, 2, 3}}, // 2.5 rounds up thanks to +1e-10 (numpy rounds half to even)
		{5, [5]int{0, 1, 2, 3, 4}},
		{10, [5]int{0, 2, 5, 7, 9}},
		{38, [5]int{0, 9, 19, 28, 37}},      // car-shadow
		{48, [5]int{0, 12, 24, 35, 47}},     // blackswan
		{58, [5]int{0, 14, 29, 43, 57}},     // dog
		{300, [5]int{0, 75, 150, 224, 299}}, // upstream's uint8 cast would give 43 here
	}
	for _, tc := range tests {
		if got := DecayBins(tc.n); got != tc.want {
			t.Errorf("DecayBins(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	s := ComputeStats([]float64{0.9, 0.7, 0.5, 0.3, 0.1})
	// Mean 0.5; Recall counts > 0.5 strictly: 2/5; bins [0,1] and [3,4]
	// (inclusive): 0.8 - 0.2.
	if math.Abs(s.Mean-0.5) > 1e-12 || s.Recall != 0.4 || math.Abs(s.Decay-0.6) > 1e-12 {
		t.Errorf("stats %+v, want Mean 0.5 Recall 0.4 Decay 0.6", s)
	}
	s = ComputeStats([]float64{1, math.NaN(), 0})
	if s.Mean != 0.5 || math.Abs(s.Recall-1.0/3) > 1e-12 {
		t.Errorf("NaN stats %+v, want Mean 0.5 Recall 1/3", s)
	}
}

// writeSeq writes label PNG frames named 00000.png... into dir.
func writeSeq(t *testing.T, dir string, frames ...*mask.LabelMap) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, l := range frames {
		if l == nil {
			continue
		}
		path := filepath.Join(dir, fmt.Sprintf("%05d.png", i))
		if err := mask.WriteFileAtomic(path, func(w io.Writer) error { return mask.WritePalettePNG(w, l) }); err != nil {
			t.Fatal(err)
		}
	}
}

// labels builds a w×h map with the given rectangles (x0,y0,x1,y1,id).
func labels(w, h int, rects ...[5]int) *mask.LabelMap {
	l := mask.NewLabelMap(w, h)
	for _, r := range rects {
		for y := r[1]; y < r[3]; y++ {
			for x := r[0]; x < r[2]; x++ {
				l.Pix[y*w+x] = uint16(r[4])
			}
		}
	}
	return l
}

func TestSyntheticSequences(t *testing.T) {
	ctx := context.Background()
	gt := labels(60, 40, [5]int{5, 5, 20, 20, 1}, [5]int{30, 10, 50, 30, 2})

	t.Run("fewer predicted objects are zero-padded; unread first/last", func(t *testing.T) {
		dir := t.TempDir()
		writeSeq(t, filepath.Join(dir, "gt", "s"), gt, gt, gt, gt)
		one := labels(60, 40, [5]int{5, 5, 20, 20, 1})
		// frames 0 and 3 deliberately absent: they are never read
		writeSeq(t, filepath.Join(dir, "pred", "s"), nil, one, one, nil)
		rep, err := Evaluate(ctx, filepath.Join(dir, "gt"), filepath.Join(dir, "pred"))
		if err != nil {
			t.Fatal(err)
		}
		s := rep.Sequences[0]
		if len(s.Objects) != 2 || len(s.Frames) != 2 || s.Frames[0] != "00001" {
			t.Fatalf("objects %d frames %v", len(s.Objects), s.Frames)
		}
		if s.Objects[0].J.Mean != 1 || s.Objects[0].F.Mean != 1 || s.Objects[1].J.Mean != 0 || s.Objects[1].F.Mean != 0 {
			t.Errorf("objects %+v %+v", s.Objects[0], s.Objects[1])
		}
		if rep.JFMean != 0.5 || rep.J.Recall != 0.5 {
			t.Errorf("J&F %v J-Recall %v, want 0.5 and 0.5", rep.JFMean, rep.J.Recall)
		}
		js, err := rep.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"J&F-Mean", "J-Mean", "F-Mean", "J-Recall", "J-Decay", "F-Recall", "F-Decay", "sequences"} {
			if _, ok := m[k]; !ok {
				t.Errorf("JSON lacks %q: %s", k, js)
			}
		}
		if !strings.Contains(string(js), `"J&F-Mean"`) {
			t.Errorf("JSON escapes the key: %s", js)
		}
		seqs := m["sequences"].(map[string]any)
		if o := seqs["s"].(map[string]any)["2"].(map[string]any); o["J-Mean"] != 0.0 {
			t.Errorf("sequence object 2: %v", o)
		}
		var csvOut bytes.Buffer
		if err := rep.WritePerFrameCSV(&csvOut); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(csvOut.String(), "\n"); got != 5 {
			t.Errorf("CSV has %d lines, want header + 4:\n%s", got, csvOut.String())
		}
	})

	t.Run("void in GT counts as background", func(t *testing.T) {
		dir := t.TempDir()
		g := labels(60, 40, [5]int{0, 0, 10, 10, 255}, [5]int{20, 20, 30, 30, 1})
		p := labels(60, 40, [5]int{0, 0, 10, 10, 1}, [5]int{20, 20, 30, 30, 1})
		writeSeq(t, filepath.Join(dir, "gt"), g, g, g)
		writeSeq(t, filepath.Join(dir, "pred"), p, p, p)
		rep, err := Evaluate(ctx, filepath.Join(dir, "gt"), filepath.Join(dir, "pred"))
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.J.Mean; got != 0.5 {
			t.Errorf("J %v, want 0.5 (prediction on void is a false positive)", got)
		}
	})

	errCases := []struct {
		name string
		gt   []*mask.LabelMap
		pred []*mask.LabelMap
		want string
	}{
		{"missing prediction frame", []*mask.LabelMap{gt, gt, gt, gt}, []*mask.LabelMap{gt, gt, nil, gt}, "00002.png is missing"},
		{"prediction of another size", []*mask.LabelMap{gt, gt, gt}, []*mask.LabelMap{gt, labels(30, 20), gt}, "is 30x20 but the ground truth is 60x40"},
		{"prediction id above GT count", []*mask.LabelMap{gt, gt, gt}, []*mask.LabelMap{gt, labels(60, 40, [5]int{0, 0, 2, 2, 3}), gt}, "holds object id 3"},
		{"too few frames", []*mask.LabelMap{gt, gt}, []*mask.LabelMap{gt, gt}, "at least 3"},
		{"GT frame of another size", []*mask.LabelMap{gt, labels(10, 10), gt}, []*mask.LabelMap{gt, gt, gt}, "but the first frame is 60x40"},
		{"no objects at all", []*mask.LabelMap{labels(8, 8), labels(8, 8), labels(8, 8)}, []*mask.LabelMap{labels(8, 8), labels(8, 8), labels(8, 8)}, "no objects"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSeq(t, filepath.Join(dir, "gt", "s"), tc.gt...)
			writeSeq(t, filepath.Join(dir, "pred", "s"), tc.pred...)
			_, err := Evaluate(ctx, filepath.Join(dir, "gt"), filepath.Join(dir, "pred"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}

	t.Run("RGB prediction", func(t *testing.T) {
		dir := t.TempDir()
		writeSeq(t, filepath.Join(dir, "gt"), gt, gt, gt)
		writeSeq(t, filepath.Join(dir, "pred"), gt, nil, gt)
		f, _ := os.Create(filepath.Join(dir, "pred", "00001.png"))
		png.Encode(f, image.NewRGBA(image.Rect(0, 0, 60, 40)))
		f.Close()
		_, err := Evaluate(ctx, filepath.Join(dir, "gt"), filepath.Join(dir, "pred"))
		if err == nil || !strings.Contains(err.Error(), "must be indexed") || !strings.Contains(err.Error(), "00001.png") {
			t.Fatalf("error %v, want an RGB refusal naming the file", err)
		}
	})

	t.Run("layout errors", func(t *testing.T) {
		dir := t.TempDir()
		writeSeq(t, filepath.Join(dir, "gt", "a"), gt, gt, gt)
		writeSeq(t, filepath.Join(dir, "gt", "b"), gt, gt, gt)
		writeSeq(t, filepath.Join(dir, "pred", "a"), gt, gt, gt)
		for _, c := range []struct{ gt, pred, want string }{
			{"gt", "pred", "no predictions for sequence b"},
			{"nope", "pred", "not a readable directory"},
			{"gt", "nope", "not a readable directory"},
			{"pred/..", "pred", "holds no PNG frames"},
		} {
			_, err := Evaluate(ctx, filepath.Join(dir, c.gt), filepath.Join(dir, c.pred))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s vs %s: error %v, want %q", c.gt, c.pred, err, c.want)
			}
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		writeSeq(t, filepath.Join(dir, "gt"), gt, gt, gt)
		writeSeq(t, filepath.Join(dir, "pred"), gt, gt, gt)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := Evaluate(cctx, filepath.Join(dir, "gt"), filepath.Join(dir, "pred"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
}

// TestTennisVoid reads the multi-object DAVIS 2017 tennis annotation (ids 1,
// 2 and void 255): void is background in the GT and the object count is 2.
func TestTennisVoid(t *testing.T) {
	needData(t, tennisDir)
	l, err := readGT(filepath.Join(tennisDir, "00000.png"))
	if err != nil {
		t.Fatal(err)
	}
	if l.MaxID() != 2 {
		t.Errorf("max id after void removal %d, want 2", l.MaxID())
	}
	raw, err := mask.ReadLabelPNGFile(filepath.Join(tennisDir, "00000.png"))
	if err != nil {
		t.Fatal(err)
	}
	if raw.MaxID() != 255 {
		t.Errorf("raw max id %d, want 255 (void)", raw.MaxID())
	}
}

// BenchmarkEvaluateOSVOS times the whole evaluation with 1 and 2 workers.
func BenchmarkEvaluateOSVOS(b *testing.B) {
	needData(b, davisGT, osvosPred)
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			for b.Loop() {
				if _, err := EvaluateOptions(context.Background(), davisGT, osvosPred, Options{Workers: w}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBoundaryF compares the run-stamping F on one real 854x480 frame
// with the naive per-pixel disk scan (the baseline).
func BenchmarkBoundaryF(b *testing.B) {
	needData(b, davisGT, osvosPred)
	gt, err := readGT(filepath.Join(davisGT, "dog", "00030.png"))
	if err != nil {
		b.Fatal(err)
	}
	pred, err := mask.ReadLabelPNGFile(filepath.Join(osvosPred, "dog", "00030.png"))
	if err != nil {
		b.Fatal(err)
	}
	sc := newScorer(gt.W, gt.H)
	b.Run("stamp", func(b *testing.B) {
		for b.Loop() {
			sc.score(gt.Pix, pred.Pix, 1)
		}
	})
	b.Run("naive-baseline", func(b *testing.B) {
		g, p := gt.Object(1), pred.Object(1)
		for b.Loop() {
			bruteF(g, p, 8)
		}
	})
}

// TestNumberedNames: frames named 1.png ... 12.png (not zero-padded) are
// scored in their numbers' order: the first and the last frame, which the
// protocol leaves out, are 1.png and 12.png, not 1.png and 9.png.
func TestNumberedNames(t *testing.T) {
	needData(t, davisGT)
	gt, pred := t.TempDir(), t.TempDir()
	for i := 0; i < 12; i++ {
		l, err := mask.ReadLabelPNGFile(filepath.Join(davisGT, "car-shadow", fmt.Sprintf("%05d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%d.png", i+1)
		if err := mask.WriteFileAtomic(filepath.Join(gt, name), func(w io.Writer) error { return mask.WritePalettePNG(w, l) }); err != nil {
			t.Fatal(err)
		}
		if i == 11 { // the last frame, left out of the score: predicted empty
			l = mask.NewLabelMap(l.W, l.H)
		}
		if err := mask.WriteFileAtomic(filepath.Join(pred, name), func(w io.Writer) error { return mask.WritePalettePNG(w, l) }); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Evaluate(context.Background(), gt, pred)
	if err != nil {
		t.Fatal(err)
	}
	if j := r.Sequences[0].Objects[0].J.Mean; j != 1 {
		t.Errorf("J-Mean %v, want 1: a frame other than 1.png and 12.png was left out", j)
	}
}
