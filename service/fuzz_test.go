package service

import (
	"bytes"
	"testing"

	"samtrack/video"
)

// FuzzJobRequest: the body of POST /api/v1/jobs goes through the checks
// that need no network and no files (JSON, live settings, options layered
// on the configuration, prompts and their data-URL masks); each refusal is
// a 4xx, and nothing panics. Seeds: testdata/fuzz/FuzzJobRequest.
func FuzzJobRequest(f *testing.F) {
	f.Add([]byte(`{"input": "upload:0123456789abcdef0123", "prompts": {"objects": [{"id": 1, "points": [[1, 2]]}]}}`))
	s := &Server{opts: Options{Environ: []string{}}}
	dir := f.TempDir() // data-URL masks land here
	f.Fuzz(func(t *testing.T, body []byte) {
		var req createJobRequest
		if e := decodeJSON(body, &req, "job"); e != nil {
			if e.status/100 != 4 {
				t.Fatalf("status %d for a bad body: %s", e.status, e.msg)
			}
			return
		}
		if raw := bytes.TrimSpace(req.Live); len(raw) > 0 && raw[0] == '{' {
			var l liveSettings
			if decodeJSON(raw, &l, "live") == nil {
				_, _ = l.apply(video.LiveOptions{})
			}
		}
		cfg, e := s.jobConfig(req.Options)
		if e != nil {
			if e.status/100 != 4 {
				t.Fatalf("status %d for options: %s", e.status, e.msg)
			}
			return
		}
		p, e := s.preparePrompts(req.Prompts, dir)
		if e != nil {
			if e.status/100 != 4 {
				t.Fatalf("status %d for prompts: %s", e.status, e.msg)
			}
			return
		}
		_ = p.CheckLimits(cfg.Track.MaxPrompts, cfg.Track.MaxFramePrompts)
	})
}
