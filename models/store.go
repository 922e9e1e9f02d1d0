package models

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Store is the directory where pulled models live, one subdirectory a model,
// with the digest record and the user's registrations beside them.
type Store struct {
	Dir string
	// Client is used for downloads; nil means http.DefaultClient.
	Client *http.Client
	// Mirror, when set, replaces https://huggingface.co/ in download URLs
	// (a Hugging Face mirror, or a local server holding the same paths).
	Mirror string
}

// URL is where m's download comes from: its registry URL, or the same
// path on the mirror.
func (s Store) URL(m Model) string {
	if s.Mirror == "" || !strings.HasPrefix(m.URL, hf) {
		return m.URL
	}
	return strings.TrimSuffix(s.Mirror, "/") + "/" + strings.TrimPrefix(m.URL, hf)
}

const (
	digestFile   = "digests.json"
	registryFile = "registry.json"
)

// Path is where a model file lies: an absolute name (a registered user
// file) as it is, else inside the model's directory.
func (s Store) Path(m Model, f File) string {
	if filepath.IsAbs(f.Name) {
		return f.Name
	}
	return filepath.Join(s.Dir, m.Name, f.Name)
}

// UserModels reads the user's registrations (none when the file is absent).
func (s Store) UserModels() ([]Model, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, registryFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read model registrations: %w", err)
	}
	var ms []Model
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("model registrations %s are corrupt: %w; fix or delete the file", filepath.Join(s.Dir, registryFile), err)
	}
	return ms, nil
}

// Register adds (or replaces) a user model made of local files, recording
// each file's digest now so that verify can detect later changes.
func (s Store) Register(m Model) error {
	if m.Name == "" {
		return errors.New("register model: a name is required")
	}
	for _, b := range Builtin() {
		if b.Name == m.Name {
			return fmt.Errorf("register model: %q is a builtin model name; choose another", m.Name)
		}
	}
	for i, f := range m.Files {
		abs, err := filepath.Abs(f.Name)
		if err != nil {
			return fmt.Errorf("register model %s: %w", m.Name, err)
		}
		sum, err := FileSHA256(abs)
		if err != nil {
			return fmt.Errorf("register model %s: %w", m.Name, err)
		}
		m.Files[i].Name = abs
		m.Files[i].SHA256 = sum
	}
	m.User = true
	ms, err := s.UserModels()
	if err != nil {
		return err
	}
	out := ms[:0]
	for _, o := range ms {
		if o.Name != m.Name {
			out = append(out, o)
		}
	}
	out = append(out, m)
	return writeJSON(filepath.Join(s.Dir, registryFile), out)
}

// Remove takes m off this machine: a pulled model's directory (its files,
// any partial download and its digest record) is deleted; a registered
// user model is dropped from the registrations and its files, which are
// the user's own, are left where they are. It says what it did.
func (s Store) Remove(m Model) (string, error) {
	if m.User {
		ms, err := s.UserModels()
		if err != nil {
			return "", err
		}
		out := ms[:0]
		for _, o := range ms {
			if o.Name != m.Name {
				out = append(out, o)
			}
		}
		if len(out) == len(ms) {
			return "", fmt.Errorf("remove model %s: it is not registered", m.Name)
		}
		if err := writeJSON(filepath.Join(s.Dir, registryFile), out); err != nil {
			return "", fmt.Errorf("remove model %s: %w", m.Name, err)
		}
		return "unregistered; its files are left where they are", nil
	}
	if m.Name == "" || filepath.Base(m.Name) != m.Name || m.Name == "." || m.Name == ".." {
		return "", fmt.Errorf("remove model %q: not a model name", m.Name)
	}
	dir := filepath.Join(s.Dir, m.Name)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("remove model %s: it is not pulled (%s does not exist); nothing to remove", m.Name, dir)
	}
	var size int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove model %s: %w", m.Name, err)
	}
	return fmt.Sprintf("removed %s (%.1f MB)", dir, float64(size)/1e6), nil
}

// Digests is the trust-on-first-use record of a model's file digests.
type Digests map[string]string

func (s Store) readDigests(m Model) (Digests, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, m.Name, digestFile))
	if errors.Is(err, os.ErrNotExist) {
		return Digests{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read digest record of %s: %w", m.Name, err)
	}
	d := Digests{}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("digest record of %s is corrupt: %w", m.Name, err)
	}
	return d, nil
}

