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
}

// BatcherStats counts what a Batcher did.
type BatcherStats struct {
	Batches int64 // calls to the BatchFunc
	Items   int64 // crops embedded (successfully or not) in those calls
	Dropped int64 // crops refused with ErrQueueFull
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
}

type batchRequest struct {
	img   image.Image
	reply chan batchReply // buffered: the worker never blocks on a caller that gave up
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
		fn:       fn,
		maxBatch: cfg.MaxBatch,
		queue:    make(chan *batchRequest, cfg.QueueSize),
	}
	for range cfg.Workers {
		b.workers.Go(func() {
			if cfg.Nice > 0 {
				// The thread keeps the priority, so it stays this goroutine's alone: never
				// unlocked, it ends with the worker.
				runtime.LockOSThread()
				setThreadNice(cfg.Nice)
			}
			b.work()
		})
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
	req := &batchRequest{img: img, reply: make(chan batchReply, 1)}
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
	return BatcherStats{Batches: b.batches.Load(), Items: b.items.Load(), Dropped: b.dropped.Load()}
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
	}
	b.mu.Unlock()
	b.workers.Wait()
	return nil
}

func (b *Batcher) work() {
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
		for _, r := range batch {
			imgs = append(imgs, r.img)
		}
		start := time.Now()
		vecs, err := b.fn(imgs)
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
