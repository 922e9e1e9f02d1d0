package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"samtrack/internal/synthclip"
	"samtrack/internal/testenv"
)

// TestBrowserRemove: on a finished tracking job, the job list's "remove"
// button starts a remove job, and when it is done the list links its
// removed.mp4, which the server serves as a video of the input's length.
func TestBrowserRemove(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.Missing(t, "the browser test needs Debian's chromium at %s (./dev.sh setup installs it): %v", chromiumPath, err)
	}
	ffmpeg := synthclip.Tool(t, "ffmpeg")
	c := synthclip.Default()
	allow := t.TempDir()
	in := filepath.Join(allow, "square.mp4")
	if err := c.Write(ffmpeg, in); err != nil {
		t.Fatal(err)
	}
	base := startServer(t, allow, false)

	// A finished tracking job of the square, made through the API.
	png, err := c.FirstLabels()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"input": in, "options": map[string]any{"track.overlay": false},
		"prompts": map[string]any{"mask": "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}})
	res, err := http.Post(base+"/api/v1/jobs", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var job struct{ ID, State string }
	json.NewDecoder(res.Body).Decode(&job)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create job: %s", res.Status)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for job.State != "done" {
		if time.Now().After(deadline) || job.State == "failed" {
			t.Fatalf("tracking job %s: %s", job.ID, job.State)
		}
		time.Sleep(200 * time.Millisecond)
		r, err := http.Get(base + "/api/v1/jobs/" + job.ID)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(r.Body).Decode(&job)
		r.Body.Close()
	}

	b := &page{t: t, ctx: newBrowser(t)}
	b.do(chromedp.Navigate(base + "/"))
	b.waitJS(`[...document.querySelectorAll('#joblist button')].some((x) => x.textContent === 'remove')`, 20*time.Second, "the remove button of the finished job")
	b.js(`[...document.querySelectorAll('#joblist button')].find((x) => x.textContent === 'remove').click(), true`)
	b.waitJS(`document.querySelector('#joblist a.removed') !== null`, 3*time.Minute, "the removed.mp4 link of the finished remove job")
	if b.js(`document.getElementById('error').hidden`) != true {
		t.Fatalf("error shown: %s", b.text("#error"))
	}
	href, _ := b.js(`document.querySelector('#joblist a.removed').href`).(string)
	r, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	video, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("GET %s: %s %s", href, r.Status, r.Header.Get("Content-Type"))
	}
	out := filepath.Join(t.TempDir(), "removed.mp4")
	os.WriteFile(out, video, 0o644)
	frames, err := synthclip.DecodeAll(out)
	if err != nil || len(frames) != c.Frames {
		t.Fatalf("removed.mp4: %d frames, %v; want %d", len(frames), err, c.Frames)
	}
	t.Logf("status: %s", b.text("#status"))
}
