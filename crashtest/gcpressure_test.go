package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/rtsptest"
	"github.com/ebrcs/ebrcs/testkit/testenv"
)

const (
	// gcPressureFor is how long every kind of work runs at once.
	gcPressureFor = 60 * time.Second
	// clipFPS and clipFrames make the test clip: 4 s of 320×240 H.264, small enough that an
	// upload is processed in seconds even with the collector running all the time.
	clipFPS, clipFrames = 15, 60
	// station is the camera's pipeline; its checkout session is st_<station>.
	station = "counter-1"
)

// gcPressureEnv makes lifetime bugs between Go wrappers and GStreamer objects show. The
// collector runs almost all the time (GOGC=1), so a wrapper that becomes unreachable while C
// still uses its object is finalized (unreffed) within moments instead of minutes; Go fills
// what it frees with garbage; glibc checks its heap (the debug malloc, preloaded where it is
// installed: since glibc 2.34 MALLOC_CHECK_ does nothing without it) and fills freed and new
// blocks with a pattern, so that C reading freed memory gets garbage or aborts rather than
// working by luck.
func gcPressureEnv() []string {
	env := []string{"GOGC=1", "GODEBUG=clobberfree=1", "MALLOC_CHECK_=3", "MALLOC_PERTURB_=165"}
	if libs, _ := filepath.Glob("/usr/lib/*/libc_malloc_debug.so.0"); len(libs) > 0 {
		env = append(env, "LD_PRELOAD="+libs[0])
	}
	return env
}

// crashSigns are what a crash, an abort or a GLib assertion leave in the server's log, the
// ones that say most first.
var crashSigns = []string{"fatal error", "SIGSEGV", "SIGABRT", "Bail out!", "panic:", "double free",
	"free(): ", "malloc(): ", "corrupted size", "assertion", "CRITICAL"}

// gcTally is what the workload saw. Everything the server answered that it should not have is
// in unexpected.
type gcTally struct {
	mu                                      sync.Mutex
	uploadsDone, uploadsFailed, uploadsBusy int
	refused                                 [len(badNames)]int // bad uploads refused, by kind
	liveSessions, liveWithVideo             int
	livePackets                             int64
	cameraRestarts, roiSets, metrics        int
	lastMetrics                             string
	unexpected                              []string
}

