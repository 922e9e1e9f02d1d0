// Package export writes tracking outputs crash-safely: one label PNG per
// frame under masks/, a COCO annotations.json that grows frame by frame and
// is valid JSON after every finished frame, tracks.json with one entry per
// object, an overlay video, and manifest.json, rewritten atomically after
// every frame, which records how far the run got, whether it completed and
// the offsets needed to undo a half-written frame. A crash or Ctrl-C leaves
// every finished frame valid on disk; OpenRun with resume repairs the
// directory and hands the tracker what it needs to continue with results
// identical to an uninterrupted run. The overlay is encoded by the writer the
// caller gives (Meta.Encoder), so the package uses no native code.
package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"samtrack/mask"
	"samtrack/media"
	"samtrack/tracker"
)

// File names inside the output directory.
const (
	ManifestFile    = "manifest.json"
	AnnotationsFile = "annotations.json"
	TracksFile      = "tracks.json"
	OverlayFile     = "overlay.mp4"
	MasksDir        = "masks"
	// JournalFile holds the tracker's journal entries (JSON lines), which a
	// resumed run replays; it is internal to samtrack.
	JournalFile    = "resume.jsonl"
	overlayPartial = "overlay.partial.mp4"
)

// manifestVersion is the version of the manifest layout.
const manifestVersion = 1

// FrameEncoder encodes the overlay video; video.Writer is the one samtrack
// uses, kept out of this package so that it builds without cgo.
type FrameEncoder interface {
	WriteFrame(f media.Frame) error
	Close() error
}

// OpenEncoder creates a FrameEncoder writing frames of w x h pixels to path,
// scaled to outW x outH, at fps frames a second (video.NewScaledWriter).
type OpenEncoder func(path string, w, h, outW, outH int, fps float64) (FrameEncoder, error)

// Meta describes a run.
type Meta struct {
	// Input is the source as given (path or URL).
	Input string
	// Options are the run's settings, recorded in the manifest as JSON; a
	// resumed run must have the same Input and Options.
	Options any
	// ExpectedFrames sizes annotations.json's reserve for image entries
	// (0: unknown; the reserve grows as needed).
	ExpectedFrames int
	// Overlay writes overlay.mp4 at FPS frames a second (0: 30) through
	// Encoder, which it needs.
	Overlay bool
	FPS     float64
	Encoder OpenEncoder
	// TracksEvery is the number of frames between rewrites of tracks.json
	// (0: 10); it is always written at the end.
	TracksEvery int
	// Logger receives warnings (default slog.Default()).
	Logger *slog.Logger
	// Width and Height are the size of the masks, annotations and overlay:
	// the source's (0: the frames'). Frames of another size (the working
	// size of video.max_side) have their labels scaled to it by nearest
	// neighbour, and ReadMask scales them back exactly.
	Width, Height int
	// Rotation is the clockwise turn applied to the source's pictures,
	// recorded in the manifest.
	Rotation int
	// Overwrite lets a fresh run replace the outputs of an earlier run in
	// the directory; without it OpenRun refuses such a directory (unless
	// resuming), so that finished results are never lost by mistake.
	Overwrite bool
	// LockWait is how long OpenRun waits for another run writing the
	// directory to end (0: it refuses at once, with ErrInUse).
	LockWait time.Duration
}

// ErrRunExists: the output directory holds an earlier run and neither
// resume nor overwrite was asked for.
var ErrRunExists = errors.New("output directory holds an earlier run")

// ErrInUse: another run, in this process or another, is writing the output
// directory; two runs there would overwrite each other's frames.
var ErrInUse = errors.New("output directory is in use")

// Counts are the input's damage counters, recorded in the manifest.
type Counts struct {
	CorruptFrames  int  `json:"corrupt_frames"`
	CorruptPackets int  `json:"corrupt_packets"`
	TruncatedInput bool `json:"truncated_input"`
}

