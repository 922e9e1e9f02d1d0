// Package mirrortest serves the builtin models' downloads from a local HTTP
// server laid out exactly as their publishers publish them on Hugging Face:
// the same URL paths, file names and zip archive structure (member folders
// and the config.yaml that AnyLabeling puts beside the ONNX files). It is
// written from the publishers' layouts, not from the registry, so a test
// that pulls every registry entry from it fails when an entry points at the
// wrong repository, file or archive. docs/MODELS.md says where each layout
// comes from.
package mirrortest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"sync"
	"time"
)

// Item is one published download.
type Item struct {
	// Path is the URL path on huggingface.co.
	Path string
	// Members are the zip's member paths; nil for a loose file.
	Members []string
}

const (
	sam1  = "/vietanhdev/segment-anything-onnx-models/resolve/main/"
	sam2  = "/vietanhdev/segment-anything-2-onnx-models/resolve/main/"
	sam21 = "/vietanhdev/segment-anything-2.1-onnx-models/resolve/main/"
)

// Published lists the downloads of every builtin model.
func Published() []Item {
	var items []Item
	// SAM ViT-B/L/H: AnyLabeling's scripts/zip_models.py puts each model in
	// a folder named after it, with config.yaml; ViT-H's encoder keeps its
	// weights in an external-data file beside it (samexporter).
	for _, stem := range []string{"sam_vit_b_01ec64", "sam_vit_l_0b3195", "sam_vit_h_4b8939"} {
		m := []string{stem + "/config.yaml", stem + "/" + stem + ".encoder.onnx", stem + "/" + stem + ".decoder.onnx"}
		if stem == "sam_vit_h_4b8939" {
			m = append(m, stem+"/"+stem+".encoder_data.bin")
		}
		items = append(items, Item{Path: sam1 + stem + ".zip", Members: m})
	}
	// MobileSAM: encoder and ViT-H's decoder at the archive's root.
	items = append(items, Item{Path: sam1 + "mobile_sam_20230629.zip",
		Members: []string{"config.yaml", "mobile_sam.encoder.onnx", "sam_vit_h_4b8939.decoder.onnx"}})
	for _, size := range []string{"tiny", "small", "base_plus", "large"} {
		// SAM 2: loose files beside the per-model zips.
		stem := "sam2_hiera_" + size
		items = append(items, Item{Path: sam2 + stem + ".encoder.onnx"}, Item{Path: sam2 + stem + ".decoder.onnx"})
		// SAM 2.1: a repository of its own, one dated zip per size, the
		// files at the archive's root.
		stem = "sam2.1_hiera_" + size
		items = append(items, Item{Path: sam21 + stem + "_20260221.zip",
			Members: []string{"config.yaml", stem + ".encoder.onnx", stem + ".decoder.onnx"}})
	}
	return items
}

// Server serves Published() with Range support and records the paths asked
// for.
type Server struct {
	*httptest.Server
	files map[string][]byte
	mu    sync.Mutex
	hits  map[string]int
}

// NewServer builds every published download, taking each file's bytes from
// content(name) where name is the file's base name. Its URL is the mirror
// to give `samtrack models pull` (models.mirror).
func NewServer(content func(name string) []byte) (*Server, error) {
	s := &Server{files: map[string][]byte{}, hits: map[string]int{}}
	for _, it := range Published() {
		if it.Members == nil {
			s.files[it.Path] = content(path.Base(it.Path))
			continue
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, m := range it.Members {
			w, err := zw.Create(m)
			if err != nil {
				return nil, fmt.Errorf("build %s: %w", it.Path, err)
			}
			if _, err := w.Write(content(path.Base(m))); err != nil {
				return nil, fmt.Errorf("build %s: %w", it.Path, err)
			}
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("build %s: %w", it.Path, err)
		}
		s.files[it.Path] = buf.Bytes()
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s, nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	b, ok := s.files[r.URL.Path]
	s.mu.Lock()
	s.hits[r.URL.Path]++
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, path.Base(r.URL.Path), time.Time{}, bytes.NewReader(b))
}

// File returns the bytes served at p.
func (s *Server) File(p string) []byte { return s.files[p] }

// Missed lists the published paths nobody asked for.
func (s *Server) Missed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.files {
		if s.hits[p] == 0 {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
