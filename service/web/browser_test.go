package web_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"samtrack/internal/natstest"
	"samtrack/internal/testenv"
	"samtrack/mask"
	"samtrack/service/web"
)

const (
	chromiumPath = "/usr/bin/chromium"
	catMP4       = "../../../shared/data/videos/cat.mp4"
	// screenshotEnv names a file to write the mid-tracking screenshot to
	// (the README's docs/web.png):
	//   WEB_SCREENSHOT=$PWD/docs/web.png go test ./service/web -run BrowserFlow
	// (not SAMTRACK_*: samtrack reads those as configuration keys).
	screenshotEnv = "WEB_SCREENSHOT"
)

// TestBrowserFlow drives the page in headless Chromium against the real
// `samtrack serve` (real pipeline, classical segmenter, no model weights):
// upload cat.mp4 and see its frame, open it by path, show frame 3, click the cat and see its mask, correct it
// with a negative click, add a second object with a box, start tracking,
// watch the live overlay and SSE progress reach done, download
// results.zip. It also checks that an API error (a path outside
// --allow-dir) is shown.
func TestBrowserFlow(t *testing.T) { browserFlow(t, false) }

// TestBrowserFlowCluster is the same flow against a cluster: serve on an
// external nats-server with no local worker, and two `samtrack worker`
// processes sharing its data directory, so that the job's progress, live
// overlay and results reach the page through NATS from a worker.
func TestBrowserFlowCluster(t *testing.T) { browserFlow(t, true) }