func (g *gcTally) add(f func(g *gcTally)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

func (g *gcTally) odd(format string, args ...any) {
	g.add(func(g *gcTally) { g.unexpected = append(g.unexpected, fmt.Sprintf(format, args...)) })
}

// TestGCPressure runs the real server under constant garbage collection with a checked,
// poisoned C heap, while at once: videos are uploaded (valid ones, which are probed and
// processed, and corrupt, truncated and noise ones, which the probe refuses), live WebRTC sessions
// publish and get their annotated video back, an RTSP camera goes away and comes back so that
// its station's pipeline is rebuilt, the station's ROI is changed, and /metrics is scraped.
// Each of these creates and drops GStreamer objects through Go wrappers; a wrapper finalized
// while C still uses its object (issue 15: the discoverer unreffed under its own bus, an
// abort) kills the process. The server must be alive at the end with nothing of the kind in
// its log, and every kind of work must have been done.
func TestGCPressure(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server under GC pressure for a minute")
	}
	began := time.Now()
	gsttest.Init(t) // the camera and the WHIP client's frames are made in this process
	tmp := t.TempDir()
	catalogDir := filepath.Join(tmp, "catalog")
	// Live sessions come from this one address without the admin token (Publish sends none):
	// no per-client limit. The server offers loopback candidates to the loopback-only client.
	srv := newServer(t, tmp, catalogDir, "  max_sessions: 1024\n  sessions_per_client_per_minute: 0\n"+
		"  max_queued_uploads: 4\nwebrtc:\n  include_loopback: true\n", nil)
	srv.env = gcPressureEnv()

	clip := filepath.Join(tmp, "clip.mp4")
	if err := rtsptest.MakeH264MP4(clip, clipFrames, clipFPS); err != nil {
		t.Fatal(err)
	}
	video, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := signaling.EncodeVideo(clip, "VP8", clipFPS, 300)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), randomBytes(64<<10)...)
	truncated := video[:len(video)/2]
	// Not MP4 at all: the MP4 structure check passes it on, and only the discoverer refuses it.
	noise := randomBytes(64 << 10)

	cam := &camera{launch: rtsptest.H264Launch(clip)}
	cam.start(t)
	t.Cleanup(cam.stop)
	writePipelines(t, srv, catalogDir, cam.url)

	srv.start(t)
	cmd := srv.cmd
	c := &client{base: srv.base, http: &http.Client{Timeout: 30 * time.Second}}
	t.Logf("set-up: %v", time.Since(began).Round(time.Second))

	g := &gcTally{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	work := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	work(func() { uploadValid(c, g, video, stop) })
	work(func() { uploadBad(c, g, [][]byte{corrupt, truncated, noise}, stop) })
	work(func() { publishLive(c, g, frames, stop) })
	work(func() { restartCamera(t, cam, g, stop) })
	work(func() { moveStationROI(c, g, stop) })
	work(func() { scrapeMetrics(c, g, stop) })
	select {
	case <-time.After(gcPressureFor):
	case <-srv.done:
	}
	close(stop)
	wg.Wait()

	select {
	case <-srv.done:
		t.Fatalf("the server died under GC pressure (%v):\n%s", cmd.ProcessState, crashExcerpt(srv.log.String()))
	default:
	}
	st := pipelineStatus(t, c, station)
	srv.stop(t)
	logText := srv.log.String()
	if excerpt, found := crashSign(logText); found {
		t.Errorf("the server's log shows a crash or an assertion:\n%s", excerpt)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the server exited with %d after SIGTERM (%v)", code, cmd.ProcessState)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	t.Logf("uploads: %d done, %d failed, %d refused as busy; refused %v: %v; "+
		"live sessions: %d, %d with video back (%d packets); camera restarts: %d, station: %d restarts, %d frames; "+
		"ROI changes: %d; /metrics: %d; total %v",
		g.uploadsDone, g.uploadsFailed, g.uploadsBusy, badNames, g.refused,
		g.liveSessions, g.liveWithVideo, g.livePackets, g.cameraRestarts, st.Restarts, st.Frames,
		g.roiSets, g.metrics, time.Since(began).Round(time.Second))
	// The pressure was there: the server ran with GOGC=1 and collected all the time.
	gogc, cycles := metricValue(g.lastMetrics, "go_gc_gogc_percent"), metricValue(g.lastMetrics, "go_gc_duration_seconds_count")
	t.Logf("server: GOGC %s, %s garbage collections", gogc, cycles)
	if gogc != "1" {
		t.Errorf("the server's GOGC is %q, not 1", gogc)
	}
	for _, u := range g.unexpected {
		t.Errorf("unexpected: %s", u)
	}
	// The workload must have done each kind of work, or the test proves nothing.
	switch {
	case g.uploadsDone == 0:
		t.Error("no upload was processed to the end")
	case g.uploadsFailed > 0:
		t.Errorf("%d valid uploads failed", g.uploadsFailed)
	}
	for kind, n := range g.refused {
		if n == 0 {
			t.Errorf("no %s upload was refused", badNames[kind])
		}
	}
	if g.liveWithVideo == 0 {
		t.Errorf("none of %d live sessions got video back", g.liveSessions)
	}
	if st.Restarts == 0 || st.Frames == 0 {
		t.Errorf("the station's pipeline never restarted, or never ran: %+v", st)
	}
	if g.roiSets == 0 || g.metrics == 0 {
		t.Error("the station's ROI was never set, or /metrics never answered")
	}
}

// writePipelines puts the live pipeline (as shipped, with the test's catalog and models) and
// the camera's station into the server's pipelines directory.
func writePipelines(t *testing.T, srv *server, catalogDir, cameraURL string) {
	t.Helper()
	raw, err := os.ReadFile("../configs/pipelines/live.yaml")
	if err != nil {
		t.Fatal(err)
	}
	models := modelsDir(t)
	live := testenv.PointPipeline(t, string(raw), catalogDir, models)
	camera := fmt.Sprintf(`name: %s
source: {type: rtsp, url: %q, transport: tcp, latency_ms: 100, silence_timeout: 2s}
restart: {initial_backoff: 200ms, max_backoff: 1s, stable_after: 5s}
elements:
  - element: videoconvert
  - caps: video/x-raw,format=RGBA
  - element: ebrcs_bgsub
  - element: ebrcs_roigate
    properties: {roi: "0.2,0.15;0.8,0.15;0.8,0.95;0.2,0.95", pad: 0}
  - element: ebrcs_embed
    properties: {model-dir: %s}
  - element: ebrcs_match
    properties: {catalog: %s, model-dir: %s}
  - element: ebrcs_counter
  - element: ebrcs_overlay
sink: {type: whep, bitrate: 300}
`, station, cameraURL, models, catalogDir, models)
	dir := filepath.Join(srv.dir, "pipelines")
	for name, text := range map[string]string{"live.yaml": live, station + ".yaml": camera} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// camera is the station's RTSP camera, stopped and started again on the same port.
type camera struct {
	launch string
	url    string
	port   int
	mu     sync.Mutex
	srv    *rtsptest.Server
}

func (cam *camera) start(t *testing.T) {
	s, err := rtsptest.Start(rtsptest.Options{Launch: cam.launch, Loop: true, Port: cam.port})
	if err != nil {
		t.Error(err)
		return
	}
	cam.mu.Lock()
	cam.srv, cam.url, cam.port = s, s.URL(), s.Port()
	cam.mu.Unlock()
}

func (cam *camera) stop() {
	cam.mu.Lock()
	defer cam.mu.Unlock()
	if cam.srv != nil {
		cam.srv.Stop()
		cam.srv = nil
	}
}

// restartCamera takes the camera away every few seconds and brings it back a second later:
// each time the station's supervisor tears its pipeline down (rtspsrc, decodebin, the bins
// and signal handlers built around them) and builds it again.
func restartCamera(t *testing.T, cam *camera, g *gcTally, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(6 * time.Second):
		}
		cam.stop()
		select {
		case <-stop:
			return
		case <-time.After(time.Second):
		}
		cam.start(t)
		g.add(func(g *gcTally) { g.cameraRestarts++ })
	}
}

