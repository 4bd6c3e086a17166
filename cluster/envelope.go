package cluster

import (
	"fmt"
	"strings"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
)

// Envelope is one event on the stream, as JSON: the schema README.md documents ("More than
// one server"). A consumer deduplicates by ID (at-least-once delivery: a message can come
// twice, after the broker or the node restarted) and orders a node's events by Seq within a
// Boot.
type Envelope struct {
	// ID is "<node>.<boot>.<seq>": unique, the same in every copy of the event (also its
	// Nats-Msg-Id header, by which JetStream drops copies it sees within its duplicate window).
	ID   string `json:"id"`
	Node string `json:"node"`
	// Boot names this run of the node (it changes at every start); Seq numbers the node's
	// events of one boot, 1, 2, 3..., in the order they happened.
	Boot string    `json:"boot"`
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Type is the event's type (Event.Type): count, cooldown, unknown, review, roi, cart,
	// confirmed, roi_set, closed, done, failed; and opened and state, which only the stream has.
	Type cart.EventType `json:"type"`
	// Session is the session or station (st_<pipeline>) the event belongs to; Station its
	// pipeline, for a station's events.
	Session string `json:"session"`
	Station string `json:"station,omitempty"`
	// Event is the event as the session's own stream (GET /api/sessions/{id}/events) has it.
	Event cart.Event `json:"event"`
	// Pipeline is the pipeline's new state, for a state event.
	Pipeline *PipelineState `json:"pipeline,omitempty"`
}

// PipelineState is a pipeline's state in a state event.
type PipelineState struct {
	Name        string    `json:"name"`
	State       string    `json:"state"`
	Restarts    int       `json:"restarts"`
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// Subject is where an event is published: "ebrcs.<node>.<session>.<type>". Subscribe to
// "ebrcs.*.*.count" for every count, "ebrcs.<node>.>" for one node, "ebrcs.*.st_<pipeline>.>"
// for one station.
func Subject(node, session string, typ cart.EventType) string {
	return fmt.Sprintf("%s.%s.%s.%s", SubjectPrefix, token(node), token(session), token(string(typ)))
}

// token makes s a valid subject token: no '.', wildcard or space.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f:
			return '_'
		}
		return r
	}, s)
}

// envelope wraps what left a session for the stream.
func envelope(node, boot string, seq uint64, o checkout.Outgoing) Envelope {
	e := Envelope{ID: fmt.Sprintf("%s.%s.%d", node, boot, seq), Node: node, Boot: boot, Seq: seq,
		Time: o.Event.Time, Type: o.Event.Type, Session: o.Session, Station: o.Station, Event: o.Event}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if p := o.Pipeline; p != nil {
		e.Pipeline = &PipelineState{Name: p.Name, State: string(p.State), Restarts: p.Restarts,
			LastError: p.LastError, NextAttempt: p.NextAttempt}
	}
	return e
}
