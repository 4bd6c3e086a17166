package checkout

import (
	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/pipelines"
)

// EventSink is the one way a node's events leave the process (more than one server: package
// cluster publishes them to NATS JetStream). It gets every event of every session and
// station as its stream publishes it (counts, reviews, cart edits, confirmations with their
// purchase, ROI changes, uploads' ends, the close), each session's opening, and the state
// changes of the pipelines bound to a session (a station's camera, a live camera, an upload).
//
// Emit is called in the order the events happen, from the goroutine or streaming thread that
// publishes them, sometimes with a session's stream locked: it must not block. It keeps or
// drops an event itself and counts what it drops. Without one (Config.Events nil) events stay
// in the process, as on a single server.
type EventSink interface {
	Emit(Outgoing)
}

// Outgoing is one event leaving the node.
type Outgoing struct {
	// Session is the session or station the event belongs to.
	Session string
	// Station is the station's pipeline, for a station's events ("" for a shopper's session).
	Station string
	// Event is the event as the session's stream has it (Seq is the stream's; 0 for the
	// types only exported, EventOpened and EventState).
	Event cart.Event
	// Pipeline is the pipeline's status, for an EventState.
	Pipeline *pipelines.Status
}

// Event types that exist only outside the process (the session's own stream has none).
const (
	// EventOpened: a session or station was opened.
	EventOpened cart.EventType = "opened"
	// EventState: a pipeline bound to the session changed state (Outgoing.Pipeline).
	EventState cart.EventType = "state"
)

// noEvents is the EventSink of a single server: events stay in the process.
type noEvents struct{}

func (noEvents) Emit(Outgoing) {}

// forwarder is what a session's stream hands every event it publishes (cart.NewForwardingBus).
// The history (Config.History) gets them too.
func (m *Manager) forwarder(id, station string) func(cart.Event) {
	_, none := m.cfg.Events.(noEvents)
	rec := m.history
	if none && rec == nil {
		return nil
	}
	sink := m.cfg.Events
	return func(e cart.Event) {
		o := Outgoing{Session: id, Station: station, Event: e}
		if !none {
			sink.Emit(o)
		}
		if rec != nil {
			rec.offer(o)
		}
	}
}

// pipelineState is the Binding.OnState of the session's pipelines.
func (s *Session) pipelineState(st pipelines.Status) {
	s.sink.Emit(Outgoing{Session: s.ID, Station: s.station, Pipeline: &st,
		Event: cart.Event{Type: EventState, Time: st.Since.UTC(), Status: string(st.State), Error: st.LastError}})
}

// opened tells the sink a session was opened.
func (s *Session) opened() {
	s.sink.Emit(Outgoing{Session: s.ID, Station: s.station, Event: cart.Event{Type: EventOpened, Time: s.Created}})
}

// Movable reports whether nothing would be lost if the shopper went to another node: a
// shopper's session that never had media and has an empty cart (the checkout page makes its
// session just before it offers its camera).
func (s *Session) Movable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.station == "" && !s.used && len(s.tasks) == 0 && len(s.running) == 0 && len(s.Cart.Lines()) == 0
}
