package video

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"samtrack/internal/testenv"
	"samtrack/media"
)

const (
	dataDir       = "../../shared/data"
	blackswanMP4  = dataDir + "/videos/blackswan.mp4"
	catMP4        = dataDir + "/videos/cat.mp4"
	blackswanJPEG = dataDir + "/davis/JPEGImages/480p/blackswan"
	dogJPEG       = dataDir + "/davis/JPEGImages/480p/dog"
)

// need skips the test when a shared data file is missing.
func need(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			testenv.Missing(t, "shared data %s is missing (%v): run from the repository with /work/shared mounted", p, err)
		}
	}
}

// readAll decodes src to the end and returns the frames and the final error
// (nil when the source ended with io.EOF).
func readAll(t testing.TB, src string, opts Options) ([]media.Frame, *Source, error) {
	t.Helper()
	s, err := Open(context.Background(), src, opts)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { s.Close() })
	var frames []media.Frame
	for {
		f, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return frames, s, nil
		}
		if err != nil {
			return frames, s, err
		}
		frames = append(frames, f)
	}
}

// psnrRGB compares a packed RGB24 buffer with an image of the same size.
func psnrRGB(rgb []byte, w, h int, img image.Image) float64 {
	var se float64
	b := img.Bounds()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := (y*w + x) * 3
			for c, v := range [3]uint32{r >> 8, g >> 8, bb >> 8} {
				d := float64(rgb[i+c]) - float64(v)
				se += d * d
			}
		}
	}
	mse := se / float64(w*h*3)
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

func psnrBuf(a, b []byte) float64 {
	var se float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		se += d * d
	}
	mse := se / float64(len(a))
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

func loadJPEG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

