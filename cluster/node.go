// Package cluster lets several `ebrcs serve` nodes work as one store: each publishes its
// events (counts, reviews, cart edits, confirmations and purchases, station and pipeline state
// changes) to a NATS JetStream stream, and announces itself, its load and its stations in a
// JetStream key-value bucket, where the others find a node with room to send a camera to.
//
// A node's events leave the process through checkout.EventSink (Node.Events): each is numbered,
// written to a bounded on-disk queue (internal/spool) and published from it in order; the
// queue keeps them while the broker is away and across restarts of the node, so none is lost
// within its bound, and those beyond it are counted. Delivery is at-least-once; every event
// carries an id by which consumers (and JetStream, within its duplicate window) drop copies.
//
// Without a broker (no events_url) none of this runs: events stay in the process, as on a
// single server, and Standalone answers /api/nodes with the node alone.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/internal/spool"
)

// Node is this server as a member of the cluster: its connection to the broker, its events'
// publisher and, once joined, its presence.
type Node struct {
	opts  Options
	nc    *nats.Conn
	queue *spool.Queue
	pub   *Publisher
	pres  *presence

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// The heartbeat stops first at Close, so that no beat claims the name again after the node
	// left.
	beatCancel context.CancelFunc
	beatWG     sync.WaitGroup

	mu     sync.Mutex
	joined bool
}

// instanceFile keeps a node's instance id in its queue directory.
const instanceFile = "instance"

// Open connects to the broker (in the background: a broker that is away does not stop the
// node) and starts publishing the node's events from the on-disk queue.
func Open(opts Options) (*Node, error) {
	opts = opts.withDefaults()
	if err := ValidName(opts.Name); err != nil {
		return nil, err
	}
	if opts.URL == "" {
		return nil, errors.New("cluster: no events URL")
	}
	queue, err := spool.Open(opts.QueueDir, opts.QueueMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("events queue: %w", err)
	}
	instance, err := instanceID(opts.QueueDir)
	if err != nil {
		queue.Close()
		return nil, fmt.Errorf("events queue: %w", err)
	}
	log := opts.Logger.With("component", "cluster", "node", opts.Name)
	metrics.EventsBrokerConnected.Set(0)
	nc, err := nats.Connect(opts.URL, nats.Name("ebrcs "+opts.Name), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		// No buffer while disconnected: an event is published when the broker can take it,
		// from the on-disk queue, never from a buffer that could send it out of order later.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(*nats.Conn) { metrics.EventsBrokerConnected.Set(1); log.Info("events broker connected") }),
		nats.ReconnectHandler(func(*nats.Conn) { metrics.EventsBrokerConnected.Set(1); log.Info("events broker reconnected") }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			metrics.EventsBrokerConnected.Set(0)
			if err != nil {
				log.Warn("events broker lost; events wait in the on-disk queue", "error", err)
			}
		}),
	)
	if err != nil {
		queue.Close()
		return nil, fmt.Errorf("events broker %s: %w", opts.URL, err)
	}
	if nc.IsConnected() {
		metrics.EventsBrokerConnected.Set(1)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(ackWait), jetstream.WithPublishAsyncMaxPending(2*batchEvents))
	if err != nil {
		nc.Close()
		queue.Close()
		return nil, err
	}
	boot := randomID(4)
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{opts: opts, nc: nc, queue: queue, ctx: ctx, cancel: cancel}
	n.pub = &Publisher{node: opts.Name, boot: boot, queue: queue, js: js, log: log, published: make(chan struct{}, 1),
		stream: jetstream.StreamConfig{Name: opts.Stream, Subjects: []string{SubjectPrefix + ".>"},
			Description: "EBRCS events: ebrcs.<node>.<session>.<type>", MaxAge: opts.StreamMaxAge,
			Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage}}
	n.pres = &presence{js: js, opts: opts, log: log, self: NodeInfo{Name: opts.Name, URL: opts.NodeURL,
		Instance: instance, Boot: boot, Version: opts.Version, Started: time.Now().UTC()},
		report: func() Report { return Report{} }}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.pub.run(ctx)
	}()
	return n, nil
}

