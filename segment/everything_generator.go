package segment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"

	"samtrack/media"
	"samtrack/ort"
)

// GeneratorOptions tune a Generator's decoding; they change speed only,
// never the segments.
type GeneratorOptions struct {
	// Workers is how many single-prompt decoder calls run at once, each
	// in a session with CPUs/Workers intra-op threads; 0 uses one per CPU
	// (on 2 cores, two 1-thread calls beat one 2-thread call).
	Workers int
	// NoSplit keeps the frame-constant part of the decoder in every
	// per-prompt call (for comparisons).
	NoSplit bool
	// KeepExact keeps the exact IoU and mask graphs open beside the
	// reordered screen and head (for comparisons); otherwise they close
	// once the reordered pair has passed its check at setup.
	KeepExact bool
	// Portable skips the decoder specialisation and decodes through
	// Model.Decode (for comparisons).
	Portable bool
	// Logger receives a warning when specialisation is not possible; nil
	// uses slog.Default().
	Logger *slog.Logger
}

// Generator runs everything mode repeatedly with one model, keeping
// decoder sessions specialised for grid clicks: for the official SAM v1
// decoder, an IoU-only graph (no mask upscaling, no full-size
// postprocessing) for a first pass over every point and a low-res-only
// graph for the points that pass pred_iou_thresh, run on several
// goroutines. Other models fall back to Model.Decode. A Generator is safe
// for one Run at a time; Close frees its sessions (not the Model).
type Generator struct {
	m    Model
	sc   pointScorer
	opts media.EverythingOptions
	mu   sync.Mutex
}

// NewGenerator validates opts and prepares the decoder sessions. rt may be
// nil, which gives the portable path.
func NewGenerator(rt *ort.Runtime, m Model, opts media.EverythingOptions, g GeneratorOptions) (*Generator, error) {
	if m == nil {
		return nil, errors.New("everything generator: no model; open one with segment.Open")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	workers := g.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	log := g.Logger
	if log == nil {
		log = slog.Default()
	}
	gen := &Generator{m: m, opts: opts, sc: modelScorer{m}}
	if rt == nil || g.Portable {
		return gen, nil
	}
	if s1, ok := m.(*sam1Model); ok {
		sc, err := newSAM1PointScorer(rt, s1, workers, g.NoSplit, g.KeepExact, log)
		if err != nil {
			log.Warn("everything mode: cannot specialise the SAM decoder; using Model.Decode", "err", err)
			return gen, nil
		}
		gen.sc = sc
	}
	return gen, nil
}

// Run is EverythingWithEmbedding with the generator's sessions; emb may be
// nil.
func (g *Generator) Run(ctx context.Context, img media.Image, emb *Embedding) ([]media.Segment, EverythingStats, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sc == nil {
		return nil, EverythingStats{}, errors.New("everything generator is closed")
	}
	return runEverything(ctx, g.m, g.sc, img, emb, g.opts)
}

// Specialised reports whether Run uses specialised decoder sessions.
func (g *Generator) Specialised() bool {
	_, portable := g.sc.(modelScorer)
	return g.sc != nil && !portable
}

// Close frees the generator's own sessions.
func (g *Generator) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sc == nil {
		return nil
	}
	err := g.sc.close()
	g.sc = nil
	if err != nil {
		return fmt.Errorf("close everything generator: %w", err)
	}
	return nil
}
