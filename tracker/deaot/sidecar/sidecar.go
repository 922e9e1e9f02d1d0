// Package sidecar owns propagator.json, the sidecar of an exported DeAOT
// propagator (docs/propagator.md): its fields, how it is read and what makes
// it usable. It is free of native code, so the test-model generator
// (internal/testgen) writes the same type that tracker/deaot reads.
package sidecar

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File is the sidecar's file name inside a propagator directory.
const File = "propagator.json"

// Format is the value of the sidecar's "format" field that this
// package reads.
const Format = "samtrack-deaot/1"

// Manifest is the propagator.json sidecar (docs/propagator.md): every size
// the Go side needs, so it hard-codes none.
type Manifest struct {
	Format string `json:"format"`
	Name   string `json:"name"`
	// Files names the four graphs, relative to the directory.
	Files struct {
		Encoder     string `json:"encoder"`
		Reference   string `json:"reference"`
		Propagate   string `json:"propagate"`
		MemoryWrite string `json:"memory_write"`
	} `json:"files"`
	// Slots is M, the identities of one engine; slot 0 is background.
	Slots int `json:"slots"`
	// Image is the export size and the normalisation: each RGB value v
	// becomes (v·Scale − Mean[c]) / Std[c].
	Image struct {
		Height int        `json:"height"`
		Width  int        `json:"width"`
		Scale  float32    `json:"scale"`
		Mean   [3]float32 `json:"mean"`
		Std    [3]float32 `json:"std"`
	} `json:"image"`
	// Tokens is the token grid; L = Height·Width.
	Tokens struct {
		Height int `json:"height"`
		Width  int `json:"width"`
		Stride int `json:"stride"`
	} `json:"tokens"`
	// Logits is the size of propagate's logits and how they map back to
	// the frame (PyTorch's align_corners).
	Logits struct {
		Height       int  `json:"height"`
		Width        int  `json:"width"`
		AlignCorners bool `json:"align_corners"`
	} `json:"logits"`
	// OneHot is the resolution of the one-hot label input.
	OneHot struct {
		Height int `json:"height"`
		Width  int `json:"width"`
	} `json:"onehot"`
	Layers     int `json:"layers"`
	EmbedDim   int `json:"embed_dim"`
	KeyDim     int `json:"key_dim"`
	ValueDim   int `json:"value_dim"`
	IDDim      int `json:"id_dim"`
	IDValueDim int `json:"id_value_dim"`
	// LongTermMemGap, optional, is the model's own long-term memory gap
	// (aot-benchmark's TEST_LONG_TERM_MEM_GAP), used when Options leave it
	// 0; absent or 0 means 5.
	LongTermMemGap int `json:"long_term_mem_gap,omitempty"`
}

// Load reads and checks dir/propagator.json.
func Load(dir string) (*Manifest, error) {
	p := filepath.Join(dir, File)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read propagator sidecar: %w (export one with models/convert/export_deaot.py)", err)
	}
	return Parse(b, p)
}

// Parse decodes and checks a sidecar read from file p.
func Parse(b []byte, p string) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", p, err)
	}
	if err := m.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &m, nil
}

// Check reports every unusable field of m.
func (m *Manifest) Check() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if m.Format != Format {
		bad("format %q: want %q", m.Format, Format)
	}
	for k, v := range map[string]string{"encoder": m.Files.Encoder, "reference": m.Files.Reference,
		"propagate": m.Files.Propagate, "memory_write": m.Files.MemoryWrite} {
		if v == "" {
			bad("files.%s is empty", k)
		} else if filepath.IsAbs(v) || strings.Contains(v, "..") {
			bad("files.%s %q must be a plain name inside the directory", k, v)
		}
	}
	if m.Slots < 1 || m.Slots > 255 {
		bad("slots %d: want 1-255", m.Slots)
	}
	pos := func(name string, vs ...int) {
		for _, v := range vs {
			if v <= 0 || v > 1<<15 {
				bad("%s: want positive sizes, have %v", name, vs)
				return
			}
		}
	}
	pos("image height/width", m.Image.Height, m.Image.Width)
	pos("tokens height/width", m.Tokens.Height, m.Tokens.Width)
	pos("logits height/width", m.Logits.Height, m.Logits.Width)
	pos("onehot height/width", m.OneHot.Height, m.OneHot.Width)
	pos("layers and dims", m.Layers, m.EmbedDim, m.KeyDim, m.ValueDim, m.IDDim, m.IDValueDim)
	if m.LongTermMemGap < 0 {
		bad("long_term_mem_gap %d: want 1 or more (or leave it out)", m.LongTermMemGap)
	}
	if m.Image.Scale <= 0 {
		bad("image.scale %v: want > 0 (1/255 for 0-1 inputs)", m.Image.Scale)
	}
	for c, s := range m.Image.Std {
		if s <= 0 {
			bad("image.std[%d] = %v: want > 0", c, s)
		}
	}
	return errors.Join(errs...)
}

// Tokens is L, the number of tokens of one frame.
func (m *Manifest) TokenCount() int { return m.Tokens.Height * m.Tokens.Width }
