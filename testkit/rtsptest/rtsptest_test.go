package rtsptest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
	"go.uber.org/goleak"
)

const fps = 30

var (
	clip3s string // 90 frames, 3 s
	clip1s string // 30 frames, 1 s
)

func TestMain(m *testing.M) {
	gst.Init(nil)
	dir, err := os.MkdirTemp("", "rtsptest")
	if err != nil {
		panic(err)
	}
	clip3s = filepath.Join(dir, "clip3s.mp4")
	clip1s = filepath.Join(dir, "clip1s.mp4")
	for path, frames := range map[string]int{clip3s: 3 * fps, clip1s: fps} {
		if err := MakeH264MP4(path, frames, fps); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// noLeaks checks for leaked goroutines once the test and all its cleanups are done.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// client is a GStreamer RTSP client that decodes and records when each frame arrived.
type client struct {
	t        *testing.T
	pipeline *gst.Pipeline

	mu       sync.Mutex
	arrivals []time.Time
	pts      []time.Duration
	err      error
	eos      bool
}

const h264Depay = "rtph264depay ! h264parse ! avdec_h264"

// dial connects to url; auth is "" or extra rtspsrc properties (user-id=… user-pw=…).
func dial(t *testing.T, url, auth, depay string) *client {
	t.Helper()
	launch := fmt.Sprintf("rtspsrc location=%s protocols=tcp latency=0 %s ! %s ! "+
		"appsink name=out sync=false", url, auth, depay)
	pipeline, err := gst.NewPipelineFromString(launch)
	if err != nil {
		t.Fatalf("parse %q: %v", launch, err)
	}
	c := &client{t: t, pipeline: pipeline}
	el, err := pipeline.GetElementByName("out")
	if err != nil {
		t.Fatal(err)
	}
	app.SinkFromElement(el).SetCallbacks(&app.SinkCallbacks{
		NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
			sample := s.PullSample()
			if sample == nil {
				return gst.FlowEOS
			}
			pts := time.Duration(sample.GetBuffer().PresentationTimestamp())
			c.mu.Lock()
			c.arrivals = append(c.arrivals, time.Now())
			c.pts = append(c.pts, pts)
			c.mu.Unlock()
			return gst.FlowOK
		},
	})
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	if c.pipeline != nil {
		c.pipeline.SetState(gst.StateNull)
		c.pipeline = nil
	}
}

// poll drains the bus, remembering the first error and EOS.
func (c *client) poll() {
	bus := c.pipeline.GetPipelineBus()
	for {
		msg := bus.PopFiltered(gst.MessageError | gst.MessageEOS)
		if msg == nil {
			return
		}
		c.mu.Lock()
		switch msg.Type() {
		case gst.MessageError:
			if c.err == nil {
				c.err = msg.ParseError()
			}
		case gst.MessageEOS:
			c.eos = true
		}
		c.mu.Unlock()
	}
}

func (c *client) frames() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.arrivals)
}

func (c *client) failure() error {
	c.poll()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *client) ended() bool {
	c.poll()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eos || c.err != nil
}

