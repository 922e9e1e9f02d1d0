package rtsptest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoFFmpeg: the ffmpeg binary is not on PATH (tests should skip).
var ErrNoFFmpeg = errors.New("rtsptest: ffmpeg binary not found on PATH")

// stopGrace is how long Stop waits for ffmpeg to exit after SIGINT before
// killing it.
const stopGrace = 3 * time.Second

// Publisher is an ffmpeg process that loops a video file in real time and
// records it to an RTSP URL over TCP:
//
//	ffmpeg -re -stream_loop -1 -i FILE -c copy -f rtsp -rtsp_transport tcp URL
//
// Stop ends it cleanly (SIGINT, so ffmpeg sends TEARDOWN; SIGKILL after a
// grace period); Kill drops it abruptly like a camera losing its network.
type Publisher struct {
	url    string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{} // closed once the process has been reaped

	mu      sync.Mutex
	stopped bool // Stop or Kill was called: the exit is expected
	waitErr error
	stderr  tail
}

// StartPublisher starts ffmpeg publishing file to url (rtsp://...). It
// returns once the process has started; use Server.WaitPublishing to wait
// until the stream is live. Cancelling ctx stops the process like Stop.
func StartPublisher(ctx context.Context, file, url string) (*Publisher, error) {
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, fmt.Errorf("start publisher to %s: %w (install ffmpeg)", url, ErrNoFFmpeg)
	}
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("start publisher to %s: %w", url, err)
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &Publisher{url: url, cancel: cancel, done: make(chan struct{})}
	cmd := exec.CommandContext(pctx, bin, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-stream_loop", "-1", "-i", file,
		"-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", url)
	cmd.Stdout = nil
	cmd.Stderr = &p.stderr
	// If the test binary dies, do not leave an endless ffmpeg behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		_ = cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
		return cmd.Process.Signal(os.Interrupt)
	}
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start publisher %s -> %s: %w", file, url, err)
	}
	p.cmd = cmd
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// URL is where the publisher records.
func (p *Publisher) URL() string { return p.url }

// Done is closed once the process has exited and been reaped.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Stop ends ffmpeg gracefully (SIGINT, then SIGKILL after 3 s) and waits for
// it. It returns an error only if ffmpeg had already failed on its own.
func (p *Publisher) Stop() error {
	select {
	case <-p.done:
		err := p.Err() // exited on its own (nil if stopped before)
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		p.cancel()
		return err
	default:
	}
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.cancel()
	<-p.done
	return nil
}

// Kill ends ffmpeg with SIGKILL (no RTSP TEARDOWN: the server only sees the
// TCP connection close) and waits for it.
func (p *Publisher) Kill() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cancel()
}

// Pause freezes ffmpeg (SIGSTOP): its connection stays open but no packet
// flows, which a reader sees as a stalled stream. Resume continues it.
func (p *Publisher) Pause() error { return p.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused ffmpeg (SIGCONT).
func (p *Publisher) Resume() error { return p.cmd.Process.Signal(syscall.SIGCONT) }

// Err describes how ffmpeg exited when it stopped on its own (nil while it
// runs, or when it was stopped by Stop or Kill).
func (p *Publisher) Err() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	msg := strings.TrimSpace(p.stderr.String())
	if p.waitErr == nil {
		return fmt.Errorf("publisher to %s exited: %s", p.url, msg)
	}
	return fmt.Errorf("publisher to %s: ffmpeg %v: %s", p.url, p.waitErr, msg)
}

// tail keeps the last tailMax bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4096

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