// moveStationROI changes the station's ROI over and over: the running pipeline's ROI gate is
// set from an API goroutine while the camera's restarts tear that pipeline down.
func moveStationROI(c *client, g *gcTally, stop <-chan struct{}) {
	rois := []string{`{"points": [[0.2,0.15],[0.8,0.15],[0.8,0.95],[0.2,0.95]]}`,
		`{"points": [[0.1,0.1],[0.9,0.1],[0.9,0.9],[0.1,0.9]]}`}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(250 * time.Millisecond):
		}
		code, body, err := c.do(http.MethodPut, "/api/sessions/st_"+station+"/roi", "application/json", []byte(rois[i%2]), true)
		if err != nil || code != http.StatusOK {
			g.odd("PUT the station's ROI: %d %s %v", code, body, err)
			continue
		}
		g.add(func(g *gcTally) { g.roiSets++ })
	}
}

func scrapeMetrics(c *client, g *gcTally, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		code, body, err := c.do(http.MethodGet, "/metrics", "", nil, true)
		if err != nil || code != http.StatusOK || !bytes.Contains(body, []byte("ebrcs_pipeline_restarts_total")) {
			g.odd("GET /metrics: %d %v", code, err)
			continue
		}
		g.add(func(g *gcTally) { g.metrics++; g.lastMetrics = string(body) })
	}
}

// uploadValid uploads the clip into a new session, one at a time, and follows each task to
// its end (its session is then closed).
func uploadValid(c *client, g *gcTally, video []byte, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		id, ok := openSession(c, g)
		if !ok {
			time.Sleep(time.Second)
			continue
		}
		code, body, err := upload(c, id, "clip.mp4", video)
		switch {
		case err == nil && code == http.StatusAccepted:
			var task struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(body, &task) != nil || task.ID == "" {
				g.odd("upload: 202 without a task: %s", body)
				break
			}
			// A new ROI while the task runs: set on its pipeline's gate from this goroutine.
			c.do(http.MethodPut, "/api/sessions/"+id+"/roi", "application/json",
				[]byte(`{"points": [[0.1,0.1],[0.9,0.1],[0.9,0.9],[0.1,0.9]]}`), true)
			switch state := waitTask(c, task.ID); state {
			case "done":
				g.add(func(g *gcTally) { g.uploadsDone++ })
			default:
				g.add(func(g *gcTally) { g.uploadsFailed++ })
				g.odd("upload %s ended %s", task.ID, state)
			}
		case err == nil && code == http.StatusServiceUnavailable:
			g.add(func(g *gcTally) { g.uploadsBusy++ })
			time.Sleep(200 * time.Millisecond)
		default:
			g.odd("upload of the valid clip: %d %s %v", code, body, err)
		}
		c.do(http.MethodDelete, "/api/sessions/"+id, "", nil, true)
	}
}

// badNames name the bad uploads: an MP4 header then noise, the first half of the valid clip,
// noise alone.
var badNames = [...]string{"corrupt.mp4", "truncated.mp4", "noise.mp4"}