func writeJSON(p string, v any) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return os.Rename(tmp, p)
}

// FileSHA256 hashes a file.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FileStatus is verify's finding for one file.
type FileStatus struct {
	File   File
	Path   string
	SHA256 string
	// Expected is the digest compared against and where it came from:
	// "published", "registered" (a user's file, at registration),
	// "recorded" (first download) or "" when none exists.
	Expected, Source string
	OK               bool
	Problem          string
}

// Verify hashes every file of m and compares it with the published digest
// or, failing that, the digest recorded at first download.
func (s Store) Verify(m Model) ([]FileStatus, error) {
	rec, err := s.readDigests(m)
	if err != nil {
		return nil, err
	}
	var out []FileStatus
	bad := 0
	for _, f := range m.Files {
		st := FileStatus{File: f, Path: s.Path(m, f)}
		sum, err := FileSHA256(st.Path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			st.Problem = "missing; run `samtrack models pull " + m.Name + "`"
		case err != nil:
			st.Problem = err.Error()
		default:
			st.SHA256 = sum
			st.Expected, st.Source = f.SHA256, "published"
			if m.User {
				st.Source = "registered"
			}
			if st.Expected == "" {
				st.Expected, st.Source = rec[f.Name], "recorded"
			}
			switch {
			case st.Expected == "":
				st.Problem = "no digest published or recorded to check against"
			case !strings.EqualFold(st.Expected, sum):
				st.Problem = fmt.Sprintf("sha256 %s, expected %s (%s): the file is corrupt or was replaced; delete it and pull again", sum, st.Expected, st.Source)
			default:
				st.OK = true
			}
		}
		if !st.OK {
			bad++
		}
		out = append(out, st)
	}
	if bad > 0 {
		return out, fmt.Errorf("model %s: %d of %d files failed verification", m.Name, bad, len(m.Files))
	}
	return out, nil
}

// Pull downloads m's files into the store, resuming partial downloads,
// reporting progress to w (nil for none), and verifying digests: a published
// digest must match; otherwise the first download's digest is recorded and
// later pulls must match it.
func (s Store) Pull(ctx context.Context, m Model, w io.Writer) error {
	if m.User {
		return fmt.Errorf("model %s was registered from local files; nothing to pull", m.Name)
	}
	dir := filepath.Join(s.Dir, m.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create model directory: %w", err)
	}
	rec, err := s.readDigests(m)
	if err != nil {
		return err
	}
	check := func(name, want, got string) error {
		if want == "" {
			want = rec[name]
		}
		if want != "" && !strings.EqualFold(want, got) {
			return fmt.Errorf("%s: sha256 %s does not match the expected %s; the download is corrupt or the file changed upstream", name, got, want)
		}
		rec[name] = got
		return nil
	}
	if m.IsArchive() {
		archive := filepath.Join(dir, path.Base(m.URL))
		sum, err := s.download(ctx, s.URL(m), archive, w)
		if err != nil {
			return err
		}
		if err := check(path.Base(m.URL), m.ArchiveSHA256, sum); err != nil {
			os.Remove(archive)
			return err
		}
		if err := extract(archive, dir, m.Files); err != nil {
			return err
		}
		for _, f := range m.Files {
			p := filepath.Join(dir, f.Name)
			sum, err := FileSHA256(p)
			if err != nil {
				return err
			}
			if err := check(f.Name, f.SHA256, sum); err != nil {
				os.Remove(p)
				return fmt.Errorf("archive %s: %w", path.Base(m.URL), err)
			}
		}
		os.Remove(archive)
	} else {
		base := s.URL(m)
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		for _, f := range m.Files {
			dst := filepath.Join(dir, f.Name)
			sum, err := s.download(ctx, base+f.Name, dst, w)
			if err != nil {
				return err
			}
			if err := check(f.Name, f.SHA256, sum); err != nil {
				os.Remove(dst)
				return err
			}
		}
	}
	return writeJSON(filepath.Join(dir, digestFile), rec)
}

