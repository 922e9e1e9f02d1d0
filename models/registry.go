// Package models owns the catalogue of SAM-family ONNX exports that samtrack
// knows (name, layout, files, download location, digest, licence), the
// user's own registered exports, and getting them onto disk: pull (with
// progress, resume and sha256 verification), verify, and the trust-on-first-
// use digest record for files whose publisher gives no digest. Checking that
// a file has the inputs and outputs of its layout is left to package segment;
// this package only moves and hashes bytes. Subpackage: onnxpb (a minimal
// ONNX protobuf writer and editor); the generated test models are in
// internal/testgen, the Python checkpoint converters in models/convert.
package models

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Role says what a file is for.
type Role string

// The roles of a model's files.
const (
	Encoder Role = "encoder"
	Decoder Role = "decoder"
	Data    Role = "data" // external weights beside an .onnx file
)

// File is one file of a model as it lies in the model's directory.
type File struct {
	Role Role   `json:"role"`
	Name string `json:"name"`
	// SHA256 is the publisher's digest, "" when none is published.
	SHA256 string `json:"sha256,omitempty"`
}

// Model is one registry entry.
type Model struct {
	Name    string `json:"name"`
	Family  string `json:"family"`
	Format  string `json:"format"` // the segment layout the files use
	License string `json:"license"`
	// Source is the publisher's page for the files (where a user checks
	// what is published).
	Source string `json:"source,omitempty"`
	// URL is either an archive (.zip) holding Files, or a base URL to which
	// each file name is appended.
	URL string `json:"url"`
	// ArchiveSHA256 is the published digest of the archive, if any.
	ArchiveSHA256 string `json:"archive_sha256,omitempty"`
	Files         []File `json:"files"`
	Notes         string `json:"notes,omitempty"`
	// User is true for models the user registered from local files.
	User bool `json:"user,omitempty"`
}

// IsArchive reports whether URL names a zip archive.
func (m Model) IsArchive() bool { return strings.HasSuffix(strings.ToLower(m.URL), ".zip") }

// File returns the model's file with the given role.
func (m Model) File(r Role) (File, bool) {
	for _, f := range m.Files {
		if f.Role == r {
			return f, true
		}
	}
	return File{}, false
}

// The samexporter exports as their author publishes them on Hugging Face
// (the downloads that AnyLabeling's models.yaml points at); docs/MODELS.md
// records, entry by entry, what was checked against the publisher and how.
// No publisher digests exist for these, so the first download's digests are
// recorded and later copies are checked against them.
const (
	hf       = "https://huggingface.co/"
	samRepo  = "vietanhdev/segment-anything-onnx-models"
	sam2Repo = "vietanhdev/segment-anything-2-onnx-models"
	// SAM 2.1 lives in a repository of its own, as dated zip archives.
	sam21Repo = "vietanhdev/segment-anything-2.1-onnx-models"
)

// hfFile is the download URL of a file in a Hugging Face model repository.
func hfFile(repo, name string) string { return hf + repo + "/resolve/main/" + name }

// sam1 is a SAM ViT export: one zip per checkpoint holding the encoder (with
// the preprocessing in the graph), the decoder and AnyLabeling's config.yaml.
func sam1(name, stem string, extra ...File) Model {
	return Model{
		Name: name, Family: "SAM", Format: "sam1", License: "Apache-2.0",
		Source: hf + samRepo, URL: hfFile(samRepo, stem+".zip"),
		Files: append([]File{
			{Role: Encoder, Name: stem + ".encoder.onnx"},
			{Role: Decoder, Name: stem + ".decoder.onnx"},
		}, extra...),
	}
}

// sam2 is a SAM 2 export: loose encoder and decoder files.
func sam2(name, stem string) Model {
	return Model{
		Name: name, Family: "SAM 2", Format: "sam2", License: "Apache-2.0",
		Source: hf + sam2Repo, URL: hf + sam2Repo + "/resolve/main/",
		Files: []File{
			{Role: Encoder, Name: stem + ".encoder.onnx"},
			{Role: Decoder, Name: stem + ".decoder.onnx"},
		},
	}
}

