package pipeline

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"samtrack/config"
)

// TestLiveResumeRefused: resuming a live run is refused before any
// connection, with the way to start afresh (--overwrite or another folder)
// rather than only "start a fresh run", which the folder would refuse.
func TestLiveResumeRefused(t *testing.T) {
	spec := Spec{Input: "rtsp://127.0.0.1:9/cam", Live: true, Resume: true}
	_, err := openSource(context.Background(), spec, config.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)), Hooks{})
	if err == nil {
		t.Fatal("a live run was resumed")
	}
	for _, want := range []string{"cannot be resumed", "--overwrite", "another output directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not say %q", err, want)
		}
	}
}

func TestIsLive(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"rtsp://127.0.0.1:8554/cam", true},
		{"RTSP://cam.local/stream", true},
		{"rtsps://cam:322/x", true},
		{"rtmp://h/app", true},
		{"srt://h:9000", true},
		{"udp://239.0.0.1:1234", true},
		{"http://h/video.mp4", false},
		{"https://h/live.m3u8", false},
		{"/videos/cat.mp4", false},
		{"rtsp:/no-host", false},
		{"cat.mp4", false},
		{"", false},
	} {
		if got := IsLive(tc.in); got != tc.want {
			t.Errorf("IsLive(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