func TestBlackswanMatchesDAVISFrames(t *testing.T) {
	need(t, blackswanMP4, blackswanJPEG)
	frames, s, err := readAll(t, blackswanMP4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 50 {
		t.Fatalf("got %d frames, want 50", len(frames))
	}
	info := s.Info()
	if info.Width != 854 || info.Height != 480 || info.Kind != KindFile || info.Codec != "h264" || info.Frames != 50 || math.Abs(info.FPS-30) > 1e-9 {
		t.Errorf("info = %+v", info)
	}
	st := s.Stats()
	if !st.Complete() || st.Decoded != 50 || st.Delivered != 50 || st.CorruptPackets != 0 {
		t.Errorf("stats = %+v", st)
	}
	worst := math.Inf(1)
	for i, f := range frames {
		if f.Index != i || f.W != 854 || f.H != 480 || len(f.RGB) != 854*480*3 {
			t.Fatalf("frame %d: index %d size %dx%d len %d", i, f.Index, f.W, f.H, len(f.RGB))
		}
		if want := time.Duration(i) * time.Second / 30; absDur(f.PTS-want) > time.Millisecond {
			t.Errorf("frame %d: PTS %v, want %v", i, f.PTS, want)
		}
		p := psnrRGB(f.RGB, f.W, f.H, loadJPEG(t, fmt.Sprintf("%s/%05d.jpg", blackswanJPEG, i)))
		worst = min(worst, p)
		if p < 30 {
			t.Errorf("frame %d: PSNR %.2f dB against the DAVIS JPEG, want >= 30", i, p)
		}
	}
	t.Logf("worst PSNR %.2f dB", worst)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestCatFrameCountAndSize(t *testing.T) {
	need(t, catMP4)
	frames, s, err := readAll(t, catMP4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 149 {
		t.Fatalf("got %d frames, want 149", len(frames))
	}
	for _, f := range frames {
		if f.W != 568 || f.H != 320 || len(f.RGB) != 568*320*3 {
			t.Fatalf("frame %d is %dx%d (%d bytes), want 568x320", f.Index, f.W, f.H, len(f.RGB))
		}
	}
	if info := s.Info(); info.Frames != 149 || info.SrcWidth != 568 || info.SrcHeight != 320 {
		t.Errorf("info = %+v", info)
	}
	for i := 1; i < len(frames); i++ {
		if frames[i].PTS <= frames[i-1].PTS {
			t.Fatalf("PTS not increasing at %d: %v then %v", i, frames[i-1].PTS, frames[i].PTS)
		}
	}
}

func TestImageDirectory(t *testing.T) {
	need(t, dogJPEG)
	frames, s, err := readAll(t, dogJPEG, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 60 {
		t.Fatalf("got %d frames, want 60", len(frames))
	}
	for i, f := range frames {
		if want := fmt.Sprintf("%05d.jpg", i); f.Name != want || f.Index != i {
			t.Fatalf("frame %d: name %q index %d, want %q", i, f.Name, f.Index, want)
		}
		if f.W != 854 || f.H != 480 || len(f.RGB) != 854*480*3 {
			t.Fatalf("frame %d: %dx%d", i, f.W, f.H)
		}
	}
	if info := s.Info(); info.Kind != KindDir || info.Frames != 60 {
		t.Errorf("info = %+v", info)
	}
	// The RGB must match Go's own JPEG decoder closely (both follow JFIF).
	for _, i := range []int{0, 59} {
		p := psnrRGB(frames[i].RGB, 854, 480, loadJPEG(t, filepath.Join(dogJPEG, frames[i].Name)))
		if p < 35 {
			t.Errorf("%s: PSNR %.2f dB against image/jpeg, want >= 35", frames[i].Name, p)
		}
	}
}

func TestOptions(t *testing.T) {
	need(t, blackswanMP4, dogJPEG)
	type want struct {
		n          int
		w, h       int
		firstIndex int
		step       int
		firstPTS   time.Duration
		firstName  string
	}
	cases := []struct {
		name string
		src  string
		opts Options
		want want
	}{
		{"max frames", blackswanMP4, Options{MaxFrames: 7}, want{7, 854, 480, 0, 1, 0, ""}},
		{"stride 2", blackswanMP4, Options{Stride: 2}, want{25, 854, 480, 0, 2, 0, ""}},
		{"stride 3 max 4", blackswanMP4, Options{Stride: 3, MaxFrames: 4}, want{4, 854, 480, 0, 3, 0, ""}},
		{"start 1s", blackswanMP4, Options{Start: time.Second}, want{20, 854, 480, 30, 1, time.Second, ""}},
		{"start 0.5s stride 2", blackswanMP4, Options{Start: 500 * time.Millisecond, Stride: 2}, want{18, 854, 480, 15, 2, 500 * time.Millisecond, ""}},
		{"max side 320", blackswanMP4, Options{MaxSide: 320, MaxFrames: 3}, want{3, 320, 180, 0, 1, 0, ""}},
		{"max side above size", blackswanMP4, Options{MaxSide: 2000, MaxFrames: 2}, want{2, 854, 480, 0, 1, 0, ""}},
		{"threads 1", blackswanMP4, Options{Threads: 1, MaxFrames: 5}, want{5, 854, 480, 0, 1, 0, ""}},
		{"dir stride 4 max side 427", dogJPEG, Options{Stride: 4, MaxSide: 427}, want{15, 427, 240, 0, 4, 0, "00000.jpg"}},
		{"dir start 1s max 5", dogJPEG, Options{Start: time.Second, MaxFrames: 5}, want{5, 854, 480, 30, 1, time.Second, "00030.jpg"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frames, s, err := readAll(t, tc.src, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != tc.want.n {
				t.Fatalf("got %d frames, want %d", len(frames), tc.want.n)
			}
			if info := s.Info(); info.Width != tc.want.w || info.Height != tc.want.h {
				t.Errorf("info size %dx%d, want %dx%d", info.Width, info.Height, tc.want.w, tc.want.h)
			}
			if p := s.Info().Planned; p != tc.want.n {
				t.Errorf("Info.Planned %d, want the %d frames delivered", p, tc.want.n)
			}
			for i, f := range frames {
				if f.W != tc.want.w || f.H != tc.want.h || len(f.RGB) != f.W*f.H*3 {
					t.Fatalf("frame %d: %dx%d, %d bytes", i, f.W, f.H, len(f.RGB))
				}
				if want := tc.want.firstIndex + i*tc.want.step; f.Index != want {
					t.Fatalf("frame %d: Index %d, want %d", i, f.Index, want)
				}
			}
			if absDur(frames[0].PTS-tc.want.firstPTS) > time.Millisecond {
				t.Errorf("first PTS %v, want %v", frames[0].PTS, tc.want.firstPTS)
			}
			if frames[0].Name != tc.want.firstName {
				t.Errorf("first name %q, want %q", frames[0].Name, tc.want.firstName)
			}
		})
	}
}

// TestStartMatchesFullDecode checks that seeking delivers the same pictures
// as decoding from the beginning.
func TestStartMatchesFullDecode(t *testing.T) {
	need(t, catMP4)
	all, _, err := readAll(t, catMP4, Options{MaxSide: 160})
	if err != nil {
		t.Fatal(err)
	}
	part, _, err := readAll(t, catMP4, Options{MaxSide: 160, Start: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	first := -1
	for i, f := range all {
		if f.PTS == part[0].PTS {
			first = i
		}
	}
	if first < 0 || len(all)-first != len(part) {
		t.Fatalf("start 3s: %d frames from PTS %v; full decode has the PTS at %d of %d", len(part), part[0].PTS, first, len(all))
	}
	if part[0].PTS < 3*time.Second-20*time.Millisecond || part[0].PTS > 3*time.Second+40*time.Millisecond {
		t.Errorf("first PTS %v, want about 3s", part[0].PTS)
	}
	for i, f := range part {
		if f.Index != all[first+i].Index {
			t.Fatalf("frame %d after seek has Index %d, the full decode numbers it %d", i, f.Index, all[first+i].Index)
		}
		if p := psnrBuf(f.RGB, all[first+i].RGB); p < 60 {
			t.Fatalf("frame %d after seek differs from the full decode: PSNR %.1f dB", i, p)
		}
	}
}

func ffmpegBin(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		testenv.Missing(t, "ffmpeg binary not installed: apt-get install ffmpeg")
	}
	return p
}

func copyPrefix(t testing.TB, src, dst string, frac float64) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b[:int(float64(len(b))*frac)], 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputs(t *testing.T) {
	need(t, blackswanMP4, catMP4)
	dir := t.TempDir()

	text := filepath.Join(dir, "notes.mp4")
	if err := os.WriteFile(text, []byte("this is a text file, not a video\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	audio := filepath.Join(dir, "tone.m4a")
	if out, err := exec.Command(ffmpegBin(t), "-v", "error", "-f", "lavfi", "-i", "sine=d=1", audio).CombinedOutput(); err != nil {
		t.Fatalf("generate audio-only file: %v\n%s", err, out)
	}
	truncEnd := filepath.Join(dir, "blackswan-40.mp4") // moov at the end: index lost
	copyPrefix(t, blackswanMP4, truncEnd, 0.4)
	truncStart := filepath.Join(dir, "cat-40.mp4") // moov first: frames decode, then stop
	copyPrefix(t, catMP4, truncStart, 0.4)
	mkv := filepath.Join(dir, "cat.mkv")
	if out, err := exec.Command(ffmpegBin(t), "-v", "error", "-i", catMP4, "-c", "copy", mkv).CombinedOutput(); err != nil {
		t.Fatalf("remux to mkv: %v\n%s", err, out)
	}
	truncMKV := filepath.Join(dir, "cat-50.mkv")
	copyPrefix(t, mkv, truncMKV, 0.5)
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "zero.mp4")
	if err := os.WriteFile(emptyFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name       string
		src        string
		openErr    error // sentinel expected from Open
		readErr    error // sentinel expected from Next at the end
		minFrames  int
		mentionSrc bool
	}{
		{"missing file", filepath.Join(dir, "nope.mp4"), ErrNotFound, nil, 0, true},
		{"text renamed mp4", text, ErrNotVideo, nil, 0, true},
		{"empty file", emptyFile, ErrNotVideo, nil, 0, true},
		{"audio only", audio, ErrNoVideoStream, nil, 0, true},
		{"truncated, index at end", truncEnd, ErrTruncated, nil, 0, true},
		{"truncated, index first", truncStart, nil, ErrTruncated, 20, true},
		{"truncated mkv", truncMKV, nil, ErrTruncated, 40, true},
		{"empty directory", empty, ErrEmptyDir, nil, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frames, s, err := readAll(t, tc.src, Options{})
			if tc.openErr != nil {
				if s != nil || !errors.Is(err, tc.openErr) {
					t.Fatalf("Open error = %v, want %v", err, tc.openErr)
				}
			} else {
				if s == nil {
					t.Fatalf("Open: %v", err)
				}
				if !errors.Is(err, tc.readErr) {
					t.Fatalf("Next error = %v, want %v", err, tc.readErr)
				}
				st := s.Stats()
				if !st.Ended || !st.Truncated || st.Complete() {
					t.Errorf("stats do not flag the truncation: %+v", st)
				}
				if len(frames) < tc.minFrames {
					t.Errorf("delivered %d frames before the error, want >= %d", len(frames), tc.minFrames)
				}
				if _, again := s.Next(context.Background()); !errors.Is(again, tc.readErr) {
					t.Errorf("Next after the end = %v, want the same error", again)
				}
			}
			if tc.mentionSrc && !strings.Contains(err.Error(), tc.src) {
				t.Errorf("error %q does not name %s", err, tc.src)
			}
			if filepath.IsAbs(tc.src) && strings.Contains(err.Error(), "relative paths") {
				t.Errorf("error %q explains relative paths for an absolute one", err)
			}
			t.Logf("%v", err)
		})
	}
	if !errors.Is(ErrTruncated, io.ErrUnexpectedEOF) {
		t.Error("ErrTruncated should match io.ErrUnexpectedEOF")
	}
	// A relative path that is not there says where relative paths start.
	wd, _ := os.Getwd()
	if _, err := Open(context.Background(), "no-such-clip.mp4", Options{}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "relative paths start at "+wd) {
		t.Errorf("missing relative path: %v", err)
	}
}

// TestNumberedFramesInOrder: a folder of frames written by ffmpeg's %d
// pattern (1.jpg ... 12.jpg, not zero-padded) is read in the video's order,
// not in text order (1, 10, 11, 12, 2, ...).
func TestNumberedFramesInOrder(t *testing.T) {
	need(t, catMP4)
	dir := t.TempDir()
	if out, err := exec.Command(ffmpegBin(t), "-v", "error", "-i", catMP4, "-frames:v", "12", "-q:v", "2", filepath.Join(dir, "%d.jpg")).CombinedOutput(); err != nil {
		t.Fatalf("extract frames: %v\n%s", err, out)
	}
	folder, _, err := readAll(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clip, _, err := readAll(t, catMP4, Options{MaxFrames: 12})
	if err != nil {
		t.Fatal(err)
	}
	if len(folder) != 12 || len(clip) != 12 {
		t.Fatalf("%d frames from the folder, %d from the clip; want 12", len(folder), len(clip))
	}
	for i, f := range folder {
		if want := fmt.Sprintf("%d.jpg", i+1); f.Name != want || f.Index != i {
			t.Errorf("frame %d: %s (index %d), want %s", i, f.Name, f.Index, want)
		}
		// Each is the clip's frame of the same number, not another one.
		same := psnrBuf(f.RGB, clip[i].RGB)
		for j := range clip {
			if j != i && psnrBuf(f.RGB, clip[j].RGB) > same {
				t.Errorf("%s is closer to the clip's frame %d than to its frame %d", f.Name, j, i)
				break
			}
		}
	}
}

// TestPercentInNames: a file named like a printf pattern (img%d.jpg,
// clip%03d.mp4) is that file, not FFmpeg's numbered sequence img0.jpg,
// img1.jpg, ...; in a folder of frames too.
func TestPercentInNames(t *testing.T) {
	need(t, catMP4, dogJPEG)
	dir := t.TempDir()
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(dst, b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	photo, clip, frames := filepath.Join(dir, "img%d.jpg"), filepath.Join(dir, "clip%03d.mp4"), filepath.Join(dir, "frames")
	copyFile(filepath.Join(dogJPEG, "00000.jpg"), photo)
	copyFile(catMP4, clip)
	if err := os.Mkdir(frames, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(filepath.Join(dogJPEG, "00000.jpg"), filepath.Join(frames, "a%d.jpg"))
	copyFile(filepath.Join(dogJPEG, "00001.jpg"), filepath.Join(frames, "b%d.jpg"))
	for _, c := range []struct {
		src  string
		want int
	}{{photo, 1}, {clip, 149}, {frames, 2}} {
		got, s, err := readAll(t, c.src, Options{})
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(c.src), err)
			continue
		}
		if len(got) != c.want || !s.Stats().Complete() {
			t.Errorf("%s: %d frames, stats %+v; want %d, complete", filepath.Base(c.src), len(got), s.Stats(), c.want)
		}
	}
}

// TestColonInNames: a relative file name with a colon (an ISO timestamp,
// 2024-12-05T10:30:00.mp4, or cam1:door.mp4) is a file, not a URL whose
// scheme FFmpeg does not know; reading it, copying its audio and writing
// next to it all work.
func TestColonInNames(t *testing.T) {
	need(t, catMP4)
	src, err := filepath.Abs(catMP4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	for _, name := range []string{"2024-12-05T10:30:00.mp4", "cam1:door.mp4"} {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		frames, _, err := readAll(t, name, Options{MaxFrames: 3})
		if err != nil || len(frames) != 3 {
			t.Fatalf("%s: %d frames, %v", name, len(frames), err)
		}
		out := "out:" + name
		wr, err := NewWriterWith(out, frames[0].W, frames[0].H, 25, WriterOptions{KeepPTS: true, AudioFrom: name})
		if err != nil {
			t.Fatalf("write %s with %s's audio: %v", out, name, err)
		}
		for _, f := range frames {
			if err := wr.WriteFrame(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := wr.Close(); err != nil {
			t.Fatal(err)
		}
		if again, _, err := readAll(t, out, Options{}); err != nil || len(again) != 3 {
			t.Errorf("read back %s: %d frames, %v", out, len(again), err)
		}
	}
}

// TestStartPastEnd: a start at or after the input's end is refused at
// Open, naming the start and the input's length, instead of a run of no
// frames whose prompts then fall "past the end" of an empty input.
func TestStartPastEnd(t *testing.T) {
	need(t, catMP4, dogJPEG)
	for _, c := range []struct {
		src   string
		start time.Duration
		ok    bool
	}{
		{catMP4, time.Minute, false}, // 5.04 s long
		{catMP4, 4 * time.Second, true},
		{dogJPEG, 2 * time.Second, false}, // 60 frames at 30 fps
		{dogJPEG, time.Second, true},
	} {
		s, err := Open(context.Background(), c.src, Options{Start: c.start})
		if c.ok {
			if err != nil {
				t.Errorf("%s from %s: %v", filepath.Base(c.src), c.start, err)
			} else {
				s.Close()
			}
			continue
		}
		if !errors.Is(err, ErrStartPastEnd) || !strings.Contains(err.Error(), c.start.String()) {
			t.Errorf("%s from %s: %v, want ErrStartPastEnd naming the start", filepath.Base(c.src), c.start, err)
		}
	}
}

// TestAudioOutlastsVideo: a Matroska or WebM file declares only the
// container's duration, which a longer audio track sets (a recording whose
// camera stopped first). Its video is complete and must not be called
// truncated; the same file cut short still is.
func TestAudioOutlastsVideo(t *testing.T) {
	need(t, catMP4)
	ff := ffmpegBin(t)
	dir := t.TempDir()
	for _, c := range []struct{ name, video string }{
		{"short.mkv", "-c:v copy"},
		{"short.webm", "-c:v libvpx-vp9 -deadline realtime -b:v 500k"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name)
			// Half a second of video, three of audio.
			args := append([]string{"-v", "error", "-t", "0.5", "-i", catMP4, "-f", "lavfi", "-i", "sine=d=3",
				"-map", "0:v", "-map", "1:a"}, strings.Fields(c.video)...)
			args = append(args, "-c:a", "libopus", out)
			if b, err := exec.Command(ff, args...).CombinedOutput(); err != nil {
				t.Fatalf("make %s: %v\n%s", c.name, err, b)
			}
			frames, s, err := readAll(t, out, Options{})
			if err != nil {
				t.Fatalf("a complete video with a longer audio track: %v", err)
			}
			if st := s.Stats(); len(frames) < 15 || !st.Complete() {
				t.Errorf("%d frames, stats %+v; want half a second's and complete", len(frames), st)
			}
			cut := filepath.Join(dir, "cut-"+c.name)
			copyPrefix(t, out, cut, 0.3)
			if _, _, err := readAll(t, cut, Options{}); !errors.Is(err, ErrTruncated) {
				t.Errorf("the same file cut at 30 %%: %v, want ErrTruncated", err)
			}
		})
	}
}

// TestCorruptMiddle overwrites a middle stretch of the file with garbage:
// decoding must go on, count the damage and never panic.
func TestCorruptMiddle(t *testing.T) {
	need(t, blackswanMP4, catMP4)
	for _, src := range []string{blackswanMP4, catMP4} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			// Deterministic garbage over 20 KB in the middle of the media data.
			x := uint32(12345)
			for i := len(b) / 2; i < len(b)/2+20000; i++ {
				x = x*1664525 + 1013904223
				b[i] = byte(x >> 24)
			}
			bad := filepath.Join(t.TempDir(), "corrupt.mp4")
			if err := os.WriteFile(bad, b, 0o644); err != nil {
				t.Fatal(err)
			}
			frames, s, err := readAll(t, bad, Options{})
			if err != nil {
				t.Fatalf("decode stopped: %v", err)
			}
			st := s.Stats()
			damage := st.CorruptPackets + st.CorruptFrames + st.ConcealedFrames
			t.Logf("%d frames, stats %+v", len(frames), st)
			if damage == 0 {
				t.Errorf("no damage counted")
			}
			if len(frames) < s.Info().Frames/2 {
				t.Errorf("only %d of %d frames delivered", len(frames), s.Info().Frames)
			}
		})
	}
}

func TestCancelAndClose(t *testing.T) {
	need(t, blackswanMP4)
	s, err := Open(context.Background(), blackswanMP4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := s.Next(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context = %v", err)
	}
	if _, err := s.Next(context.Background()); err != nil {
		t.Errorf("Next after a cancelled call: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
	if _, err := Open(context.Background(), blackswanMP4, Options{Stride: -1}); err == nil {
		t.Error("negative stride accepted")
	}
}

func TestURLSources(t *testing.T) {
	need(t, blackswanMP4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/blackswan.mp4":
			http.ServeFile(w, r, blackswanMP4) // with Range support: the index is at the end
		case "/norange.mp4": // the whole file on every request, as python3 -m http.server serves it
			b, err := os.ReadFile(blackswanMP4)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "video/mp4")
			w.Write(b)
		case "/hang.mp4":
			<-r.Context().Done() // never answers
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	t.Run("http file", func(t *testing.T) {
		frames, s, err := readAll(t, srv.URL+"/blackswan.mp4", Options{MaxSide: 427})
		if err != nil {
			t.Fatal(err)
		}
		if info := s.Info(); len(frames) != 50 || info.Kind != KindURL || info.Width != 427 || info.Height != 240 {
			t.Fatalf("%d frames, info %+v", len(frames), info)
		}
	})
	t.Run("http without range requests", func(t *testing.T) {
		// blackswan.mp4's index comes after its video data: without
		// seeking the frames cannot be reached. Not a truncated file.
		_, _, err := readAll(t, srv.URL+"/norange.mp4", Options{})
		if !errors.Is(err, ErrNotSeekable) || errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "faststart") {
			t.Fatalf("error %v: want ErrNotSeekable with the fix, not ErrTruncated", err)
		}
	})
	t.Run("http 404", func(t *testing.T) {
		src := srv.URL + "/missing.mp4"
		_, err := Open(context.Background(), src, Options{})
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), src) {
			t.Fatalf("Open = %v, want ErrNotFound naming the URL", err)
		}
	})
	t.Run("cancel a hanging open", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		_, err := Open(ctx, srv.URL+"/hang.mp4", Options{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Open = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Errorf("Open took %v to notice the cancelled context", d)
		}
	})
	t.Run("hanging server hits Timeout", func(t *testing.T) {
		t0 := time.Now()
		_, err := Open(context.Background(), srv.URL+"/hang.mp4", Options{Timeout: 500 * time.Millisecond})
		if err == nil {
			t.Fatal("Open of a server that never answers succeeded")
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("Open took %v despite a 500ms timeout", d)
		}
		t.Log(err)
	})
	t.Run("rtsp refused", func(t *testing.T) {
		src := "rtsp://127.0.0.1:1/stream"
		_, err := Open(context.Background(), src, Options{Timeout: 2 * time.Second})
		if err == nil || !strings.Contains(err.Error(), src) {
			t.Fatalf("Open(%s) = %v, want an error naming the URL", src, err)
		}
		t.Log(err)
	})
}

func TestRecycle(t *testing.T) {
	need(t, catMP4)
	ref, _, err := readAll(t, catMP4, Options{MaxFrames: 12})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), catMP4, Options{MaxFrames: 12})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var prev media.Frame
	reused := 0
	for i := 0; ; i++ {
		f, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 1 && &f.RGB[0] == &prev.RGB[0] {
			reused++
		}
		if p := psnrBuf(f.RGB, ref[i].RGB); !math.IsInf(p, 1) {
			t.Fatalf("frame %d differs from a plain decode (PSNR %.1f)", i, p)
		}
		s.Recycle(f)
		s.Recycle(f) // a double hand-back must not make two frames share a buffer
		prev = f
	}
	if reused == 0 {
		t.Error("recycled buffers were never reused")
	}
}

// synthetic draws a moving gradient with a square, smooth enough for H.264
// to keep a high PSNR.
func synthetic(i, w, h int) media.Frame {
	rgb := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := (y*w + x) * 3
			rgb[p] = byte((x + 2*i) * 255 / (w + 60))
			rgb[p+1] = byte(y * 255 / h)
			rgb[p+2] = byte(128 + 60*math.Sin(float64(x+y+3*i)/40))
			if x >= 20+2*i && x < 60+2*i && y >= 30 && y < 70 {
				rgb[p], rgb[p+1], rgb[p+2] = 240, 40, 40
			}
		}
	}
	return media.Frame{Index: i, Image: media.Image{W: w, H: h, RGB: rgb}}
}

func TestWriterRoundTrip(t *testing.T) {
	cases := []struct{ w, h int }{{320, 240}, {161, 97}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%d", tc.w, tc.h), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.mp4")
			wr, err := NewWriter(path, tc.w, tc.h, 25)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("encoder %s", wr.Codec())
			var in []media.Frame
			for i := 0; i < 30; i++ {
				f := synthetic(i, tc.w, tc.h)
				in = append(in, f)
				if err := wr.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := wr.WriteFrame(synthetic(0, tc.w+2, tc.h)); err == nil {
				t.Error("frame of the wrong size accepted")
			}
			if err := wr.Close(); err != nil {
				t.Fatal(err)
			}
			if err := wr.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := wr.WriteFrame(in[0]); !errors.Is(err, ErrClosed) {
				t.Errorf("WriteFrame after Close = %v", err)
			}

			frames, s, err := readAll(t, path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			info := s.Info()
			ew, eh := (tc.w+1)&^1, (tc.h+1)&^1
			if len(frames) != 30 || info.Width != ew || info.Height != eh || info.Codec != "h264" || math.Abs(info.FPS-25) > 1e-6 {
				t.Fatalf("read back %d frames, info %+v", len(frames), info)
			}
			worst := math.Inf(1)
			for i, f := range frames {
				if want := time.Duration(i) * time.Second / 25; absDur(f.PTS-want) > time.Millisecond {
					t.Errorf("frame %d PTS %v, want %v", i, f.PTS, want)
				}
				got := cropRGB(f.RGB, f.W, tc.w, tc.h)
				worst = min(worst, psnrBuf(got, in[i].RGB))
			}
			t.Logf("worst PSNR %.2f dB", worst)
			if worst < 32 {
				t.Errorf("worst round-trip PSNR %.2f dB, want >= 32", worst)
			}
		})
	}
	if _, err := NewWriter(filepath.Join(t.TempDir(), "no", "such", "dir", "x.mp4"), 64, 64, 30); err == nil {
		t.Error("NewWriter into a missing directory succeeded")
	}
	if _, err := NewWriter(filepath.Join(t.TempDir(), "x.mp4"), 0, 64, 30); err == nil {
		t.Error("NewWriter with width 0 succeeded")
	}
}

