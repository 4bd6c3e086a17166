package models

import (
	"context"
	"errors"
	"image"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// gatedFunc is a BatchFunc that records batch sizes and, while gate is open, blocks until a
// value is sent on it: tests use it to make crops pile up while "the model" is busy.
type gatedFunc struct {
	mu    sync.Mutex
	sizes []int
	gate  chan struct{}
	err   error
}

func (g *gatedFunc) fn(imgs []image.Image) ([][]float32, error) {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(imgs))
	g.mu.Unlock()
	if g.gate != nil {
		<-g.gate
	}
	if g.err != nil {
		return nil, g.err
	}
	out := make([][]float32, len(imgs))
	for i, img := range imgs {
		out[i] = []float32{float32(img.Bounds().Dx())}
	}
	return out, nil
}

func (g *gatedFunc) batchSizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatcherCoalesces: crops that arrive while a batch runs are embedded together, at most
// MaxBatch at a time, and each caller gets its own vector.
func TestBatcherCoalesces(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := &gatedFunc{gate: make(chan struct{})}
	b := NewBatcher(g.fn, BatcherConfig{MaxBatch: 4})
	defer b.Close()

	results := make([]float32, 10)
	var wg sync.WaitGroup
	embed := func(i int) {
		wg.Go(func() {
			v, err := b.Embed(image.NewGray(image.Rect(0, 0, i+1, 1)))
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = v[0]
		})
	}
	embed(0)
	waitFor(t, "the first batch", func() bool { return len(g.batchSizes()) == 1 })
	for i := 1; i < 10; i++ {
		embed(i)
	}
	waitFor(t, "9 queued crops", func() bool { return len(b.queue) == 9 })
	for range 4 { // the lone first crop, then 4 + 4 + 1
		g.gate <- struct{}{}
	}
	wg.Wait()
	if got := g.batchSizes(); len(got) != 4 || got[0] != 1 || got[1] != 4 || got[2] != 4 || got[3] != 1 {
		t.Errorf("batch sizes %v, want [1 4 4 1]", got)
	}
	for i, v := range results {
		if v != float32(i+1) {
			t.Errorf("crop %d got the vector of crop %v", i, v-1)
		}
	}
	if s := b.Stats(); s.Batches != 4 || s.Items != 10 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestBatcherQueueFull: with the worker busy and the queue full, Embed fails at once with
// ErrQueueFull, counted, instead of blocking.
func TestBatcherQueueFull(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := &gatedFunc{gate: make(chan struct{})}
	b := NewBatcher(g.fn, BatcherConfig{MaxBatch: 1, QueueSize: 2})
	defer b.Close()
	img := image.NewGray(image.Rect(0, 0, 1, 1))
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ { // one in the worker, two queued
		wg.Go(func() {
			if _, err := b.Embed(img); err != nil {
				t.Error(err)
			}
		})
		if i == 0 {
			waitFor(t, "the worker", func() bool { return len(g.batchSizes()) == 1 })
		}
	}
	waitFor(t, "a full queue", func() bool { return len(b.queue) == 2 })
	start := time.Now()
	if _, err := b.Embed(img); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Embed on a full queue: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("ErrQueueFull took %v", d)
	}
	for range 3 {
		g.gate <- struct{}{}
	}
	wg.Wait()
	if s := b.Stats(); s.Dropped != 1 || s.Items != 3 {
		t.Errorf("stats %+v", s)
	}
}

// TestBatcherClose: Close lets the running batch finish, fails the queued crops with
// ErrClosed, refuses new ones, and leaves no goroutine behind.
func TestBatcherClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := &gatedFunc{gate: make(chan struct{})}
	b := NewBatcher(g.fn, BatcherConfig{MaxBatch: 2})
	img := image.NewGray(image.Rect(0, 0, 1, 1))
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			_, err := b.Embed(img)
			errs <- err
		}()
		if i == 0 {
			waitFor(t, "the worker", func() bool { return len(g.batchSizes()) == 1 })
		}
	}
	waitFor(t, "2 queued crops", func() bool { return len(b.queue) == 2 })
	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	waitFor(t, "Close to mark the batcher closed", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.closed
	})
	g.gate <- struct{}{} // the running batch completes
	<-closed
	var ok, closedErrs int
	for range 3 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrClosed):
			closedErrs++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 || closedErrs != 2 {
		t.Errorf("%d embedded, %d ErrClosed; want 1 and 2", ok, closedErrs)
	}
	if _, err := b.Embed(img); !errors.Is(err, ErrClosed) {
		t.Errorf("Embed after Close: %v", err)
	}
	b.Close() // twice is fine
}

// TestBatcherErrorsAndContext: a failing batch fails each of its callers; a caller whose
// context ends stops waiting.
func TestBatcherErrorsAndContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	boom := errors.New("boom")
	b := NewBatcher((&gatedFunc{err: boom}).fn, BatcherConfig{})
	if _, err := b.Embed(image.NewGray(image.Rect(0, 0, 1, 1))); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
	b.Close()

	g := &gatedFunc{gate: make(chan struct{})}
	b = NewBatcher(g.fn, BatcherConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.EmbedContext(ctx, image.NewGray(image.Rect(0, 0, 1, 1))); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want deadline exceeded", err)
	}
	g.gate <- struct{}{}
	b.Close()

	short := NewBatcher(func(imgs []image.Image) ([][]float32, error) { return nil, nil }, BatcherConfig{})
	if _, err := short.Embed(image.NewGray(image.Rect(0, 0, 1, 1))); err == nil {
		t.Error("a BatchFunc returning too few vectors was not reported")
	}
	short.Close()
}

// TestBatcherRealEncoder: pipelines' goroutines share the real MobileNetV2 through a Batcher;
// every crop gets the vector a direct call gives, and crops are batched.
func TestBatcherRealEncoder(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := openT(t, DefaultEncoderConfig(defaultModelDir(t)))
	photos := []image.Image{
		groceryPhoto(t, "train/Fruit/Banana/Banana_001.jpg"),
		groceryPhoto(t, "train/Fruit/Kiwi/Kiwi_001.jpg"),
		groceryPhoto(t, "train/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_001.jpg"),
		groceryPhoto(t, "train/Fruit/Lemon/Lemon_001.jpg"),
	}
	want, err := e.Embed(photos)
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		b := NewBatcher(e.Embed, BatcherConfig{Workers: workers})
		var wg sync.WaitGroup
		for p := 0; p < 4; p++ { // four "pipelines"
			wg.Go(func() {
				for i := 0; i < 6; i++ {
					k := (p + i) % len(photos)
					v, err := b.Embed(photos[k])
					if err != nil {
						t.Error(err)
						return
					}
					if d := maxAbsDiff(v, want[k]); d > 1e-5 {
						t.Errorf("photo %d differs by %g through the batcher", k, d)
					}
				}
			})
		}
		wg.Wait()
		b.Close()
		s := b.Stats()
		t.Logf("workers=%d: 24 crops from 4 goroutines in %d batches", workers, s.Batches)
		if s.Items != 24 || s.Dropped != 0 || (workers == 1 && s.Batches >= 24) {
			t.Errorf("workers=%d: stats %+v", workers, s)
		}
	}
}