// sam21 is a SAM 2.1 export: a dated zip per size.
func sam21(name, stem, date string) Model {
	return Model{
		Name: name, Family: "SAM 2.1", Format: "sam2", License: "Apache-2.0",
		Source: hf + sam21Repo, URL: hfFile(sam21Repo, stem+"_"+date+".zip"),
		Files: []File{
			{Role: Encoder, Name: stem + ".encoder.onnx"},
			{Role: Decoder, Name: stem + ".decoder.onnx"},
		},
	}
}

// Builtin returns the models samtrack knows out of the box.
func Builtin() []Model {
	mobile := sam1("mobilesam", "mobile_sam_20230629")
	mobile.Family = "MobileSAM"
	mobile.Files = []File{
		{Role: Encoder, Name: "mobile_sam.encoder.onnx"},
		{Role: Decoder, Name: "sam_vit_h_4b8939.decoder.onnx"},
	}
	mobile.Notes = "TinyViT encoder with SAM ViT-H's decoder"
	vith := sam1("sam-vit-h", "sam_vit_h_4b8939",
		// samexporter stores ViT-H's encoder weights (over protobuf's 2 GB
		// limit) beside the graph, named after it.
		File{Role: Data, Name: "sam_vit_h_4b8939.encoder_data.bin"})
	return []Model{
		sam1("sam-vit-b", "sam_vit_b_01ec64"),
		sam1("sam-vit-l", "sam_vit_l_0b3195"),
		vith,
		mobile,
		sam2("sam2-tiny", "sam2_hiera_tiny"),
		sam2("sam2-small", "sam2_hiera_small"),
		sam2("sam2-base-plus", "sam2_hiera_base_plus"),
		sam2("sam2-large", "sam2_hiera_large"),
		sam21("sam2.1-tiny", "sam2.1_hiera_tiny", "20260221"),
		sam21("sam2.1-small", "sam2.1_hiera_small", "20260221"),
		sam21("sam2.1-base-plus", "sam2.1_hiera_base_plus", "20260221"),
		sam21("sam2.1-large", "sam2.1_hiera_large", "20260221"),
	}
}

// Catalogue is the builtin registry plus the user's registered models.
type Catalogue struct {
	models map[string]Model
}

// NewCatalogue merges builtin and user entries; a user entry may not reuse
// a builtin name.
func NewCatalogue(user []Model) (*Catalogue, error) {
	c := &Catalogue{models: map[string]Model{}}
	for _, m := range Builtin() {
		c.models[m.Name] = m
	}
	for _, m := range user {
		if b, ok := c.models[m.Name]; ok && !b.User {
			return nil, fmt.Errorf("registered model %q clashes with a builtin model; choose another name", m.Name)
		}
		m.User = true
		c.models[m.Name] = m
	}
	return c, nil
}

// Lookup finds a model by name.
func (c *Catalogue) Lookup(name string) (Model, error) {
	m, ok := c.models[name]
	if !ok {
		if near := c.nearest(name); near != "" {
			return Model{}, fmt.Errorf("unknown model %q; did you mean %q? (`samtrack models list` shows the known ones)", name, near)
		}
		return Model{}, fmt.Errorf("unknown model %q; `samtrack models list` shows the known ones", name)
	}
	return m, nil
}

// nearest is the known name that name most likely misspells ("mobile-sam",
// "SAM2.1-Tiny", "sam_vit_b"): equal once case and separators are dropped,
// or at most two edits away from one; "" when none or several are.
func (c *Catalogue) nearest(name string) string {
	key := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || r == ' ' {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	want := key(name)
	best, bestD, ties := "", 3, 0
	for known := range c.models {
		d := editDistance(want, key(known))
		switch {
		case d < bestD:
			best, bestD, ties = known, d, 0
		case d == bestD:
			ties++
		}
	}
	if ties > 0 {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// All lists every model sorted by name.
func (c *Catalogue) All() []Model {
	out := make([]Model, 0, len(c.models))
	for _, m := range c.models {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
