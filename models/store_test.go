package models

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"samtrack/internal/mirrortest"
)

// fileServer serves in-memory files with Range support and records the
// Range headers it saw.
type fileServer struct {
	mu     sync.Mutex
	files  map[string][]byte
	ranges []string
}

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.files[r.URL.Path]
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(b))
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

func testModel(url string) Model {
	return Model{Name: "m", Format: "sam1", URL: url, Files: []File{{Role: Encoder, Name: "enc.onnx"}, {Role: Decoder, Name: "dec.onnx"}}}
}

func TestPullRecordsAndVerifies(t *testing.T) {
	fs := &fileServer{files: map[string][]byte{"/enc.onnx": payload(300000, 1), "/dec.onnx": payload(1000, 2)}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	st := Store{Dir: t.TempDir()}
	m := testModel(srv.URL + "/")
	var log bytes.Buffer
	if err := st.Pull(context.Background(), m, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "enc.onnx") || !strings.Contains(log.String(), "MiB") {
		t.Errorf("no progress shown: %q", log.String())
	}
	res, err := st.Verify(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.OK || r.Source != "recorded" {
			t.Errorf("%s: %+v", r.File.Name, r)
		}
	}
	// A later copy that differs from the recorded digest is refused.
	if err := os.WriteFile(st.Path(m, m.Files[0]), payload(300000, 9), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Verify(m); err == nil || !strings.Contains(err.Error(), "failed verification") {
		t.Fatalf("tampered file passed: %v", err)
	}
	// Upstream changing the file is caught on the next pull too.
	os.Remove(st.Path(m, m.Files[0]))
	fs.files["/enc.onnx"] = payload(300000, 7)
	if err := st.Pull(context.Background(), m, nil); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("changed upstream accepted: %v", err)
	}
}

func TestPullResumes(t *testing.T) {
	data := payload(500000, 3)
	fs := &fileServer{files: map[string][]byte{"/enc.onnx": data, "/dec.onnx": payload(10, 4)}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	st := Store{Dir: t.TempDir()}
	m := testModel(srv.URL)
	m.Files[0].SHA256 = sum(data)
	dir := filepath.Join(st.Dir, "m")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "enc.onnx.part"), data[:200000], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.Pull(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "enc.onnx"))
	if !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
	if fs.ranges[0] != "bytes=200000-" {
		t.Errorf("first request Range = %q, want a resume", fs.ranges[0])
	}
}