// download fetches url into dst via dst+".part", resuming with a Range
// request when a partial file exists, and returns the file's sha256.
func (s Store) download(ctx context.Context, url, dst string, w io.Writer) (string, error) {
	if _, err := os.Stat(dst); err == nil {
		if w != nil {
			fmt.Fprintf(w, "%s: already present\n", filepath.Base(dst))
		}
		return FileSHA256(dst)
	}
	part := dst + ".part"
	var have int64
	if st, err := os.Stat(part); err == nil {
		have = st.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("download %s: %w (check the network; the partial file is kept and the next pull resumes)", url, err)
	}
	defer resp.Body.Close()
	flags := os.O_CREATE | os.O_WRONLY
	switch resp.StatusCode {
	case http.StatusPartialContent:
		flags |= os.O_APPEND
	case http.StatusOK:
		have = 0
		flags |= os.O_TRUNC
	case http.StatusRequestedRangeNotSatisfiable:
		// The partial file is already complete.
		resp.Body.Close()
		if err := os.Rename(part, dst); err != nil {
			return "", err
		}
		return FileSHA256(dst)
	default:
		return "", fmt.Errorf("download %s: HTTP %s", url, resp.Status)
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = have + resp.ContentLength
	}
	pw := &progress{w: w, name: filepath.Base(dst), done: have, total: total, start: time.Now(), base: have}
	_, err = io.Copy(io.MultiWriter(f, pw), resp.Body)
	cerr := f.Close()
	pw.finish()
	if err != nil {
		return "", fmt.Errorf("download %s: %w (the partial file is kept; pull again to resume)", url, err)
	}
	if cerr != nil {
		return "", fmt.Errorf("download %s: %w", url, cerr)
	}
	if total >= 0 {
		if st, err := os.Stat(part); err == nil && st.Size() != total {
			return "", fmt.Errorf("download %s: got %d of %d bytes; pull again to resume", url, st.Size(), total)
		}
	}
	if err := os.Rename(part, dst); err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	return FileSHA256(dst)
}

type progress struct {
	w                 io.Writer
	name              string
	done, total, base int64
	start, last       time.Time
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.w != nil && time.Since(p.last) > 250*time.Millisecond {
		p.last = time.Now()
		p.print("\r")
	}
	return len(b), nil
}

func (p *progress) print(prefix string) {
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	rate := mib(p.done-p.base) / time.Since(p.start).Seconds()
	if p.total > 0 {
		fmt.Fprintf(p.w, "%s%s: %.1f/%.1f MiB (%.0f%%) %.1f MiB/s", prefix, p.name, mib(p.done), mib(p.total), 100*float64(p.done)/float64(p.total), rate)
	} else {
		fmt.Fprintf(p.w, "%s%s: %.1f MiB %.1f MiB/s", prefix, p.name, mib(p.done), rate)
	}
}

func (p *progress) finish() {
	if p.w != nil {
		p.print("\r")
		fmt.Fprintln(p.w)
	}
}

// extract copies the wanted files, found by base name anywhere in the zip,
// into dir.
func extract(archive, dir string, files []File) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("open archive %s: %w (delete it and pull again)", archive, err)
	}
	defer zr.Close()
	for _, f := range files {
		var found *zip.File
		for _, zf := range zr.File {
			if path.Base(zf.Name) == f.Name {
				found = zf
				break
			}
		}
		if found == nil {
			var held []string
			for _, zf := range zr.File {
				held = append(held, zf.Name)
			}
			return fmt.Errorf("archive %s holds no %s (it holds %s); the publisher changed the archive, so the registry entry needs updating", archive, f.Name, strings.Join(held, ", "))
		}
		if err := extractOne(found, filepath.Join(dir, f.Name)); err != nil {
			return err
		}
	}
	return nil
}

func extractOne(zf *zip.File, dst string) error {
	r, err := zf.Open()
	if err != nil {
		return fmt.Errorf("extract %s: %w", zf.Name, err)
	}
	defer r.Close()
	tmp := dst + ".part"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("extract %s: %w", zf.Name, err)
	}
	// archive/zip checks the member's CRC-32 at its end; the size check
	// catches a member cut short.
	n, err := io.Copy(out, r)
	if err == nil && uint64(n) != zf.UncompressedSize64 {
		err = fmt.Errorf("got %d of %d bytes", n, zf.UncompressedSize64)
	}
	if err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("extract %s: %w (the archive is damaged; delete it and pull again)", zf.Name, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