func browserFlow(t *testing.T, cluster bool) {
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.Missing(t, "the browser test needs Debian's chromium at %s (./dev.sh setup installs it, or apt-get install chromium): %v", chromiumPath, err)
	}
	if _, err := os.Stat(catMP4); err != nil {
		testenv.Missing(t, "shared data missing: %v", err)
	}
	start := time.Now()
	allow := filepath.Join(t.TempDir(), "videos")
	if err := os.Mkdir(allow, 0o755); err != nil {
		t.Fatal(err)
	}
	video := filepath.Join(allow, "cat.mp4")
	copyFile(t, catMP4, video)
	base := startServer(t, allow, cluster)
	t.Logf("server up after %v", time.Since(start).Round(time.Millisecond))

	ctx := newBrowser(t)
	b := &page{t: t, ctx: ctx}
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: new(true),
	}); err != nil {
		t.Fatalf("set download behaviour: %v", err)
	}

	b.do(chromedp.Navigate(base + "/"))
	b.waitJS(`document.getElementById('open') !== null && document.getElementById('jobs') !== null`, 10*time.Second, "the page")

	// An API error is shown clearly: a path outside --allow-dir.
	b.do(chromedp.SetValue(chromedp.ID("input"), "/etc/hostname"), chromedp.Click(chromedp.ID("open")))
	b.waitJS(`!document.getElementById('error').hidden && /\b403\b/.test(document.getElementById('error').textContent)`,
		20*time.Second, "the error box for a path outside the allowed directories")
	t.Logf("error shown: %q", b.text("#error"))

	// Upload a video: it becomes the input "upload:ID" and its frame shows.
	b.do(chromedp.SetUploadFiles(chromedp.ID("upload"), []string{video}))
	b.waitJS(`document.getElementById('input').value.startsWith('upload:') && document.getElementById('status').textContent.startsWith('frame 0 ')`,
		30*time.Second, "the uploaded video's frame 0")
	if b.js(`document.getElementById('error').hidden`) != true {
		t.Fatalf("error box shown after the upload: %s", b.text("#error"))
	}

	// Open the video by its path; frame 3 is shown.
	b.do(chromedp.SetValue(chromedp.ID("input"), video), chromedp.Click(chromedp.ID("open")))
	b.waitJS(`document.getElementById('framecanvas').width === 568 && !document.getElementById('stage').hidden`, 30*time.Second, "frame 0 on the canvas")
	b.do(chromedp.SetValue(chromedp.ID("frame"), "3"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('frame').dispatchEvent(new Event('change'))`))
	b.waitJS(`document.getElementById('status').textContent.startsWith('frame 3 ')`, 30*time.Second, "frame 3")
	if s := b.text("#error"); b.js(`document.getElementById('error').hidden`) != true {
		t.Fatalf("error box shown after opening the video: %s", s)
	}
	// The frame is the picture, not a blank canvas.
	if n := b.jsInt(`(() => { const c = document.getElementById('framecanvas');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let lit = 0; for (let i = 0; i < d.length; i += 4) if (d[i] + d[i+1] + d[i+2] > 60) lit++; return lit; })()`); n < 568*320/2 {
		t.Fatalf("frame canvas has only %d lit pixels: the frame was not drawn", n)
	}

	// Object 1: a positive click on the cat gives a mask at once.
	b.click(330, 150, false)
	b.waitJS(`+document.getElementById('overlay').dataset.maskPixels > 2000`, 30*time.Second, "object 1's mask")
	catPixels := b.jsInt(`+document.getElementById('overlay').dataset.maskPixels`)
	drawn := b.overlayPixels()
	t.Logf("object 1: %d mask pixels, %d coloured overlay pixels", catPixels, drawn)
	if drawn < catPixels {
		t.Fatalf("overlay canvas has %d coloured pixels, fewer than the %d mask pixels: the mask was not drawn", drawn, catPixels)
	}
	// A negative (right) click on the blanket refines it.
	b.click(60, 260, true)
	b.waitJS(`document.querySelector('#objlist li[data-id="1"] .info').textContent.includes('2 pt')`, 10*time.Second, "object 1's second point")
	b.waitJS(`!document.getElementById('status').textContent.startsWith('segmenting')`, 30*time.Second, "the refined mask")

	// Object 2: a box around the ball in the top-left corner.
	b.do(chromedp.Click(chromedp.ID("newobj")))
	b.waitJS(`document.querySelectorAll('#objlist li').length === 2 && document.querySelector('#objlist li.selected').dataset.id === '2'`, 5*time.Second, "object 2 in the list")
	// First a box too small to track: the status line warns.
	b.drag(300, 250, 308, 258)
	b.waitJS(`/^object 2: mask .*; warning: .*below track\.min_area/.test(document.getElementById('status').textContent)`,
		30*time.Second, "the warning for an 8x8 box")
	t.Logf("tiny box: %s", b.text("#status"))
	b.drag(12, 2, 110, 72)
	b.waitJS(`/\d+ px/.test(document.querySelector('#objlist li[data-id="2"] .info').textContent) && !/ 0 px/.test(document.querySelector('#objlist li[data-id="2"] .info').textContent)`,
		30*time.Second, "object 2's mask")
	b.waitJS(`document.getElementById('status').textContent.startsWith('object 2: mask')`, 30*time.Second, "the ball's mask")
	if s := b.text("#status"); strings.Contains(s, "warning") {
		t.Errorf("the box around the ball warned: %s", s)
	}
	if b.js(`document.getElementById('error').hidden`) != true {
		t.Fatalf("error box shown while prompting: %s", b.text("#error"))
	}
	t.Logf("objects: %s", strings.Join(strings.Fields(b.text("#objlist")), " "))

	// Start tracking: live overlay frames and SSE progress while it runs.
	b.do(chromedp.Click(chromedp.ID("track")))
	b.waitJS(`document.getElementById('progress').dataset.state === 'running' && document.getElementById('progress').value > 0`,
		60*time.Second, "tracking progress")
	b.waitJS(`(() => { const l = document.getElementById('live'); return !l.hidden && l.complete && l.naturalWidth === 568; })()`,
		30*time.Second, "a live overlay frame while the job runs")
	// The screenshot for the README: about a third of the way through.
	b.waitJS(`document.getElementById('progress').value >= 50 || document.getElementById('progress').dataset.state !== 'running'`,
		60*time.Second, "50 frames tracked")
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot at: %s", b.text("#progresstext"))
	if dst := os.Getenv(screenshotEnv); dst != "" {
		writeScreenshot(t, shot, dst)
	}
	b.waitJS(`(() => { const p = document.getElementById('progress'); return p.dataset.state === 'done' && p.value === p.max && p.max >= 100; })()`,
		120*time.Second, "the progress bar to reach done")
	t.Logf("finished: %s", b.text("#progresstext"))
	if cluster {
		checkRanOnWorker(t, base)
	}
	if f := b.jsInt(`+document.getElementById('live').dataset.frames`); f < 1 {
		t.Fatalf("no live overlay frame loaded")
	}
	if b.js(`document.getElementById('error').hidden`) != true {
		t.Fatalf("error box shown after tracking: %s", b.text("#error"))
	}

	// The results link downloads a zip.
	done := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	b.waitJS(`!document.getElementById('results').hidden`, 5*time.Second, "the results link")
	b.do(chromedp.Click(chromedp.ID("results")))
	zipPath := ""
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for ev, err := range done {
		if err != nil || dctx.Err() != nil {
			t.Fatalf("results.zip download did not complete: %v %v", err, dctx.Err())
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatalf("results.zip download was cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			zipPath = filepath.Join(downloads, ev.GUID)
			break
		}
	}
	checkResults(t, zipPath)
	t.Logf("browser flow took %v", time.Since(start).Round(time.Millisecond))
}

// TestBrowserDecodeRLE checks the page's COCO RLE decoder against the Go
// encoder of package mask, on edge cases and a large random mask (long runs
// need several 5-bit groups, later counts are written as negative deltas).
func TestBrowserDecodeRLE(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.Missing(t, "the browser test needs Debian's chromium at %s (./dev.sh setup installs it, or apt-get install chromium): %v", chromiumPath, err)
	}
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	ctx := newBrowser(t)
	b := &page{t: t, ctx: ctx}
	b.do(chromedp.Navigate(srv.URL + "/"))
	b.waitJS(`window.samtrack !== undefined`, 10*time.Second, "the page script")

	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		w, h int
		set  func(x, y int) bool
	}{
		{"empty", 7, 5, func(x, y int) bool { return false }},
		{"full", 7, 5, func(x, y int) bool { return true }},
		{"top-left pixel", 7, 5, func(x, y int) bool { return x == 0 && y == 0 }},
		{"bottom-right pixel", 7, 5, func(x, y int) bool { return x == 6 && y == 4 }},
		{"checkerboard", 9, 6, func(x, y int) bool { return (x+y)%2 == 0 }},
		{"1x1 set", 1, 1, func(x, y int) bool { return true }},
		{"large box", 640, 480, func(x, y int) bool { return x > 20 && x < 600 && y > 5 && y < 470 }},
		{"large random", 568, 320, func(x, y int) bool {
			dx, dy := float64(x-284), float64(y-160)
			return dx*dx/40000+dy*dy/10000 < 1 || rng.IntN(50) == 0
		}},
	}
	for _, c := range cases {
		m := mask.NewBitmap(c.w, c.h)
		want := make([]byte, c.w*c.h)
		area := 0
		for y := 0; y < c.h; y++ {
			for x := 0; x < c.w; x++ {
				if c.set(x, y) {
					m.Pix[y*c.w+x] = 1
					want[y*c.w+x] = '1'
					area++
				} else {
					want[y*c.w+x] = '0'
				}
			}
		}
		rle, err := mask.EncodeRLE(m)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := json.Marshal(rle.Compress())
		if err != nil {
			t.Fatal(err)
		}
		type decoded struct {
			Bits string `json:"bits"`
			Area int    `json:"area"`
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[decoded](fmt.Sprintf(
			`(() => { const m = window.samtrack.decodeRLE(%s); return {bits: Array.from(m.bits).join(''), area: m.area}; })()`, doc)))
		if err != nil {
			t.Fatalf("%s: decode in the page: %v", c.name, err)
		}
		if got.Area != area || got.Bits != string(want) {
			t.Errorf("%s (%dx%d, %d runs): the page decoded area %d, want %d; bits equal: %v",
				c.name, c.w, c.h, len(rle.Counts), got.Area, area, got.Bits == string(want))
		}
	}
	// A malformed string is an error, not a wrong mask.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.samtrack.decodeRLE({size: [5, 7], counts: "0P"}).area`)); err == nil {
		t.Errorf("a truncated RLE string decoded without an error")
	}
}

