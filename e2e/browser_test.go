package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// chromiumPath is Debian's Chromium, installed by scripts/install-deps.sh.
const chromiumPath = "/usr/bin/chromium"

// browser is a headless Chromium whose camera plays a Y4M file.
type browser struct {
	first *tab        // the first tab
	out   *tailWriter // Chromium's own stdout and stderr
}

// tab is one page of the browser, with its console messages and uncaught exceptions.
type tab struct {
	name    string
	ctx     context.Context
	console *tailWriter

	mu         sync.Mutex
	violations []string // what the page's Content-Security-Policy blocked
}

// checkPolicy fails the test when the page did something its Content-Security-Policy
// blocked: the policy must never be what breaks a page.
func (tb *tab) checkPolicy(t *testing.T) {
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		if len(tb.violations) > 0 {
			t.Errorf("%s: the Content-Security-Policy blocked %d things:\n%s", tb.name, len(tb.violations), strings.Join(tb.violations, "\n"))
		}
	})
}

// startBrowser starts Chromium with the fake camera playing camera (a Y4M file, looped), in
// a fresh profile; it is killed when the test ends. Its first tab is named first.
func startBrowser(t *testing.T, camera, first string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium: %v (scripts/install-deps.sh installs it)", err)
	}
	// Chromium complains at length that there is no D-Bus here: not worth keeping.
	b := &browser{out: &tailWriter{max: 100, drop: []string{"dbus/", "mdns_responder"}}}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.CombinedOutput(b.out),
		chromedp.WindowSize(1280, 900),
		// chromedp makes a fresh --user-data-dir in the temp dir and removes it (killing
		// any helper still using it) when the browser is cancelled.
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", camera),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc) // kills the browser and waits for it
	b.first = &tab{name: first, console: newTailWriter(100)}
	b.first.checkPolicy(t)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.first.listen))
	t.Cleanup(cancelTab)
	b.first.ctx = ctx
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v\n%s", err, b.out.tail(30))
	}
	t.Logf("Chromium started in %v", time.Since(start).Round(10*time.Millisecond))
	return b
}

// newTab opens another page in the browser.
func (b *browser) newTab(t *testing.T, name string) *tab {
	t.Helper()
	tb := &tab{name: name, console: newTailWriter(100)}
	tb.checkPolicy(t)
	ctx, cancel := chromedp.NewContext(b.first.ctx, chromedp.WithListener(tb.listen))
	t.Cleanup(cancel)
	tb.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	return tb
}

// listen keeps the page's console messages and uncaught exceptions (it runs on chromedp's
// reading goroutine: it only stores).
func (tb *tab) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		tb.console.Printf("console.%s: %s", ev.Type, strings.Join(parts, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		tb.console.Printf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber)
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		tb.console.Printf("log.%s (%s): %s %s", e.Level, e.Source, e.Text, e.URL)
		if strings.Contains(e.Text, "Content Security Policy") {
			tb.mu.Lock()
			tb.violations = append(tb.violations, e.Text)
			tb.mu.Unlock()
		}
	}
}

// do runs actions on the tab with a timeout.
func (tb *tab) do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// open loads url and waits for the page's script to have run (ready is a JS expression).
func (tb *tab) open(t *testing.T, url, ready string) {
	t.Helper()
	if err := tb.do(20*time.Second, chromedp.Navigate(url)); err != nil {
		t.Fatalf("%s: open %s: %v", tb.name, url, err)
	}
	tb.waitJS(t, 10*time.Second, ready, "the page's script to start")
}

// evalJS evaluates expr in the page (awaiting a promise) and decodes its value.
func evalJS[T any](tb *tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// waitJS polls the boolean JS expression expr until it is true, failing the test after
// timeout; it returns how long that took.
func (tb *tab) waitJS(t *testing.T, timeout time.Duration, expr, what string) time.Duration {
	t.Helper()
	d, err := tb.pollJS(timeout, expr)
	if err != nil {
		t.Fatalf("%s: waiting %v for %s (%s): %v", tb.name, timeout, what, expr, err)
	}
	return d
}

// pollJS is waitJS returning the error.
func (tb *tab) pollJS(timeout time.Duration, expr string) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	var last error
	for {
		ok, err := evalJS[bool](tb, "Boolean("+expr+")")
		if err == nil && ok {
			return time.Since(start), nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return time.Since(start), fmt.Errorf("still false; last error: %v", last)
			}
			return time.Since(start), fmt.Errorf("still false")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// click clicks the element with data-testid id, as a user would (a real mouse event).
func (tb *tab) click(t *testing.T, id string) {
	t.Helper()
	if err := tb.do(10*time.Second, chromedp.Click(testid(id))); err != nil {
		t.Fatalf("%s: click %s: %v", tb.name, id, err)
	}
}

// testid selects the element with this data-testid.
func testid(id string) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(`[data-testid=%q]`, id)) }

