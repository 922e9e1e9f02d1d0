package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"samtrack/mask"
	"samtrack/media"
	"samtrack/tracker"
	"samtrack/video"
)

func TestEncodeRLEsMatchesMask(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][2]int{{1, 1}, {7, 1}, {1, 5}, {13, 9}, {64, 48}} {
		l := mask.NewLabelMap(sz[0], sz[1])
		for i := range l.Pix {
			switch r := rng.IntN(10); {
			case r < 4:
			case r < 7:
				l.Pix[i] = 3
			case r < 9:
				l.Pix[i] = 300
			default:
				l.Pix[i] = 7
			}
		}
		ids := []uint16{1, 3, 7, 300}
		got := encodeRLEs(l, ids)
		for k, id := range ids {
			want, err := mask.EncodeRLE(l.Object(id))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[k].Counts, want.Counts) || got[k].Size != want.Size {
				t.Errorf("%v id %d: counts %v, want %v", sz, id, got[k].Counts, want.Counts)
			}
		}
	}
}

// coco is the part of annotations.json the tests read.
type coco struct {
	Images []struct {
		ID         int    `json:"id"`
		FileName   string `json:"file_name"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		FrameIndex int    `json:"frame_index"`
		MaskFile   string `json:"mask_file"`
	} `json:"images"`
	Annotations []struct {
		ID           int                `json:"id"`
		ImageID      int                `json:"image_id"`
		CategoryID   int                `json:"category_id"`
		TrackID      uint16             `json:"track_id"`
		Segmentation mask.CompressedRLE `json:"segmentation"`
		Area         int                `json:"area"`
		BBox         [4]int             `json:"bbox"`
		Score        float64            `json:"score"`
	} `json:"annotations"`
	Categories []struct {
		ID int `json:"id"`
	} `json:"categories"`
}

// readCOCO parses annotations.json, failing on invalid JSON.
func readCOCO(t testing.TB, dir string) *coco {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, AnnotationsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("annotations.json is not valid JSON (%d bytes)", len(b))
	}
	var c coco
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// checkCOCO asserts that annotations.json describes exactly the frames on
// disk: one image per frame, one annotation per object whose RLE, area and
// box match the mask PNG.
func checkCOCO(t testing.TB, dir string, frames int) *coco {
	t.Helper()
	c := readCOCO(t, dir)
	if len(c.Images) != frames {
		t.Fatalf("%d images, want %d", len(c.Images), frames)
	}
	if len(c.Categories) != 1 || c.Categories[0].ID != 1 {
		t.Errorf("categories %+v, want one with id 1", c.Categories)
	}
	next := 1
	byImage := map[int][]int{}
	for k, a := range c.Annotations {
		if a.ID != next {
			t.Fatalf("annotation %d has id %d, want %d", k, a.ID, next)
		}
		next++
		byImage[a.ImageID] = append(byImage[a.ImageID], k)
	}
	for i, im := range c.Images {
		if im.FrameIndex != i || im.ID != i+1 {
			t.Fatalf("image %d: %+v", i, im)
		}
		l, err := mask.ReadLabelPNGFile(filepath.Join(dir, im.MaskFile))
		if err != nil {
			t.Fatal(err)
		}
		ids := l.IDs()
		if len(byImage[im.ID]) != len(ids) {
			t.Fatalf("frame %d: %d annotations for %d objects in the PNG", i, len(byImage[im.ID]), len(ids))
		}
		for j, k := range byImage[im.ID] {
			a := c.Annotations[k]
			if a.TrackID != ids[j] || a.CategoryID != 1 {
				t.Fatalf("frame %d annotation %d: track %d category %d, want track %d category 1", i, a.ID, a.TrackID, a.CategoryID, ids[j])
			}
			b, err := a.Segmentation.Decode()
			if err != nil {
				t.Fatalf("frame %d annotation %d: %v", i, a.ID, err)
			}
			obj := l.Object(a.TrackID)
			if !bytes.Equal(b.Pix, obj.Pix) {
				t.Fatalf("frame %d annotation %d: RLE differs from the PNG's object %d", i, a.ID, a.TrackID)
			}
			x0, y0, x1, y1, _ := obj.BBox()
			if a.Area != obj.Area() || a.BBox != [4]int{x0, y0, x1 - x0, y1 - y0} {
				t.Fatalf("frame %d annotation %d: area %d bbox %v, want %d %v", i, a.ID, a.Area, a.BBox, obj.Area(), [4]int{x0, y0, x1 - x0, y1 - y0})
			}
		}
	}
	return c
}

func readManifest(t testing.TB, dir string) Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

// TestAnnotationsValidEveryFrame writes 150 frames and checks after every
// one that annotations.json is valid COCO matching the PNGs on disk and that
// the manifest records the progress; 150 image entries outgrow the first
// reserve, so the file is rebuilt once on the way.
func TestAnnotationsValidEveryFrame(t *testing.T) {
	dir := t.TempDir()
	s := smallScene()
	tr := maskTracker(t, s, 1, 2)
	run, err := OpenRun(dir, Meta{Input: "synthetic", Options: map[string]int{"sam_gap": 10}}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	layout0 := run.Manifest().Annotations.Layout
	const n = 150
	for i := 0; i < n; i++ {
		runFrames(t, tr, run, s, i, i+1)
		checkCOCOQuick(t, dir, i+1)
		m := readManifest(t, dir)
		if m.FramesDone != i+1 || m.LastFrame != i || m.Complete {
			t.Fatalf("after frame %d the manifest says %d frames, last %d, complete %v", i, m.FramesDone, m.LastFrame, m.Complete)
		}
	}
	checkCOCO(t, dir, n)
	if l := run.Manifest().Annotations.Layout; l == layout0 {
		t.Errorf("the images reserve never grew (layout %d); the test does not cover the rebuild", l)
	}
	if err := run.Finish(nil, Counts{CorruptFrames: 2}); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir)
	if !m.Complete || m.Error != "" || m.Counts.CorruptFrames != 2 || m.FramesDone != n {
		t.Errorf("final manifest %+v", m)
	}
	var tracks tracksDoc
	b, _ := os.ReadFile(filepath.Join(dir, TracksFile))
	if err := json.Unmarshal(b, &tracks); err != nil {
		t.Fatal(err)
	}
	if len(tracks.Objects) != 2 || tracks.FramesDone != n || tracks.Objects[0].FirstFrame != 0 {
		t.Errorf("tracks.json %s", b)
	}
}

// checkCOCOQuick checks validity and counts only.
func checkCOCOQuick(t testing.TB, dir string, frames int) {
	t.Helper()
	c := readCOCO(t, dir)
	if len(c.Images) != frames {
		t.Fatalf("%d images after %d frames", len(c.Images), frames)
	}
}

// TestCrashRepair simulates crashes in the middle of a frame (a partly
// appended annotation, a partly written image entry, a torn journal line, a
// file cut mid-write, a rebuild renamed into place before its manifest) and
// checks that resuming restores the committed state exactly.
func TestCrashRepair(t *testing.T) {
	s := smallScene()
	committed := func(t *testing.T) (string, []byte, Manifest) {
		dir := t.TempDir()
		tr := maskTracker(t, s, 1, 2)
		run, err := OpenRun(dir, Meta{Input: "synthetic"}, false)
		if err != nil {
			t.Fatal(err)
		}
		runFrames(t, tr, run, s, 0, 12)
		m := run.Manifest()
		// a crash: no Finish; Close only frees the files
		run.Close()
		b, _ := os.ReadFile(filepath.Join(dir, AnnotationsFile))
		return dir, b, m
	}
	damage := []struct {
		name string
		do   func(t *testing.T, dir string, m Manifest)
	}{
		{"torn annotation and image", func(t *testing.T, dir string, m Manifest) {
			f, _ := os.OpenFile(filepath.Join(dir, AnnotationsFile), os.O_RDWR, 0)
			defer f.Close()
			f.WriteAt([]byte(`,
{"id":99,"image_id":13,"category_id":1,"track_id":1,"segmentation":{"size":[36,48],"cou`), m.Annotations.AnnotationsEnd)
			f.WriteAt([]byte(`,
{"id":13,"file_name":"000`), m.Annotations.ImagesEnd)
			os.WriteFile(filepath.Join(dir, MasksDir, "00012.png"), []byte("\x89PNG\r\n"), 0o644)
			j, _ := os.OpenFile(filepath.Join(dir, JournalFile), os.O_RDWR|os.O_APPEND, 0)
			j.Write([]byte(`{"frame":12,"refer`))
			j.Close()
		}},
		{"cut mid-write", func(t *testing.T, dir string, m Manifest) {
			p := filepath.Join(dir, AnnotationsFile)
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			f.WriteAt([]byte(`,
{"id":99,"image_id":13,"category_id":1,"track_id":1,"segmentation":{"size":[36,48],"counts":"abc"},"area":3}]}`), m.Annotations.AnnotationsEnd)
			f.Close()
			os.Truncate(p, m.Annotations.AnnotationsEnd+20)
		}},
		{"rebuild renamed before its manifest", func(t *testing.T, dir string, m Manifest) {
			c, err := openCOCO(filepath.Join(dir, AnnotationsFile), m.Annotations)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.grow(); err != nil {
				t.Fatal(err)
			}
			c.close()
		}},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			dir, before, m := committed(t)
			d.do(t, dir, m)
			if d.name != "rebuild renamed before its manifest" {
				if b, _ := os.ReadFile(filepath.Join(dir, AnnotationsFile)); json.Valid(b) {
					t.Fatal("the damage left valid JSON; the test does not simulate a torn write")
				}
			}
			run, err := OpenRun(dir, Meta{Input: "synthetic"}, true)
			if err != nil {
				t.Fatal(err)
			}
			defer run.Close()
			if !run.Resumed() || run.LastFrame() != 11 || run.FramesDone() != 12 {
				t.Fatalf("resumed %v at frame %d (%d done), want frame 11 (12 done)", run.Resumed(), run.LastFrame(), run.FramesDone())
			}
			after, _ := os.ReadFile(filepath.Join(dir, AnnotationsFile))
			if d.name == "rebuild renamed before its manifest" {
				checkCOCO(t, dir, 12)
				if run.Manifest().Annotations.Layout != m.Annotations.Layout+1 {
					t.Errorf("layout %d, want %d", run.Manifest().Annotations.Layout, m.Annotations.Layout+1)
				}
			} else if !bytes.Equal(after, before) {
				t.Errorf("repaired annotations.json differs from the committed one")
			}
			checkCOCO(t, dir, 12)
			if n := len(run.Journal()); n != 1 {
				t.Errorf("journal holds %d entries, want the 1 of frame 0", n)
			}
			// the run continues and finishes valid
			tr := maskTracker(t, s, 1, 2)
			if err := tr.Resume(run.Journal(), run.LastFrame(), run.ReadMask); err != nil {
				t.Fatal(err)
			}
			runFrames(t, tr, run, s, 0, 16)
			if err := run.Finish(nil, Counts{}); err != nil {
				t.Fatal(err)
			}
			checkCOCO(t, dir, 16)
			if m := readManifest(t, dir); !m.Complete || m.Resumes != 1 || m.FramesDone != 16 {
				t.Errorf("manifest after the resumed run: complete %v resumes %d frames %d", m.Complete, m.Resumes, m.FramesDone)
			}
		})
	}
	t.Run("interrupted run records its error", func(t *testing.T) {
		dir := t.TempDir()
		tr := maskTracker(t, s, 1, 2)
		run, err := OpenRun(dir, Meta{Input: "synthetic"}, false)
		if err != nil {
			t.Fatal(err)
		}
		runFrames(t, tr, run, s, 0, 5)
		if err := run.Finish(fmt.Errorf("tracking: %w", context.Canceled), Counts{TruncatedInput: true}); err != nil {
			t.Fatal(err)
		}
		m := readManifest(t, dir)
		if m.Complete || !strings.Contains(m.Error, "context canceled") || m.FramesDone != 5 || !m.Counts.TruncatedInput {
			t.Errorf("manifest %+v", m)
		}
	})
	t.Run("resume refuses other options", func(t *testing.T) {
		dir, _, _ := committed(t)
		_, err := OpenRun(dir, Meta{Input: "synthetic", Options: map[string]int{"sam_gap": 3}}, true)
		if err == nil || !strings.Contains(err.Error(), "other options") {
			t.Errorf("error %v, want one about other options", err)
		}
		_, err = OpenRun(dir, Meta{Input: "other.mp4"}, true)
		if err == nil || !strings.Contains(err.Error(), "other.mp4") {
			t.Errorf("error %v, want one naming the other input", err)
		}
	})
}

