package web

import (
	"io"
	"net/http"
	"time"
)

// Connection time limits. A connection costs a goroutine, buffers and a file descriptor for as
// long as it is open, so none is held by a client that does nothing, while a slow link that
// keeps moving is never cut: a 512 MB upload over a phone's uplink takes many minutes, and the
// event streams (SSE, WebSocket) and WebRTC signaling live as long as their checkout.
const (
	// DefaultReadHeaderTimeout is the time a client has to send a request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection with no request for this long.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultBodyStallTimeout cuts a request whose body stops arriving for this long: each
	// read of the body must get a byte within it, however long the whole body takes.
	DefaultBodyStallTimeout = 30 * time.Second
)

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (s *Server) bodyStallTimeout() time.Duration {
	if s.BodyStallTimeout > 0 {
		return s.BodyStallTimeout
	}
	return DefaultBodyStallTimeout
}

// httpServer is the net/http server of Serve and ServeTLS, with its time limits.
//
// There is no ReadTimeout (it would bound a whole upload) nor WriteTimeout (it would end
// every event stream): the headers have ReadHeaderTimeout, idle connections IdleTimeout, and
// a request body guardBodies' stall limit.
func (s *Server) httpServer() *http.Server {
	return &http.Server{Handler: s.guardBodies(s.Handler()), ReadHeaderTimeout: DefaultReadHeaderTimeout, IdleTimeout: s.idleTimeout()}
}

// guardBodies gives every request with a body a read deadline that moves: each read of the
// body may wait at most the stall timeout for data, so a body that stops arriving ends the
// request (its reader gets a timeout error and the connection is closed), while one that keeps
// coming, however slowly, is read to its end. Once the body is read, the deadline is lifted,
// so the handler may then take as long as it needs (net/http also reads the connection in the
// background to notice a client that goes away; a deadline left in place would look like one).
func (s *Server) guardBodies(next http.Handler) http.Handler {
	stall := s.bodyStallTimeout()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(stall)) != nil {
			next.ServeHTTP(w, r) // a writer without deadlines (tests' recorders)
			return
		}
		g := &stallGuard{body: r.Body, rc: rc, stall: stall}
		r.Body = g
		next.ServeHTTP(w, r)
		if !g.done {
			// net/http reads what is left of an unread body before the next request: that
			// too must keep coming.
			rc.SetReadDeadline(time.Now().Add(stall))
		}
	})
}

// stallGuard is a request body whose every read waits at most stall for data.
type stallGuard struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
	done  bool // read to its end: the deadline is lifted
}

func (g *stallGuard) Read(p []byte) (int, error) {
	if g.done {
		return g.body.Read(p)
	}
	// From now: the time the handler took since the last read does not count.
	g.rc.SetReadDeadline(time.Now().Add(g.stall))
	n, err := g.body.Read(p)
	if err == io.EOF {
		g.done = true
		g.rc.SetReadDeadline(time.Time{})
	}
	// Any other error (the stall's timeout, a client gone) leaves the deadline: the
	// connection is closed after the response.
	return n, err
}

func (g *stallGuard) Close() error { return g.body.Close() }
