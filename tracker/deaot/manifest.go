package deaot

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"samtrack/ort"
)

// ManifestFile is the sidecar's file name inside a propagator directory.
const ManifestFile = "propagator.json"

// ManifestFormat is the value of the sidecar's "format" field that this
// package reads.
const ManifestFormat = "samtrack-deaot/1"

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

// Tensor names of the contract.
const (
	nImage  = "image"
	nEmb    = "emb"
	nOneHot = "onehot"
	nLtK    = "lt_k"
	nLtV    = "lt_v"
	nLtIDV  = "lt_idv"
	nStK    = "st_k"
	nStV    = "st_v"
	nStIDV  = "st_idv"
	nCurK   = "cur_k"
	nCurV   = "cur_v"
	nCurID  = "cur_id"
	nLogits = "logits"
	nIDV    = "idv"
)

// resolveDir accepts a propagator directory, its propagator.json or any
// file inside it, and returns the directory.
func resolveDir(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("propagator %s: %w (want a directory holding %s and its ONNX graphs)", path, err, ManifestFile)
	}
	if st.IsDir() {
		return path, nil
	}
	return filepath.Dir(path), nil
}

// LoadManifest reads and checks dir/propagator.json.
func LoadManifest(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read propagator sidecar: %w (export one with models/export/export_deaot.py)", err)
	}
	return parseManifest(b, p)
}

// parseManifest decodes and checks a sidecar read from file p.
func parseManifest(b []byte, p string) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", p, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &m, nil
}

func (m *Manifest) check() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if m.Format != ManifestFormat {
		bad("format %q: want %q", m.Format, ManifestFormat)
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

// tokens is L.
func (m *Manifest) tokens() int { return m.Tokens.Height * m.Tokens.Width }

// spec is one expected tensor: its shape, -1 for the dynamic memory axis.
type spec struct {
	name  string
	shape []int64
}

// checkIO compares a session's declared inputs or outputs with the
// contract. Inputs may be a subset of allowed (a graph need not read every
// tensor: DeAOT-T's reference graph, with one layer, never reads its
// labels), but every name in required must be there; outputs must include
// every required one. A declared axis left dynamic (exporters such as
// PyTorch 1.13's leave some output axes unnamed) is accepted where the
// sidecar fixes the size; checkRun checks the real size when the graph runs.
func checkIO(graph, what string, have []ort.IOInfo, required []spec, allowed map[string][]int64) error {
	byName := map[string]ort.IOInfo{}
	for _, io := range have {
		byName[io.Name] = io
	}
	var errs []error
	for _, r := range required {
		if _, ok := byName[r.name]; !ok {
			errs = append(errs, fmt.Errorf("%s: %s %q is missing", graph, what, r.name))
		}
	}
	for _, io := range have {
		want, ok := allowed[io.Name]
		if !ok {
			if what == "input" {
				errs = append(errs, fmt.Errorf("%s: unknown input %q (the contract feeds only %s)", graph, io.Name, keys(allowed)))
			}
			continue
		}
		if io.Type != ort.Float32 {
			errs = append(errs, fmt.Errorf("%s: %s %q is %s, want float32", graph, what, io.Name, io.TypeName))
		}
		if want == nil { // encoder skip features: any shape
			continue
		}
		if !shapeMatches(io.Shape, want) {
			errs = append(errs, fmt.Errorf("%s: %s %s, want shape %v (-1 = dynamic) as the sidecar says", graph, what, io, want))
		}
	}
	return errors.Join(errs...)
}

// shapeMatches reports whether a declared shape fits the contract's: the
// same rank; an axis the contract leaves dynamic (-1) must be dynamic; an
// axis the contract fixes must have that size or be dynamic.
func shapeMatches(have, want []int64) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if want[i] == -1 {
			if have[i] != -1 {
				return false
			}
			continue
		}
		if have[i] != want[i] && have[i] >= 0 {
			return false
		}
	}
	return true
}

// checkRun checks a graph run's outputs against the shapes the sidecar
// fixes: every named output is there with exactly that shape. Open accepts
// dynamic axes, so this is where their real sizes are checked.
func checkRun(graph string, res map[string]ort.Tensor, want map[string][]int64) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(want)) {
		t, ok := res[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: output %q is missing from the run", graph, name))
		case !slices.Equal(t.Shape, want[name]) || len(t.F32) != t.Len():
			errs = append(errs, fmt.Errorf("%s: output %q has shape %v at run time, but the sidecar says %v; "+
				"re-export the model or correct %s", graph, name, t.Shape, want[name], ManifestFile))
		}
	}
	return errors.Join(errs...)
}

func keys(m map[string][]int64) string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return strings.Join(k, ", ")
}
