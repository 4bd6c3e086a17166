package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ebrcs/ebrcs/internal/metrics"
)

// NodeInfo is a node as /api/nodes shows it, and as its entry in the presence bucket holds it.
type NodeInfo struct {
	Name string `json:"name"`
	// URL is where browsers and WHIP clients reach the node.
	URL string `json:"url,omitempty"`
	// Instance stays the same across restarts of one node (it lives in its queue directory);
	// Boot changes at every start.
	Instance string    `json:"instance"`
	Boot     string    `json:"boot"`
	Version  string    `json:"version,omitempty"`
	Started  time.Time `json:"started"`
	// Updated is the node's last heartbeat (its own clock).
	Updated  time.Time `json:"updated"`
	Load     Load      `json:"load"`
	Stations []string  `json:"stations"`
	// Self marks the node that answered; Present says whether it holds its name in the presence
	// bucket (false while the broker is away, or on a single server).
	Self    bool `json:"self,omitempty"`
	Present bool `json:"present"`
}

// Load is a node's load, sent with every heartbeat.
type Load struct {
	// Sessions are the open shoppers' sessions; MaxSessions their limit.
	Sessions    int `json:"sessions"`
	MaxSessions int `json:"max_sessions"`
	// Publishers are the live cameras (WHIP); MaxPublishers the admission limit (0: none).
	Publishers    int `json:"publishers"`
	MaxPublishers int `json:"max_publishers,omitempty"`
	// Room says whether the node admits a new live camera now.
	Room bool `json:"room"`
}

// Report is what a node says of itself with every heartbeat.
type Report struct {
	Load Load
	// Stations are the node's checkout stations (st_<pipeline>).
	Stations []string
}

// ratio is how full a node is, 0 to 1, for picking the least loaded.
func (l Load) ratio() float64 {
	r := 0.0
	if l.MaxSessions > 0 {
		r = float64(l.Sessions) / float64(l.MaxSessions)
	}
	if l.MaxPublishers > 0 {
		r = max(r, float64(l.Publishers)/float64(l.MaxPublishers))
	}
	return r
}

// DuplicateNameError: another live node holds the name.
type DuplicateNameError struct {
	Name  string
	Other NodeInfo
}

func (e *DuplicateNameError) Error() string {
	where := e.Other.URL
	if where == "" {
		where = "no URL"
	}
	return fmt.Sprintf("node name %q is in use by a live node (%s, started %s, instance %s): give this node another node_name",
		e.Name, where, e.Other.Started.Format(time.RFC3339), e.Other.Instance)
}

// presence keeps the node's entry in the presence bucket (a JetStream key-value bucket whose
// entries expire after PresenceTTL) and the list of the others.
type presence struct {
	js   jetstream.JetStream
	opts Options
	self NodeInfo // the static part: name, URL, instance, boot, version, started
	log  *slog.Logger

	mu      sync.Mutex
	report  func() Report      // the node's load and stations (Node.Join)
	kv      jetstream.KeyValue // nil until the bucket is reached
	rev     uint64             // our entry's revision; 0: the name is not held
	others  []NodeInfo         // at the last listing
	listed  time.Time          // when
	lastDup time.Time          // when a live duplicate was last logged
}

// bucket opens (creating it if needed) the presence bucket.
func (p *presence) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	p.mu.Lock()
	kv := p.kv
	p.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	kv, err := p.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: p.opts.Bucket,
		Description: "EBRCS nodes: one entry per node, refreshed every heartbeat", History: 1, TTL: p.opts.PresenceTTL})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.kv = kv
	p.mu.Unlock()
	return kv, nil
}

// value is the node's entry now.
func (p *presence) value() []byte {
	info := p.self
	info.Updated = time.Now().UTC()
	info.Load, info.Stations = p.load()
	raw, _ := json.Marshal(info)
	return raw
}

// load asks for the node's report (p.mu is not held: the report locks the checkout).
func (p *presence) load() (Load, []string) {
	p.mu.Lock()
	report := p.report
	p.mu.Unlock()
	r := report()
	if r.Stations == nil {
		r.Stations = []string{}
	}
	return r.Load, r.Stations
}

