package pipeline

import (
	"testing"
)

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
