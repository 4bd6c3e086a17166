package models

import (
	"context"
	"fmt"
	"image"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebrcs/ebrcs/internal/metrics"
)

// BatchFunc embeds a batch of images, one vector per image: (*Encoder).Embed or
// (*Hybrid).EmbedQueries.
type BatchFunc func(imgs []image.Image) ([][]float32, error)

// BatcherConfig sizes a Batcher. Zero values take the defaults.
type BatcherConfig struct {
	// MaxBatch is the most crops one call embeds (default 8).
	MaxBatch int `yaml:"max_batch,omitempty"`
	// QueueSize is the most crops waiting (default 64); beyond it Embed fails fast with
	// ErrQueueFull.
	QueueSize int `yaml:"queue_size,omitempty"`
	// Workers is the number of batches that may run at once (default 1: one worker coalesces
	// everything). Batching pays when a batch of N costs less than N single calls (a GPU, a
	// multi-threaded session); on a CPU where a single-threaded session's cost per crop does
	// not fall with the batch size, one worker per core keeps the cores busy while the queue
	// stays bounded (see BenchmarkConcurrentCrops).
	Workers int `yaml:"workers,omitempty"`
	// Nice lowers the scheduling priority of the workers' threads by this many nice levels
	// (Linux; 0: unchanged). ONNX Runtime runs a batch on its worker's own thread, so a
	// positive value lets the live pipelines' video threads take the CPU first: when many
	// sessions show products at once, recognition waits a little instead of every session's
	// video stalling behind it.
	Nice int `yaml:"nice,omitempty"`
	// UrgentAfter: a batch whose oldest crop has waited this long runs at the process's own
	// priority, and a lowered batch still running when its oldest crop reaches it has its
	// worker's thread raised, with the helpers it already started (0: never). Lowered
	// recognition takes only the CPU the video leaves; on a machine with none left it would
	// wait until the visits it was asked for had ended, uncounted. Raising a thread's
	// priority back needs CAP_SYS_NICE (or RLIMIT_NICE); without it, batches stay lowered.
	UrgentAfter time.Duration `yaml:"urgent_after,omitempty"`
}

// BatcherStats counts what a Batcher did.
type BatcherStats struct {
	Batches int64 // calls to the BatchFunc
	Items   int64 // crops embedded (successfully or not) in those calls
	Dropped int64 // crops refused with ErrQueueFull
	Urgent  int64 // batches run at the process's priority because a crop had waited UrgentAfter
}

// Batcher coalesces crops submitted concurrently (by several pipelines' goroutines) into
// batches: a worker takes whatever is queued, up to MaxBatch, and embeds it in one call.
// It never waits for a batch to fill: a lone crop is embedded at once, and batches form only
// when crops arrive while the model is busy, which is exactly when batching pays.
//
// The queue is bounded: when it is full, Embed returns ErrQueueFull at once (and counts it)
// rather than letting the backlog, and every caller's latency, grow without limit.
type Batcher struct {
	fn       BatchFunc
	maxBatch int
	queue    chan *batchRequest

	mu      sync.Mutex // guards closed against sends on a closing queue
	closed  bool
	workers sync.WaitGroup

	batches, items, dropped atomic.Int64
	urgent                  atomic.Int64 // batches run at the process's priority (from their start or raised while running)

	nice        int
	urgentAfter time.Duration
	running     []*workerState // one per worker, for the watchdog
	stop        chan struct{}
}

// workerState is what the watchdog knows of a worker: its thread, and when the oldest crop of
// the batch it runs was queued (0: idle).
type workerState struct {
	group  *priorityGroup // the worker's thread and the helpers of the batch it runs (nil: not lowered)
	oldest atomic.Int64   // UnixNano
	raised atomic.Bool
}

type batchRequest struct {
	img    image.Image
	queued time.Time
	reply  chan batchReply // buffered: the worker never blocks on a caller that gave up
}

type batchReply struct {
	vec []float32
	err error
}

// NewBatcher starts a Batcher around fn. Close it to stop its workers.
func NewBatcher(fn BatchFunc, cfg BatcherConfig) *Batcher {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 8
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 64
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	b := &Batcher{
		fn:          fn,
		maxBatch:    cfg.MaxBatch,
		queue:       make(chan *batchRequest, cfg.QueueSize),
		nice:        cfg.Nice,
		urgentAfter: cfg.UrgentAfter,
		stop:        make(chan struct{}),
	}
	for range cfg.Workers {
		ws := &workerState{}
		b.running = append(b.running, ws)
		b.workers.Go(func() {
			if cfg.Nice > 0 {
				// The thread's priority changes, so it stays this goroutine's alone: never
				// unlocked, it ends with the worker.
				runtime.LockOSThread()
				group := newPriorityGroup(cfg.Nice)
				if tid, ok := group.join(); ok {
					ws.group = group
					defer group.leave(tid)
				}
			}
			b.work(ws)
		})
	}
	if cfg.Nice > 0 && cfg.UrgentAfter > 0 {
		b.workers.Go(b.watch)
	}
	return b
}