func TestPullPublishedDigestMismatch(t *testing.T) {
	fs := &fileServer{files: map[string][]byte{"/enc.onnx": payload(100, 1), "/dec.onnx": payload(100, 2)}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	st := Store{Dir: t.TempDir()}
	m := testModel(srv.URL)
	m.Files[1].SHA256 = strings.Repeat("0", 64)
	err := st.Pull(context.Background(), m, nil)
	if err == nil || !strings.Contains(err.Error(), "dec.onnx") {
		t.Fatalf("want a digest error naming dec.onnx, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(st.Dir, "m", "dec.onnx")); err == nil {
		t.Error("a file with the wrong digest was kept")
	}
}

func TestPullArchive(t *testing.T) {
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, b := range map[string][]byte{"pkg/enc.onnx": payload(5000, 1), "pkg/dec.onnx": payload(700, 2), "pkg/config.yaml": []byte("x")} {
		w, _ := zw.Create(name)
		w.Write(b)
	}
	zw.Close()
	fs := &fileServer{files: map[string][]byte{"/m.zip": zb.Bytes()}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	st := Store{Dir: t.TempDir()}
	m := testModel(srv.URL + "/m.zip")
	m.ArchiveSHA256 = sum(zb.Bytes())
	if err := st.Pull(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Verify(m); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(st.Dir, "m", "dec.onnx"))
	if !bytes.Equal(got, payload(700, 2)) {
		t.Error("extracted file differs")
	}
}

func TestPullHTTPError(t *testing.T) {
	srv := httptest.NewServer(&fileServer{files: map[string][]byte{}})
	defer srv.Close()
	st := Store{Dir: t.TempDir()}
	err := st.Pull(context.Background(), testModel(srv.URL), nil)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("want HTTP 404 error, got %v", err)
	}
}

func TestRegisterUserModel(t *testing.T) {
	dir := t.TempDir()
	enc := filepath.Join(dir, "e.onnx")
	os.WriteFile(enc, []byte("encoder"), 0o644)
	st := Store{Dir: filepath.Join(dir, "store")}
	m := Model{Name: "mine", Format: "sam1", Files: []File{{Role: Encoder, Name: enc}}}
	if err := st.Register(m); err != nil {
		t.Fatal(err)
	}
	user, err := st.UserModels()
	if err != nil || len(user) != 1 {
		t.Fatalf("registrations: %v %v", user, err)
	}
	cat, err := NewCatalogue(user)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cat.Lookup("mine")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Verify(got); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(enc, []byte("changed"), 0o644)
	if _, err := st.Verify(got); err == nil {
		t.Fatal("changed registered file passed verification")
	}
	if err := st.Register(Model{Name: "sam-vit-b"}); err == nil {
		t.Error("builtin name accepted")
	}
}

func TestCatalogueKnowsRequiredModels(t *testing.T) {
	cat, err := NewCatalogue(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"sam-vit-b", "sam-vit-l", "sam-vit-h", "mobilesam", "sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus", "sam2.1-large"} {
		m, err := cat.Lookup(n)
		if err != nil {
			t.Error(err)
			continue
		}
		if _, ok := m.File(Encoder); !ok {
			t.Errorf("%s has no encoder", n)
		}
		if _, ok := m.File(Decoder); !ok {
			t.Errorf("%s has no decoder", n)
		}
		if m.License == "" || m.URL == "" {
			t.Errorf("%s lacks licence or URL", n)
		}
	}
	if _, err := cat.Lookup("nope"); err == nil {
		t.Error("unknown model found")
	}
	// A misspelt name gets the name it most likely means.
	for _, tc := range []struct{ name, suggest string }{
		{"mobile-sam", `did you mean "mobilesam"?`},
		{"SAM2.1-Tiny", `did you mean "sam2.1-tiny"?`},
		{"sam_vit_b", `did you mean "sam-vit-b"?`},
		{"sam2-tiyn", `did you mean "sam2-tiny"?`},
		{"sam-vit-x", ""}, // b, h and l are all one edit away
		{"nope", ""},
	} {
		_, err := cat.Lookup(tc.name)
		switch {
		case err == nil:
			t.Errorf("%s: found", tc.name)
		case tc.suggest == "" && strings.Contains(err.Error(), "did you mean"):
			t.Errorf("%s: %v, want no suggestion", tc.name, err)
		case tc.suggest != "" && !strings.Contains(err.Error(), tc.suggest):
			t.Errorf("%s: %v, want %s", tc.name, err, tc.suggest)
		}
	}
}

// namedPayload is distinct bytes for each file name.
func namedPayload(name string) []byte {
	h := sha256.Sum256([]byte(name))
	return payload(1000+int(h[0])*97, h[1])
}

// TestPullPublishedLayouts pulls every builtin entry from a local server
// that holds the publishers' real layouts (mirrortest): the same repository
// paths, file names and archive structure. An entry that points at the
// wrong repository, file or archive member fails here.
func TestPullPublishedLayouts(t *testing.T) {
	srv, err := mirrortest.NewServer(namedPayload)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st := Store{Dir: t.TempDir(), Mirror: srv.URL}
	for _, m := range Builtin() {
		t.Run(m.Name, func(t *testing.T) {
			if !strings.HasPrefix(m.Source, "https://huggingface.co/") || !strings.HasPrefix(m.URL, m.Source+"/") {
				t.Errorf("source page %q does not hold the download %q", m.Source, m.URL)
			}
			if err := st.Pull(context.Background(), m, nil); err != nil {
				t.Fatal(err)
			}
			res, err := st.Verify(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				got, _ := os.ReadFile(r.Path)
				if !bytes.Equal(got, namedPayload(r.File.Name)) || r.Source != "recorded" {
					t.Errorf("%s: %d bytes, source %q: not the published file", r.File.Name, len(got), r.Source)
				}
			}
			if m.IsArchive() {
				if _, err := os.Stat(filepath.Join(st.Dir, m.Name, filepath.Base(m.URL))); err == nil {
					t.Error("the archive was kept after extraction")
				}
			}
		})
	}
	if missed := srv.Missed(); len(missed) > 0 {
		t.Errorf("published downloads no registry entry uses: %v", missed)
	}
}

// TestPullArchiveMemberChanged: an archive whose member differs from the
// recorded digest is refused, naming the member.
func TestPullArchiveMemberChanged(t *testing.T) {
	srv, err := mirrortest.NewServer(namedPayload)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m, err := mustLookup("sam2.1-tiny")
	if err != nil {
		t.Fatal(err)
	}
	st := Store{Dir: t.TempDir(), Mirror: srv.URL}
	if err := st.Pull(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	// Same archive layout, different decoder bytes: the archive digest
	// and the decoder's differ from the record.
	srv2, err := mirrortest.NewServer(func(n string) []byte {
		if strings.HasSuffix(n, ".decoder.onnx") {
			return payload(500, 42)
		}
		return namedPayload(n)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	st.Mirror = srv2.URL
	for _, f := range m.Files {
		os.Remove(st.Path(m, f))
	}
	rec := filepath.Join(st.Dir, m.Name, digestFile)
	b, _ := os.ReadFile(rec)
	// Forget the archive's digest so that the member check is what fails.
	var d map[string]string
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	delete(d, filepath.Base(m.URL))
	if err := writeJSON(rec, d); err != nil {
		t.Fatal(err)
	}
	err = st.Pull(context.Background(), m, nil)
	if err == nil || !strings.Contains(err.Error(), "sam2.1_hiera_tiny.decoder.onnx") {
		t.Fatalf("changed member accepted or not named: %v", err)
	}
	if _, err := os.Stat(filepath.Join(st.Dir, m.Name, "sam2.1_hiera_tiny.decoder.onnx")); err == nil {
		t.Error("the member with the wrong digest was kept")
	}
}

func mustLookup(name string) (Model, error) {
	c, err := NewCatalogue(nil)
	if err != nil {
		return Model{}, err
	}
	return c.Lookup(name)
}

// TestRemove: a pulled model's directory goes (verify then finds it
// missing, and a second remove says it is not pulled); a registered model
// leaves the registrations but its file stays.
func TestRemove(t *testing.T) {
	fs := &fileServer{files: map[string][]byte{"/enc.onnx": payload(3000, 1), "/dec.onnx": payload(1000, 2)}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	dir := t.TempDir()
	st := Store{Dir: filepath.Join(dir, "store")}
	m := testModel(srv.URL + "/")
	if err := st.Pull(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	what, err := st.Remove(m)
	if err != nil || !strings.Contains(what, "removed") {
		t.Fatalf("remove: %q, %v", what, err)
	}
	if _, err := os.Stat(filepath.Join(st.Dir, m.Name)); !os.IsNotExist(err) {
		t.Errorf("the model's directory is still there: %v", err)
	}
	if _, err := st.Verify(m); err == nil {
		t.Error("a removed model passed verification")
	}
	if _, err := st.Remove(m); err == nil || !strings.Contains(err.Error(), "not pulled") {
		t.Errorf("second remove: %v, want a 'not pulled' error", err)
	}
	if _, err := st.Remove(Model{Name: ".."}); err == nil {
		t.Error("a name outside the store was accepted")
	}

	enc := filepath.Join(dir, "e.onnx")
	os.WriteFile(enc, []byte("encoder"), 0o644)
	if err := st.Register(Model{Name: "mine", Format: "sam1", Files: []File{{Role: Encoder, Name: enc}}}); err != nil {
		t.Fatal(err)
	}
	user, _ := st.UserModels()
	if _, err := st.Remove(user[0]); err != nil {
		t.Fatal(err)
	}
	if user, err := st.UserModels(); err != nil || len(user) != 0 {
		t.Errorf("registrations after remove: %v %v", user, err)
	}
	if _, err := os.Stat(enc); err != nil {
		t.Errorf("the user's own file was deleted: %v", err)
	}
	if _, err := st.Remove(Model{Name: "mine", User: true}); err == nil {
		t.Error("removing an unregistered model succeeded")
	}
}