// Events is where the node's events leave the process (checkout.Config.Events).
func (n *Node) Events() checkout.EventSink { return n.pub }

// Name is the node's name.
func (n *Node) Name() string { return n.opts.Name }

// Join claims the node's name in the presence bucket and keeps it with a heartbeat carrying
// report (its load and stations). Another live node with the name is a DuplicateNameError.
// A broker still away after ConnectWait is not an error: the node claims its name when the
// broker comes (and logs a duplicate then).
func (n *Node) Join(report func() Report) error {
	n.mu.Lock()
	if n.joined {
		n.mu.Unlock()
		return errors.New("cluster: already joined")
	}
	n.joined = true
	n.mu.Unlock()
	n.pres.mu.Lock()
	n.pres.report = report
	n.pres.mu.Unlock()
	// The wait covers a heartbeat of a node that holds the name (PresenceTTL at most).
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.ConnectWait+n.opts.PresenceTTL+n.opts.Heartbeat)
	defer cancel()
	err := n.claimAtStart(ctx)
	var dup *DuplicateNameError
	if errors.As(err, &dup) {
		return err
	}
	if err != nil {
		if !n.nc.IsConnected() {
			err = fmt.Errorf("no connection within %v", n.opts.ConnectWait)
		}
		n.opts.Logger.Warn("events broker not reachable: the node starts, its events wait in the queue, and it joins when the broker comes",
			"error", err)
	} else if kv, err := n.pres.bucket(ctx); err == nil {
		n.pres.list(ctx, kv)
	}
	beatCtx, beatCancel := context.WithCancel(n.ctx)
	n.mu.Lock()
	n.beatCancel = beatCancel
	n.mu.Unlock()
	n.beatWG.Add(1)
	go func() {
		defer n.beatWG.Done()
		n.heartbeat(beatCtx)
	}()
	return nil
}

// claimAtStart claims the name, retrying while the broker cannot be reached (for
// ConnectWait).
func (n *Node) claimAtStart(ctx context.Context) error {
	deadline := time.Now().Add(n.opts.ConnectWait)
	backoff := retryMin
	for {
		attempt, cancel := context.WithTimeout(ctx, n.opts.PresenceTTL+n.opts.Heartbeat+5*time.Second)
		err := n.pres.claim(attempt)
		cancel()
		var dup *DuplicateNameError
		if err == nil || errors.As(err, &dup) || time.Now().After(deadline) {
			return err
		}
		if !sleep(ctx, &backoff) {
			return err
		}
	}
}

func (n *Node) heartbeat(ctx context.Context) {
	t := time.NewTicker(n.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.pres.beat(ctx)
	}
}

// Nodes lists the nodes: this one first, then the others present.
func (n *Node) Nodes() []NodeInfo { return n.pres.nodes() }

// NodeWithRoom returns the URL of the least loaded other node with room for a live camera,
// if one is known.
func (n *Node) NodeWithRoom() (string, bool) {
	info, ok := n.pres.withRoom()
	return info.URL, ok
}

// WaitPublished waits until every queued event was published (or ctx ends).
func (n *Node) WaitPublished(ctx context.Context) error {
	for {
		if c, _ := n.queue.Len(); c == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.pub.published:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close leaves the presence bucket (the name is free at once), gives queued events a moment
// to be published, then stops; what is still queued is published after the next start.
func (n *Node) Close() {
	n.mu.Lock()
	stopBeat := n.beatCancel
	n.mu.Unlock()
	if stopBeat != nil {
		stopBeat()
		n.beatWG.Wait()
	}
	leave, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if n.nc.IsConnected() {
		n.WaitPublished(leave)
		n.pres.leave(leave)
	}
	cancel()
	n.cancel()
	n.wg.Wait()
	n.nc.Close()
	n.queue.Close()
	metrics.EventsBrokerConnected.Set(0)
}

// instanceID reads the node's instance id from its queue directory, making one the first time.
func instanceID(dir string) (string, error) {
	path := filepath.Join(dir, instanceFile)
	if raw, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(raw))) > 0 {
		return strings.TrimSpace(string(raw)), nil
	}
	id := randomID(8)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", err
	}
	return id, os.Rename(tmp, path)
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
