package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
)

// serveOnLoopback runs srv.Serve on a loopback port until the test ends.
func serveOnLoopback(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// closedWithin reads from conn until the server closes it, and says how long that took;
// it fails the test when the connection is still open after limit.
func closedWithin(t *testing.T, conn net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still holds the connection after %v", limit)
	}
	return time.Since(start)
}

// A keep-alive connection with no next request is closed after the idle timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	addr := serveOnLoopback(t, &Server{Pipelines: noPipelines{}, IdleTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if took := closedWithin(t, conn, 5*time.Second); took < 200*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", took)
	}
}

// A request whose body stops arriving is cut after the stall timeout, whether no byte of it
// came or some did; the server then serves other clients as before.
func TestStalledBodyIsCut(t *testing.T) {
	mgr, err := checkout.NewManager(checkout.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	addr := serveOnLoopback(t, &Server{Pipelines: noPipelines{}, Checkout: mgr, BodyStallTimeout: 300 * time.Millisecond})
	for _, sent := range []string{"", `{"roi": {"points": [[0.1, 0.1], `} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /api/sessions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n%s", sent)
		if took := closedWithin(t, conn, 5*time.Second); took < 200*time.Millisecond {
			t.Errorf("%d bytes of 1000 sent: closed after %v, before the stall timeout", len(sent), took)
		}
		conn.Close()
	}
	if n := mgr.Sessions(); n != 0 {
		t.Errorf("%d sessions made from cut requests", n)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after the cut requests: %v %v", resp, err)
	}
	resp.Body.Close()
}

// An upload that comes slowly but steadily, over far longer than the stall and idle timeouts,
// is read to its end and processed; so is a session's event stream, open all along, which
// then reports the upload's end.
func TestSlowUploadAndEventStreamOutliveTheTimeouts(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 1<<20)
	srv := &Server{Pipelines: noPipelines{}, Checkout: e.mgr, Catalog: e.catalog, UploadLimit: 1 << 20, UploadDir: filepath.Join(e.dir, "uploads"),
		Guard: &access.Guard{AdminToken: staffToken}, IdleTimeout: 300 * time.Millisecond, BodyStallTimeout: 300 * time.Millisecond}
	addr := serveOnLoopback(t, srv)
	id := e.create()

	events, err := e.get("http://"+addr, "/api/sessions/"+id+"/events")
	if err != nil || events.StatusCode != http.StatusOK {
		t.Fatalf("events: %v %v", events, err)
	}
	defer events.Body.Close()
	done := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(events.Body)
		for sc.Scan() {
			if sc.Text() == "event: done" {
				done <- sc.Text()
				return
			}
		}
		done <- fmt.Sprint("stream ended: ", sc.Err())
	}()

	body, ct := multipartBody(t, "video", "slow.mp4", testVideo(t, 30))
	const stall = 300 * time.Millisecond // BodyStallTimeout above
	// upload sends the body in 20 pieces, 100 ms apart: 2 s in all, each gap a third of the
	// stall timeout. It returns the answer and the longest gap there really was between two
	// pieces (a loaded machine can stretch a sleep).
	upload := func() (int, string, time.Duration) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := fmt.Sprintf("POST /api/sessions/%s/video HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\nContent-Length: %d\r\n", id, ct, body.Len())
		for k, v := range e.keyHeader("/api/sessions/" + id) {
			head += k + ": " + v[0] + "\r\n"
		}
		if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
			t.Fatal(err)
		}
		start, last := time.Now(), time.Now()
		var longest time.Duration
		piece := body.Len()/20 + 1
		for b := body.Bytes(); len(b) > 0; b = b[min(piece, len(b)):] {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write(b[:min(piece, len(b))]); err != nil {
				t.Fatalf("after %v: %v", time.Since(start), err)
			}
			longest, last = max(longest, time.Since(last)), time.Now()
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(answer), longest
	}
	// Every upload whose gaps all stayed under the stall timeout must be accepted; one whose
	// sender was held up longer than that tested nothing, and is sent again (at most twice).
	for attempt := 1; ; attempt++ {
		code, answer, longest := upload()
		if code == http.StatusAccepted {
			break
		}
		if longest < stall || attempt == 3 {
			t.Fatalf("slow upload: %d %s (longest gap between pieces %v)", code, answer, longest)
		}
		t.Logf("attempt %d: the sender was held up %v (more than the stall timeout); sending again", attempt, longest)
	}
	select {
	case got := <-done:
		if got != "event: done" {
			t.Fatalf("the session's event stream: %s", got)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no done event on the session's stream")
	}
}
