// Package pgtest runs a private PostgreSQL server for a test: Debian's postgresql-15
// (scripts/install-deps.sh installs it), a cluster made by initdb in a temporary directory,
// serving on loopback on a free port; stopped, started again or killed by the test, and always
// stopped and removed when the test ends. Never a mock.
//
// PostgreSQL refuses to run as root, and CI runs as root: then initdb and postgres run as the
// system user "postgres" (else "nobody"), in a directory that user owns (setpriv, which
// becomes that user and then runs the program itself: the test's child is postgres).
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/natstest"
)

// Server is one PostgreSQL cluster and its postgres process. Its port and data directory stay
// the same across Stop and Start.
type Server struct {
	// Port is the TCP port on 127.0.0.1; the superuser is "postgres", with trust
	// authentication on loopback (a test's private cluster).
	Port int
	// Dir holds the cluster (data/) and the Unix socket (sock/).
	Dir string

	binDir string
	runAs  *user.User // nil: run as ourselves (not root)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *natstest.SyncBuffer
}

// BinDir finds PostgreSQL's programs: Debian keeps them in /usr/lib/postgresql/VERSION/bin
// (the newest installed version is taken), off PATH; else initdb on PATH.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("pgtest: PostgreSQL is not installed (scripts/install-deps.sh installs Debian's postgresql-15)")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start makes a new cluster and starts it; it is stopped and removed when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := BinDir()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{binDir: bin, Port: natstest.FreePort(tb)}
	if os.Geteuid() == 0 {
		if s.runAs, err = systemUser(); err != nil {
			tb.Fatal(err)
		}
	}
	// Not t.TempDir: its parents are root's and closed to the user the server runs as.
	if s.Dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Kill()
		os.RemoveAll(s.Dir)
	})
	for _, d := range []string{s.Dir, s.sockDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := s.own(d); err != nil {
			tb.Fatal(err)
		}
	}
	out, err := s.command("initdb", "-D", s.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	s.Start(tb)
	return s
}

// systemUser is the unprivileged user the server runs as when we are root.
func systemUser() (*user.User, error) {
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u, nil
		}
	}
	return nil, fmt.Errorf("pgtest: running as root and neither the postgres nor the nobody user exists")
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }
func (s *Server) sockDir() string { return filepath.Join(s.Dir, "sock") }

// own gives path to the user the server runs as.
func (s *Server) own(path string) error {
	if s.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(s.runAs.Uid)
	gid, _ := strconv.Atoi(s.runAs.Gid)
	return os.Chown(path, uid, gid)
}

// command runs one of PostgreSQL's programs as the server's user.
func (s *Server) command(program string, args ...string) *exec.Cmd {
	path := filepath.Join(s.binDir, program)
	var cmd *exec.Cmd
	if s.runAs != nil {
		cmd = exec.Command("setpriv", append([]string{"--reuid=" + s.runAs.Uid, "--regid=" + s.runAs.Gid,
			"--init-groups", "--pdeathsig=SIGKILL", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// Start starts the (stopped) server and waits until it accepts connections.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		tb.Fatal("pgtest: the server is already running")
	}
	s.log = &natstest.SyncBuffer{}
	// A test's cluster survives the process being killed (what a commit acknowledged is in
	// the WAL, written to the OS), not the machine crashing: no fsync.
	cmd := s.command("postgres", "-D", s.dataDir(), "-p", strconv.Itoa(s.Port), "-k", s.sockDir(),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=50", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Pdeathsig stops it with the test binary (setpriv sets it again after the change of
	// user, which clears it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			s.cmd = nil
			tb.Fatalf("pgtest: postgres exited at start-up:\n%s", s.log)
		default:
		}
		ready := exec.Command(filepath.Join(s.binDir, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres")
		if ready.Run() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("pgtest: postgres not ready within 30 s:\n%s", s.log)
}

// URL is a connection URL for database db ("" : postgres) as the superuser.
func (s *Server) URL(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Psql runs SQL with psql against database db ("": postgres) and returns its unaligned,
// tuples-only output; a failure fails the test.
func (s *Server) Psql(tb testing.TB, db, sql string) string {
	tb.Helper()
	if db == "" {
		db = "postgres"
	}
	cmd := exec.Command(filepath.Join(s.binDir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres", "-d", db, "-c", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("pgtest: psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// CreateDatabase makes a new, empty database and returns its URL.
func (s *Server) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	s.Psql(tb, "", fmt.Sprintf(`CREATE DATABASE %q`, name))
	return s.URL(name)
}

// Stop shuts the server down (SIGINT: fast shutdown, a clean checkpoint) and waits for it.
func (s *Server) Stop() { s.end(syscall.SIGINT) }

// Kill ends the server with SIGKILL, as a crash would (it recovers from its WAL at the next
// Start); a no-op when it is not running.
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
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	if sig == syscall.SIGKILL {
		// The postmaster's children notice it is gone and exit; a new start waits for them
		// (postmaster.pid and the shared memory), so wait here.
		s.waitChildren()
	}
}

// waitChildren waits (up to 10 s) until no process has the cluster's data directory as its
// working directory any more: the killed postmaster's backends.
func (s *Server) waitChildren() {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !s.anyProcessIn(s.dataDir()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) anyProcessIn(dir string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		if cwd, err := os.Readlink(p); err == nil && cwd == dir {
			return true
		}
	}
	return false
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
