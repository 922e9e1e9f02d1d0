package inpaint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"samtrack/config"
	"samtrack/export"
	"samtrack/mask"
	"samtrack/media"
	"samtrack/video"
)

// MaskSource gives the hole (1 = remove) of a frame, at any size (it is
// scaled to the frame).
type MaskSource func(f media.Frame) (*mask.Bitmap, error)

// Spec is one removal job.
type Spec struct {
	// Input is the video file or image directory to remove objects from.
	Input string
	// Out is the MP4 to write. It is written to Out+".partial" and renamed
	// only when every frame is done, so a file at Out is always complete.
	Out   string
	Masks MaskSource
	Opts  Options
	// CRF is the H.264 quality of the output (0: DefaultCRF).
	CRF int
	Log *slog.Logger
	// OnFrame, when set, is called after each written frame.
	OnFrame func(done, total int)
}

// DefaultCRF is the output's H.264 quality: finer than the overlay's 18,
// since the output replaces the input.
const DefaultCRF = 14

// Result says what a removal did.
type Result struct {
	Stats
	Frames       int
	AudioPackets int
	Codec        string
}

// Remove writes Spec.Out: Spec.Input with the masked objects filled in,
// every frame at its source timestamp, with the input's audio copied
// unchanged. It closes Spec.Opts.Synth.
func Remove(ctx context.Context, spec Spec) (res Result, err error) {
	if spec.CRF == 0 {
		spec.CRF = DefaultCRF
	}
	if spec.Out == "" || spec.Masks == nil {
		if spec.Opts.Synth != nil {
			spec.Opts.Synth.Close()
		}
		return res, errors.New("remove: an output file and masks are required")
	}
	log := spec.Log
	if log == nil {
		log = slog.Default()
	}
	fl, err := NewFiller(spec.Opts) // owns the synthesiser from here
	if err != nil {
		return res, err
	}
	defer fl.Close()
	src, err := video.Open(ctx, spec.Input, video.Options{Logger: log})
	if err != nil {
		return res, fmt.Errorf("remove: %w", err)
	}
	defer src.Close()
	info := src.Info()
	wopts := video.WriterOptions{KeepPTS: true, CRF: spec.CRF}
	if info.Kind == video.KindFile {
		wopts.AudioFrom = spec.Input
	}
	partial := spec.Out + ".partial"
	wr, err := video.NewWriterWith(partial, info.Width, info.Height, info.FPS, wopts)
	if err != nil {
		return res, fmt.Errorf("remove: %w", err)
	}
	defer func() {
		if cerr := wr.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("remove: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(partial)
			return
		}
		if rerr := os.Rename(partial, spec.Out); rerr != nil {
			err = fmt.Errorf("remove: %w", rerr)
		}
	}()
	write := func(frames []media.Frame) error {
		for _, f := range frames {
			if err := wr.WriteFrame(f); err != nil {
				return fmt.Errorf("remove: %w", err)
			}
			res.Frames++
			if spec.OnFrame != nil {
				spec.OnFrame(res.Frames, info.Frames)
			}
		}
		return nil
	}
	if err := feed(ctx, src, fl, spec.Masks, write); err != nil {
		return res, err
	}
	done, ferr := fl.Flush(ctx)
	if werr := write(done); werr != nil || ferr != nil {
		return res, errors.Join(ferr, werr)
	}
	res.Stats, res.AudioPackets, res.Codec = fl.Stats(), wr.AudioPackets(), wr.Codec()
	return res, nil
}

// feed pushes every frame of src with its hole through fl and writes what
// comes out.
func feed(ctx context.Context, src *video.Source, fl *Filler, masks MaskSource, write func([]media.Frame) error) error {
	for {
		f, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("remove: %w", err)
		}
		hole, err := masks(f)
		if err != nil {
			return fmt.Errorf("remove: frame %d: %w", f.Index, err)
		}
		if hole.W != f.W || hole.H != f.H {
			if hole, err = hole.ResizeNearest(f.W, f.H); err != nil {
				return fmt.Errorf("remove: frame %d: %w", f.Index, err)
			}
		}
		done, perr := fl.Push(ctx, f, hole)
		if werr := write(done); werr != nil || perr != nil {
			return errors.Join(perr, werr)
		}
	}
}

