package service

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testToken = "0123456789abcdef-test-token"

// TestSecurity checks each security rule against the real server: the
// token (401), file confinement (403 for paths outside the allowed
// directories, through .. or a symlink), URL schemes (403), size limits
// (413) and malformed requests (400 with a message naming the problem).
func TestSecurity(t *testing.T) {
	needVideos(t)
	allowed := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.mp4")
	if err := os.WriteFile(secret, []byte("not for you"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(allowed, "escape.mp4")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs(t, catMP4), filepath.Join(allowed, "cat-link.mp4")); err != nil {
		t.Fatal(err)
	}
	// The videos are allowed through a symlinked directory: paths written
	// through the link and paths written through its target both pass.
	viaLink := filepath.Join(t.TempDir(), "videos-link")
	if err := os.Symlink(abs(t, videosDir), viaLink); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{
		Token: testToken, AllowDirs: []string{allowed, viaLink},
		MaxRequestBytes: 4 << 10, MaxUploadBytes: 64 << 10, AllowSchemes: []string{"rtsp", "https"},
	})
	cat := abs(t, catMP4)
	job := func(input string) map[string]any {
		return pointJob(input, 300, 170, map[string]any{"video.max_frames": 2})
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	cases := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    http.Header
		noAuth bool
		want   int
		msg    string // the error message must contain it
	}{
		{name: "no token", method: "GET", path: "/api/v1/jobs", noAuth: true, want: 401, msg: "token"},
		{name: "wrong token", method: "GET", path: "/api/v1/jobs", noAuth: true, hdr: http.Header{"Authorization": {"Bearer wrong-token-0123456789"}}, want: 401},
		{name: "token in the query", method: "GET", path: "/api/v1/jobs?access_token=" + testToken, noAuth: true, want: 200},
		{name: "metrics need the token", method: "GET", path: "/metrics", noAuth: true, want: 401},
		{name: "health needs none", method: "GET", path: "/healthz", noAuth: true, want: 200},
		{name: "job without token", method: "POST", path: "/api/v1/jobs", body: js(job(cat)), noAuth: true, want: 401},
		{name: "path outside", method: "POST", path: "/api/v1/jobs", body: js(job("/etc/passwd")), want: 403, msg: "outside the allowed directories"},
		{name: "dot-dot out", method: "POST", path: "/api/v1/jobs", body: js(job(allowed + "/../" + filepath.Base(outside) + "/secret.mp4")), want: 403, msg: "outside"},
		{name: "symlink out", method: "POST", path: "/api/v1/jobs", body: js(job(filepath.Join(allowed, "escape.mp4"))), want: 403, msg: "symbolic link"},
		{name: "missing file inside", method: "POST", path: "/api/v1/jobs", body: js(job(filepath.Join(allowed, "none.mp4"))), want: 400, msg: "does not exist"},
		{name: "frame outside", method: "GET", path: "/api/v1/frame.jpg?input=/etc/hostname", want: 403, msg: "outside"},
		{name: "segment outside", method: "POST", path: "/api/v1/segment", body: `{"input": "/etc/hostname", "points": [[1, 1]]}`, want: 403},
		{name: "prompt mask outside", method: "POST", path: "/api/v1/jobs", want: 403, msg: "prompt mask",
			body: js(map[string]any{"input": cat, "prompts": map[string]any{"mask": "/etc/hostname"}})},
		{name: "model file outside", method: "POST", path: "/api/v1/jobs", want: 403, msg: "option sam.",
			body: js(pointJob(cat, 1, 1, map[string]any{"sam": map[string]any{"encoder": "/etc/hostname", "decoder": "/etc/hostname"}}))},
		{name: "file scheme", method: "POST", path: "/api/v1/jobs", body: js(job("file:///etc/passwd")), want: 403, msg: "scheme"},
		{name: "scheme not allowed", method: "POST", path: "/api/v1/jobs", body: js(job("http://127.0.0.1:1/x.mp4")), want: 403, msg: "scheme \"http\""},
		{name: "ftp", method: "POST", path: "/api/v1/jobs", body: js(job("ftp://127.0.0.1/x")), want: 403},
		{name: "oversized JSON", method: "POST", path: "/api/v1/jobs", body: `{"input": "` + strings.Repeat("a", 8<<10) + `"}`, want: 413, msg: "limit"},
		{name: "malformed JSON", method: "POST", path: "/api/v1/jobs", body: "{\"input\": \"x\",\n \"prompts\": }", want: 400, msg: "malformed JSON at line 2"},
		{name: "truncated JSON", method: "POST", path: "/api/v1/jobs", body: `{"input": "x"`, want: 400, msg: "malformed JSON"},
		{name: "not an object", method: "POST", path: "/api/v1/jobs", body: `[1, 2]`, want: 400, msg: "must be a JSON object"},
		{name: "empty body", method: "POST", path: "/api/v1/jobs", body: ``, want: 400, msg: "empty body"},
		{name: "unknown field", method: "POST", path: "/api/v1/jobs", body: `{"inptu": "x"}`, want: 400, msg: `unknown field "inptu"`},
		{name: "wrong type", method: "POST", path: "/api/v1/jobs", body: `{"input": 5}`, want: 400, msg: `"input"`},
		{name: "bad prompts", method: "POST", path: "/api/v1/jobs", want: 400, msg: "clicks",
			body: js(map[string]any{"input": cat, "prompts": map[string]any{"objects": []any{map[string]any{"clicks": 1}}}})},
		{name: "no prompt", method: "POST", path: "/api/v1/jobs", body: js(map[string]any{"input": cat}), want: 400, msg: "no prompt"},
		{name: "unknown option", method: "POST", path: "/api/v1/jobs", body: js(pointJob(cat, 1, 1, map[string]any{"track.sam_gapp": 5})), want: 400, msg: "track.sam_gapp"},
		{name: "bad option value", method: "POST", path: "/api/v1/jobs", body: js(pointJob(cat, 1, 1, map[string]any{"track": map[string]any{"sam_gap": 0}})), want: 400, msg: "sam_gap"},
		{name: "server-only option", method: "POST", path: "/api/v1/jobs", body: js(pointJob(cat, 1, 1, map[string]any{"runtime.ort_library": "/tmp/evil.so"})), want: 400, msg: "server's setting"},
		{name: "unknown job", method: "GET", path: "/api/v1/jobs/0123456789abcdef0123", want: 404},
		{name: "unknown route", method: "GET", path: "/api/v1/nope", want: 404},
		{name: "query token only for reads", method: "POST", path: "/api/v1/jobs?access_token=" + testToken, body: js(job(cat)), noAuth: true, want: 401},
		{name: "cross-origin post", method: "POST", path: "/api/v1/jobs", body: js(job(cat)), hdr: http.Header{"Origin": {"http://evil.example"}}, want: 403, msg: "cross-origin"},
		{name: "allowed dir through its link", method: "GET", path: "/api/v1/frame.jpg?input=" + filepath.Join(viaLink, "cat.mp4"), want: 200},
		{name: "symlink inside is fine", method: "GET", path: "/api/v1/frame.jpg?input=" + filepath.Join(allowed, "cat-link.mp4"), want: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := ts.token
			if tc.noAuth {
				ts.token = ""
			}
			var body any
			if tc.body != "" || tc.method == "POST" {
				body = tc.body
			}
			code, out := ts.doHeader(tc.method, tc.path, body, tc.hdr)
			ts.token = tok
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, out)
			}
			if tc.want >= 400 {
				var e struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(out, &e); err != nil || e.Error == "" {
					t.Fatalf("error body is not {\"error\": ...}: %s", out)
				}
				if !strings.Contains(e.Error, tc.msg) {
					t.Errorf("error %q does not mention %q", e.Error, tc.msg)
				}
				t.Logf("%d: %s", code, e.Error)
			}
		})
	}

	t.Run("oversized upload", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "big.mp4")
		fw.Write(bytes.Repeat([]byte{7}, 100<<10))
		mw.WriteField("prompts", `{"objects": [{"id": 1, "points": [[1, 1]]}]}`)
		mw.Close()
		code, out := ts.doHeader("POST", "/api/v1/jobs", buf.Bytes(), http.Header{"Content-Type": {mw.FormDataContentType()}})
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413: %s", code, out)
		}
		// Streamed without a length the limit still holds.
		req, _ := http.NewRequest("POST", ts.url+"/api/v1/uploads", struct{ *bytes.Reader }{bytes.NewReader(buf.Bytes())})
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked upload: status %d, want 413", resp.StatusCode)
		}
		ents, _ := os.ReadDir(filepath.Join(ts.data, "uploads"))
		if len(ents) != 0 {
			t.Errorf("a refused upload left %d entries in uploads/", len(ents))
		}
	})

	t.Run("DNS rebinding without a token", func(t *testing.T) {
		open := startServer(t, Options{})
		req, _ := http.NewRequest("GET", open.url+"/api/v1/jobs", nil)
		req.Host = "evil.example:8080"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("Host evil.example without a token: %d, want 403", resp.StatusCode)
		}
		if code, _ := open.do("GET", "/api/v1/jobs", nil); code != 200 {
			t.Errorf("Host 127.0.0.1 without a token: %d", code)
		}
	})

	t.Run("token required off loopback", func(t *testing.T) {
		for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
			_, err := New(Options{Listen: listen, DataDir: t.TempDir(), Logger: quietLogger(), Environ: []string{}})
			if err == nil || !strings.Contains(err.Error(), "token is required") {
				t.Errorf("listen %s without a token: %v, want a refusal", listen, err)
			}
		}
		if _, err := New(Options{Listen: "0.0.0.0:0", DataDir: t.TempDir(), Token: "short", Logger: quietLogger(), Environ: []string{}}); err == nil {
			t.Error("a 5-character token was accepted")
		}
	})

	t.Run("one server per data directory", func(t *testing.T) {
		_, err := New(Options{DataDir: ts.data, Logger: quietLogger(), Environ: []string{}})
		if err == nil || !strings.Contains(err.Error(), "another") {
			t.Errorf("second server on the same data directory: %v", err)
		}
	})
}
