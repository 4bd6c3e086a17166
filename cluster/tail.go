package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TailOptions choose what Tail follows.
type TailOptions struct {
	// Stream is the events' stream (DefaultStream).
	Stream string
	// Subject filters the events ("ebrcs.>": all; "ebrcs.*.*.count": counts; "ebrcs.n1.>":
	// node n1's).
	Subject string
	// Since starts that far back (0: only new events); All starts at the stream's beginning.
	Since time.Duration
	All   bool
	// JSON prints each event's envelope as it is on the stream, one per line; else a line
	// for people.
	JSON bool
	// Dedup drops copies of an event already printed (by id).
	Dedup bool
}

// Tail follows the events' stream at url and prints each event to w until ctx ends.
func Tail(ctx context.Context, url string, o TailOptions, w io.Writer) error {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Subject == "" {
		o.Subject = SubjectPrefix + ".>"
	}
	nc, err := nats.Connect(url, nats.Name("ebrcs events tail"), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return fmt.Errorf("events broker %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{o.Subject}, DeliverPolicy: jetstream.DeliverNewPolicy}
	switch {
	case o.All:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case o.Since > 0:
		start := time.Now().Add(-o.Since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := js.OrderedConsumer(ctx, o.Stream, cfg)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("no stream %q on %s yet: no node has published an event", o.Stream, url)
		}
		return err
	}
	msgs, err := cons.Messages()
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		msgs.Stop()
	}()
	seen := newSeen(100000)
	for {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return err
		}
		var env Envelope
		if err := json.Unmarshal(m.Data(), &env); err != nil {
			fmt.Fprintf(w, "%s: not an event: %v\n", m.Subject(), err)
			continue
		}
		if o.Dedup && !seen.add(env.ID) {
			continue
		}
		if o.JSON {
			fmt.Fprintf(w, "%s\n", m.Data())
			continue
		}
		fmt.Fprintln(w, Describe(env))
	}
}

// Describe is an event on one line for people: time, node, session, type and what happened.
func Describe(e Envelope) string {
	var what string
	ev := e.Event
	switch e.Type {
	case "count":
		what = fmt.Sprintf("%s ×%d (score %.2f)", ev.Product, ev.Quantity, ev.Score)
	case "cooldown":
		what = fmt.Sprintf("%s again %.1fs after its count", ev.Product, ev.SinceLast)
	case "roi":
		what = ev.Status
	case "review":
		what = "asks which product it was"
	case "cart", "confirmed":
		if ev.Cart != nil {
			var items []string
			for _, l := range ev.Cart.Items {
				items = append(items, fmt.Sprintf("%s ×%d", l.Product, l.Quantity))
			}
			what = fmt.Sprintf("v%d [%s]", ev.Cart.Version, strings.Join(items, ", "))
			if ev.Cart.Purchase != nil {
				what += fmt.Sprintf(" purchase %d", ev.Cart.Purchase.ID)
			}
		}
	case "state":
		if e.Pipeline != nil {
			what = fmt.Sprintf("pipeline %s %s", e.Pipeline.Name, e.Pipeline.State)
			if e.Pipeline.LastError != "" {
				what += ": " + e.Pipeline.LastError
			}
		}
	case "closed", "failed":
		what = ev.Error
	}
	return strings.TrimRight(fmt.Sprintf("%s %-12s %-30s %-9s %s", e.Time.Local().Format("15:04:05.000"), e.Node, e.Session, e.Type, what), " ")
}

// seen remembers the last ids printed, for Dedup.
type seen struct {
	ids   map[string]struct{}
	order []string
	max   int
}

func newSeen(max int) *seen { return &seen{ids: map[string]struct{}{}, max: max} }

// add reports whether id is new, and remembers it.
func (s *seen) add(id string) bool {
	if _, ok := s.ids[id]; ok {
		return false
	}
	s.ids[id] = struct{}{}
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	return true
}
