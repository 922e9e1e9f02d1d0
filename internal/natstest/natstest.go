// Package natstest runs Debian's nats-server (2.9) with JetStream as an
// external process for tests: the "external NATS" that samtrack must work
// with besides the server it embeds. Without the program a test skips
// locally and fails under CI=true (internal/testenv).
package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"samtrack/internal/testenv"
)

// Server is a running nats-server with JetStream on a loopback port.
type Server struct {
	URL  string
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

// Start runs nats-server -js on a free loopback port, storing in a
// temporary folder, until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{bin: binary(t), dir: t.TempDir(), port: FreePort(t)}
	s.URL = fmt.Sprintf("nats://127.0.0.1:%d", s.port)
	s.start(t)
	t.Cleanup(s.stop)
	return s
}

func binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	testenv.Missing(t, "nats-server is not installed: apt-get install nats-server (./dev.sh setup does)")
	return ""
}

// FreePort is a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.bin, "-js", "-a", "127.0.0.1", "-p", fmt.Sprint(s.port), "-sd", filepath.Join(s.dir, "js"))
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.bin, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen on %d within 10 s", s.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
	}
	s.cmd = nil
}

// Restart stops the server, waits down, and starts it again on the same
// port and store.
func (s *Server) Restart(t testing.TB, down time.Duration) {
	t.Helper()
	s.stop()
	time.Sleep(down)
	s.start(t)
}