// hooks is window.ebrcs, the checkout page's test hooks.
type hooks struct {
	State       string       `json:"state"`
	SessionID   string       `json:"sessionId"`
	Cart        *apiCart     `json:"cart"`
	Events      []hookEvent  `json:"events"`
	EventsState string       `json:"eventsState"`
	ROI         [][2]float64 `json:"roi"`
	Error       string       `json:"error"`
}

type hookEvent struct {
	Seq        int64   `json:"seq"`
	Type       string  `json:"type"`
	Product    string  `json:"product"`
	Score      float64 `json:"score"`
	Quantity   int     `json:"quantity"`
	Status     string  `json:"status"`
	StreamTime float64 `json:"stream_time"`
}

func (e hookEvent) String() string {
	s := fmt.Sprintf("#%d %s", e.Seq, e.Type)
	if e.StreamTime > 0 {
		s += fmt.Sprintf(" t=%.2fs", e.StreamTime)
	}
	if e.Product != "" {
		s += " " + e.Product
	}
	if e.Score > 0 {
		s += fmt.Sprintf(" score %.3f", e.Score)
	}
	if e.Quantity > 0 {
		s += fmt.Sprintf(" qty %d", e.Quantity)
	}
	if e.Status != "" {
		s += " " + e.Status
	}
	return s
}

// hooks reads window.ebrcs.
func (tb *tab) hooks() (hooks, error) {
	var h hooks
	raw, err := evalJS[string](tb, `JSON.stringify(window.ebrcs)`)
	if err != nil {
		return h, err
	}
	err = json.Unmarshal([]byte(raw), &h)
	return h, err
}

// cartQuantities reads the cart the page shows (window.ebrcs.cart), product → quantity.
func (tb *tab) cartQuantities() (map[string]int, error) {
	h, err := tb.hooks()
	if err != nil {
		return nil, err
	}
	if h.Cart == nil {
		return map[string]int{}, nil
	}
	return h.Cart.quantities(), nil
}

// diagnose logs, when the test has failed, what the page, the browser and the server were
// doing. Register it last (t.Cleanup runs it first, while all of them still run).
func diagnose(t *testing.T, s *server, b *browser, tabs ...*tab) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, tb := range tabs {
			if h, err := tb.hooks(); err == nil && h.State != "" {
				t.Logf("%s: window.ebrcs: state %s, session %s, events %s, error %q, cart %s",
					tb.name, h.State, h.SessionID, h.EventsState, h.Error, cartString(h.Cart))
				events := h.Events
				if len(events) > 25 {
					events = events[len(events)-25:]
				}
				var lines []string
				for _, e := range events {
					lines = append(lines, "  "+e.String())
				}
				t.Logf("%s: last %d of %d session events:\n%s", tb.name, len(events), len(h.Events), strings.Join(lines, "\n"))
			}
			if text, err := evalJS[string](tb, `document.querySelector('[data-testid="message"]')?.textContent || ''`); err == nil && text != "" {
				t.Logf("%s: message shown: %q", tb.name, text)
			}
			if c := tb.console.tail(30); c != "" {
				t.Logf("%s: console:\n%s", tb.name, c)
			}
		}
		if s != nil {
			if code, body, err := s.get("/api/webrtc/peers"); err == nil {
				t.Logf("server: GET /api/webrtc/peers: %d %s", code, body)
			}
			t.Logf("server log (tail):\n%s", s.log.tail(40))
		}
		if b != nil {
			t.Logf("Chromium output (tail):\n%s", b.out.tail(20))
		}
	})
}

func cartString(c *apiCart) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("%v (version %d, confirmed %v)", c.quantities(), c.Version, c.Confirmed)
}

// writeCamera renders sc as the browser's fake camera: 640x480 Y4M at 30 fps.
func writeCamera(t *testing.T, sc *scenario.Scenario, products []scenario.Product) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), sc.Name+".y4m")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := scenario.WriteY4M(w, sc, products); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("camera: %s, %v, rendered in %v", filepath.Base(path), sc.Duration(), time.Since(start).Round(10*time.Millisecond))
	return path
}

func skipIfShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server and Chromium and streams a camera for about a minute")
	}
}
