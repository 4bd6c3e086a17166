// Package natstest runs a private NATS server with JetStream for a test: the real
// nats-server (Debian's package, scripts/install-deps.sh installs it), on loopback, on free
// ports, storing into a temporary directory; stopped, started again or killed by the test,
// and always stopped when the test ends. Never a mock.
package natstest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one nats-server process. Its client port, monitoring port and storage directory
// stay the same across Stop and Start, as a broker restarted by its operator would.
type Server struct {
	// URL is the client URL (nats://127.0.0.1:PORT).
	URL string
	// Dir is the JetStream storage directory.
	Dir string

	bin           string
	port, monitor int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *SyncBuffer
}

// SyncBuffer is a bytes.Buffer safe to write from a process's output and read from the
// test at the same time.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Binary finds nats-server: on PATH, else where Debian's package puts it.
func Binary() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server", nil
	}
	return "", fmt.Errorf("natstest: nats-server is not installed (scripts/install-deps.sh installs Debian's package)")
}

// Start starts a server with JetStream and waits until it is ready; it is killed when the
// test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartOn(tb, FreePort(tb))
}

// StartOn is Start on a given client port (one a client already points at).
func StartOn(tb testing.TB, port int) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{bin: bin, Dir: filepath.Join(tb.TempDir(), "jetstream"), port: port, monitor: FreePort(tb)}
	s.URL = fmt.Sprintf("nats://127.0.0.1:%d", s.port)
	tb.Cleanup(s.Kill)
	s.Start(tb)
	return s
}

// Start starts the (stopped) server again on the same port and storage, and waits until
// JetStream is ready.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		tb.Fatal("natstest: the server is already running")
	}
	s.log = &SyncBuffer{}
	cmd := exec.Command(s.bin, "-js", "-sd", s.Dir, "-a", "127.0.0.1", "-p", fmt.Sprint(s.port),
		"-m", fmt.Sprint(s.monitor), "-n", "natstest")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	// /healthz?js-enabled-only... answers 200 once JetStream has recovered its streams.
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", s.monitor)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			s.cmd = nil
			tb.Fatalf("natstest: nats-server exited at start-up:\n%s", s.log)
		default:
		}
		if resp, err := http.Get(health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("natstest: nats-server not ready within 20 s:\n%s", s.log)
}

// Stop ends the server with SIGTERM (it flushes its storage) and waits for it.
func (s *Server) Stop() { s.end(syscall.SIGTERM) }

// Kill ends the server with SIGKILL and waits for it; a no-op when it is not running.
func (s *Server) Kill() { s.end(syscall.SIGKILL) }

func (s *Server) end(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Log returns what the server wrote so far (for a failing test's message).
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// FreePort returns a TCP port free on loopback right now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
