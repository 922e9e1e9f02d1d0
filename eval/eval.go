// Package eval scores video object segmentation results with the DAVIS 2017
// semi-supervised protocol (davis2017-evaluation, --task semi-supervised):
// region similarity J and boundary measure F per object and frame, their
// Mean, Recall and Decay per object, and the global J&F-Mean. It owns the
// discovery of ground-truth and prediction folders, the per-frame metrics
// and the report formats (JSON, text table, per-frame CSV). It reads label
// PNGs through package mask and knows nothing about models or video.
package eval

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"samtrack/internal/natsort"
	"samtrack/mask"
)

// Options tune [EvaluateOptions].
type Options struct {
	// Workers is the number of frames scored in parallel, across all
	// sequences; 0 means runtime.GOMAXPROCS(0).
	Workers int
}

// Evaluate scores the predictions in predDir against the ground truth in
// gtDir with the DAVIS 2017 semi-supervised protocol, in parallel on
// GOMAXPROCS cores.
//
// Layout: gtDir may hold one sequence's PNG frames directly (the sequence is
// named after the folder), or one folder of frames per sequence
// (gtDir/<seq>/*.png), or a DAVIS root (gtDir/Annotations/480p/<seq>).
// Predictions are read from predDir/<seq>/<same name>.png, or, when there is
// a single sequence, from predDir/<same name>.png.
//
// Protocol: ground-truth void (255 in 8-bit maps) becomes background; the
// object count is the largest id in the first ground-truth frame; the first
// and last frames are not scored (and their predictions are not read); a
// prediction id above the object count is an error, objects missing from
// the predictions score as empty masks. J is the IoU (1 when the union is
// empty); F is the boundary F-measure of davis2017-evaluation's f_measure
// with a disk tolerance of ceil(0.008*diagonal) px. A missing prediction
// frame, a prediction of another size than the ground truth, or a
// non-label PNG is an error: an incomplete set is never scored.
func Evaluate(ctx context.Context, gtDir, predDir string) (*Report, error) {
	return EvaluateOptions(ctx, gtDir, predDir, Options{})
}

// sequence is the work state of one sequence.
type sequence struct {
	name, gtDir, predDir string
	files                []string // all GT file names, sorted
	w, h, k              int
	j, f                 [][]float64 // [object][scored frame]
}

// EvaluateOptions is [Evaluate] with options.
func EvaluateOptions(ctx context.Context, gtDir, predDir string, opt Options) (*Report, error) {
	seqs, err := discover(gtDir, predDir)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, s := range seqs {
		if err := s.prepare(); err != nil {
			return nil, err
		}
		total += len(s.files) - 2
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if err := scoreFrames(ctx, seqs, min(workers, total)); err != nil {
		return nil, err
	}
	return buildReport(seqs)
}

// frameJob is one frame to score: frame indexes seqs[seq].files, 1..n-2.
type frameJob struct{ seq, frame int }

func (a frameJob) before(b frameJob) bool {
	return a.seq < b.seq || a.seq == b.seq && a.frame < b.frame
}

// earliestError keeps the failure of the earliest frame in frame order.
// Jobs after the earliest failure are skipped, jobs before it still run, so
// the error reported is always the earliest one whatever the scheduling.
type earliestError struct {
	mu  sync.Mutex
	at  frameJob
	err error
}

func (e *earliestError) skip(jb frameJob) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !jb.before(e.at)
}

func (e *earliestError) fail(jb frameJob, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if jb.before(e.at) {
		e.at, e.err = jb, err
	}
}

// scoreFrames scores every frame but the first and last of each sequence on
// workers goroutines.
func scoreFrames(ctx context.Context, seqs []*sequence, workers int) error {
	first := &earliestError{at: frameJob{math.MaxInt, 0}}
	jobs := make(chan frameJob)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc *scorer
			for jb := range jobs {
				if first.skip(jb) {
					continue
				}
				if err := ctx.Err(); err != nil {
					first.fail(jb, fmt.Errorf("evaluate: %w", err))
					continue
				}
				s := seqs[jb.seq]
				if sc == nil || sc.w != s.w || sc.h != s.h {
					sc = newScorer(s.w, s.h)
				}
				if err := s.scoreFrame(sc, jb.frame); err != nil {
					first.fail(jb, err)
				}
			}
		}()
	}
