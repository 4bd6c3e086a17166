package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ebrcs/ebrcs/testkit/rtsptest"
	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// addStation writes a camera station's pipeline into the server's pipeline directory (which
// it watches): the shipped live pipeline's analysis on a test pattern, its annotated video for
// WHEP viewers.
func addStation(t *testing.T, s *server, name string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.dir, "pipelines", "live.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	i, j := strings.Index(text, "elements:"), strings.Index(text, "sink:")
	if i < 0 || j < i {
		t.Fatal("live.yaml changed shape: no elements: before sink:")
	}
	station := "name: " + name + "\ndescription: A camera over a counter (a test pattern)\nsource:\n  type: test\n  pattern: ball\n  width: 640\n  height: 480\n  framerate: 15\n" +
		text[i:j] + "sink:\n  type: whep\n  bitrate: 800\n"
	if err := os.WriteFile(filepath.Join(s.dir, "pipelines", name+".yaml"), []byte(station), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var states []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		}
		s.getJSON(t, "/api/pipelines", &states)
		for _, st := range states {
			if st.Name == name && st.State == "running" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("station %s not running after 30s: %+v", name, states)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The back office's monitor shows every camera station and every checkout whose camera is on,
// each with its annotated video over WHEP, its state and its cart, at a desk's size and a
// phone's; axe-core finds nothing serious.
func TestMonitorShowsStationsAndLiveCheckouts(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	products := scenario.SyntheticProducts(6, 1)
	sc := &scenario.Scenario{Name: "e2e-monitor", Config: scenario.DefaultConfig(), Steps: []scenario.Step{
		{Kind: scenario.Idle, Duration: 2 * time.Second},
		{Kind: scenario.Show, Product: products[0].Name, Hold: 1500 * time.Millisecond},
		{Kind: scenario.Idle, Duration: 2 * time.Second},
	}}
	camera := writeCamera(t, sc, products)
	srv := startServerWith(t, products, staffConfig)
	addStation(t, srv, "counter-1")
	b := startBrowser(t, camera, "checkout")
	page := b.first
	diagnose(t, srv, b, page)
	admin := b.newTab(t, "admin")
	diagnose(t, nil, nil, admin)

	page.open(t, srv.url+"/", `window.ebrcs && window.ebrcs.state === 'idle'`)
	page.click(t, "start-button")
	waitLive(t, page)
	session := h0(t, page).SessionID

	playing := func(sel string) string {
		return `(() => { const v = document.querySelector('` + sel + ` [data-testid="monitor-video"]');
			return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 10; })()`
	}
	for _, vp := range []viewport{desktop, phone} {
		t.Run(vp.name, func(t *testing.T) {
			admin.setViewport(t, vp)
			admin.open(t, srv.url+"/admin", `window.ebrcsAdmin && document.querySelector('[data-testid="token-input"]')`)
			setToken(t, admin, staffToken)
			admin.waitJS(t, 5*time.Second, `window.ebrcsAdmin.role === 'staff'`, "signed in as staff")
			admin.waitJS(t, 20*time.Second, playing(`[data-testid="monitor-tile"][data-session="st_counter-1"]`), "the station's video in the monitor")
			admin.waitJS(t, 20*time.Second, playing(`[data-testid="monitor-tile"][data-session="`+session+`"]`), "the live checkout's video in the monitor")
			state, err := evalJS[string](admin, `document.querySelector('[data-testid="monitor-tile"][data-session="st_counter-1"] .badge').textContent`)
			if err != nil || state != "running" {
				t.Errorf("the station's state: %q (%v), want running", state, err)
			}
			checkNoSideScroll(t, admin, "the monitor")
			time.Sleep(500 * time.Millisecond)
			shot(t, admin, "backoffice-monitor-"+vp.name)
			checkAxe(t, admin, "the monitor")
		})
	}
	page.click(t, "stop-button")
	admin.waitJS(t, 15*time.Second, `!document.querySelector('[data-testid="monitor-tile"][data-session="`+session+`"]')`, "the checkout to leave the monitor once its camera stops")
}

// A camera station from the back office's form: the admin fills in the camera's address and
// credentials, picks a preset counting area, then takes a snapshot from the camera and draws
// the area on it, and picks WHEP; the form writes the pipeline file with the area drawn (the
// server validates it first), the station starts, and the monitor shows its video.
func TestStationFromTheForm(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	mp4 := filepath.Join(t.TempDir(), "counter.mp4")
	if err := rtsptest.MakeH264MP4(mp4, 150, 15); err != nil {
		t.Fatal(err)
	}
	cam := rtsptest.StartT(t, rtsptest.Options{Launch: rtsptest.H264Launch(mp4), Loop: true, User: "checkout", Password: "s3cret!"})
	srv := startServerWith(t, nil, staffConfig)
	// What the API may name is relative to the server's directory (models/, var/).
	models, err := filepath.Abs("../models")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(models, filepath.Join(srv.dir, "models")); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t, filepath.Join(t.TempDir(), "none.y4m"), "admin")
	admin := b.first
	diagnose(t, srv, b, admin)
	admin.setViewport(t, desktop)
	admin.open(t, srv.url+"/admin", `window.ebrcsAdmin && document.querySelector('[data-testid="token-input"]')`)
	setToken(t, admin, adminToken)
	admin.waitJS(t, 5*time.Second, `window.ebrcsAdmin.role === 'admin' && document.querySelector('[data-testid="station-form"]').checkVisibility()`, "the station form")
	if err := admin.do(10*time.Second,
		chromedp.SendKeys(testid("station-name"), "counter-2"),
		chromedp.SendKeys(testid("station-url"), cam.URL()),
		chromedp.SendKeys(testid("station-user"), "checkout"),
		chromedp.SendKeys(testid("station-password"), "s3cret!"),
	); err != nil {
		t.Fatalf("filling the form: %v", err)
	}
	if _, err := evalJS[bool](admin, `(() => { const s = document.querySelector('[data-testid="station-area"]'); s.value = 'lower'; return s.dispatchEvent(new Event('change', {bubbles: true})); })()`); err != nil {
		t.Fatal(err)
	}
	preview, err := evalJS[string](admin, `document.querySelector('[data-testid="station-yaml"]').textContent`)
	if err != nil || strings.Contains(preview, "s3cret") || !strings.Contains(preview, "0,0.5;1,0.5;1,1;0,1") || !strings.Contains(preview, "type: whep") {
		t.Fatalf("the YAML preview (the password must be hidden): %q %v", preview, err)
	}
	checkAxe(t, admin, "the station form")
	drawn := drawStationArea(t, admin, "s3cret!")
	admin.click(t, "station-submit")
	admin.waitJS(t, 30*time.Second, `!document.querySelector('[data-testid="station-ok"]').hidden || !document.querySelector('[data-testid="station-error"]').hidden`, "the form's answer")
	if msg, _ := evalJS[string](admin, `document.querySelector('[data-testid="station-error"]').hidden ? '' : document.querySelector('[data-testid="station-error"]').textContent`); msg != "" {
		t.Fatalf("the station was refused: %s", msg)
	}
	raw, err := os.ReadFile(filepath.Join(srv.dir, "pipelines", "counter-2.yaml"))
	if err != nil || !strings.Contains(string(raw), cam.URL()) || !strings.Contains(string(raw), `password: "s3cret!"`) ||
		!strings.Contains(string(raw), `roi: "`+roiText(drawn)+`"`) {
		t.Fatalf("the pipeline file (want the area drawn, %s): %v\n%s", roiText(drawn), err, raw)
	}
	admin.waitJS(t, 30*time.Second, `(() => { const v = document.querySelector('[data-testid="monitor-tile"][data-session="st_counter-2"] [data-testid="monitor-video"]');
		return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 10; })()`, "the new station's video in the monitor")
	var station struct {
		ROI [][2]float64 `json:"roi"`
	}
	srv.getJSON(t, "/api/sessions/st_counter-2", &station)
	if fmt.Sprint(station.ROI) != fmt.Sprint(drawn) {
		t.Errorf("the station's counting area: %v, want the one drawn on the snapshot, %v", station.ROI, drawn)
	}
	// Staff change its area from its tile, on its live video.
	if _, err := evalJS[bool](admin, `(() => { const s = document.querySelector('[data-testid="monitor-tile"][data-session="st_counter-2"] [data-testid="monitor-area"]'); s.value = 'centre'; return true; })()`); err != nil {
		t.Fatal(err)
	}
	if err := admin.do(5*time.Second, chromedp.Click(`[data-testid="monitor-tile"][data-session="st_counter-2"] [data-testid="monitor-area-set"]`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		srv.getJSON(t, "/api/sessions/st_counter-2", &station)
		if len(station.ROI) == 4 && station.ROI[0] == [2]float64{0.2, 0.15} {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the area set from the tile: %v, want the centre", station.ROI)
		}
	}
	time.Sleep(500 * time.Millisecond)
	shot(t, admin, "backoffice-station-form-desktop")
	checkAxe(t, admin, "the back office with the new station")
}
