package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/internal/spool"
)

// Publisher is the checkout.EventSink of a node with an events broker: Emit numbers each
// event and appends it to the on-disk queue (never blocking on the network); its sender
// publishes the queue to the JetStream stream, in order, and removes events from the queue
// only once the broker acknowledged them. While the broker is away events wait in the queue,
// up to its bound; beyond it they are dropped and counted (ebrcs_events_dropped_total).
type Publisher struct {
	node, boot string
	queue      *spool.Queue
	js         jetstream.JetStream
	stream     jetstream.StreamConfig
	log        *slog.Logger

	mu  sync.Mutex // orders numbering and queueing
	seq uint64
	// lastDropLog rate-limits the log of drops: one line a minute says how many.
	lastDropLog time.Time
	dropsSince  int

	published chan struct{} // a token after every acknowledged batch (tests wait on it)
}

var _ checkout.EventSink = (*Publisher)(nil)

// Batches: at most this many events, or about this many bytes, are in flight at once.
const (
	batchEvents = 512
	batchBytes  = 1 << 20
	// ackWait is how long a published event waits for the broker's acknowledgement before it
	// is sent again.
	ackWait = 5 * time.Second
)

// record is how an event waits in the queue: subject, NUL, id, NUL, the JSON envelope.
func record(subject, id string, body []byte) []byte {
	rec := make([]byte, 0, len(subject)+len(id)+2+len(body))
	rec = append(append(append(append(append(rec, subject...), 0), id...), 0), body...)
	return rec
}

func parseRecord(rec []byte) (subject, id string, body []byte, ok bool) {
	s, rest, ok1 := bytes.Cut(rec, []byte{0})
	i, b, ok2 := bytes.Cut(rest, []byte{0})
	return string(s), string(i), b, ok1 && ok2
}

// Emit queues one event for the stream. It never blocks on the network: a full queue (or a
// failing disk) drops the event, counted.
func (p *Publisher) Emit(o checkout.Outgoing) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	env := envelope(p.node, p.boot, p.seq, o)
	body, err := json.Marshal(env)
	if err == nil {
		err = p.queue.Append(record(Subject(p.node, env.Session, env.Type), env.ID, body))
	}
	switch {
	case err == nil:
		return
	case errors.Is(err, spool.ErrFull):
		metrics.EventsDropped.WithLabelValues("queue_full").Inc()
	default:
		metrics.EventsDropped.WithLabelValues("error").Inc()
	}
	p.dropsSince++
	if now := time.Now(); now.Sub(p.lastDropLog) >= time.Minute {
		p.log.Warn("events dropped: the on-disk queue cannot take them", "dropped", p.dropsSince, "error", err)
		p.lastDropLog, p.dropsSince = now, 0
	}
}

// run sends the queue to the broker until ctx ends.
func (p *Publisher) run(ctx context.Context) {
	backoff := retryMin
	streamReady := false
	for {
		recs, err := p.queue.Read(batchEvents, batchBytes)
		if err != nil && len(recs) == 0 {
			if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return
			}
			p.log.Error("events queue unreadable", "error", err)
			if !sleep(ctx, &backoff) {
				return
			}
			continue
		}
		p.updateGauges()
		if len(recs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-p.queue.Ready():
			}
			continue
		}
		if !streamReady {
			if err := ensureStream(ctx, p.js, p.stream); err != nil {
				p.log.Debug("events stream not ready", "error", err)
				if !sleep(ctx, &backoff) {
					return
				}
				continue
			}
			streamReady = true
		}
		sent, err := p.publish(ctx, recs)
		if sent > 0 {
			if cerr := p.queue.Commit(recs[sent-1].Next); cerr != nil && ctx.Err() == nil {
				p.log.Error("events queue: cannot record what was sent", "error", cerr)
			}
			metrics.EventsPublished.Add(float64(sent))
			backoff = retryMin
			select {
			case p.published <- struct{}{}:
			default:
			}
		}
		if err != nil {
			if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) ||
				errors.Is(err, nats.ErrNoResponders) {
				streamReady = false // the broker lost its stream (a new broker): make it again
			}
			if ctx.Err() != nil {
				return
			}
			p.log.Debug("publishing events; retrying", "error", err, "sent", sent)
			if !sleep(ctx, &backoff) {
				return
			}
		}
	}
}

// publish sends a batch, pipelined, and returns how many events from its start the broker
// acknowledged, in order. Everything after the first failure is sent again later: the stream
// holds a prefix of what one connection sent, and copies of events it already has are dropped
// by their Nats-Msg-Id, so the order holds.
func (p *Publisher) publish(ctx context.Context, recs []spool.Record) (int, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(recs))
	var sendErr error
	for _, r := range recs {
		subject, id, body, ok := parseRecord(r.Data)
		if !ok {
			// Not ours (a damaged queue): skip it rather than stall every later event.
			futures = append(futures, nil)
			continue
		}
		msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, id)
		f, err := p.js.PublishMsgAsync(msg, jetstream.WithExpectStream(p.stream.Name))
		if err != nil {
			sendErr = err
			break
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(ackWait)
	defer timeout.Stop()
	for i, f := range futures {
		if f == nil {
			metrics.EventsDropped.WithLabelValues("rejected").Inc()
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode != jetstream.JSErrCodeStreamNotFound &&
				apiErr.ErrorCode != 0 && apiErr.Code >= 400 && apiErr.Code < 500 && i == 0 {
				// The broker refuses this event for good (too large, ...): drop it rather
				// than stall every later event behind it.
				p.log.Error("the broker refused an event; dropped", "error", err)
				metrics.EventsDropped.WithLabelValues("rejected").Inc()
				return 1, nil
			}
			return i, err
		case <-timeout.C:
			return i, errors.New("no acknowledgement from the broker")
		case <-ctx.Done():
			return i, ctx.Err()
		}
	}
	return len(futures), sendErr
}

func (p *Publisher) updateGauges() {
	n, b := p.queue.Len()
	metrics.EventsQueued.Set(float64(n))
	metrics.EventsQueuedBytes.Set(float64(b))
}

// ensureStream creates the events' stream, or updates it to this node's settings.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := js.CreateOrUpdateStream(ctx, cfg)
	return err
}

// Retry pauses, doubling from retryMin to retryMax.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// sleep waits *backoff (then doubles it, up to retryMax); false when ctx ended first.
func sleep(ctx context.Context, backoff *time.Duration) bool {
	t := time.NewTimer(*backoff)
	defer t.Stop()
	*backoff = min(*backoff*2, retryMax)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