func cropRGB(rgb []byte, stride, w, h int) []byte {
	out := make([]byte, 0, w*h*3)
	for y := 0; y < h; y++ {
		out = append(out, rgb[y*stride*3:y*stride*3+w*3]...)
	}
	return out
}

func rssKB(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestNoLeak opens, decodes a few frames and closes in a loop: native memory
// must stay flat.
func TestNoLeak(t *testing.T) {
	need(t, catMP4, dogJPEG)
	const iterations, warmup = 300, 30
	settle := func() int {
		runtime.GC()
		debug.FreeOSMemory()
		return rssKB(t)
	}
	var base int
	for i := 0; i < iterations; i++ {
		src, opts := catMP4, Options{MaxFrames: 3, MaxSide: 400}
		if i%10 == 9 {
			src, opts = dogJPEG, Options{MaxFrames: 2}
		}
		s, err := Open(context.Background(), src, opts)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := s.Next(context.Background()); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				break
			}
		}
		s.Close()
		if i%50 == 0 { // failed opens must free everything too
			if _, err := Open(context.Background(), "/nonexistent.mp4", Options{}); err == nil {
				t.Fatal("missing file opened")
			}
		}
		if i == warmup-1 {
			base = settle()
		}
	}
	end := settle()
	t.Logf("RSS after %d iterations %d KB, after %d iterations %d KB", warmup, base, iterations, end)
	if end-base > 24*1024 {
		t.Errorf("RSS grew by %d KB over %d open/decode/close cycles: native objects leak", end-base, iterations-warmup)
	}
}