// Manifest is manifest.json.
type Manifest struct {
	Version int             `json:"version"`
	Input   string          `json:"input"`
	Options json.RawMessage `json:"options"`
	// Width and Height are the size of the masks (the source's, upright).
	Width  int `json:"width"`
	Height int `json:"height"`
	// Rotation is the clockwise turn in degrees applied to the input's
	// pictures so that they are upright as players show them.
	Rotation int `json:"rotation"`
	// WorkWidth and WorkHeight are the size the tracker worked at when it
	// differs from Width x Height (video.max_side).
	WorkWidth  int `json:"work_width,omitempty"`
	WorkHeight int `json:"work_height,omitempty"`
	// Overlay describes overlay.mp4 (absent without one).
	Overlay *OverlayInfo `json:"overlay,omitempty"`
	// FramesDone counts the frames whose outputs are all on disk; LastFrame
	// is the index of the last of them (-1: none).
	FramesDone int `json:"frames_done"`
	LastFrame  int `json:"last_frame"`
	// Annotations holds annotations.json's committed offsets.
	Annotations AnnotationsState `json:"annotations"`
	// JournalBytes is the committed length of resume.jsonl.
	JournalBytes int64 `json:"journal_bytes"`
	// Complete is set when the run reached the end of its input without an
	// error; Error holds the error that ended it otherwise.
	Complete bool   `json:"complete"`
	Error    string `json:"error"`
	Counts   Counts `json:"counts"`
	// Resumes counts how often the run was resumed.
	Resumes int       `json:"resumes"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
}

// OverlayInfo describes overlay.mp4: the masks' size, and the rows and
// columns added (repeating the last ones) because H.264 in yuv420p needs
// even sizes; the video is Width+PadRight x Height+PadBottom. Its frames
// keep the input's timestamps.
type OverlayInfo struct {
	Width     int `json:"width"`
	Height    int `json:"height"`
	PadRight  int `json:"pad_right"`
	PadBottom int `json:"pad_bottom"`
}

// Run writes the outputs of one tracking run into a directory. It is not
// safe for concurrent use.
type Run struct {
	dir  string
	meta Meta
	log  *slog.Logger
	man  Manifest

	coco    *cocoFile
	journal *os.File
	entries []tracker.JournalEntry
	resumed bool
	last    int // the interrupted run's last frame (resume), else -1

	overlay    FrameEncoder
	overlayBuf []byte
	overlayErr error // the overlay writer's failure on a frame, returned then
	pal        color.Palette

	table       []tracker.Object
	sinceTracks int
	finished    bool
	closed      bool
	unlock      func() // releases the directory's lock
}

// OpenRun prepares dir (created if needed) for a run. It checks that dir is
// writable. Without resume it starts afresh, deleting the outputs of an
// earlier run there (only samtrack's own files). With resume it reads the
// manifest (starting afresh when there is none), checks that Input and
// Options match, undoes a half-written last frame (annotations.json is cut
// back to its committed offset) and reports through LastFrame and Journal
// where to continue: give them to tracker.Resume with ReadMask and feed the
// input from its first frame again.
func OpenRun(dir string, meta Meta, resume bool) (*Run, error) {
	if dir == "" {
		return nil, errors.New("output directory is empty; give a directory for the results")
	}
	if meta.Overlay && meta.Encoder == nil {
		return nil, errors.New("export: an overlay needs Meta.Encoder (a video writer such as video.NewScaledWriter's); set one or turn the overlay off")
	}
	if err := os.MkdirAll(filepath.Join(dir, MasksDir), 0o755); err != nil {
		return nil, fmt.Errorf("output directory %s cannot be created: %w; choose a writable output directory", dir, err)
	}
	unlock, err := lockDir(dir, meta.LockWait)
	if err != nil {
		return nil, err
	}
	probe, err := os.CreateTemp(dir, ".samtrack-write-check-*")
	if err != nil {
		unlock()
		return nil, fmt.Errorf("output directory %s is not writable: %w; choose a writable output directory", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())

	opts, err := json.Marshal(meta.Options)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("record run options: %w", err)
	}
	if meta.TracksEvery <= 0 {
		meta.TracksEvery = 10
	}
	if meta.FPS <= 0 {
		meta.FPS = 30
	}
	r := &Run{dir: dir, meta: meta, log: meta.Logger, last: -1, pal: mask.DavisPalette(), unlock: unlock}
	if r.log == nil {
		r.log = slog.Default()
	}
	if resume {
		ok, err := r.openResume(opts)
		if err != nil {
			r.Close()
			return nil, err
		}
		if ok {
			return r, nil
		}
		r.log.Info("export: nothing to resume, starting a fresh run", "dir", dir)
	}
	if err := r.openFresh(opts); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Run) path(name string) string { return filepath.Join(r.dir, name) }

// openFresh clears an earlier run's outputs (when Overwrite allows it) and
// creates empty ones.
func (r *Run) openFresh(opts []byte) error {
	if b, err := os.ReadFile(r.path(ManifestFile)); err == nil {
		if !r.meta.Overwrite {
			return r.refuseEarlier(b)
		}
		for _, name := range []string{ManifestFile, AnnotationsFile, TracksFile, JournalFile, OverlayFile, overlayPartial} {
			if err := os.Remove(r.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("clear the earlier run in %s: %w", r.dir, err)
			}
		}
		pngs, _ := filepath.Glob(filepath.Join(r.dir, MasksDir, "*.png"))
		for _, p := range pngs {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("clear the earlier run in %s: %w", r.dir, err)
			}
		}
	}
	now := time.Now().UTC()
	r.man = Manifest{Version: manifestVersion, Input: r.meta.Input, Options: opts, LastFrame: -1, Started: now, Updated: now,
		Width: r.meta.Width, Height: r.meta.Height, Rotation: r.meta.Rotation}
	c, err := createCOCO(r.path(AnnotationsFile), r.meta.ExpectedFrames)
	if err != nil {
		return err
	}
	r.coco = c
	r.man.Annotations = c.st
	j, err := os.OpenFile(r.path(JournalFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", r.path(JournalFile), err)
	}
	r.journal = j
	return r.writeManifest()
}

// refuseEarlier explains that the directory holds the run of manifest b.
func (r *Run) refuseEarlier(b []byte) error {
	what := "a samtrack run"
	var m Manifest
	if json.Unmarshal(b, &m) == nil {
		state := "incomplete"
		if m.Complete {
			state = "complete"
		}
		what = fmt.Sprintf("a %s run of %s (%d frames)", state, m.Input, m.FramesDone)
	}
	return fmt.Errorf("%w: %s holds %s; give --resume to continue it, --overwrite to replace it, or another output directory",
		ErrRunExists, r.dir, what)
}

// openResume reopens an interrupted run; ok is false when dir holds none.
func (r *Run) openResume(opts []byte) (ok bool, err error) {
	b, err := os.ReadFile(r.path(ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("resume: read %s: %w", r.path(ManifestFile), err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return false, fmt.Errorf("resume: %s is not a samtrack manifest (%v); start a fresh run", r.path(ManifestFile), err)
	}
	if m.Version != manifestVersion {
		return false, fmt.Errorf("resume: %s has manifest version %d, this samtrack writes %d; start a fresh run", r.path(ManifestFile), m.Version, manifestVersion)
	}
	if m.Input != r.meta.Input {
		return false, fmt.Errorf("resume: %s holds a run of %q, not %q; resume with the same input or start a fresh run", r.dir, m.Input, r.meta.Input)
	}
	if !jsonEqual(m.Options, opts) {
		return false, fmt.Errorf("resume: %s was run with other options (%s); resume with the same options, or give --overwrite to start a fresh run",
			r.dir, strings.Join(optionDiff(m.Options, opts), "; "))
	}
	c, err := openCOCO(r.path(AnnotationsFile), m.Annotations)
	if err != nil {
		return false, err
	}
	r.coco = c
	m.Annotations = c.st
	j, err := os.OpenFile(r.path(JournalFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, fmt.Errorf("resume: open %s: %w", r.path(JournalFile), err)
	}
	r.journal = j
	if fi, err := j.Stat(); err != nil || fi.Size() < m.JournalBytes {
		return false, fmt.Errorf("resume: %s is shorter than the %d committed bytes; start a fresh run", r.path(JournalFile), m.JournalBytes)
	}
	if err := j.Truncate(m.JournalBytes); err != nil {
		return false, fmt.Errorf("resume: repair %s: %w", r.path(JournalFile), err)
	}
	sc := bufio.NewScanner(io.NewSectionReader(j, 0, m.JournalBytes))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var e tracker.JournalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return false, fmt.Errorf("resume: %s: %v; start a fresh run", r.path(JournalFile), err)
		}
		r.entries = append(r.entries, e)
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("resume: read %s: %w", r.path(JournalFile), err)
	}
	if m.Complete {
		// Nothing runs again: the objects are what the run last wrote.
		var t tracksDoc
		if b, err := os.ReadFile(r.path(TracksFile)); err != nil || json.Unmarshal(b, &t) != nil {
			return false, fmt.Errorf("resume: %s is missing or damaged in a complete run; give --overwrite to start a fresh run", r.path(TracksFile))
		}
		r.table = t.Objects
	}
	r.resumed = true
	r.last = m.LastFrame
	m.Resumes++
	m.Error = ""
	r.man = m
	return true, r.writeManifest()
}

// optionDiff lists the keys whose values differ between two JSON option
// documents, as "key: was X, now Y" (nested keys joined with dots).
func optionDiff(was, now []byte) []string {
	var a, b any
	if json.Unmarshal(was, &a) != nil || json.Unmarshal(now, &b) != nil {
		return []string{fmt.Sprintf("was %s, now %s", was, now)}
	}
	fa, fb := map[string]string{}, map[string]string{}
	flattenJSON("", a, fa)
	flattenJSON("", b, fb)
	keys := make([]string, 0, len(fa)+len(fb))
	for k := range fa {
		keys = append(keys, k)
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var diff []string
	for _, k := range keys {
		va, oka := fa[k]
		vb, okb := fb[k]
		switch {
		case !oka:
			diff = append(diff, fmt.Sprintf("%s: not set before, now %s", k, vb))
		case !okb:
			diff = append(diff, fmt.Sprintf("%s: was %s, now not set", k, va))
		case va != vb:
			diff = append(diff, fmt.Sprintf("%s: was %s, now %s", k, va, vb))
		}
	}
	return diff
}

// flattenJSON records every leaf (and array, as a whole) of v under its
// dotted key.
func flattenJSON(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		for k, x := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flattenJSON(key, x, out)
		}
		return
	}
	b, _ := json.Marshal(v)
	out[prefix] = string(b)
}

func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// Resumed reports whether OpenRun continued an interrupted run.
func (r *Run) Resumed() bool { return r.resumed }

// LastFrame is the index of the last frame whose outputs are on disk (-1:
// none); a resumed run continues after it.
func (r *Run) LastFrame() int { return r.man.LastFrame }

// FramesDone counts the frames whose outputs are on disk.
func (r *Run) FramesDone() int { return r.man.FramesDone }

// Complete reports whether the run in the directory had already completed.
func (r *Run) Complete() bool { return r.man.Complete }

// Journal returns the tracker journal of the interrupted run, for
// tracker.Resume.
func (r *Run) Journal() []tracker.JournalEntry { return r.entries }

// Objects is the object table the run last wrote (tracks.json's objects):
// for a resumed complete run, its final table.
func (r *Run) Objects() []tracker.Object { return r.table }

// Manifest returns a copy of the current manifest.
func (r *Run) Manifest() Manifest { return r.man }

// Dir is the output directory.
func (r *Run) Dir() string { return r.dir }

// SetCounts records the input's damage counters (written with the next
// frame's manifest).
func (r *Run) SetCounts(c Counts) { r.man.Counts = c }

// MaskName is the file name of a frame's label PNG under masks/: the input
// image's name with .png for image directories, else the 5-digit frame
// index.
func MaskName(f media.Frame) string {
	if f.Name != "" {
		base := filepath.Base(f.Name)
		return strings.TrimSuffix(base, filepath.Ext(base)) + ".png"
	}
	return fmt.Sprintf("%05d.png", f.Index)
}

// ReadMask reads the labels written for a frame (a tracker.LabelLoader), at
// the frame's size.
func (r *Run) ReadMask(f media.Frame) (*mask.LabelMap, error) {
	l, err := mask.ReadLabelPNGFile(filepath.Join(r.dir, MasksDir, MaskName(f)))
	if err != nil || (l.W == f.W && l.H == f.H) {
		return l, err
	}
	return l.Downsample(f.W, f.H)
}

// outSize is the size of the outputs for frame f.
func (r *Run) outSize(f media.Frame) (int, int) {
	if r.meta.Width > 0 && r.meta.Height > 0 {
		return r.meta.Width, r.meta.Height
	}
	return f.W, f.H
}

// atOutSize returns res with its labels and object statistics at the
// output size (res itself when the frame is already at that size).
func (r *Run) atOutSize(f media.Frame, res *tracker.FrameResult) (*tracker.FrameResult, error) {
	w, h := r.outSize(f)
	if w == f.W && h == f.H {
		return res, nil
	}
	l, err := res.Labels.ResizeNearest(w, h)
	if err != nil {
		return nil, fmt.Errorf("export: frame %d: %w", f.Index, err)
	}
	out := *res
	out.Labels = l
	out.Objects = slices.Clone(res.Objects)
	stats := labelStats(l)
	for i := range out.Objects {
		st := stats[out.Objects[i].ID]
		out.Objects[i].Area = st.area
		out.Objects[i].BBox = [4]int{st.x0, st.y0, st.x1 - st.x0 + 1, st.y1 - st.y0 + 1}
		if st.area > 0 {
			out.Objects[i].Centroid = [2]float64{st.sx / float64(st.area), st.sy / float64(st.area)}
		}
	}
	return &out, nil
}

type idStats struct {
	area, x0, y0, x1, y1 int
	sx, sy               float64
}

// labelStats measures every id of l.
func labelStats(l *mask.LabelMap) map[uint16]*idStats {
	m := map[uint16]*idStats{}
	for y := 0; y < l.H; y++ {
		for x, id := range l.Pix[y*l.W : (y+1)*l.W] {
			if id == 0 {
				continue
			}
			s := m[id]
			if s == nil {
				s = &idStats{x0: x, y0: y, x1: x, y1: y}
				m[id] = s
			}
			s.area++
			s.x0, s.x1 = min(s.x0, x), max(s.x1, x)
			s.y0, s.y1 = min(s.y0, y), max(s.y1, y)
			s.sx += float64(x)
			s.sy += float64(y)
		}
	}
	return m
}

// WriteFrame writes one tracked frame: its label PNG, its COCO image and
// annotations, the tracker's journal entry, tracks.json when due, the
// manifest (which commits the frame) and, when enabled, its overlay frame.
// A frame replayed by a resumed tracker only gets its overlay frame.
func (r *Run) WriteFrame(f media.Frame, res *tracker.FrameResult) error {
	if r.closed || r.finished {
		return errors.New("export: write after Finish or Close")
	}
	if res == nil || res.Labels == nil {
		return fmt.Errorf("export: frame %d has no result", f.Index)
	}
	if res.Index != f.Index || res.Labels.W != f.W || res.Labels.H != f.H {
		return fmt.Errorf("export: result of frame %d (%dx%d) does not belong to frame %d (%dx%d)", res.Index, res.Labels.W, res.Labels.H, f.Index, f.W, f.H)
	}
	r.table = res.Table
	if res.Replayed {
		if f.Index > r.last {
			return fmt.Errorf("export: frame %d was replayed but the interrupted run ended at frame %d", f.Index, r.last)
		}
		return r.writeOverlay(f, res)
	}
	if f.Index <= r.man.LastFrame {
		return fmt.Errorf("export: frame %d is already written (the run is at frame %d); pass the tracker's replayed results or start a fresh run", f.Index, r.man.LastFrame)
	}
	if r.man.FramesDone == 0 {
		r.noteSizes(f)
	}
	frameRes := res
	res, err := r.atOutSize(f, res)
	if err != nil {
		return err
	}
	name := MaskName(f)
	pngPath := filepath.Join(r.dir, MasksDir, name)
	if err := mask.WriteFileAtomic(pngPath, func(w io.Writer) error { return mask.WritePalettePNG(w, res.Labels) }); err != nil {
		return fmt.Errorf("export: frame %d: %w", f.Index, err)
	}
	// Until the manifest is written the frame is not committed: on an
	// error, the manifest (and FramesDone) go back to the last frame that
	// is, which is where a resumed run starts.
	committed := r.man
	if err := r.commitFrame(f, name, res); err != nil {
		r.man = committed
		return err
	}
	return r.writeOverlay(f, frameRes)
}

// commitFrame appends the frame's journal line and annotations and writes
// tracks.json (every TracksEvery frames) and the manifest.
func (r *Run) commitFrame(f media.Frame, name string, res *tracker.FrameResult) error {
	if res.Journal != nil {
		line, err := json.Marshal(res.Journal)
		if err != nil {
			return fmt.Errorf("export: frame %d journal: %w", f.Index, err)
		}
		line = append(line, '\n')
		if _, err := r.journal.WriteAt(line, r.man.JournalBytes); err != nil {
			return fmt.Errorf("export: write %s: %w; check free disk space", r.path(JournalFile), err)
		}
		if err := r.journal.Sync(); err != nil {
			return fmt.Errorf("export: write %s: fsync: %w", r.path(JournalFile), err)
		}
		r.man.JournalBytes += int64(len(line))
	}
	img, anns := cocoEntries(f, name, res, r.coco.st.Annotations)
	if err := r.coco.appendFrame(img, anns); err != nil {
		return fmt.Errorf("export: frame %d: %w", f.Index, err)
	}
	r.man.Annotations = r.coco.st
	r.man.FramesDone++
	r.man.LastFrame = f.Index
	r.sinceTracks++
	if r.sinceTracks >= r.meta.TracksEvery {
		if err := r.writeTracks(); err != nil {
			return err
		}
	}
	return r.writeManifest()
}

// noteSizes records the output, working and overlay sizes in the manifest.
func (r *Run) noteSizes(f media.Frame) {
	w, h := r.outSize(f)
	r.man.Width, r.man.Height = w, h
	r.man.WorkWidth, r.man.WorkHeight = 0, 0
	if w != f.W || h != f.H {
		r.man.WorkWidth, r.man.WorkHeight = f.W, f.H
	}
	r.man.Overlay = nil
	if r.meta.Overlay {
		r.man.Overlay = &OverlayInfo{Width: w, Height: h, PadRight: w % 2, PadBottom: h % 2}
	}
}

// cocoEntries builds the frame's image entry (id frame index + 1) and its
// annotations (ids prevAnns+1 on), objects in ascending id.
func cocoEntries(f media.Frame, name string, res *tracker.FrameResult, prevAnns int) ([]byte, [][]byte) {
	fileName := name
	if f.Name != "" {
		fileName = f.Name
	}
	imageID := f.Index + 1
	img, _ := json.Marshal(struct {
		ID         int    `json:"id"`
		FileName   string `json:"file_name"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		FrameIndex int    `json:"frame_index"`
		MaskFile   string `json:"mask_file"`
	}{imageID, fileName, res.Labels.W, res.Labels.H, f.Index, MasksDir + "/" + name})
	ids := make([]uint16, len(res.Objects))
	for i, o := range res.Objects {
		ids[i] = o.ID
	}
	rles := encodeRLEs(res.Labels, ids)
	anns := make([][]byte, len(res.Objects))
	for i, o := range res.Objects {
		c := rles[i].Compress()
		var b bytes.Buffer
		fmt.Fprintf(&b, `{"id":%d,"image_id":%d,"category_id":1,"track_id":%d,"segmentation":{"size":[%d,%d],"counts":%s},"area":%d,"bbox":[%d,%d,%d,%d],"score":%s,"iscrowd":0}`,
			prevAnns+i+1, imageID, o.ID, c.Size[0], c.Size[1], strconv.Quote(c.Counts), o.Area,
			o.BBox[0], o.BBox[1], o.BBox[2], o.BBox[3], strconv.FormatFloat(o.Score, 'g', -1, 64))
		anns[i] = b.Bytes()
	}
	return img, anns
}