// claim takes the node's name in the bucket. Our own entry (the same instance: this node,
// restarted after a crash) is taken over at once; another node's is taken only once it has
// shown no heartbeat for PresenceTTL (it is gone); a live one is a DuplicateNameError.
func (p *presence) claim(ctx context.Context) error {
	kv, err := p.bucket(ctx)
	if err != nil {
		return err
	}
	name := p.self.Name
	for {
		rev, err := kv.Create(ctx, name, p.value())
		if err == nil {
			p.setRev(rev)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
		entry, err := kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // it expired meanwhile
		}
		if err != nil {
			return err
		}
		var other NodeInfo
		_ = json.Unmarshal(entry.Value(), &other)
		if other.Instance != p.self.Instance {
			live, err := p.heartbeats(ctx, kv, entry)
			if err != nil {
				return err
			}
			if live {
				return &DuplicateNameError{Name: name, Other: other}
			}
		}
		// Ours from before a restart, or a node that is gone: take it over.
		rev, err = kv.Update(ctx, name, p.value(), entry.Revision())
		if err == nil {
			p.setRev(rev)
			if other.Instance != p.self.Instance {
				p.log.Warn("node name taken over from a node that stopped sending heartbeats", "name", name, "instance", other.Instance)
			}
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
		// Someone wrote it meanwhile: look again.
	}
}

// heartbeats watches another node's entry until it changes (the node is alive) or expires, or
// PresenceTTL passes without a change (the node is gone).
func (p *presence) heartbeats(ctx context.Context, kv jetstream.KeyValue, entry jetstream.KeyValueEntry) (bool, error) {
	deadline := time.Now().Add(p.opts.PresenceTTL + p.opts.Heartbeat)
	poll := max(min(p.opts.Heartbeat/4, time.Second), 50*time.Millisecond)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(poll):
		}
		now, err := kv.Get(ctx, entry.Key())
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
			return false, nil
		case err != nil:
			return false, err
		case now.Revision() != entry.Revision():
			return true, nil
		}
	}
	return false, nil
}

func (p *presence) setRev(rev uint64) {
	p.mu.Lock()
	p.rev = rev
	p.mu.Unlock()
}

func (p *presence) held() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rev
}

// beat refreshes the node's entry (claiming the name again when it was lost: expired while
// the broker was away, or overwritten), then lists the nodes.
func (p *presence) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(p.opts.Heartbeat, 2*time.Second))
	defer cancel()
	kv, err := p.bucket(ctx)
	if err != nil {
		return
	}
	if rev := p.held(); rev != 0 {
		next, err := kv.Update(ctx, p.self.Name, p.value(), rev)
		switch {
		case err == nil:
			p.setRev(next)
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyNotFound):
			p.setRev(0) // lost: claim it again below
		default:
			// The broker is away, or lost its bucket (a new one): open the bucket again at the
			// next beat, creating it if it must; our entry is then claimed again.
			p.mu.Lock()
			p.kv = nil
			p.mu.Unlock()
			return
		}
	}
	if p.held() == 0 {
		err := p.claim(ctx)
		var dup *DuplicateNameError
		if errors.As(err, &dup) && time.Since(p.lastDup) >= time.Minute {
			p.log.Error("node name held by another live node; this node stays out of the presence list", "error", err)
			p.lastDup = time.Now()
		}
	}
	p.list(ctx, kv)
}

// list reads every node's entry.
func (p *presence) list(ctx context.Context, kv jetstream.KeyValue) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return
	}
	defer w.Stop()
	var others []NodeInfo
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // every current entry was delivered
				sort.Slice(others, func(i, j int) bool { return others[i].Name < others[j].Name })
				p.mu.Lock()
				p.others, p.listed = others, time.Now()
				p.mu.Unlock()
				metrics.Nodes.Set(float64(len(others) + 1))
				return
			}
			var info NodeInfo
			if json.Unmarshal(e.Value(), &info) != nil || info.Name == p.self.Name {
				continue
			}
			info.Present = true
			others = append(others, info)
		}
	}
}

// leave removes the node's entry (a clean stop: its name is free at once).
func (p *presence) leave(ctx context.Context) {
	rev := p.held()
	p.mu.Lock()
	kv := p.kv
	p.mu.Unlock()
	if rev == 0 || kv == nil {
		return
	}
	if err := kv.Delete(ctx, p.self.Name, jetstream.LastRevision(rev)); err == nil {
		p.setRev(0)
	}
}

// nodes lists the nodes: this one, with its load now, then the others as last listed.
func (p *presence) nodes() []NodeInfo {
	self := p.self
	self.Updated = time.Now().UTC()
	self.Load, self.Stations = p.load()
	self.Self = true
	p.mu.Lock()
	self.Present = p.rev != 0
	out := append([]NodeInfo{self}, p.fresh()...)
	p.mu.Unlock()
	return out
}

// fresh is the last listing of the others, none when it is older than PresenceTTL (the broker
// is away: who is there is unknown); p.mu is held.
func (p *presence) fresh() []NodeInfo {
	if time.Since(p.listed) > p.opts.PresenceTTL {
		return nil
	}
	return p.others
}

// withRoom picks the least loaded other node with room for a live camera and a URL.
func (p *presence) withRoom() (NodeInfo, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best NodeInfo
	found := false
	for _, n := range p.fresh() {
		if n.Load.Room && n.URL != "" && (!found || n.Load.ratio() < best.Load.ratio()) {
			best, found = n, true
		}
	}
	return best, found
}
