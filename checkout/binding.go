package checkout

import (
	"fmt"
	"runtime"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/elements/counter"
	"github.com/ebrcs/ebrcs/elements/roigate"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/roi"
)

// Every pipeline that counts is bound here: a shopper's live camera (package signaling), an
// upload (tasks.go), a camera station (the pipeline manager, through Manager.Bind) and a
// pipeline run on its own (`ebrcs run`, NewRun). Its ebrcs_counter counts into a cart
// registered under a key (newCart, configure); a session's ebrcs_roigate starts with the
// session's ROI and takes its changes while the pipeline runs (pushROI).

// StationVideo gives a camera station's whep sink its media link: the station's annotated
// video for WHEP viewers (signaling.Outputs).
type StationVideo interface {
	Output(sessionID string) (pipelines.MediaLink, error)
}

var _ pipelines.Binder = (*Manager)(nil)

// Binding ties a pipeline to the session: its ebrcs_counter counts into the session's cart,
// its ebrcs_roigate starts with the session's ROI and takes its changes while the pipeline
// runs (the session does not expire meanwhile). media, when set, links its webrtc source or
// sink (a live camera's, a station's video).
func (s *Session) Binding(media pipelines.MediaLink) pipelines.Binding {
	return pipelines.Binding{Configure: configure(s.ID, s.ROI), Media: media, Attach: s.attach, OnState: s.pipelineState}
}

// attach registers a running pipeline of the session (Binding.Attach); detach undoes it.
func (s *Session) attach(sup *pipelines.Supervisor) (detach func()) {
	s.mu.Lock()
	s.running[sup] = struct{}{}
	s.used = true
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.running, sup)
		s.lastActive = time.Now().UTC()
		s.mu.Unlock()
	}
}

// Bind implements pipelines.Binder for the pipeline manager: a standing pipeline with an
// ebrcs_counter (an IP camera over a counter) is a checkout station (Station), and with a
// whep sink it is the station's annotated video for WHEP viewers. Other pipelines are not
// bound.
func (m *Manager) Bind(spec *pipelines.Spec) (pipelines.Binding, error) {
	if !spec.Uses(counter.Name) {
		return pipelines.Binding{}, nil
	}
	station, err := m.Station(spec)
	if err != nil {
		return pipelines.Binding{}, fmt.Errorf("checkout station: %w", err)
	}
	var media pipelines.MediaLink
	if spec.Sink.Type == "whep" && m.cfg.StationVideo != nil {
		if media, err = m.cfg.StationVideo.Output(station.ID); err != nil {
			media, err = nil, fmt.Errorf("checkout station video: %w", err)
		}
	}
	return station.Binding(media), err
}

// Run is a pipeline run on its own (`ebrcs run`) with a cart of its own, which every
// ebrcs_counter of the pipeline counts into.
type Run struct {
	Cart   *cart.Cart
	Events *cart.Bus // the cart's events
	key    string
}

// NewRun opens the cart of one run; Close releases it once the run has ended.
func NewRun() (*Run, error) {
	key := newID("run")
	c, events, err := newCart(key, nil)
	if err != nil {
		return nil, err
	}
	return &Run{Cart: c, Events: events, key: key}, nil
}

// Binding ties the run's pipeline to the run's cart.
func (r *Run) Binding() pipelines.Binding {
	return pipelines.Binding{Configure: configure(r.key, nil)}
}

// Close ends the cart's event stream (if it is still open) and releases the cart.
func (r *Run) Close() {
	r.Events.Close()
	cart.Unregister(r.key)
}

// newCart makes a cart with its event stream, registered (package cart) under key: the
// ebrcs_counter elements that configure(key, …) binds count into it. cart.Unregister(key)
// releases it. forward, when set, gets every event of the stream (cart.NewForwardingBus).
func newCart(key string, forward func(cart.Event), opts ...cart.Option) (*cart.Cart, *cart.Bus, error) {
	events := cart.NewForwardingBus(0, forward)
	c := cart.NewCart(events, opts...)
	if err := cart.Register(key, c); err != nil {
		return nil, nil, err
	}
	return c, events, nil
}

// configure is the Binding.Configure of a pipeline that counts into the cart registered under
// key: every ebrcs_counter names the key, and, when roiOf is set, every ebrcs_roigate starts
// with the ROI it returns.
func configure(key string, roiOf func() roi.Polygon) func(*pipelines.Step, *gst.Element) error {
	return func(step *pipelines.Step, el *gst.Element) error {
		switch {
		case step.Element == counter.Name:
			return el.SetProperty(counter.PropSession, key)
		case step.Element == roigate.Name && roiOf != nil:
			return el.SetProperty(roigate.PropROI, roiOf().String())
		}
		return nil
	}
}

// pushROI gives the ebrcs_roigate elements of running pipelines a new ROI (nil: none), from
// their next frame.
func pushROI(running []*pipelines.Supervisor, area roi.Polygon) {
	text := area.String()
	for _, sup := range running {
		for _, el := range sup.ElementsOf(roigate.Name) {
			el.SetProperty(roigate.PropROI, text)
			// The pipeline may end meanwhile and drop its own references: ours must outlive
			// the call, which runs the element's Go setter.
			runtime.KeepAlive(el)
		}
	}
}