// uploadBad uploads each bad file in turn (files in badNames' order): each is probed, and
// must be refused.
func uploadBad(c *client, g *gcTally, files [][]byte, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		id, ok := openSession(c, g)
		if !ok {
			time.Sleep(time.Second)
			continue
		}
		kind := i % len(files)
		code, body, err := upload(c, id, badNames[kind], files[kind])
		if err != nil || code != http.StatusUnprocessableEntity {
			g.odd("upload of %s: %d %s %v", badNames[kind], code, body, err)
		} else {
			g.add(func(g *gcTally) { g.refused[kind]++ })
		}
		c.do(http.MethodDelete, "/api/sessions/"+id, "", nil, true)
	}
}

// publishLive runs live sessions one after the other: publish with WHIP, send the clip's
// frames in real time, wait for the annotated video to come back, close.
func publishLive(c *client, g *gcTally, frames [][]byte, stop <-chan struct{}) {
	api, err := signaling.ClientAPI(true)
	if err != nil {
		g.odd("WebRTC client: %v", err)
		return
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pub, err := signaling.Publish(ctx, api, c.base+"/whip/live", "VP8", nil)
		if err != nil {
			cancel()
			g.odd("WHIP publish: %v", err)
			time.Sleep(time.Second)
			continue
		}
		pub.Send(ctx, frames, clipFPS, nil)
		for wait := time.Now().Add(3 * time.Second); pub.Returned.Load() == 0 && time.Now().Before(wait); {
			time.Sleep(50 * time.Millisecond)
		}
		returned := pub.Returned.Load()
		pub.Close()
		cancel()
		g.add(func(g *gcTally) {
			g.liveSessions++
			g.livePackets += returned
			if returned > 0 {
				g.liveWithVideo++
			}
		})
	}
}

func openSession(c *client, g *gcTally) (string, bool) {
	code, body, err := c.do(http.MethodPost, "/api/sessions", "application/json", nil, true)
	if err != nil || code != http.StatusCreated {
		g.odd("POST /api/sessions: %d %s %v", code, body, err)
		return "", false
	}
	var s struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &s) != nil || s.ID == "" {
		g.odd("POST /api/sessions: no id in %s", body)
		return "", false
	}
	return s.ID, true
}

func upload(c *client, session, name string, file []byte) (int, []byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("video", name)
	w.Write(file)
	mw.Close()
	return c.do(http.MethodPost, "/api/sessions/"+session+"/video", mw.FormDataContentType(), body.Bytes(), true)
}

// waitTask polls a task until it ends (at most a minute) and returns its last state.
func waitTask(c *client, task string) string {
	var last struct {
		State string `json:"state"`
		Error string `json:"error"`
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		code, body, err := c.do(http.MethodGet, "/api/tasks/"+task, "", nil, true)
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &last) != nil {
			return fmt.Sprintf("unknown (%d %s %v)", code, body, err)
		}
		switch last.State {
		case "done":
			return last.State
		case "failed", "cancelled":
			return last.State + ": " + last.Error
		}
	}
	return "still " + last.State + " after a minute"
}

func pipelineStatus(t *testing.T, c *client, name string) pipelines.Status {
	t.Helper()
	code, body, err := c.do(http.MethodGet, "/api/pipelines", "", nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/pipelines: %d %s %v", code, body, err)
	}
	var all []pipelines.Status
	if err := json.Unmarshal(body, &all); err != nil {
		t.Fatal(err)
	}
	for _, st := range all {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("GET /api/pipelines has no %s: %s", name, body)
	return pipelines.Status{}
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(15, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// metricValue returns the value of an unlabelled metric in a Prometheus text exposition.
func metricValue(exposition, name string) string {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// crashSign returns the lines of the log around the most telling sign of a crash (from a few
// lines before it, repeated lines collapsed), and whether there is one.
func crashSign(log string) (string, bool) {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	for _, sign := range crashSigns {
		for i, line := range lines {
			if strings.Contains(line, sign) {
				return collapse(lines[max(i-10, 0):min(i+60, len(lines))]), true
			}
		}
	}
	return "", false
}

// collapse joins lines, each run of identical lines shown once with its count.
func collapse(lines []string) string {
	var out []string
	for i := 0; i < len(lines); {
		n := 1
		for i+n < len(lines) && lines[i+n] == lines[i] {
			n++
		}
		if n > 1 {
			out = append(out, fmt.Sprintf("%s (%d times)", lines[i], n))
		} else {
			out = append(out, lines[i])
		}
		i += n
	}
	return strings.Join(out, "\n")
}

// crashExcerpt is crashSign's excerpt, or the end of the log when nothing in it says why.
func crashExcerpt(log string) string {
	if excerpt, found := crashSign(log); found {
		return excerpt
	}
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-60, 0):], "\n")
}
