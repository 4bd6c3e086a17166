package web

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/signaling"
)

// sessionRoutes are every route of one session, with a body each would accept.
func sessionRoutes(id string) []struct{ method, path, body string } {
	return []struct{ method, path, body string }{
		{"GET", "/api/sessions/" + id, ""},
		{"PUT", "/api/sessions/" + id + "/roi", `{"points": [[0,0],[1,0],[1,1]]}`},
		{"DELETE", "/api/sessions/" + id + "/roi", ""},
		{"GET", "/api/sessions/" + id + "/cart", ""},
		{"PUT", "/api/sessions/" + id + "/cart", `{"items": [{"product": "Milk", "quantity": 1}]}`},
		{"POST", "/api/sessions/" + id + "/cart/confirm", ""},
		{"GET", "/api/sessions/" + id + "/events?after=0", ""},
		{"GET", "/api/sessions/" + id + "/ws", ""},
		{"POST", "/api/sessions/" + id + "/video", ""},
		{"DELETE", "/api/sessions/" + id, ""},
	}
}

// A session is its shopper's: every route of it answers 401 without credentials and 403 with
// another session's key, and serves its own key (header or cookie) and staff. Before, anyone
// with a session id (listed by the public peers API) could read and edit the cart, confirm
// it, follow its events or delete it.
func TestSessionsBelongToTheirShopper(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	code, created := e.do("POST", "/api/sessions", "")
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, created)
	}
	a, key := created["id"].(string), created["key"].(string)
	if len(key) != 32 {
		t.Fatalf("the new session's key %q: want 32 hex characters", key)
	}
	b := e.create()
	wrong := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no credentials", nil, http.StatusUnauthorized},
		{"another session's key", http.Header{access.KeyHeader: {e.keys[b]}}, http.StatusForbidden},
		{"another session's key as bearer", http.Header{"Authorization": {"Bearer " + e.keys[b]}}, http.StatusForbidden},
		{"another session's key in its cookie", http.Header{"Cookie": {"ebrcs_sk_" + a + "=" + e.keys[b]}}, http.StatusForbidden},
		{"the key for another session's cookie", http.Header{"Cookie": {"ebrcs_sk_" + b + "=" + key}}, http.StatusUnauthorized},
		{"a wrong admin token", http.Header{"X-Admin-Token": {staffToken + "x"}}, http.StatusForbidden},
	}
	sessions := e.mgr.Sessions()
	for _, r := range sessionRoutes(a) {
		for _, w := range wrong {
			code, body := e.doWith(r.method, r.path, r.body, w.header)
			if code != w.want {
				t.Errorf("%s %s with %s: %d %v, want %d", r.method, r.path, w.name, code, body, w.want)
			}
		}
	}
	if n := e.mgr.Sessions(); n != sessions {
		t.Fatalf("%d sessions after refused requests, %d before", n, sessions)
	}
	if got := e.mgr.View(mustGet(t, e.mgr, a)); got.ROI == nil || len(got.Cart.Items) != 0 {
		t.Fatalf("refused requests changed the session: %+v", got)
	}
	// Its own key opens it, in the header or in the cookie, and so do staff.
	if code, body := e.doWith("PUT", "/api/sessions/"+a+"/cart", `{"items": [{"product": "Milk", "quantity": 1}]}`,
		http.Header{"Cookie": {"ebrcs_sk_" + a + "=" + key}}); code != http.StatusOK {
		t.Fatalf("cart edit with the session's cookie: %d %v", code, body)
	}
	if code, body := e.doWith("GET", "/api/sessions/"+a, "", http.Header{access.KeyHeader: {key}}); code != http.StatusOK {
		t.Fatalf("GET with the session's key: %d %v", code, body)
	}
	if code, body := e.doWith("GET", "/api/sessions/"+a, "", http.Header{"Authorization": {"Bearer " + staffToken}}); code != http.StatusOK {
		t.Fatalf("GET with staff's token: %d %v", code, body)
	}
	if _, ok := created["key"]; !ok {
		t.Fatal("no key in the creation answer")
	}
	if code, body := e.do("GET", "/api/sessions/"+a, ""); code != http.StatusOK || body["key"] != nil {
		t.Fatalf("GET shows the key again (it is shown once, at creation): %d %v", code, body)
	}
	if code, _ := e.doWith("DELETE", "/api/sessions/"+a, "", http.Header{access.KeyHeader: {key}}); code != http.StatusNoContent {
		t.Fatalf("DELETE with the session's key: %d", code)
	}
}

