// Package rtsptest runs real RTSP cameras on loopback for tests: gst-rtsp-server serving a
// gst-launch description (usually an H.264 MP4 file, paced in real time), with the failures a
// camera has in the field at hand: wrong credentials, a camera that goes away (Stop) and comes
// back on the same port (Start), a stream that stops while the connection stays up (Stall),
// and an endless stream from a short file (Loop).
//
// Each Server runs its own GLib main loop on a thread of its own (a C thread, not a
// goroutine), so several servers can run in one process.
package rtsptest

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-rtsp-server-1.0
#include <stdlib.h>
#include "rtsptest.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// Options describe one camera.
type Options struct {
	// Launch is the gst-rtsp-server media factory launch line, with payloaders named pay0,
	// pay1, …, e.g. H264Launch(file):
	// "( filesrc location=/tmp/x.mp4 ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )".
	Launch string
	// Path is the mount path; "/cam" when empty.
	Path string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Shared makes every client share one media pipeline (default: one pipeline per client).
	Shared bool
	// User and Password, when User is set, make the mount require RTSP basic or digest
	// authentication with these credentials.
	User, Password string
	// Loop makes the stream endless: when a stream reaches its end it restarts from the
	// beginning, with timestamps that keep running (one stream, not one per pass). It needs
	// a seekable source (a file); made for launch lines with a single stream.
	Loop bool
}

// Server is one running RTSP camera. Its methods are safe for concurrent use.
type Server struct {
	mu   sync.Mutex
	c    *C.RtsptestServer // nil once stopped
	port int
	path string
}

// Errors returned by Start.
var (
	// ErrNoLaunch is returned by Start when Options.Launch is empty.
	ErrNoLaunch = errors.New("rtsptest: Options.Launch is empty")
	// ErrBadOptions is returned by Start for a path, port or credentials that cannot work.
	ErrBadOptions = errors.New("rtsptest: invalid options")
)

// Start starts a camera. The port is listening when Start returns.
func Start(opts Options) (*Server, error) {
	if strings.TrimSpace(opts.Launch) == "" {
		return nil, ErrNoLaunch
	}
	path := opts.Path
	if path == "" {
		path = "/cam"
	}
	switch {
	case !strings.HasPrefix(path, "/"):
		return nil, fmt.Errorf("%w: path %q must start with /", ErrBadOptions, path)
	case opts.Port < 0 || opts.Port > 65535:
		return nil, fmt.Errorf("%w: port %d", ErrBadOptions, opts.Port)
	case opts.User == "" && opts.Password != "":
		return nil, fmt.Errorf("%w: a password without a user", ErrBadOptions)
	}

	launch := C.CString(opts.Launch)
	defer C.free(unsafe.Pointer(launch))
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	user := C.CString(opts.User)
	defer C.free(unsafe.Pointer(user))
	password := C.CString(opts.Password)
	defer C.free(unsafe.Pointer(password))

	var cerr *C.char
	c := C.rtsptest_server_start(launch, cpath, C.int(opts.Port), cbool(opts.Shared), user,
		password, cbool(opts.Loop), &cerr)
	if c == nil {
		defer C.g_free(C.gpointer(unsafe.Pointer(cerr)))
		return nil, fmt.Errorf("rtsptest: %s", C.GoString(cerr))
	}
	return &Server{c: c, port: int(C.rtsptest_server_port(c)), path: path}, nil
}

// StartT starts a camera for a test: it fails the test when the camera cannot start and
// stops the camera when the test ends.
func StartT(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// URL is the camera's address, without credentials: rtsp://127.0.0.1:PORT/cam.
func (s *Server) URL() string {
	return fmt.Sprintf("rtsp://127.0.0.1:%d%s", s.port, s.path)
}

// Port is the TCP port the camera listens on (or listened on, once stopped).
func (s *Server) Port() int { return s.port }

// Stop takes the camera away: it closes the listening socket and every client connection,
// shuts every media pipeline down and frees everything. Clients see the connection close.
// The same port can be bound again as soon as Stop returns. Stop is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return
	}
	C.rtsptest_server_stop(s.c)
	s.c = nil
}

// Stall(true) stops the flow of media packets to every client (and to clients that connect
// later) while connections and sessions stay open, like a camera whose encoder hangs.
// Stall(false) resumes: the stream goes on from where it stopped, with timestamps moved
// forward by the time it was stalled, at real-time pace again.
func (s *Server) Stall(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return
	}
	C.rtsptest_server_stall(s.c, cbool(on))
}

// Clients counts the connected RTSP client connections (0 once stopped).
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return 0
	}
	return int(C.rtsptest_server_clients(s.c))
}

func cbool(b bool) C.gboolean {
	if b {
		return C.TRUE
	}
	return C.FALSE
}