// ErrMasksMismatch says that a tracking run's masks (DirMasks) do not fit
// the input being removed from: another size, or fewer frames.
var ErrMasksMismatch = errors.New("the masks must come from a complete run on this input")

// DirMasks reads the holes from a finished tracking run: dir is the run's
// output directory (or its masks/ folder); ids chooses the objects (none:
// every object). A run whose manifest says it did not complete is refused,
// so that a removal never silently leaves objects in the frames it lacks.
func DirMasks(dir string, ids []uint16) (MaskSource, error) {
	masks := filepath.Join(dir, export.MasksDir)
	if st, err := os.Stat(masks); err != nil || !st.IsDir() {
		masks, dir = dir, filepath.Dir(dir)
	}
	if st, err := os.Stat(masks); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("masks %s: not a directory of label PNGs; give a tracking run's output directory (samtrack track --out)", masks)
	}
	var m export.Manifest
	haveManifest := false
	if b, err := os.ReadFile(filepath.Join(dir, export.ManifestFile)); err == nil {
		haveManifest = true
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("masks %s: read %s: %w", dir, export.ManifestFile, err)
		}
		if !m.Complete {
			return nil, fmt.Errorf("masks %s: the tracking run did not complete (%d frames done); finish it with samtrack track --resume first", dir, m.FramesDone)
		}
		if skipped := skippedFrames(m.Options); skipped != "" {
			return nil, fmt.Errorf("masks %s: the tracking run skipped frames of the input (%s), and a removal needs a mask for every frame; track the input again without --start and --stride", dir, skipped)
		}
	}
	want := map[uint16]bool{}
	for _, id := range ids {
		want[id] = true
	}
	return func(f media.Frame) (*mask.Bitmap, error) {
		// A run writes its masks at its input's size, upright, whatever
		// size it tracked at: other sizes mean another input, whose
		// masks would remove the wrong pixels.
		if haveManifest && m.Width > 0 && (m.Width != f.W || m.Height != f.H) {
			return nil, fmt.Errorf("masks %s are %dx%d (a run on %s) but the input's frames are %dx%d; %w",
				dir, m.Width, m.Height, m.Input, f.W, f.H, ErrMasksMismatch)
		}
		if haveManifest && m.FramesDone > 0 && f.Index > m.LastFrame {
			return nil, fmt.Errorf("masks %s end at frame %d (a run on %s) but the input goes on; %w",
				dir, m.LastFrame, m.Input, ErrMasksMismatch)
		}
		p := filepath.Join(masks, export.MaskName(f))
		l, err := mask.ReadLabelPNGFile(p)
		if err != nil {
			return nil, fmt.Errorf("masks for frame %d: %w; %w", f.Index, err, ErrMasksMismatch)
		}
		return Holes(l, want), nil
	}, nil
}

// skippedFrames is SkippedFrames for a run's manifest options ("" when
// they do not parse).
func skippedFrames(options json.RawMessage) string {
	var o struct {
		Config config.Config `json:"config"`
	}
	if json.Unmarshal(options, &o) != nil {
		return ""
	}
	return SkippedFrames(o.Config.Video.Start, o.Config.Video.Stride)
}

// SkippedFrames names the video settings of a tracking run that leave
// input frames without masks (video.start, video.stride), or "" when the
// run covers every frame it reached.
func SkippedFrames(start time.Duration, stride int) string {
	var why []string
	if start > 0 {
		why = append(why, fmt.Sprintf("video.start %v", start))
	}
	if stride > 1 {
		why = append(why, fmt.Sprintf("video.stride %d", stride))
	}
	return strings.Join(why, ", ")
}

// Holes is the union of the chosen objects of l (want empty: all objects).
func Holes(l *mask.LabelMap, want map[uint16]bool) *mask.Bitmap {
	b := mask.NewBitmap(l.W, l.H)
	for i, id := range l.Pix {
		if id != 0 && (len(want) == 0 || want[id]) {
			b.Pix[i] = 1
		}
	}
	return b
}