feed:
	for si, s := range seqs {
		for fi := 1; fi < len(s.files)-1; fi++ {
			select {
			case jobs <- frameJob{si, fi}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if first.err != nil {
		return first.err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	return nil
}

// discover lists the sequences of gtDir and where their predictions are.
func discover(gtDir, predDir string) ([]*sequence, error) {
	if st, err := os.Stat(gtDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("ground-truth folder %s: not a readable directory (%v)", gtDir, err)
	}
	if st, err := os.Stat(predDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("prediction folder %s: not a readable directory (%v)", predDir, err)
	}
	var seqs []*sequence
	files, err := listPNGs(gtDir)
	if err != nil {
		return nil, err
	}
	if len(files) > 0 {
		abs, err := filepath.Abs(gtDir)
		if err != nil {
			return nil, fmt.Errorf("ground-truth folder %s: %w", gtDir, err)
		}
		seqs = append(seqs, &sequence{name: filepath.Base(abs), gtDir: gtDir, files: files})
	} else {
		root := gtDir
		if st, err := os.Stat(filepath.Join(gtDir, "Annotations", "480p")); err == nil && st.IsDir() {
			root = filepath.Join(gtDir, "Annotations", "480p")
		}
		entries, err := os.ReadDir(root)
		if err != nil {
			return nil, fmt.Errorf("ground-truth folder %s: %w", root, err)
		}
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			dir := filepath.Join(root, e.Name())
			files, err := listPNGs(dir)
			if err != nil {
				return nil, err
			}
			if len(files) > 0 {
				seqs = append(seqs, &sequence{name: e.Name(), gtDir: dir, files: files})
			}
		}
	}
	if len(seqs) == 0 {
		return nil, fmt.Errorf("ground-truth folder %s holds no PNG frames: expected <frame>.png files, <seq>/<frame>.png folders or Annotations/480p/<seq>/", gtDir)
	}
	for _, s := range seqs {
		dir := filepath.Join(predDir, s.name)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			s.predDir = runMasks(dir)
			continue
		}
		if len(seqs) == 1 {
			if d := runMasks(predDir); hasPNGs(d) {
				s.predDir = d
				continue
			}
		}
		return nil, fmt.Errorf("no predictions for sequence %s: expected the folder %s (or, for a single sequence, its PNG frames or a samtrack run's masks/ directly in %s)", s.name, dir, predDir)
	}
	return seqs, nil
}

// runMasks is the masks/ folder of dir where dir is a samtrack run's output
// (PNG frames in masks/, none beside it), else dir.
func runMasks(dir string) string {
	if m := filepath.Join(dir, "masks"); !hasPNGs(dir) && hasPNGs(m) {
		return m
	}
	return dir
}

func hasPNGs(dir string) bool {
	files, err := listPNGs(dir)
	return err == nil && len(files) > 0
}

// listPNGs returns the names of the .png files in dir, in the frames'
// order (natsort: 1.png, 2.png, ..., 10.png), as video reads image folders.
func listPNGs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".png") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	natsort.Sort(names)
	return names, nil
}

// readGT reads a ground-truth frame and turns void (255 in 8-bit maps)
// into background, as the semi-supervised task does.
func readGT(path string) (*mask.LabelMap, error) {
	l, lf, err := mask.DecodeLabelPNGFile(path)
	if err != nil {
		return nil, fmt.Errorf("ground truth: %w", err)
	}
	if lf.BitDepth <= 8 {
		for i, v := range l.Pix {
			if v == 255 {
				l.Pix[i] = 0
			}
		}
	}
	return l, nil
}

// prepare reads the first GT frame (object count and size) and checks
// that every scored frame has a prediction file.
func (s *sequence) prepare() error {
	n := len(s.files)
	if n < 3 {
		return fmt.Errorf("sequence %s has %d ground-truth frames; the protocol scores frames 1..n-2 (first and last excluded), so it needs at least 3", s.name, n)
	}
	first, err := readGT(filepath.Join(s.gtDir, s.files[0]))
	if err != nil {
		return fmt.Errorf("sequence %s: %w", s.name, err)
	}
	s.w, s.h, s.k = first.W, first.H, int(first.MaxID())
	if s.k == 0 {
		slog.Warn("first ground-truth frame has no objects; the sequence scores nothing", "sequence", s.name, "frame", s.files[0])
	}
	var missing []string
	for _, f := range s.files[1 : n-1] {
		st, err := os.Stat(filepath.Join(s.predDir, f))
		if err != nil || st.IsDir() {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("sequence %s: prediction %s is missing (%d of the %d scored frames are missing, first %s); an incomplete prediction set cannot be scored: write every frame from %s to %s",
			s.name, filepath.Join(s.predDir, missing[0]), len(missing), n-2, missing[0], s.files[1], s.files[n-2])
	}
	s.j = make([][]float64, s.k)
	s.f = make([][]float64, s.k)
	for o := range s.j {
		s.j[o] = make([]float64, n-2)
		s.f[o] = make([]float64, n-2)
	}
	return nil
}

// scoreFrame scores frame fi (1..n-2) of s for every object.
func (s *sequence) scoreFrame(sc *scorer, fi int) error {
	name := s.files[fi]
	gtPath := filepath.Join(s.gtDir, name)
	gt, err := readGT(gtPath)
	if err != nil {
		return fmt.Errorf("sequence %s: %w", s.name, err)
	}
	if gt.W != s.w || gt.H != s.h {
		return fmt.Errorf("sequence %s: ground truth %s is %dx%d but the first frame is %dx%d", s.name, gtPath, gt.W, gt.H, s.w, s.h)
	}
	predPath := filepath.Join(s.predDir, name)
	pred, err := mask.ReadLabelPNGFile(predPath)
	if err != nil {
		return fmt.Errorf("sequence %s: prediction: %w", s.name, err)
	}
	if pred.W != s.w || pred.H != s.h {
		return fmt.Errorf("sequence %s: prediction %s is %dx%d but the ground truth is %dx%d: predictions must be written at ground-truth resolution (resize label maps with nearest neighbour)",
			s.name, predPath, pred.W, pred.H, s.w, s.h)
	}
	if m := int(pred.MaxID()); m > s.k {
		return fmt.Errorf("sequence %s: prediction %s holds object id %d but the first ground-truth frame %s has only %d object(s) (DAVIS aborts: \"index higher than the number of objects\"); ids must be 1..%d",
			s.name, predPath, m, s.files[0], s.k, s.k)
	}
	for o := 0; o < s.k; o++ {
		s.j[o][fi-1], s.f[o][fi-1] = sc.score(gt.Pix, pred.Pix, uint16(o+1))
	}
	return nil
}
