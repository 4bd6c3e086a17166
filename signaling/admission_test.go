package signaling

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/internal/cores"
)

// The admission limit: fixed, none, or derived from the cores and what a session costs.
func TestAdmissionLimit(t *testing.T) {
	if got := newAdmission(3).limit(); got != 3 {
		t.Errorf("fixed limit 3: %d", got)
	}
	if got := newAdmission(-1).limit(); got != 0 {
		t.Errorf("no limit: %d", got)
	}
	a := newAdmission(0)
	want := int(float64(cores.N()) * targetUtilisation / DefaultSessionCost)
	if got := a.limit(); got != want {
		t.Errorf("measured limit before any measurement: %d, want %d", got, want)
	}
	// Sessions that cost twice the default halve it (smoothed: after a while).
	a.cost = 2 * DefaultSessionCost
	if got := a.limit(); got != int(float64(cores.N())*targetUtilisation/(2*DefaultSessionCost)) {
		t.Errorf("limit at twice the cost: %d", got)
	}
}

// Past the limit a new WHIP offer is answered 503 with Retry-After, before any session or
// pipeline is made for it; once a camera leaves, the next one is admitted.
func TestWHIPPastTheLimitIsRefused(t *testing.T) {
	e := newEnv(t, Config{MaxPublishers: 1})
	first, code, body := e.publish("live")
	if first == nil {
		t.Fatalf("first publisher: %d %s", code, body)
	}
	sessions := e.mgr.Sessions()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/whip/live", strings.NewReader(offerSDP(t)))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second publisher: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := e.mgr.Sessions(); got != sessions {
		t.Errorf("a refused offer made a session: %d, then %d", sessions, got)
	}
	if live, limit := e.svc.Admission(); live != 1 || limit != 1 {
		t.Errorf("admission: %d live, limit %d", live, limit)
	}
	if code := e.delete(first.location); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	first.pc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, code, _ := e.publish("live")
		if c != nil {
			c.pc.Close()
			e.delete(c.location)
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the first left: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