// TestResumeIdentical interrupts a run with SAM discovery (a returning
// object re-identified and a new one found before the crash, a crossing and
// an entering object after it) half-way through a frame, resumes it, and
// requires every output to equal an uninterrupted run's byte for byte.
func TestResumeIdentical(t *testing.T) {
	seg := samSegmenter(t, 8)
	s := &scene{w: 160, h: 120, shapes: []shape{
		{rgb: [3]float64{200, 40, 40}, r: 12, pos: lin(0, 20, 30, 2, 0)},
		{rgb: [3]float64{40, 60, 200}, disk: true, r: 13, pos: lin(0, 140, 42, -2, 0)},
		{rgb: [3]float64{40, 170, 60}, r: 11, pos: func(t int) (float64, float64) {
			if t <= 12 {
				return 130 + 4*float64(t), 95
			}
			return 178 - 4*float64(t-12), 95
		}},
		{rgb: [3]float64{225, 205, 40}, disk: true, r: 12, pos: lin(22, 60, -14, 0, 2)},
	}}
	const n, crash = 36, 20
	newTracker := func() *tracker.Tracker {
		o := tracker.DefaultOptions()
		o.SAMGap = 6
		p := newFlowT(t)
		tr, err := tracker.New(o, p, seg)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	meta := Meta{Input: "synthetic-160x120", Options: map[string]any{"sam_gap": 6}, Overlay: true, Encoder: videoEncoder, FPS: 10, TracksEvery: 4}

	full := t.TempDir()
	run, err := OpenRun(full, meta, false)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker()
	runFrames(t, tr, run, s, 0, n)
	if err := run.Finish(nil, Counts{}); err != nil {
		t.Fatal(err)
	}
	fullObjs := tr.Objects()
	for _, o := range fullObjs {
		t.Logf("object %d: %s frames %d-%d lost %v", o.ID, o.Source, o.FirstFrame, o.LastFrame, o.Lost)
	}
	var journal []string
	jb, _ := os.ReadFile(filepath.Join(full, JournalFile))
	for _, l := range strings.Split(strings.TrimSpace(string(jb)), "\n") {
		journal = append(journal, l)
	}
	t.Logf("journal:\n%s", jb)
	if !strings.Contains(string(jb), `"source":"returned"`) {
		t.Errorf("no object returned in the uninterrupted run; the scene does not exercise re-identification")
	}

	part := t.TempDir()
	run, err = OpenRun(part, meta, false)
	if err != nil {
		t.Fatal(err)
	}
	tr = newTracker()
	runFrames(t, tr, run, s, 0, crash)
	// crash in the middle of frame 20: its PNG is written, its annotations
	// half appended, the manifest not updated
	f, _ := s.frame(crash)
	res, err := tr.Step(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var png bytes.Buffer
	mask.WritePalettePNG(&png, res.Labels)
	os.WriteFile(filepath.Join(part, MasksDir, MaskName(f)), png.Bytes(), 0o644)
	st := run.Manifest().Annotations
	af, _ := os.OpenFile(filepath.Join(part, AnnotationsFile), os.O_RDWR, 0)
	af.WriteAt([]byte(`,{"id":1000,"image_id":21,"cat`), st.AnnotationsEnd)
	af.Close()
	run.Close()
	if m := readManifest(t, part); m.Complete || m.LastFrame != crash-1 {
		t.Fatalf("manifest after the crash: complete %v last frame %d", m.Complete, m.LastFrame)
	}

	run, err = OpenRun(part, meta, true)
	if err != nil {
		t.Fatal(err)
	}
	tr = newTracker()
	if err := tr.Resume(run.Journal(), run.LastFrame(), run.ReadMask); err != nil {
		t.Fatal(err)
	}
	replayed := 0
	for i := 0; i < n; i++ {
		f, _ := s.frame(i)
		res, err := tr.Step(context.Background(), f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if res.Replayed {
			replayed++
		}
		if err := run.WriteFrame(f, res); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if err := run.Finish(nil, Counts{}); err != nil {
		t.Fatal(err)
	}
	if replayed != crash {
		t.Errorf("%d frames replayed, want %d", replayed, crash)
	}
	for i := 0; i < n; i++ {
		f, _ := s.frame(i)
		a, _ := os.ReadFile(filepath.Join(full, MasksDir, MaskName(f)))
		b, _ := os.ReadFile(filepath.Join(part, MasksDir, MaskName(f)))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("frame %d: mask PNG of the resumed run differs", i)
		}
	}
	for _, name := range []string{AnnotationsFile, TracksFile, JournalFile} {
		a, _ := os.ReadFile(filepath.Join(full, name))
		b, _ := os.ReadFile(filepath.Join(part, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s of the resumed run differs from the uninterrupted run's", name)
		}
	}
	checkCOCO(t, part, n)
	if m := readManifest(t, part); !m.Complete || m.Resumes != 1 || m.FramesDone != n {
		t.Errorf("manifest: complete %v resumes %d frames %d", m.Complete, m.Resumes, m.FramesDone)
	}
	// the overlay was re-encoded from the first frame
	for _, dir := range []string{full, part} {
		if got := countVideoFrames(t, filepath.Join(dir, OverlayFile)); got != n {
			t.Errorf("%s: overlay has %d frames, want %d", dir, got, n)
		}
	}
}

func countVideoFrames(t testing.TB, path string) int {
	t.Helper()
	src, err := video.Open(context.Background(), path, video.Options{})
	if err != nil {
		t.Fatalf("open overlay: %v", err)
	}
	defer src.Close()
	n := 0
	for {
		_, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("read overlay: %v", err)
		}
		n++
	}
}

// TestSixteenBitMasks: a frame with an id above 255 is written as a 16-bit
// greyscale PNG that reads back with its ids; frames without stay 8-bit
// palette PNGs. Image-directory frames keep their names.
func TestSixteenBitMasks(t *testing.T) {
	dir := t.TempDir()
	s := smallScene()
	tr := maskTracker(t, s, 7, 300)
	run, err := OpenRun(dir, Meta{Input: "frames/"}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	for i := 0; i < 3; i++ {
		f, _ := s.frame(i)
		f.Name = fmt.Sprintf("shot_%03d.jpg", i*10)
		res, err := tr.Step(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if err := run.WriteFrame(f, res); err != nil {
			t.Fatal(err)
		}
	}
	l, lf, err := mask.DecodeLabelPNGFile(filepath.Join(dir, MasksDir, "shot_020.png"))
	if err != nil {
		t.Fatal(err)
	}
	if lf.Paletted || lf.BitDepth != 16 {
		t.Errorf("format %+v, want 16-bit greyscale", lf)
	}
	if ids := l.IDs(); !slices.Equal(ids, []uint16{7, 300}) {
		t.Errorf("ids %v, want [7 300]", ids)
	}
	c := checkCOCO(t, dir, 3)
	if c.Images[2].FileName != "shot_020.jpg" || c.Images[2].MaskFile != "masks/shot_020.png" {
		t.Errorf("image entry %+v", c.Images[2])
	}

	// 8-bit palette when every id fits
	tr8 := maskTracker(t, s, 1, 2)
	dir8 := t.TempDir()
	run8, err := OpenRun(dir8, Meta{Input: "x"}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer run8.Close()
	runFrames(t, tr8, run8, s, 0, 1)
	if _, lf, err := mask.DecodeLabelPNGFile(filepath.Join(dir8, MasksDir, "00000.png")); err != nil || !lf.Paletted || lf.BitDepth != 8 {
		t.Errorf("format %+v (%v), want an 8-bit palette PNG", lf, err)
	}
}

func TestUnwritableOutput(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "existing-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(file, "sub")
	_, err := OpenRun(out, Meta{Input: "x"}, false)
	if err == nil || !strings.Contains(err.Error(), out) {
		t.Fatalf("error %v, want one naming %s", err, out)
	}
	t.Log(err)
	if os.Geteuid() != 0 {
		ro := filepath.Join(base, "ro")
		os.Mkdir(ro, 0o500)
		if _, err := OpenRun(ro, Meta{Input: "x"}, false); err == nil || !strings.Contains(err.Error(), ro) {
			t.Errorf("read-only dir: error %v, want one naming %s", err, ro)
		}
	}
	if _, err := OpenRun("", Meta{}, false); err == nil {
		t.Error("no error for an empty directory name")
	}
	if _, err := OpenRun(t.TempDir(), Meta{Input: "x", Overlay: true}, false); err == nil || !strings.Contains(err.Error(), "Encoder") {
		t.Errorf("overlay without an encoder: error %v, want one naming Meta.Encoder", err)
	}
}

// TestOverlayDrawsMasksAndIDs checks the overlay pixels: blended colour
// inside a mask, the palette colour on its outline and a white digit at the
// centroid.
func TestOverlayDrawsMasksAndIDs(t *testing.T) {
	const w, h = 40, 30
	l := mask.NewLabelMap(w, h)
	for y := 5; y < 25; y++ {
		for x := 5; x < 35; x++ {
			l.Pix[y*w+x] = 1
		}
	}
	rgb := bytes.Repeat([]byte{100, 100, 100}, w*h)
	dst := make([]byte, len(rgb))
	pal := mask.DavisPalette()
	renderOverlay(dst, rgb, l, []tracker.ObjectStats{{ID: 1, Area: 600, Centroid: [2]float64{20, 15}}}, pal)
	px := func(x, y int) [3]byte { i := 3 * (y*w + x); return [3]byte{dst[i], dst[i+1], dst[i+2]} }
	if got := px(8, 8); got != [3]byte{114, 50, 50} { // (100+128+1)/2, (100+0+1)/2
		t.Errorf("inside pixel %v, want [114 50 50]", got)
	}
	if got := px(5, 10); got != [3]byte{128, 0, 0} {
		t.Errorf("outline pixel %v, want the palette's [128 0 0]", got)
	}
	if got := px(0, 0); got != [3]byte{100, 100, 100} {
		t.Errorf("background pixel %v, want it unchanged", got)
	}
	white := 0
	for y := 10; y < 20; y++ {
		for x := 15; x < 25; x++ {
			if px(x, y) == [3]byte{255, 255, 255} {
				white++
			}
		}
	}
	if white < 5 {
		t.Errorf("%d white pixels near the centroid, want the digit 1 drawn", white)
	}
	if c := overlayColour(pal, 256); c != overlayColour(pal, 1) {
		t.Errorf("id 256 colour %v, want id 1's %v", c, overlayColour(pal, 1))
	}
}

// failingEncoder is the real H.264 writer that fails from frame failAt on,
// as a full disk makes it: the write returns the error, and Close returns
// the same error again (video.Writer's sticky error).
type failingEncoder struct {
	FrameEncoder
	n, failAt int
	err       error
}

func (e *failingEncoder) WriteFrame(f media.Frame) error {
	if e.n++; e.n > e.failAt {
		if e.err == nil {
			e.err = fmt.Errorf("write overlay.partial.mp4: mux: %w", syscall.ENOSPC)
		}
		return e.err
	}
	return e.FrameEncoder.WriteFrame(f)
}

func (e *failingEncoder) Close() error {
	err := e.FrameEncoder.Close()
	if e.err != nil {
		return e.err
	}
	return err
}

// TestOverlayWriteFailure: when the overlay cannot be written (a full
// disk), the frame's error says so once, finishing the run does not repeat
// it, and the partial overlay is not renamed into place.
func TestOverlayWriteFailure(t *testing.T) {
	dir := t.TempDir()
	s := smallScene()
	tr := maskTracker(t, s, 1, 2)
	enc := func(path string, w, h, outW, outH int, fps float64) (FrameEncoder, error) {
		inner, err := videoEncoder(path, w, h, outW, outH, fps)
		if err != nil {
			return nil, err
		}
		return &failingEncoder{FrameEncoder: inner, failAt: 3}, nil
	}
	run, err := OpenRun(dir, Meta{Input: "synthetic", Overlay: true, Encoder: enc, FPS: 10}, false)
	if err != nil {
		t.Fatal(err)
	}
	runFrames(t, tr, run, s, 0, 3)
	f, _ := s.frame(3)
	res, err := tr.Step(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	werr := run.WriteFrame(f, res)
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("frame 3: %v, want the overlay's ENOSPC", werr)
	}
	if err := run.Finish(werr, Counts{}); err != nil {
		t.Errorf("Finish repeated the overlay's failure: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, OverlayFile)); err == nil {
		t.Errorf("%s exists after the overlay failed: a partial video passed off as complete", OverlayFile)
	}
	// frame 3's masks and annotations were committed before its overlay
	// (a resumed run encodes the overlay again from the masks)
	if m := readManifest(t, dir); m.Complete || m.FramesDone != 4 || !strings.Contains(m.Error, "no space left") {
		t.Errorf("manifest: complete %v, frames %d, error %q", m.Complete, m.FramesDone, m.Error)
	}
}

// TestUncommittedFrame: a frame whose manifest cannot be written is not
// counted: FramesDone, and the manifest Finish writes once it can, stay at
// the last committed frame, where a resumed run starts again.
func TestUncommittedFrame(t *testing.T) {
	dir := t.TempDir()
	s := smallScene()
	tr := maskTracker(t, s, 1, 2)
	run, err := OpenRun(dir, Meta{Input: "synthetic"}, false)
	if err != nil {
		t.Fatal(err)
	}
	runFrames(t, tr, run, s, 0, 3)
	// the manifest cannot be replaced: its name is a non-empty directory
	man := filepath.Join(dir, ManifestFile)
	if err := os.Rename(man, man+".saved"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(man, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, _ := s.frame(3)
	res, err := tr.Step(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	werr := run.WriteFrame(f, res)
	if werr == nil || !strings.Contains(werr.Error(), ManifestFile) {
		t.Fatalf("frame 3: %v, want an error naming %s", werr, ManifestFile)
	}
	if n := run.FramesDone(); n != 3 {
		t.Errorf("FramesDone %d after frame 3 failed to commit, want 3", n)
	}
	if err := os.RemoveAll(man); err != nil {
		t.Fatal(err)
	}
	if err := run.Finish(werr, Counts{}); err != nil {
		t.Fatal(err)
	}
	if m := readManifest(t, dir); m.Complete || m.FramesDone != 3 || m.LastFrame != 2 {
		t.Errorf("manifest: complete %v, frames %d, last %d; want 3 frames, last 2", m.Complete, m.FramesDone, m.LastFrame)
	}
}

// TestOneRunPerDirectory: while a run writes a directory, a second one
// (resuming or not) is refused with ErrInUse instead of overwriting its
// frames; with LockWait it waits for the first to close; once closed, the
// directory is free again. The lock goes with the descriptor, so a crashed
// process leaves none behind.
func TestOneRunPerDirectory(t *testing.T) {
	dir := t.TempDir()
	first, err := OpenRun(dir, Meta{Input: "synthetic"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, resume := range []bool{false, true} {
		if _, err := OpenRun(dir, Meta{Input: "synthetic", Overwrite: true}, resume); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), dir) {
			t.Errorf("second run (resume %v) while the first writes: %v, want ErrInUse naming %s", resume, err, dir)
		}
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		first.Close()
	}()
	start := time.Now()
	second, err := OpenRun(dir, Meta{Input: "synthetic", LockWait: time.Minute}, true)
	if err != nil {
		t.Fatalf("waiting for the first run to close: %v", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("opened after %v, before the first run closed", waited)
	}
	second.Close()
	third, err := OpenRun(dir, Meta{Input: "synthetic"}, true)
	if err != nil {
		t.Fatalf("after both closed: %v", err)
	}
	third.Close()
}
