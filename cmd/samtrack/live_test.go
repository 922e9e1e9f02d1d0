package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"samtrack/internal/rtsptest"
	"samtrack/internal/synthclip"
)

// TestTrackLiveCamera: samtrack track on a live RTSP camera (a real relay on
// 127.0.0.1 and an ffmpeg publisher looping cat.mp4) tracks from a click,
// rides out the camera dropping and coming back (a reconnect, a gap in the
// manifest, the object keeps its id), and Ctrl-C ends it with exit 130 and
// every finished frame kept.
func TestTrackLiveCamera(t *testing.T) {
	needShared(t, catMP4)
	cam := rtsptest.NewRig(t, catMP4, 15*time.Second)
	out := filepath.Join(t.TempDir(), "cam")
	lr := startLive(t, out, cam.URL, "--point", "300,170", "--overlay=false")
	lr.waitFrames(20, "before the drop")
	cam.Stop()
	before := lr.frames()
	time.Sleep(time.Second)
	cam.Start()
	lr.waitFrames(before+20, "after the camera came back")
	lr.cmd.Process.Signal(syscall.SIGINT)
	err := <-lr.done
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130 after Ctrl-C:\n%s", err, lr.stderr.String())
	}
	log := lr.stderr.String()
	if strings.Contains(log, "panic:") {
		t.Fatalf("panicked:\n%s", log)
	}
	m := readManifest(t, out)
	var tracks struct {
		Objects []struct {
			ID            int `json:"id"`
			FramesPresent int `json:"frames_present"`
		} `json:"objects"`
	}
	tb, _ := os.ReadFile(filepath.Join(out, "tracks.json"))
	json.Unmarshal(tb, &tracks)
	masks, _ := os.ReadDir(filepath.Join(out, "masks"))
	t.Logf("%d frames, %d mask files, objects %+v; stderr tail:\n%s", m.FramesDone, len(masks), tracks.Objects, tail(log, 1500))
	if m.Complete || m.FramesDone < before+20 || len(masks) != m.FramesDone {
		t.Errorf("manifest: complete %v, %d frames, %d mask files; want incomplete (a live run stopped), at least %d frames, one mask each",
			m.Complete, m.FramesDone, len(masks), before+20)
	}
	if len(tracks.Objects) != 1 || tracks.Objects[0].ID != 1 {
		t.Errorf("tracks.json objects %+v: want object 1 alone, its id kept across the reconnect", tracks.Objects)
	}
	if strings.Contains(log, "--resume") {
		t.Errorf("a live run's stop message offers --resume, which refuses live streams:\n%s", tail(log, 400))
	}
	if !strings.Contains(log, "reconnect") && !strings.Contains(log, "gap") {
		t.Errorf("the drop was not reported:\n%s", log)
	}
}

// liveRun is samtrack track running on a live source in the background.
type liveRun struct {
	t      *testing.T
	out    string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error // the process's exit
}

// startLive starts samtrack track SRC --out OUT with args.
func startLive(t *testing.T, out, src string, args ...string) *liveRun {
	t.Helper()
	lr := &liveRun{t: t, out: out, done: make(chan error, 1)}
	lr.cmd = exec.Command(binary, append([]string{"track", src, "--out", out}, args...)...)
	lr.cmd.Stderr = &lr.stderr
	if err := lr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { lr.done <- lr.cmd.Wait() }()
	t.Cleanup(func() { lr.cmd.Process.Kill() })
	return lr
}

// frames is the manifest's count of finished frames (0 before there is one).
func (lr *liveRun) frames() int {
	b, err := os.ReadFile(filepath.Join(lr.out, "manifest.json"))
	var m manifestDoc
	if err != nil || json.Unmarshal(b, &m) != nil {
		return 0
	}
	return m.FramesDone
}

// waitFrames waits up to a minute for n finished frames; the run ending
// first fails the test.
func (lr *liveRun) waitFrames(n int, why string) {
	lr.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for lr.frames() < n {
		select {
		case err := <-lr.done:
			lr.t.Fatalf("%s: samtrack ended (%v) after %d frames:\n%s", why, err, lr.frames(), lr.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			lr.t.Fatalf("%s: %d frames after 60 s:\n%s", why, lr.frames(), lr.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestTrackLiveHTTPCamera: --live reads an http camera (MJPEG over HTTP, as
// cheap IP cameras serve it; here ffmpeg serving cat.mp4 at its frame rate)
// as a live stream: it rides out the camera restarting, reports the gap,
// and Ctrl-C ends it with exit 130 without offering --resume. --live on a
// file is refused.
func TestTrackLiveHTTPCamera(t *testing.T) {
	needShared(t, catMP4)
	ff := synthclip.Tool(t, "ffmpeg")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/cam.mjpg"
	l.Close()
	serve := func() *exec.Cmd {
		c := exec.Command(ff, "-v", "error", "-re", "-stream_loop", "-1", "-i", catMP4, "-an", "-c:v", "mjpeg", "-q:v", "5",
			"-f", "mpjpeg", "-listen", "1", url)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	cam := serve()
	time.Sleep(300 * time.Millisecond) // listening
	out := filepath.Join(t.TempDir(), "cam")
	lr := startLive(t, out, url, "--live", "--point", "300,170", "--overlay=false")
	lr.waitFrames(20, "before the camera restarts")
	cam.Process.Kill()
	cam.Wait()
	before := lr.frames()
	serve()
	lr.waitFrames(before+20, "after the camera came back")
	lr.cmd.Process.Signal(syscall.SIGINT)
	err = <-lr.done
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130 after Ctrl-C:\n%s", err, lr.stderr.String())
	}
	log := lr.stderr.String()
	m := readManifest(t, out)
	masks, _ := os.ReadDir(filepath.Join(out, "masks"))
	t.Logf("%d frames, %d mask files; stderr tail:\n%s", m.FramesDone, len(masks), tail(log, 1500))
	if m.Complete || len(masks) != m.FramesDone {
		t.Errorf("manifest: complete %v, %d frames, %d mask files; want incomplete, one mask a frame", m.Complete, m.FramesDone, len(masks))
	}
	if strings.Contains(log, "--resume") || !strings.Contains(log, "reconnected") {
		t.Errorf("want the restart reported as a reconnect and no --resume offered:\n%s", tail(log, 1500))
	}
	if _, err := os.Stat(filepath.Join(out, "gaps.json")); err != nil {
		t.Errorf("no gaps.json for the restart: %v", err)
	}

	r := run(t, "track", catMP4, "--live", "--point", "300,170", "--out", filepath.Join(t.TempDir(), "file"))
	if r.code != 2 || !strings.Contains(r.stderr, "--live reads a stream URL") {
		t.Errorf("--live on a file: exit %d\n%s", r.code, r.stderr)
	}
}
