package publictext

import (
	"errors"
	"testing"
)

func TestRewriter(t *testing.T) {
	p := New("/srv/samtrack", []string{"/mnt/real/videos"}, []string{"/videos"})
	for _, tc := range []struct{ in, want string }{
		{"open /srv/samtrack/uploads/0a1b/clip.mp4: bad", "open upload:0a1b: bad"},
		{"write /srv/samtrack/jobs/00ff/out/masks/00001.png failed", "write the results of job 00ff failed"},
		{"read /srv/samtrack/jobs/00ff/prompt_0.png", "read the files of job 00ff"},
		{"lock /srv/samtrack/jobs.db", "lock the server's data directory"},
		{"input /mnt/real/videos/a.mp4 is truncated", "input /videos/a.mp4 is truncated"},
		{"stopped at frame 9 (OUT keeps every finished frame; run again and --resume continues it)", "stopped at frame 9"},
	} {
		if got := p.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if p.Error(nil) != "" || p.Error(errors.New("/srv/samtrack/x")) != "the server's data directory" {
		t.Error("Error: want \"\" for nil and the rewritten message otherwise")
	}
}
