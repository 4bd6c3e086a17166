package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// stationAreaHook is window.ebrcsAdmin.stationArea(): the station form's counting area.
type stationAreaHook struct {
	Area   string       `json:"area"` // a preset's name, or "drawn"
	Points [][2]float64 `json:"points"`
}

func stationArea(t *testing.T, admin *tab) stationAreaHook {
	t.Helper()
	raw, err := evalJS[string](admin, `JSON.stringify(window.ebrcsAdmin.stationArea())`)
	if err != nil {
		t.Fatal(err)
	}
	var a stationAreaHook
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// roiText writes points as the roigate's roi property, as the page does: "x,y;x,y;...".
func roiText(points [][2]float64) string {
	parts := make([]string, len(points))
	for i, p := range points {
		parts[i] = strconv.FormatFloat(p[0], 'f', -1, 64) + "," + strconv.FormatFloat(p[1], 'f', -1, 64)
	}
	return strings.Join(parts, ";")
}

// setInput replaces an input's value as typing would (an input event follows).
func setInput(t *testing.T, tb *tab, id, value string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const el = document.querySelector('[data-testid=%q]'); el.value = %q; return el.dispatchEvent(new Event('input', {bubbles: true})); })()`, id, value)
	if _, err := evalJS[bool](tb, js); err != nil {
		t.Fatal(err)
	}
}

func textOf(t *testing.T, tb *tab, id string) string {
	t.Helper()
	s, err := evalJS[string](tb, fmt.Sprintf(`(() => { const el = document.querySelector('[data-testid=%q]'); return el.hidden ? '' : el.textContent; })()`, id))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// drawStationArea takes the camera's snapshot in the station form (first with a wrong password:
// the camera's refusal is shown next to the password field), draws a counting area on it with
// the mouse (four corners, then one of them dragged), checks the form at a phone's size, and
// returns the area as drawn, normalised to the picture.
func drawStationArea(t *testing.T, admin *tab, password string) [][2]float64 {
	t.Helper()
	setInput(t, admin, "station-password", "not-"+password)
	admin.click(t, "station-snapshot")
	admin.waitJS(t, 20*time.Second, `!document.querySelector('[data-testid="station-password-error"]').hidden`, "the camera's refusal of the wrong password")
	if msg := textOf(t, admin, "station-password-error"); !strings.Contains(msg, "user name and password") || strings.Contains(msg, password) {
		t.Fatalf("the wrong password's error: %q", msg)
	}
	if invalid, _ := evalJS[string](admin, `document.querySelector('[data-testid="station-password"]').getAttribute('aria-invalid') || ''`); invalid != "true" {
		t.Errorf("the password field is not marked invalid: %q", invalid)
	}
	setInput(t, admin, "station-password", password)
	if msg := textOf(t, admin, "station-password-error"); msg != "" {
		t.Errorf("the error stays once the password is edited: %q", msg)
	}

	start := time.Now()
	admin.click(t, "station-snapshot")
	admin.waitJS(t, 20*time.Second, `!document.querySelector('[data-testid="station-stage"]').hidden &&
		(window.ebrcsAdmin.stationSnapshot || {}).width === 320 && (window.ebrcsAdmin.stationSnapshot || {}).height === 240`, "the camera's snapshot (320x240)")
	t.Logf("snapshot shown %v after the click", time.Since(start).Round(time.Millisecond))
	if a := stationArea(t, admin); a.Area != "lower" || len(a.Points) != 4 || a.Points[0] != [2]float64{0, 0.5} {
		t.Fatalf("the preset chosen before is not shown on the snapshot: %+v", a)
	}

	// The corners, clicked with the mouse on the picture; then the third is dragged.
	want := [][2]float64{{0.15, 0.3}, {0.85, 0.25}, {0.8, 0.9}, {0.2, 0.85}}
	raw, err := evalJS[string](admin, `(() => { const c = document.querySelector('[data-testid="station-area-canvas"]');
		c.scrollIntoView({block: 'center'}); const r = c.getBoundingClientRect(); return JSON.stringify([r.left, r.top, r.width, r.height]); })()`)
	if err != nil {
		t.Fatal(err)
	}
	var box [4]float64
	if err := json.Unmarshal([]byte(raw), &box); err != nil || box[2] < 100 || math.Abs(box[2]/box[3]-320.0/240) > 0.02 {
		t.Fatalf("the snapshot's canvas: %v %v, want the picture's 4:3", box, err)
	}
	at := func(p [2]float64) (float64, float64) { return box[0] + p[0]*box[2], box[1] + p[1]*box[3] }
	for _, p := range want {
		x, y := at(p)
		if err := admin.do(5*time.Second, chromedp.MouseClickXY(x, y)); err != nil {
			t.Fatal(err)
		}
	}
	if a := stationArea(t, admin); a.Area != "drawn" || len(a.Points) != 4 {
		t.Fatalf("after four clicks: %+v, want a drawn area of 4 corners (the preset replaced)", a)
	}
	held := func(p *input.DispatchMouseEventParams) {
		p.Button, p.Buttons, p.ClickCount = input.MouseButtonLeft, 1, 1
	}
	fromX, fromY := at(want[2])
	want[2] = [2]float64{0.7, 0.95}
	toX, toY := at(want[2])
	if err := admin.do(5*time.Second,
		chromedp.MouseEvent(chromedp.MousePressed, fromX, fromY, held),
		chromedp.MouseEvent(chromedp.MouseMoved, (fromX+toX)/2, (fromY+toY)/2, held),
		chromedp.MouseEvent(chromedp.MouseMoved, toX, toY, held),
		chromedp.MouseEvent(chromedp.MouseReleased, toX, toY, held),
	); err != nil {
		t.Fatal(err)
	}
	a := stationArea(t, admin)
	if a.Area != "drawn" || len(a.Points) != len(want) {
		t.Fatalf("after the drag: %+v, want the 4 corners drawn (a drag adds none)", a)
	}
	for i := range want {
		if math.Abs(a.Points[i][0]-want[i][0]) > 0.01 || math.Abs(a.Points[i][1]-want[i][1]) > 0.01 {
			t.Fatalf("corner %d: %v, want about %v (all: %v)", i, a.Points[i], want[i], a.Points)
		}
	}
	if s := textOf(t, admin, "station-area-status"); !strings.Contains(s, "4 corners") {
		t.Errorf("the area's status: %q", s)
	}
	// A preset picked from the list (the keyboard's way) shows on the snapshot; picking
	// "Drawn on the snapshot" back brings the drawing back.
	pick := func(value string) stationAreaHook {
		t.Helper()
		if _, err := evalJS[bool](admin, `(() => { const s = document.querySelector('[data-testid="station-area"]'); s.value = '`+value+`'; return s.dispatchEvent(new Event('change', {bubbles: true})); })()`); err != nil {
			t.Fatal(err)
		}
		return stationArea(t, admin)
	}
	if c := pick("centre"); c.Area != "centre" || fmt.Sprint(c.Points) != "[[0.2 0.15] [0.8 0.15] [0.8 0.95] [0.2 0.95]]" {
		t.Fatalf("the centre preset on the snapshot: %+v", c)
	}
	if d := pick("drawn"); d.Area != "drawn" || fmt.Sprint(d.Points) != fmt.Sprint(a.Points) {
		t.Fatalf("the drawing picked back: %+v, want %v", d, a.Points)
	}
	preview, err := evalJS[string](admin, `document.querySelector('[data-testid="station-yaml"]').textContent`)
	if err != nil || !strings.Contains(preview, `roi: "`+roiText(a.Points)+`"`) {
		t.Fatalf("the YAML preview lacks the drawn area %q: %q %v", roiText(a.Points), preview, err)
	}

	// At a phone's size: nothing wider than the screen, 44 px targets, no axe-core finding.
	admin.setViewport(t, phone)
	checkNoSideScroll(t, admin, "the station form with a snapshot")
	sizes, err := evalJS[[][]float64](admin, `['station-snapshot', 'station-area', 'station-area-undo', 'station-area-clear', 'station-stage']
		.map((id) => { const r = document.querySelector('[data-testid="' + id + '"]').getBoundingClientRect(); return [r.width, r.height]; })`)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"station-snapshot", "station-area", "station-area-undo", "station-area-clear"} {
		if sizes[i][0] < 44 || sizes[i][1] < 44 {
			t.Errorf("%s at a phone's size: %.0fx%.0f, want a 44 px target", id, sizes[i][0], sizes[i][1])
		}
	}
	if w := sizes[4][0]; w > float64(phone.width) || w < 300 {
		t.Errorf("the snapshot at a phone's size is %.0f px wide", w)
	}
	checkAxe(t, admin, "the station form with a snapshot, at a phone's size")
	shot(t, admin, "backoffice-station-area-phone")
	admin.setViewport(t, desktop)
	return a.Points
}