// Embed embeds one crop, batched with whatever else is queued. It returns ErrQueueFull at once
// when the queue is full and ErrClosed after Close.
func (b *Batcher) Embed(img image.Image) ([]float32, error) {
	return b.EmbedContext(context.Background(), img)
}

// EmbedContext is Embed that stops waiting when ctx is done (the crop may still be embedded;
// its result is discarded).
func (b *Batcher) EmbedContext(ctx context.Context, img image.Image) ([]float32, error) {
	req := &batchRequest{img: img, queued: time.Now(), reply: make(chan batchReply, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	select {
	case b.queue <- req:
		b.mu.Unlock()
	default:
		b.mu.Unlock()
		b.dropped.Add(1)
		return nil, ErrQueueFull
	}
	select {
	case r := <-req.reply:
		return r.vec, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stats returns the counters so far.
func (b *Batcher) Stats() BatcherStats {
	return BatcherStats{Batches: b.batches.Load(), Items: b.items.Load(), Dropped: b.dropped.Load(), Urgent: b.urgent.Load()}
}

// Close stops accepting crops, lets the workers finish the batches in progress, fails the
// crops still queued with ErrClosed, and returns once the workers have exited. Safe to call
// more than once.
func (b *Batcher) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		// No send can be in progress: sends happen under mu with closed == false.
		close(b.queue)
		close(b.stop)
	}
	b.mu.Unlock()
	b.workers.Wait()
	return nil
}

// watch raises a lowered batch that has run past its oldest crop's UrgentAfter.
func (b *Batcher) watch() {
	tick := time.NewTicker(max(b.urgentAfter/10, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		for _, ws := range b.running {
			if at := ws.oldest.Load(); at != 0 && time.Since(time.Unix(0, at)) >= b.urgentAfter && raise(ws) {
				b.urgent.Add(1)
			}
		}
	}
}

// raise puts a lowered worker's thread, and the helpers its batch has started (preparing its
// images, its other encoders), back at the process's priority; it reports whether it did so
// now.
func raise(ws *workerState) bool {
	if ws.group == nil || ws.raised.Load() || ws.group.set(0) != nil {
		return false
	}
	ws.raised.Store(true)
	return true
}

// prioritise sets the worker's thread for a batch whose oldest crop was queued at oldest:
// lowered, or at the process's priority once the crop has waited UrgentAfter.
func (b *Batcher) prioritise(ws *workerState, oldest time.Time) {
	if ws.group == nil {
		return
	}
	urgent := b.urgentAfter > 0 && time.Since(oldest) >= b.urgentAfter
	switch {
	case urgent:
		b.urgent.Add(1)
		raise(ws)
	case ws.raised.Load():
		if ws.group.set(b.nice) == nil { // lowering is always allowed
			ws.raised.Store(false)
		}
	}
	ws.oldest.Store(oldest.UnixNano())
}

func (b *Batcher) work(ws *workerState) {
	batch := make([]*batchRequest, 0, b.maxBatch)
	imgs := make([]image.Image, 0, b.maxBatch)
	for first := range b.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < b.maxBatch {
			select {
			case r, ok := <-b.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.mu.Lock()
		closing := b.closed
		b.mu.Unlock()
		if closing {
			// Close was called: fail what is left instead of running more batches.
			for _, r := range batch {
				r.reply <- batchReply{err: ErrClosed}
			}
			continue
		}
		imgs = imgs[:0]
		oldest := batch[0].queued
		for _, r := range batch {
			imgs = append(imgs, r.img)
			if r.queued.Before(oldest) {
				oldest = r.queued
			}
		}
		b.prioritise(ws, oldest)
		start := time.Now()
		vecs, err := b.fn(imgs)
		ws.oldest.Store(0)
		metrics.EmbedSeconds.Observe(time.Since(start).Seconds())
		metrics.EmbedBatch.Observe(float64(len(imgs)))
		b.batches.Add(1)
		b.items.Add(int64(len(batch)))
		if err == nil && len(vecs) != len(batch) {
			err = fmt.Errorf("models: batcher: %d vectors for %d crops", len(vecs), len(batch))
		}
		for i, r := range batch {
			if err != nil {
				r.reply <- batchReply{err: err}
			} else {
				r.reply <- batchReply{vec: vecs[i]}
			}
		}
		clear(imgs) // do not keep the crops alive until the next batch
	}
}
