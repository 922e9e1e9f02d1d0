package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"samtrack/config"
	"samtrack/media"
	"samtrack/models"
	"samtrack/ort"
	"samtrack/segment"
	"samtrack/tracker"
	"samtrack/tracker/deaot"
	"samtrack/tracker/flow"
)

// SAMFiles resolves the configured SAM model to its encoder and decoder
// files, verifying a registry model's digests first. Empty paths mean no
// model is configured.
func SAMFiles(c config.Config) (enc, dec, name string, err error) {
	if c.SAM.Model == "" {
		return c.SAM.Encoder, c.SAM.Decoder, "", nil
	}
	st, err := models.ConfiguredStore(c)
	if err != nil {
		return "", "", "", err
	}
	cat, err := st.Catalogue()
	if err != nil {
		return "", "", "", err
	}
	m, err := cat.Lookup(c.SAM.Model)
	if err != nil {
		return "", "", "", err
	}
	if _, err := st.Verify(m); err != nil {
		return "", "", "", fmt.Errorf("%w; run `samtrack models pull %s`", err, m.Name)
	}
	ef, _ := m.File(models.Encoder)
	df, _ := m.File(models.Decoder)
	return st.Path(m, ef), st.Path(m, df), m.Name, nil
}

// SAM is an opened SAM model with its runtime.
type SAM struct {
	RT    *ort.Runtime
	Model segment.Model
	Name  string
}

// OpenSAM opens the configured SAM model; it returns nil, nil when none is
// configured (the classical path).
func OpenSAM(c config.Config) (*SAM, error) {
	enc, dec, name, err := SAMFiles(c)
	if err != nil || enc == "" {
		return nil, err
	}
	rt, err := ort.Open(c.Runtime.ORTLibrary)
	if err != nil {
		return nil, err
	}
	m, err := segment.Open(rt, enc, dec, segment.OpenOptions{Threads: c.Runtime.Threads})
	if err != nil {
		rt.Close()
		return nil, err
	}
	if name == "" {
		name = m.Format()
	}
	return &SAM{RT: rt, Model: m, Name: name}, nil
}

// Close frees the model and the runtime handle.
func (s *SAM) Close() error {
	if s == nil {
		return nil
	}
	return errors.Join(s.Model.Close(), s.RT.Close())
}

// OpenPropagator opens track.propagator: "builtin" (optical flow, no
// weights) or a DeAOT-contract model directory or file.
func OpenPropagator(c config.Config) (tracker.Propagator, func() error, error) {
	if c.Track.Propagator == "builtin" {
		p, err := flow.New(flow.Options{})
		if err != nil {
			return nil, nil, err
		}
		return p, func() error { return nil }, nil
	}
	path := c.Track.Propagator
	if _, err := os.Stat(path); err != nil && !strings.ContainsRune(path, filepath.Separator) {
		// A bare NAME is an exported propagator in the model directory.
		if st, serr := models.ConfiguredStore(c); serr == nil {
			if named := filepath.Join(st.Dir, path); fileExists(named) {
				path = named
			}
		}
	}
	if _, err := os.Stat(path); err != nil {
		err = fmt.Errorf("track.propagator %q: %w; use builtin, the directory of an exported DeAOT model (docs/propagator.md), or the name of one under the model directory", c.Track.Propagator, err)
		if errors.Is(err, fs.ErrNotExist) {
			err = media.ModelNotFoundf("%w", err)
		}
		return nil, nil, err
	}
	rt, err := ort.Open(c.Runtime.ORTLibrary)
	if err != nil {
		return nil, nil, err
	}
	p, err := deaot.Open(rt, path, deaot.Options{LongTermMemGap: c.Track.LongTermMemGap, MaxLongTerm: c.Track.MaxLongTerm, Threads: c.Runtime.Threads})
	if err != nil {
		rt.Close()
		return nil, nil, fmt.Errorf("track.propagator %s: %w", path, err)
	}
	return p, rt.Close, nil
}

// Segmenter is the configured segmenter, shared by the tracker and
// `samtrack segment`: a SAM model (prompts and everything mode on one
// embedding per frame) or, with no model configured, GrabCut.
type Segmenter struct {
	tracker.Segmenter
	// Name is the model's registry name or layout, or "classical-grabcut".
	Name string
	// SAM is false for the classical segmenter, which has no everything
	// mode.
	SAM   bool
	close func() error
}

// OpenSegmenter opens the configured segmenter.
func OpenSegmenter(c config.Config) (*Segmenter, error) {
	sam, err := OpenSAM(c)
	if err != nil {
		return nil, err
	}
	if sam == nil {
		cl, err := segment.NewClassical(segment.DefaultClassicalOptions())
		if err != nil {
			return nil, err
		}
		return &Segmenter{Segmenter: segment.NewClassicalSegmenter(cl), Name: cl.Name(), close: func() error { return nil }}, nil
	}
	po := segment.DefaultPredictOptions()
	po.Refine = c.SAM.Refine
	ss, err := segment.NewSAMSegmenter(sam.RT, sam.Model, c.Everything, po)
	if err != nil {
		sam.Close()
		return nil, err
	}
	return &Segmenter{Segmenter: ss, Name: sam.Name, SAM: true,
		close: func() error { return errors.Join(ss.Close(), sam.Close()) }}, nil
}

// Close frees the model.
func (s *Segmenter) Close() error { return s.close() }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// DetectPair checks that an encoder and decoder form one supported model
// and returns its format.
func DetectPair(c config.Config, enc, dec string) (string, error) {
	rt, err := ort.Open(c.Runtime.ORTLibrary)
	if err != nil {
		return "", err
	}
	defer rt.Close()
	de, err := segment.DetectFile(rt, enc)
	if err != nil {
		return "", err
	}
	if err := de.Err(segment.RoleEncoder); err != nil {
		return "", err
	}
	dd, err := segment.DetectFile(rt, dec)
	if err != nil {
		return "", err
	}
	if err := dd.Err(segment.RoleDecoder); err != nil {
		return "", err
	}
	if de.Layout.Family != dd.Layout.Family {
		return "", fmt.Errorf("encoder %s is %s but decoder %s is %s; use the two halves of one model", enc, de.Layout.Family, dec, dd.Layout.Family)
	}
	return de.Layout.Family, nil
}

// CheckLayout refuses a pulled or registered model whose files do not have
// the inputs and outputs of its declared format.
func CheckLayout(cfg config.Config, st models.Store, m models.Model) error {
	enc, ok1 := m.File(models.Encoder)
	dec, ok2 := m.File(models.Decoder)
	if !ok1 || !ok2 {
		return fmt.Errorf("model %s lacks an encoder or decoder file", m.Name)
	}
	format, err := DetectPair(cfg, st.Path(m, enc), st.Path(m, dec))
	if err != nil {
		return fmt.Errorf("model %s: %w", m.Name, err)
	}
	if m.Format != "" && !strings.EqualFold(format, m.Format) {
		return fmt.Errorf("model %s: files are %s, expected %s", m.Name, format, m.Format)
	}
	return nil
}