func mustGet(t *testing.T, m *checkout.Manager, id string) *checkout.Session {
	t.Helper()
	s, err := m.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The creation answer hands the browser its key as an HttpOnly, SameSite=Strict cookie (so
// that its pages, event streams and WHIP requests carry it, and no other site's requests do).
func TestSessionKeyCookie(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/sessions", nil))
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	resp := http.Response{Header: rec.Header()}
	var found *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "ebrcs_sk_s_") {
			found = c
		}
	}
	if found == nil || !found.HttpOnly || found.SameSite != http.SameSiteStrictMode || found.Path != "/" || found.Value != rec.Header().Get(access.KeyHeader) {
		t.Fatalf("session cookie %+v (header key %q)", found, rec.Header().Get(access.KeyHeader))
	}
}

// Upload tasks are their session's: a task's state and events (which end with the cart) need
// the session's key.
func TestTasksBelongToTheirSession(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	id := e.create()
	code, task := e.upload(id, "video", "clip.mp4", testVideo(t, 10))
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %v", code, task)
	}
	other := e.create()
	for _, path := range []string{"/api/tasks/" + task["id"].(string), "/api/tasks/" + task["id"].(string) + "/events"} {
		if code, body := e.doWith("GET", path, "", nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d %v", path, code, body)
		}
		if code, body := e.doWith("GET", path, "", http.Header{access.KeyHeader: {e.keys[other]}}); code != http.StatusForbidden {
			t.Errorf("GET %s with another session's key: %d %v", path, code, body)
		}
	}
	if code, body := e.do("GET", "/api/tasks/"+task["id"].(string), ""); code != http.StatusOK {
		t.Fatalf("GET the task with its session's key: %d %v", code, body)
	}
}

// Camera stations are staff's: their ROI, cart, events and video need the admin token (a
// shopper's key does not open them), the stations list is staff's, and a station cannot be
// deleted through the session API at all (its pipeline file defines it; a deleted station
// used to leave its camera's pipeline broken until a restart).
func TestStationsBelongToStaff(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	spec := e.mgr.Config().Pipeline
	station, err := e.mgr.Station(spec)
	if err != nil {
		t.Fatal(err)
	}
	shopper := e.create()
	staff := http.Header{"Authorization": {"Bearer " + staffToken}}
	for _, r := range sessionRoutes(station.ID) {
		if code, body := e.doWith(r.method, r.path, r.body, nil); code != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: %d %v", r.method, r.path, code, body)
		}
		if code, body := e.doWith(r.method, r.path, r.body, http.Header{access.KeyHeader: {e.keys[shopper]}}); code != http.StatusUnauthorized {
			t.Errorf("%s %s with a shopper's key: %d %v", r.method, r.path, code, body)
		}
		if code, body := e.doWith(r.method, r.path, r.body, http.Header{"Authorization": {"Bearer not-the-token"}}); code != http.StatusForbidden {
			t.Errorf("%s %s with a wrong token: %d %v", r.method, r.path, code, body)
		}
	}
	if code, body := e.doWith("GET", "/api/stations", "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/stations without credentials: %d %v", code, body)
	}
	if code, body := e.doWith("PUT", "/api/sessions/"+station.ID+"/roi", `{"points": [[0.1,0.1],[0.9,0.1],[0.5,0.9]]}`, staff); code != http.StatusOK {
		t.Fatalf("staff's ROI edit: %d %v", code, body)
	}
	if code, body := e.doWith("DELETE", "/api/sessions/"+station.ID, "", staff); code != http.StatusMethodNotAllowed {
		t.Fatalf("staff's DELETE of a station: %d %v, want 405", code, body)
	}
	if _, err := e.mgr.Get(station.ID); err != nil {
		t.Fatalf("the station is gone: %v", err)
	}
	req := httptest.NewRequest("GET", "/api/stations", nil)
	req.Header = staff
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), station.ID) {
		t.Fatalf("GET /api/stations as staff: %d %s", rec.Code, rec.Body)
	}
}