// waitFrames waits until at least n frames arrived; it fails the test on a client error.
func (c *client) waitFrames(n int, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for c.frames() < n {
		if err := c.failure(); err != nil {
			c.t.Fatalf("client error after %d frames: %v", c.frames(), err)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d frames within %v, want %d", c.frames(), timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitEnd waits for an error or EOS on the client.
func (c *client) waitEnd(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !c.ended() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// framesBetween counts frames that arrived in [from, to).
func (c *client) framesBetween(from, to time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, a := range c.arrivals {
		if !a.Before(from) && a.Before(to) {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkRealTime fails unless about fps frames a second arrive over window: never much
// faster (the camera is paced, not read as fast as possible), and not much slower (the
// bound is loose: a loaded test machine may decode late, and the race detector slows it).
func checkRealTime(t *testing.T, c *client, window time.Duration) {
	t.Helper()
	start := time.Now()
	time.Sleep(window)
	n := c.framesBetween(start, start.Add(window))
	want := int(window.Seconds() * fps)
	if n < want/2 || n > want*13/10 {
		t.Fatalf("%d frames in %v, want about %d (real time at %d fps)", n, window, want, fps)
	}
	t.Logf("%d frames in %v (real time: %d)", n, window, want)
}

func TestServesH264InRealTime(t *testing.T) {
	noLeaks(t)
	s := StartT(t, Options{Launch: H264Launch(clip3s)})
	if got, want := s.URL(), fmt.Sprintf("rtsp://127.0.0.1:%d/cam", s.Port()); got != want {
		t.Fatalf("URL %q, want %q", got, want)
	}
	t0 := time.Now()
	c := dial(t, s.URL(), "", h264Depay)
	c.waitFrames(1, 10*time.Second)
	t.Logf("first frame after %v", time.Since(t0))
	if n := s.Clients(); n != 1 {
		t.Fatalf("Clients() = %d, want 1", n)
	}
	checkRealTime(t, c, 2*time.Second)

	// the whole clip arrives, then the stream ends
	if !c.waitEnd(10 * time.Second) {
		t.Fatal("no EOS at the end of the clip")
	}
	if err := c.failure(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	span := c.arrivals[len(c.arrivals)-1].Sub(c.arrivals[0])
	c.mu.Unlock()
	if n := c.frames(); n < 3*fps-2 {
		t.Fatalf("%d frames, want %d", n, 3*fps)
	}
	if span < 2500*time.Millisecond {
		t.Fatalf("3 s clip delivered in %v: not paced", span)
	}
	c.close()
	waitFor(t, "the client to go", 5*time.Second, func() bool { return s.Clients() == 0 })
}

func TestAuth(t *testing.T) {
	noLeaks(t)
	s := StartT(t, Options{Launch: H264Launch(clip3s), User: "admin", Password: "s3cret", Loop: true})

	for name, auth := range map[string]string{
		"none":           "",
		"wrong password": "user-id=admin user-pw=wrong",
		"wrong user":     "user-id=root user-pw=s3cret",
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, s.URL(), auth, h264Depay)
			if !c.waitEnd(10 * time.Second) {
				t.Fatal("client neither failed nor ended")
			}
			if c.failure() == nil {
				t.Fatal("client ended without an error")
			}
			if n := c.frames(); n != 0 {
				t.Fatalf("%d frames without the right credentials", n)
			}
			t.Logf("refused: %v", c.failure())
		})
	}

	c := dial(t, s.URL(), "user-id=admin user-pw=s3cret", h264Depay)
	c.waitFrames(10, 10*time.Second)
}

func TestStopThenStartOnSamePort(t *testing.T) {
	noLeaks(t)
	s, err := Start(Options{Launch: H264Launch(clip3s), Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.URL(), "", h264Depay)
	c.waitFrames(5, 10*time.Second)

	s.Stop()
	s.Stop() // idempotent
	if !c.waitEnd(5 * time.Second) {
		t.Fatal("client did not notice the camera going away")
	}
	t.Logf("client saw the camera go: err=%v", c.failure())
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port()), time.Second); err == nil {
		conn.Close()
		t.Fatal("port still accepts connections after Stop")
	}

	s2 := StartT(t, Options{Launch: H264Launch(clip3s), Port: s.Port(), Loop: true})
	if s2.URL() != s.URL() {
		t.Fatalf("URL %q after restart, want %q", s2.URL(), s.URL())
	}
	c2 := dial(t, s2.URL(), "", h264Depay)
	c2.waitFrames(5, 10*time.Second)
}

func TestStall(t *testing.T) {
	noLeaks(t)
	s := StartT(t, Options{Launch: H264Launch(clip3s), Loop: true})
	c := dial(t, s.URL(), "", h264Depay)
	c.waitFrames(10, 10*time.Second)

	s.Stall(true)
	time.Sleep(300 * time.Millisecond) // frames already on their way
	before := c.frames()
	time.Sleep(1500 * time.Millisecond)
	if n := c.frames() - before; n != 0 {
		t.Fatalf("%d frames arrived while stalled", n)
	}
	if err := c.failure(); err != nil {
		t.Fatalf("client failed while stalled: %v", err)
	}
	if c.ended() {
		t.Fatal("stream ended while stalled")
	}
	if n := s.Clients(); n != 1 {
		t.Fatalf("Clients() = %d while stalled, want 1 (connection kept)", n)
	}

	s.Stall(false)
	c.waitFrames(before+5, 3*time.Second)
	checkRealTime(t, c, 2*time.Second)

	// the timestamps jump forward by about the stall, then run on
	c.mu.Lock()
	var maxGap time.Duration
	for i := 1; i < len(c.pts); i++ {
		if d := c.pts[i] - c.pts[i-1]; d > maxGap {
			maxGap = d
		}
	}
	c.mu.Unlock()
	if maxGap < time.Second {
		t.Fatalf("largest PTS step %v, want the stall (~1.8 s)", maxGap)
	}
}

func TestStallBeforeConnectThenStopWhileStalled(t *testing.T) {
	noLeaks(t)
	s := StartT(t, Options{Launch: H264Launch(clip3s), Loop: true})
	s.Stall(true)
	c := dial(t, s.URL(), "", h264Depay)
	// the session is set up (DESCRIBE, SETUP, PLAY succeed), but no stream flows
	waitFor(t, "the client to connect", 5*time.Second, func() bool { return s.Clients() == 1 })
	time.Sleep(1500 * time.Millisecond)
	if n := c.frames(); n > 1 {
		t.Fatalf("%d frames from a camera stalled before the client came", n)
	}
	if err := c.failure(); err != nil {
		t.Fatalf("client failed: %v", err)
	}
	s.Stall(false)
	c.waitFrames(10, 5*time.Second)

	s.Stall(true)
	s.Stop() // must not hang on the blocked streaming thread
	if !c.waitEnd(5 * time.Second) {
		t.Fatal("client did not notice the camera going away")
	}
}

func TestStopFreesSockets(t *testing.T) {
	noLeaks(t)
	cycle := func() {
		s, err := Start(Options{Launch: H264Launch(clip1s), Loop: true})
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, s.URL(), "", h264Depay)
		c.waitFrames(3, 5*time.Second)
		s.Stop()
		c.waitEnd(5 * time.Second)
		c.close()
	}
	openFDs := func() int {
		for i := 0; i < 3; i++ { // client pipelines are released by finalizers
			runtime.GC()
			time.Sleep(100 * time.Millisecond)
		}
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd:", err)
		}
		return len(fds)
	}
	cycle()
	before := openFDs()
	for i := 0; i < 10; i++ {
		cycle()
	}
	if after := openFDs(); after > before+2 {
		t.Fatalf("%d open files before 10 start/connect/stop cycles, %d after", before, after)
	}
}

func TestLoop(t *testing.T) {
	noLeaks(t)
	s := StartT(t, Options{Launch: H264Launch(clip1s), Loop: true})
	c := dial(t, s.URL(), "", h264Depay)
	c.waitFrames(1, 10*time.Second)
	c.waitFrames(3*fps+10, 6*time.Second) // three passes of a one-second clip
	checkRealTime(t, c, 2*time.Second)
	if c.ended() {
		t.Fatalf("looping stream ended: %v", c.failure())
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 1; i < len(c.pts); i++ {
		if d := c.pts[i] - c.pts[i-1]; d <= 0 || d > 100*time.Millisecond {
			t.Fatalf("PTS step %v at frame %d: the loop is not one continuous stream", d, i)
		}
	}
}

func TestMissingFileFailsTheClientOnly(t *testing.T) {
	noLeaks(t)
	s := StartT(t, Options{Launch: H264Launch("/nonexistent/clip.mp4")})
	c := dial(t, s.URL(), "", h264Depay)
	if !c.waitEnd(10*time.Second) || c.failure() == nil {
		t.Fatal("client did not fail on a camera whose file is missing")
	}
	t.Logf("client error: %v", c.failure())
}

func TestSharedAndParallelServers(t *testing.T) {
	noLeaks(t)
	a := StartT(t, Options{Launch: H264Launch(clip3s), Shared: true, Loop: true, Path: "/a"})
	b := StartT(t, Options{Launch: H264Launch(clip3s), Loop: true})
	if a.Port() == b.Port() {
		t.Fatal("two servers on one port")
	}
	ca1 := dial(t, a.URL(), "", h264Depay)
	ca2 := dial(t, a.URL(), "", h264Depay)
	cb := dial(t, b.URL(), "", h264Depay)
	for _, c := range []*client{ca1, ca2, cb} {
		c.waitFrames(10, 10*time.Second)
	}
	if n := a.Clients(); n != 2 {
		t.Fatalf("a.Clients() = %d, want 2", n)
	}
	if n := b.Clients(); n != 1 {
		t.Fatalf("b.Clients() = %d, want 1", n)
	}

	// stalling one camera leaves the other alone
	a.Stall(true)
	time.Sleep(300 * time.Millisecond)
	before := cb.frames()
	time.Sleep(500 * time.Millisecond)
	if cb.frames()-before < 5 {
		t.Fatal("stalling camera a stalled camera b")
	}
	a.Stall(false)
	ca2.waitFrames(ca2.frames()+5, 3*time.Second)
}

func TestOtherCodecs(t *testing.T) {
	noLeaks(t)
	for name, tc := range map[string]struct{ launch, depay string }{
		"h265":  {H265Launch(clip1s), "rtph265depay ! h265parse ! avdec_h265"},
		"mjpeg": {MJPEGLaunch(clip1s), "rtpjpegdepay ! jpegdec"},
	} {
		t.Run(name, func(t *testing.T) {
			s := StartT(t, Options{Launch: tc.launch, Loop: true})
			c := dial(t, s.URL(), "", tc.depay)
			c.waitFrames(fps+10, 10*time.Second) // more than one pass
		})
	}
}

func TestStartErrors(t *testing.T) {
	noLeaks(t)
	if _, err := Start(Options{}); err != ErrNoLaunch {
		t.Fatalf("empty launch: %v", err)
	}
	if _, err := Start(Options{Launch: H264Launch(clip1s), Path: "cam"}); err == nil {
		t.Fatal("a path without / was accepted")
	}
	if _, err := Start(Options{Launch: "( filesrc ! nosuchelement ! rtph264pay name=pay0 )"}); err == nil {
		t.Fatal("a launch line with an unknown element was accepted")
	}
	s := StartT(t, Options{Launch: H264Launch(clip1s)})
	if _, err := Start(Options{Launch: H264Launch(clip1s), Port: s.Port()}); err == nil {
		t.Fatal("a second server on a busy port started")
	}
}
