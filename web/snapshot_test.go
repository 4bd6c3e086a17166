package web

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/rtsptest"
)

// POST /api/stations/snapshot (the station form's "Take snapshot"): one frame of a real RTSP
// camera on loopback as a JPEG at the camera's size, and for each way a camera fails an answer
// naming the field to fix, never holding the password, in the response or the log.
func TestStationSnapshot(t *testing.T) {
	gsttest.Init(t)
	const user, password, wrong = "checkout", "s3cret!pw", "wr0ng-pw"
	mp4 := filepath.Join(t.TempDir(), "counter.mp4")
	if err := rtsptest.MakeH264MP4(mp4, 45, 15); err != nil {
		t.Fatal(err)
	}
	cam := rtsptest.StartT(t, rtsptest.Options{Launch: rtsptest.H264Launch(mp4), Loop: true, User: user, Password: password})

	mgr := pipelines.NewManager(t.TempDir(), pipelines.ManagerOptions{MaxRestarts: -1})
	t.Cleanup(mgr.Close)
	var logs lockedBuffer
	const timeout = 2 * time.Second
	srv := &Server{Pipelines: mgr, PipelineAdmin: mgr, Guard: &access.Guard{AdminToken: testAdminToken},
		SnapshotTimeout: timeout, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	h := srv.Handler()
	post := func(t *testing.T, body any, token string) *httptest.ResponseRecorder {
		t.Helper()
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("POST", "/api/stations/snapshot", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if strings.Contains(rec.Body.String(), password) || strings.Contains(rec.Body.String(), wrong) {
			t.Errorf("a password in the answer: %s", rec.Body)
		}
		return rec
	}
	type apiErr struct{ Error, Field string }
	refused := func(t *testing.T, rec *httptest.ResponseRecorder, code int, field, says string) {
		t.Helper()
		var e apiErr
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != code || e.Field != field || !strings.Contains(e.Error, says) {
			t.Fatalf("%d %s, want %d naming %q and saying %q", rec.Code, rec.Body, code, field, says)
		}
		t.Logf("%d %s: %s", rec.Code, e.Field, e.Error)
	}
	good := map[string]string{"url": cam.URL(), "username": user, "password": password}

	t.Run("admin only", func(t *testing.T) {
		if rec := post(t, good, ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("without a token: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("a frame", func(t *testing.T) {
		for name, body := range map[string]map[string]string{
			"credentials as fields":  good,
			"credentials in the URL": {"url": strings.Replace(cam.URL(), "rtsp://", "rtsp://"+user+":"+password+"@", 1)},
		} {
			start := time.Now()
			rec := post(t, body, testAdminToken)
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/jpeg" {
				t.Fatalf("%s: %d %s %s", name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(rec.Body.Bytes()))
			if err != nil || cfg.Width != 320 || cfg.Height != 240 {
				t.Fatalf("%s: the JPEG: %+v %v, want the camera's 320x240", name, cfg, err)
			}
			if rec.Header().Get("X-Frame-Width") != "320" || rec.Header().Get("X-Frame-Height") != "240" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s: headers %v", name, rec.Header())
			}
			img, err := jpeg.Decode(bytes.NewReader(rec.Body.Bytes()))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// The test pattern's ball on black: a picture, not a grey decoder guess.
			lo, hi := uint32(1<<16), uint32(0)
			for y := 0; y < 240; y += 4 {
				for x := 0; x < 320; x += 4 {
					r, _, _, _ := img.At(x, y).RGBA()
					lo, hi = min(lo, r), max(hi, r)
				}
			}
			if hi-lo < 1<<15 {
				t.Errorf("%s: a flat picture (red %d..%d)", name, lo, hi)
			}
			t.Logf("%s: %d bytes in %v", name, rec.Body.Len(), time.Since(start).Round(time.Millisecond))
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		refused(t, post(t, map[string]string{"url": cam.URL(), "username": user, "password": wrong}, testAdminToken),
			http.StatusBadGateway, "password", "refused the credentials (RTSP 401 Unauthorized): check the user name and password")
	})
	t.Run("no credentials", func(t *testing.T) {
		refused(t, post(t, map[string]string{"url": cam.URL()}, testAdminToken),
			http.StatusBadGateway, "username", "asks for a user name and password")
	})
	t.Run("no such stream", func(t *testing.T) {
		u := strings.Replace(cam.URL(), "/cam", "/nothing", 1)
		refused(t, post(t, map[string]string{"url": u, "username": user, "password": password}, testAdminToken),
			http.StatusBadGateway, "url", "no stream")
	})
	t.Run("no video", func(t *testing.T) {
		mic := rtsptest.StartT(t, rtsptest.Options{Launch: "( audiotestsrc is-live=true ! audioconvert ! rtpL16pay name=pay0 pt=96 )"})
		start := time.Now()
		refused(t, post(t, map[string]string{"url": mic.URL()}, testAdminToken), http.StatusBadGateway, "url", "no video")
		if took := time.Since(start); took > timeout/2 {
			t.Errorf("an audio-only stream was refused after %v: it needs no timeout", took)
		}
	})
	t.Run("closed port", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		refused(t, post(t, map[string]string{"url": "rtsp://" + addr + "/cam"}, testAdminToken),
			http.StatusBadGateway, "url", "cannot be reached")
	})
	t.Run("silent port", func(t *testing.T) {
		// Accepts the connection and never answers: a camera that hangs, or the wrong device.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conns []net.Conn
			for {
				c, err := l.Accept()
				if err != nil {
					break
				}
				conns = append(conns, c)
			}
			for _, c := range conns {
				c.Close()
			}
		}()
		defer wg.Wait()
		defer l.Close()
		start := time.Now()
		refused(t, post(t, map[string]string{"url": "rtsp://" + l.Addr().String() + "/cam"}, testAdminToken),
			http.StatusGatewayTimeout, "url", "did not answer")
		if took := time.Since(start); took < timeout-200*time.Millisecond || took > timeout+3*time.Second {
			t.Errorf("the timeout came after %v, want about %v", took, timeout)
		}
	})
	t.Run("bad address", func(t *testing.T) {
		for _, u := range []string{"", "http://127.0.0.1/cam", "rtsp:///cam", "127.0.0.1:554/cam"} {
			refused(t, post(t, map[string]string{"url": u}, testAdminToken), http.StatusBadRequest, "url", "the camera address")
		}
		refused(t, post(t, map[string]string{"url": cam.URL(), "transport": "carrier-pigeon"}, testAdminToken),
			http.StatusBadRequest, "transport", "transport")
		refused(t, post(t, map[string]any{"url": cam.URL(), "port": 554}, testAdminToken), http.StatusBadRequest, "port", "unknown field")
	})
	if s := logs.String(); strings.Contains(s, password) || strings.Contains(s, wrong) {
		t.Errorf("a password in the log:\n%s", s)
	} else if !strings.Contains(s, "camera snapshot") {
		t.Errorf("the snapshots were not logged:\n%s", s)
	}
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// GET /api/pipelines/{name}/snapshot (staff): the next frame of a running pipeline as a JPEG,
// taken where its chain first carries raw I420 video (before anything draws on it).
func TestRunningPipelineSnapshot(t *testing.T) {
	e := newPipelineAPIEnv(t, nil, false)
	yaml := "name: counter-9\nsource: {type: test, pattern: ball, width: 64, height: 48}\nelements:\n" +
		"  - element: videoconvert\n  - caps: video/x-raw,format=I420\n  - element: ebrcs_passthrough\nsink: {type: fake}\n"
	if rec := e.do("POST", "/api/pipelines/counter-9", true, yaml); rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	e.waitRunning("counter-9")
	if rec := e.do("GET", "/api/pipelines/counter-9/snapshot", false, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %s", rec.Code, rec.Body)
	}
	rec := e.do("GET", "/api/pipelines/counter-9/snapshot", true, "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("snapshot: %d %s", rec.Code, rec.Body)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(rec.Body.Bytes())); err != nil || cfg.Width != 64 || cfg.Height != 48 {
		t.Fatalf("the JPEG: %+v %v, want the source's 64x48", cfg, err)
	}
	if rec := e.do("GET", "/api/pipelines/nothing/snapshot", true, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("no such pipeline: %d %s", rec.Code, rec.Body)
	}
}