// The live peers list names every shopper's session and stream: staff only.
func TestPeersListIsStaffOnly(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	guard := &access.Guard{AdminToken: staffToken}
	rtc, err := signaling.NewService(signaling.Config{LoopbackOnly: true}, oneSpec{e.mgr.Config().Pipeline}, e.mgr, nil, guard, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rtc.Close()
	h := (&Server{Pipelines: noPipelines{}, Checkout: e.mgr, Guard: guard, WebRTC: rtc}).Handler()
	for header, want := range map[string]int{"": http.StatusUnauthorized, "Bearer nope": http.StatusUnauthorized, "Bearer " + staffToken: http.StatusOK} {
		req := httptest.NewRequest("GET", "/api/webrtc/peers", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("GET /api/webrtc/peers with %q: %d %s, want %d", header, rec.Code, rec.Body, want)
		}
	}
}

// One client cannot take every session slot: sessions are created at a bounded rate per
// client (429 with Retry-After beyond; staff are not limited), and a session that never had
// media and has an empty cart ends after UnusedTTL however often it is read. Before, 52
// POSTs took all 64 slots for 30 minutes.
func TestSessionSlotsCannotBeHoarded(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{MaxSessions: 64, UnusedTTL: 400 * time.Millisecond}, 0)
	guard := &access.Guard{AdminToken: staffToken, Limiter: access.NewRateLimiter(3, nil)}
	h := (&Server{Pipelines: noPipelines{}, Checkout: e.mgr, Catalog: e.catalog, Guard: guard}).Handler()
	post := func(remote string, header http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/sessions", nil)
		req.RemoteAddr = remote
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := 0; i < 3; i++ {
		if rec := post("203.0.113.7:4000", nil); rec.Code != http.StatusCreated {
			t.Fatalf("session %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := post("203.0.113.7:4001", http.Header{"X-Forwarded-For": {"198.51.100.1"}}) // not a trusted proxy: ignored
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("4th session from one client: %d %s (Retry-After %q), want 429", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	if rec := post("203.0.113.8:4000", nil); rec.Code != http.StatusCreated {
		t.Fatalf("another client: %d %s", rec.Code, rec.Body)
	}
	if rec := post("203.0.113.7:4000", http.Header{"Authorization": {"Bearer " + staffToken}}); rec.Code != http.StatusCreated {
		t.Fatalf("staff: %d %s", rec.Code, rec.Body)
	}

	// Unused sessions end even while read; one with something in its cart stays.
	unused, kept := e.create(), e.create()
	if code, body := e.do("PUT", "/api/sessions/"+kept+"/cart", `{"items": [{"product": "Milk", "quantity": 1}]}`); code != http.StatusOK {
		t.Fatalf("cart: %d %v", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := e.do("GET", "/api/sessions/"+unused, "")
		if code == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an unused session (no media, empty cart), read every 50 ms, did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := e.do("GET", "/api/sessions/"+kept, ""); code != http.StatusOK {
		t.Fatalf("a session with a cart expired as unused: %d", code)
	}
}

// Behind a trusted reverse proxy the client is the address the proxy names.
func TestRateLimiterTrustsOnlyConfiguredProxies(t *testing.T) {
	l := access.NewRateLimiter(1, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	req := httptest.NewRequest("POST", "/", nil)
	req.RemoteAddr = "10.1.2.3:5000"
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.9, 10.9.9.9")
	if got := l.ClientOf(req); got != "198.51.100.9" {
		t.Fatalf("client behind a trusted proxy: %q", got)
	}
	req.RemoteAddr = "192.0.2.1:5000"
	if got := l.ClientOf(req); got != "192.0.2.1" {
		t.Fatalf("client claiming X-Forwarded-For: %q", got)
	}
}

// Another site's page cannot change anything through a visitor's browser: a simple
// cross-origin POST (text/plain, which CORS does not stop) is refused and creates nothing;
// JSON endpoints take only application/json bodies. Before, a text/plain POST /api/sessions
// from any page created a session.
func TestCrossSiteRequestsAreRefused(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	id := e.create()
	before := e.mgr.Sessions()
	for _, h := range []http.Header{
		{"Origin": {"https://evil.example"}, "Content-Type": {"text/plain"}},
		{"Origin": {"null"}, "Content-Type": {"text/plain"}},
		{"Sec-Fetch-Site": {"cross-site"}, "Content-Type": {"text/plain"}},
		{"Origin": {"https://evil.example"}, "Content-Type": {"application/json"}},
	} {
		if code, body := e.doWith("POST", "/api/sessions", `{}`, h); code != http.StatusForbidden || body["field"] != "Origin" {
			t.Errorf("POST /api/sessions with %v: %d %v, want 403", h, code, body)
		}
		h.Set(access.KeyHeader, e.keys[id])
		if code, body := e.doWith("PUT", "/api/sessions/"+id+"/cart", `{"items": []}`, h); code != http.StatusForbidden {
			t.Errorf("PUT cart with %v: %d %v, want 403", h, code, body)
		}
	}
	if n := e.mgr.Sessions(); n != before {
		t.Fatalf("cross-site requests created sessions: %d, %d before", n, before)
	}
	// JSON must say it is JSON.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		code, body := e.doWith("PUT", "/api/sessions/"+id+"/roi", `{"points": [[0,0],[1,0],[1,1]]}`,
			http.Header{"Content-Type": {ct}, access.KeyHeader: {e.keys[id]}, "Authorization": {"Bearer " + staffToken}})
		if code != http.StatusUnsupportedMediaType || body["field"] != "Content-Type" {
			t.Errorf("PUT roi as %s: %d %v, want 415", ct, code, body)
		}
	}
	// The server's own pages and non-browser clients are not affected.
	if code, body := e.doWith("POST", "/api/sessions", "", http.Header{"Origin": {"http://example.com"}, "Sec-Fetch-Site": {"same-origin"}}); code != http.StatusCreated {
		t.Fatalf("same-origin POST: %d %v", code, body)
	}
}

// A ROI has at most 64 points: 60,000 were once accepted (anonymously, on stations) and made
// the overlay 90 times slower.
func TestROIPointsAreCapped(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	id := e.create()
	points := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"points": [`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "[%g, %g]", 0.5+0.4*math.Cos(2*math.Pi*float64(i)/float64(n)), 0.5+0.4*math.Sin(2*math.Pi*float64(i)/float64(n)))
		}
		b.WriteString("]}")
		return b.String()
	}
	if code, body := e.staff("PUT", "/api/sessions/"+id+"/roi", points(64)); code != http.StatusOK {
		t.Fatalf("64 points: %d %v", code, body)
	}
	for _, n := range []int{65, 10000} {
		if code, body := e.staff("PUT", "/api/sessions/"+id+"/roi", points(n)); code != http.StatusBadRequest || body["field"] != "points" {
			t.Errorf("%d points: %d %v, want 400 naming points", n, code, body)
		}
		if code, body := e.staff("POST", "/api/sessions", `{"roi": `+points(n)+`}`); code != http.StatusBadRequest || body["field"] != "roi.points" {
			t.Errorf("a new session with %d points: %d %v", n, code, body)
		}
	}
}

// A cart edit is checked after its lines are merged: 25,000 duplicate lines once added up past
// the 10,000 quantity cap and cost 1.2 s of CPU a request.
func TestCartEditIsValidatedMerged(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	id := e.create()
	if code, body := e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [{"product": "Milk", "quantity": 2}]}`); code != http.StatusOK {
		t.Fatalf("cart: %d %v", code, body)
	}
	lines := func(n, quantity int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"product": "Milk", "quantity": %d}`, quantity)
		}
		return `{"items": [` + strings.Join(items, ",") + `]}`
	}
	for _, tc := range []struct {
		name string
		body string
	}{
		{"25,000 duplicate lines", lines(25000, 1)},
		{"two lines adding up past the cap", lines(2, 6000)},
		{"10,001 lines of one", lines(10001, 1)},
	} {
		start := time.Now()
		code, body := e.do("PUT", "/api/sessions/"+id+"/cart", tc.body)
		if code != http.StatusBadRequest || body["field"] != "items" {
			t.Errorf("%s: %d %v, want 400 naming items", tc.name, code, body)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s took %v", tc.name, d)
		}
	}
	if code, body := e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [`+strings.Repeat(`{"product": "Milk", "quantity": 1},`, 40000)+`{}]}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 1.4 MB cart edit: %d %v, want 413", code, body)
	}
	if _, c := e.do("GET", "/api/sessions/"+id+"/cart", ""); fmt.Sprint(c["items"]) != "[map[product:Milk product_id:1 quantity:2]]" {
		t.Fatalf("refused edits changed the cart: %v", c["items"])
	}
	if code, body := e.do("PUT", "/api/sessions/"+id+"/cart", lines(2, 5000)); code != http.StatusOK {
		t.Fatalf("two lines adding up to the cap: %d %v", code, body)
	}
}