// checkResults opens the downloaded archive and looks for what the issue
// promises: mask PNGs, annotations.json, tracks.json and overlay.mp4.
func checkResults(t *testing.T, path string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("the downloaded results are not a zip: %v", err)
	}
	defer zr.Close()
	var pngs int
	seen := map[string]bool{}
	for _, f := range zr.File {
		base := filepath.Base(f.Name)
		seen[base] = true
		if strings.HasSuffix(base, ".png") {
			pngs++
		}
	}
	t.Logf("results.zip: %d entries, %d PNGs", len(zr.File), pngs)
	for _, want := range []string{"annotations.json", "tracks.json", "overlay.mp4"} {
		if !seen[want] {
			t.Errorf("results.zip lacks %s", want)
		}
	}
	if pngs < 100 {
		t.Errorf("results.zip holds %d mask PNGs, want one per frame (149)", pngs)
	}
}

// writeScreenshot saves the PNG with a 256-colour palette (FFmpeg's
// palettegen), which keeps the README picture small.
func writeScreenshot(t *testing.T, png []byte, dst string) {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "raw.png")
	if err := os.WriteFile(raw, png, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-i", raw,
		"-vf", "split[a][b];[a]palettegen=max_colors=256:stats_mode=full[p];[b][p]paletteuse=dither=none", dst).CombinedOutput()
	if err != nil {
		t.Fatalf("quantise the screenshot with ffmpeg: %v\n%s", err, out)
	}
	if fi, err := os.Stat(dst); err == nil {
		t.Logf("screenshot written to %s (%d KB; %d KB unquantised)", dst, fi.Size()/1024, len(png)/1024)
	}
}