func (r *Run) writeManifest() error {
	r.man.Updated = time.Now().UTC()
	return r.writeJSON(ManifestFile, "manifest", r.man)
}

// writeJSON replaces the run's file name with v as indented JSON; what
// names the document in an encoding error.
func (r *Run) writeJSON(name, what string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("export: %s: %w", what, err)
	}
	b = append(b, '\n')
	if err := mask.WriteFileAtomic(r.path(name), func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// tracksDoc is tracks.json.
type tracksDoc struct {
	FramesDone int              `json:"frames_done"`
	LastFrame  int              `json:"last_frame"`
	Objects    []tracker.Object `json:"objects"`
}

func (r *Run) writeTracks() error {
	r.sinceTracks = 0
	objs := r.table
	if objs == nil {
		objs = []tracker.Object{}
	}
	return r.writeJSON(TracksFile, "tracks", tracksDoc{r.man.FramesDone, r.man.LastFrame, objs})
}

// writeOverlay encodes the frame's overlay into overlay.partial.mp4 (renamed
// to overlay.mp4 when the run ends: an MP4 is only playable once its index
// is written at Close, so the partial name marks a file a crash cut short).
func (r *Run) writeOverlay(f media.Frame, res *tracker.FrameResult) error {
	if !r.meta.Overlay {
		return nil
	}
	if r.overlay == nil {
		ow, oh := r.outSize(f)
		w, err := r.meta.Encoder(r.path(overlayPartial), f.W, f.H, ow, oh, r.meta.FPS)
		if err != nil {
			return fmt.Errorf("export: overlay: %w", err)
		}
		r.overlay = w
		r.overlayBuf = make([]byte, f.W*f.H*3)
	}
	renderOverlay(r.overlayBuf, f.RGB, res.Labels, res.Objects, r.pal)
	of := f
	of.RGB = r.overlayBuf
	if err := r.overlay.WriteFrame(of); err != nil {
		r.overlayErr = err
		return fmt.Errorf("export: overlay: %w", err)
	}
	return nil
}

// closeOverlay finishes the overlay video and moves it into place.
func (r *Run) closeOverlay() error {
	if r.overlay == nil {
		return nil
	}
	err := r.overlay.Close()
	r.overlay = nil
	if r.overlayErr != nil {
		// The writer failed on a frame and that error was returned then
		// (the writer's Close repeats it): the partial file keeps its name.
		if err == nil || errors.Is(err, r.overlayErr) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("export: overlay: %w", err)
	}
	if err := os.Rename(r.path(overlayPartial), r.path(OverlayFile)); err != nil {
		return fmt.Errorf("export: overlay: %w", err)
	}
	return nil
}

// Finish ends the run: it closes the overlay video, writes tracks.json and
// a last manifest with complete set when runErr is nil, or with runErr's
// message otherwise (an interrupted or failed run stays resumable). c are
// the input's damage counters. It returns the first error of finishing.
func (r *Run) Finish(runErr error, c Counts) error {
	if r.closed || r.finished {
		return errors.New("export: Finish after Finish or Close")
	}
	r.finished = true
	first := r.closeOverlay()
	if err := r.writeTracks(); err != nil && first == nil {
		first = err
	}
	r.man.Counts = c
	r.man.Complete = runErr == nil
	r.man.Error = ""
	if runErr != nil {
		r.man.Error = runErr.Error()
	}
	if err := r.writeManifest(); err != nil && first == nil {
		first = err
	}
	if err := r.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// Close frees the run's files. Without Finish the manifest keeps the last
// committed frame and says the run is incomplete; the overlay video is
// still closed so that it plays. Close is idempotent.
func (r *Run) Close() error {
	if r == nil || r.closed {
		return nil
	}
	r.closed = true
	first := r.closeOverlay()
	if err := r.coco.close(); err != nil && first == nil {
		first = err
	}
	if r.journal != nil {
		if err := r.journal.Close(); err != nil && first == nil {
			first = err
		}
		r.journal = nil
	}
	r.unlock()
	return first
}
