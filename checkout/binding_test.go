package checkout

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/elements/counter"
	"github.com/ebrcs/ebrcs/elements/roigate"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/roi"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

func mustPolygon(t *testing.T, text string) roi.Polygon {
	t.Helper()
	p, err := roi.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustSpec(t *testing.T, yaml string) *pipelines.Spec {
	t.Helper()
	gsttest.Init(t)
	spec, err := pipelines.Load("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func newTestManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// A session's pipeline counts into the session's cart, starts with its ROI and takes its ROI
// changes while it runs; once stopped it is detached and the session is idle again.
func TestSessionBindingFollowsTheROI(t *testing.T) {
	spec := mustSpec(t, `
source: {type: test, width: 64, height: 48}
elements:
  - element: ebrcs_roigate
  - element: ebrcs_counter
sink: {type: fake}
`)
	m := newTestManager(t, Config{})
	square := mustPolygon(t, "0.1,0.1;0.9,0.1;0.9,0.9;0.1,0.9")
	s, err := m.Create(square)
	if err != nil {
		t.Fatal(err)
	}
	sup := pipelines.NewSupervisor(spec, pipelines.SupervisorOptions{MaxRestarts: 0, Binding: s.Binding(nil)})
	sup.Start()
	defer sup.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for sup.Status().State != pipelines.StateRunning {
		if time.Now().After(deadline) {
			t.Fatalf("not running: %+v", sup.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	property := func(factory, name string) string {
		els := sup.ElementsOf(factory)
		if len(els) != 1 {
			t.Fatalf("%d %s elements", len(els), factory)
		}
		v, err := els[0].GetProperty(name)
		if err != nil {
			t.Fatal(err)
		}
		return v.(string)
	}
	if got := property(counter.Name, counter.PropSession); got != s.ID {
		t.Fatalf("the counter counts into %q, want the session %q", got, s.ID)
	}
	if got := property(roigate.Name, roigate.PropROI); got != square.String() {
		t.Fatalf("the gate starts with %q, want the session's %q", got, square.String())
	}
	if !s.busy() {
		t.Fatal("a session with a running pipeline is not busy")
	}
	triangle := mustPolygon(t, "0,0;1,0;0.5,1")
	if _, err := m.SetROI(s.ID, triangle); err != nil {
		t.Fatal(err)
	}
	if got := property(roigate.Name, roigate.PropROI); got != triangle.String() {
		t.Fatalf("after SetROI the gate has %q, want %q", got, triangle.String())
	}
	sup.Stop()
	if s.busy() {
		t.Fatal("the stopped pipeline is still attached")
	}
}

// fakeVideo hands out one media link, noting whose.
type fakeVideo struct {
	link  pipelines.MediaLink
	asked []string
}

func (f *fakeVideo) Output(id string) (pipelines.MediaLink, error) {
	f.asked = append(f.asked, id)
	return f.link, nil
}

type fakeLink struct{ pipelines.MediaLink }

// A standing pipeline with a counter is bound to its station (and a whep sink to the
// station's video); one without is not bound.
func TestManagerBindsStations(t *testing.T) {
	gsttest.Init(t)
	video := &fakeVideo{link: &fakeLink{}}
	m := newTestManager(t, Config{StationVideo: video})
	plain := mustSpec(t, "name: plain\nsource: {type: test}\nsink: {type: fake}\n")
	if b, err := m.Bind(plain); err != nil || b.Configure != nil || b.Media != nil || b.Attach != nil {
		t.Fatalf("a pipeline without a counter: %+v %v", b, err)
	}
	cam := mustSpec(t, "name: cam\nsource: {type: test}\nelements: [{element: ebrcs_counter}]\nsink: {type: whep}\n")
	b, err := m.Bind(cam)
	if err != nil || b.Configure == nil || b.Attach == nil || b.Media != video.link {
		t.Fatalf("a camera with a whep sink: %+v %v", b, err)
	}
	if len(video.asked) != 1 || video.asked[0] != StationID("cam") {
		t.Fatalf("station video asked for %v", video.asked)
	}
	if s, err := m.Get(StationID("cam")); err != nil || !s.IsStation() {
		t.Fatalf("station: %v %v", s, err)
	}
	if stations := m.Stations(); len(stations) != 1 {
		t.Fatalf("stations %+v", stations)
	}
}

// `ebrcs run`'s cart is registered for the run's counters until Close.
func TestRunCart(t *testing.T) {
	run, err := NewRun()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cart.Lookup(run.key); err != nil || c != run.Cart {
		t.Fatalf("lookup: %v", err)
	}
	if run.Binding().Configure == nil {
		t.Fatal("no Configure")
	}
	run.Close()
	if _, err := cart.Lookup(run.key); err == nil {
		t.Fatal("the cart is still registered after Close")
	}
}