// ---- the server -------------------------------------------------------

// startServer builds the real samtrack binary and runs `samtrack serve` on
// a free loopback port, allowing dir; it returns the base URL. With
// cluster, serve uses an external nats-server (Debian's nats-server -js)
// without a local worker, and two `samtrack worker` processes run the jobs.
func startServer(t *testing.T, dir string, cluster bool) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "samtrack")
	if out, err := exec.Command("go", "build", "-o", bin, "samtrack/cmd/samtrack").CombinedOutput(); err != nil {
		t.Fatalf("build samtrack: %v\n%s", err, out)
	}
	addr, data := freeAddr(t), t.TempDir()
	args := []string{"serve", "--listen", addr, "--data", data, "--allow-dir", dir}
	if cluster {
		nats := natstest.Start(t)
		args = append(args, "--nats", nats.URL, "--local-worker=false")
		for _, name := range []string{"w1", "w2"} {
			startProcess(t, bin, "worker "+name, "worker", "--nats", nats.URL, "--data", data, "--name", name, "--max-live", "0")
		}
	}
	exited, waitErr, logs := startProcess(t, bin, "serve", args...)
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("samtrack serve exited: %v\n%s", *waitErr, logs.String())
		default:
		}
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base
			}
			err = fmt.Errorf("GET /healthz: %s", res.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("samtrack serve not healthy at %s within 30 s: %v\n%s", base, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkRanOnWorker fails unless the jobs ran on one of the worker processes.
func checkRanOnWorker(t *testing.T, base string) {
	t.Helper()
	res, err := http.Get(base + "/api/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Jobs []struct{ ID, Worker string }
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || len(list.Jobs) == 0 {
		t.Fatalf("job list: %v, %d jobs", err, len(list.Jobs))
	}
	for _, j := range list.Jobs {
		if j.Worker != "w1" && j.Worker != "w2" {
			t.Errorf("job %s ran on %q, not on a worker process", j.ID, j.Worker)
		}
	}
	t.Logf("the job ran on worker %s", list.Jobs[0].Worker)
}

// startProcess runs `samtrack ARGS` until the test ends (SIGTERM, then
// SIGKILL after 15 s), printing its output if the test failed.
func startProcess(t *testing.T, bin, what string, args ...string) (exited chan struct{}, waitErr *error, logs *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	logs = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "SAMTRACK_LOG_LEVEL=info")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start samtrack %s: %v", what, err)
	}
	exited = make(chan struct{}) // closed when the process has ended
	waitErr = new(error)
	go func() { *waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("samtrack %s did not stop within 15 s of SIGTERM", what)
		}
		if t.Failed() {
			t.Logf("samtrack %s output:\n%s", what, logs.String())
		}
	})
	return exited, waitErr, logs
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ---- the browser ------------------------------------------------------