func TestLogFFmpegTo(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	l := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	LogFFmpegTo(l, slog.LevelWarn)
	defer LogFFmpegTo(nil, 0)

	bad := filepath.Join(t.TempDir(), "x.mp4")
	if err := os.WriteFile(bad, []byte("not a video at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), bad, Options{}); !errors.Is(err, ErrNotVideo) {
		t.Fatalf("Open = %v", err)
	}
	mu.Lock()
	if !strings.Contains(buf.String(), "ffmpeg: moov atom not found") {
		t.Errorf("FFmpeg's error did not reach slog; got:\n%s", buf.String())
	}
	buf.Reset()
	mu.Unlock()

	// JPEG frames decode to a full-range "yuvj" format; converting them must
	// not warn ("deprecated pixel format used") on every run over a DAVIS
	// folder: the range is set explicitly (colours: TestImageDirectory).
	need(t, dogJPEG)
	if _, _, err := readAll(t, dogJPEG, Options{MaxFrames: 2, MaxSide: 427}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(buf.String(), "level=WARN") {
		t.Errorf("decoding JPEG frames logged a warning:\n%s", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestRotationFollowsDisplayMatrix: a clip whose display matrix turns it (a
// phone clip) is delivered upright, pixel for pixel as ffmpeg's own
// autorotation shows it, for each quarter turn, scaled or not.
func TestRotationFollowsDisplayMatrix(t *testing.T) {
	need(t, blackswanMP4)
	ff := ffmpegBin(t)
	dir := t.TempDir()
	for _, rotate := range []int{90, 180, 270} {
		for _, maxSide := range []int{0, 427} {
			t.Run(fmt.Sprintf("rotate=%d max side %d", rotate, maxSide), func(t *testing.T) {
				clip := filepath.Join(dir, fmt.Sprintf("rot%d.mp4", rotate))
				if _, err := os.Stat(clip); err != nil {
					if out, err := exec.Command(ff, "-v", "error", "-y", "-i", blackswanMP4, "-frames:v", "3", "-c", "copy",
						"-metadata:s:v:0", fmt.Sprintf("rotate=%d", rotate), clip).CombinedOutput(); err != nil {
						t.Fatalf("make %s: %v\n%s", clip, err, out)
					}
				}
				frames, s, err := readAll(t, clip, Options{MaxFrames: 1, MaxSide: maxSide})
				if err != nil {
					t.Fatal(err)
				}
				info := s.Info()
				f := frames[0]
				scale := ""
				if maxSide > 0 {
					scale = fmt.Sprintf(",scale=%d:%d:flags=area", f.W, f.H)
				}
				ref, err := exec.Command(ff, "-v", "error", "-i", clip, "-frames:v", "1", "-vf", "format=rgb24"+scale,
					"-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
				if err != nil {
					t.Fatal(err)
				}
				if len(ref) != len(f.RGB) {
					t.Fatalf("frame is %dx%d (%d bytes), ffmpeg shows %d bytes: not the displayed orientation", f.W, f.H, len(f.RGB), len(ref))
				}
				if p := psnrBuf(f.RGB, ref); p < 30 {
					t.Errorf("frame differs from ffmpeg's upright picture: PSNR %.1f dB", p)
				}
				ww, wh := 480, 854
				if rotate == 180 {
					ww, wh = 854, 480
				}
				if info.SrcWidth != ww || info.SrcHeight != wh {
					t.Errorf("source size %dx%d, want the displayed %dx%d", info.SrcWidth, info.SrcHeight, ww, wh)
				}
				// The mp4 rotate tag is counter-clockwise; Info.Rotation is
				// the clockwise turn applied.
				if info.Rotation != (360-rotate)%360 {
					t.Errorf("Info.Rotation %d for rotate=%d, want %d", info.Rotation, rotate, (360-rotate)%360)
				}
			})
		}
	}
}

// TestWriterKeepsTimestamps: the writer times frames by their PTS
// (variable frame rate, a stride), not by a frame counter, and can store
// them scaled to another size.
func TestWriterKeepsTimestamps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vfr.mp4")
	wr, err := NewScaledWriter(path, 160, 90, 321, 181, 30)
	if err != nil {
		t.Fatal(err)
	}
	var want []time.Duration
	pts := 2 * time.Second // a source that starts late (--start)
	for i := 0; i < 12; i++ {
		f := synthetic(i, 160, 90)
		f.PTS = pts
		want = append(want, pts-2*time.Second)
		if err := wr.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		pts += time.Duration(1+i%3) * 100 * time.Millisecond // 10, 5 and 3.3 fps
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	frames, s, err := readAll(t, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info := s.Info(); info.Width != 322 || info.Height != 182 {
		t.Errorf("stored %dx%d, want 321x181 padded to 322x182", info.Width, info.Height)
	}
	if len(frames) != len(want) {
		t.Fatalf("read back %d frames, wrote %d", len(frames), len(want))
	}
	for i, f := range frames {
		if absDur(f.PTS-want[i]) > time.Millisecond {
			t.Errorf("frame %d at %v, written at %v", i, f.PTS, want[i])
		}
	}
}