// newBrowser starts headless Chromium with a fresh profile; the page's
// console output and uncaught exceptions go to the test log.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 820),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			var args []string
			for _, a := range ev.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			t.Logf("console.%s: %s", ev.Type, strings.Join(args, " "))
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			t.Errorf("uncaught exception in the page: %s (line %d)", msg, d.LineNumber)
		}
	}()
	return ctx
}

// page wraps the chromedp context with failing helpers.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v\n%s", err, p.diagnose())
	}
}

func (p *page) js(expr string) any {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[any](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (p *page) jsInt(expr string) int {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (p *page) text(sel string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel)))
	if err != nil {
		p.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// waitJS polls expr until it is truthy.
func (p *page) waitJS(expr string, timeout time.Duration, what string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		p.t.Fatalf("waiting %v for %s: %v\n%s", timeout, what, err, p.diagnose())
	}
}

// diagnose describes what the page shows, for a failure message.
func (p *page) diagnose() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`['error', 'status', 'progresstext', 'objlist', 'joblist']
		.map((id) => id + ': ' + ((document.getElementById(id) || {}).textContent || '').trim().replace(/\s+/g, ' ')).join('\n')`))
	if err != nil {
		return fmt.Sprintf("(page state unreadable: %v)", err)
	}
	return s
}

// framePoint maps frame pixels to viewport pixels over the overlay canvas.
func (p *page) framePoint(x, y float64) (float64, float64) {
	p.t.Helper()
	r, err := chromedp.Run(p.ctx, chromedp.Evaluate[[4]float64](`(() => { const c = document.getElementById('overlay');
		const r = c.getBoundingClientRect(); return [r.left, r.top, r.width / c.width, r.height / c.height]; })()`))
	if err != nil {
		p.t.Fatalf("locate the overlay canvas: %v", err)
	}
	return r[0] + x*r[2], r[1] + y*r[3]
}

// click clicks frame pixel (x, y): left for a positive point, right for a
// negative one.
func (p *page) click(x, y float64, negative bool) {
	p.t.Helper()
	vx, vy := p.framePoint(x, y)
	btn := chromedp.ButtonLeft
	if negative {
		btn = chromedp.ButtonRight
	}
	p.do(chromedp.MouseClickXY(vx, vy, btn))
}

// drag draws a box from frame pixel (x0, y0) to (x1, y1).
func (p *page) drag(x0, y0, x1, y1 float64) {
	p.t.Helper()
	ax, ay := p.framePoint(x0, y0)
	bx, by := p.framePoint(x1, y1)
	p.do(chromedp.DragAndDropXY(ax, ay, bx, by))
}

// overlayPixels counts the overlay canvas's pixels that carry a mask colour.
func (p *page) overlayPixels() int {
	p.t.Helper()
	return p.jsInt(`(() => { const c = document.getElementById('overlay');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()`)
}
