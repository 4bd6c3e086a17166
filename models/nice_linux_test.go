//go:build linux

package models

import (
	"image"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A recognition worker's helpers (parallelFor's goroutines) run at the worker's lowered
// priority, and their threads go back to the process's priority afterwards: nothing else
// the process runs is slowed by a thread recognition lowered.
func TestHelpersRunAtTheCallersPriority(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // parallelFor spreads over 4 helpers
	want := min(19, processNice+7)
	seen := make([]int, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // a worker's thread, lowered for good as Batcher's are
		group := newPriorityGroup(7)
		tid, ok := group.join()
		if !ok {
			t.Error("the worker's thread could not be lowered")
			return
		}
		defer group.leave(tid)
		if got := threadNice(); got != want {
			t.Errorf("the worker's thread runs at nice %d, want %d", got, want)
		}
		parallelFor(len(seen), func(i int) error {
			seen[i] = threadNice()
			return nil
		})
	}()
	<-done
	for i, n := range seen {
		if n != want {
			t.Errorf("image %d was prepared at nice %d, want the worker's %d", i, n, want)
		}
	}
	// Plenty of goroutines now, on whatever threads the runtime has: none is lowered.
	var wg sync.WaitGroup
	var mu sync.Mutex
	lowered := 0
	for range 64 {
		wg.Go(func() {
			if threadNice() != processNice {
				mu.Lock()
				lowered++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if lowered > 0 {
		t.Errorf("%d of 64 goroutines ran on a thread still lowered", lowered)
	}
	// Called from an ordinary goroutine, the helpers run at the process's priority.
	parallelFor(len(seen), func(i int) error {
		seen[i] = threadNice()
		return nil
	})
	for i, n := range seen {
		if n != processNice {
			t.Errorf("image %d was prepared at nice %d by an ordinary caller, want %d", i, n, processNice)
		}
	}
}

// A lowered batch whose crop has waited UrgentAfter runs at the process's priority (raised
// while it runs, or from its start), and the next fresh crop is recognised lowered again.
func TestUrgentCropsRunAtTheProcessPriority(t *testing.T) {
	if setNiceOf(syscall.Gettid(), 0) != nil {
		t.Skip("raising a thread's priority needs CAP_SYS_NICE here")
	}
	type seen struct{ start, end int }
	var mu sync.Mutex
	var got []seen
	hold := make(chan time.Duration, 4)
	b := NewBatcher(func(imgs []image.Image) ([][]float32, error) {
		s := seen{start: threadNice()}
		time.Sleep(<-hold)
		s.end = threadNice()
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		return make([][]float32, len(imgs)), nil
	}, BatcherConfig{Workers: 1, MaxBatch: 1, Nice: 7, UrgentAfter: 60 * time.Millisecond})
	defer b.Close()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	low := min(19, processNice+7)

	// 1. Runs for 200 ms: raised by the watchdog while it runs.
	hold <- 200 * time.Millisecond
	// 2. Queued behind it for 200 ms: raised from its start.
	hold <- 0
	// 3. Fresh: lowered again.
	hold <- 0
	done := make(chan struct{})
	go func() { b.Embed(img); close(done) }()
	time.Sleep(20 * time.Millisecond)
	b.Embed(img)
	<-done
	b.Embed(img)
	want := []seen{{low, processNice}, {processNice, processNice}, {low, low}}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("%d batches, want 3", len(got))
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("batch %d ran at nice %d → %d, want %d → %d", i+1, got[i].start, got[i].end, w.start, w.end)
		}
	}
	if st := b.Stats(); st.Urgent != 2 {
		t.Errorf("%d urgent batches counted, want 2", st.Urgent)
	}
}

// Raising a lowered batch raises the helpers it has already started too: on a saturated
// machine a helper left lowered gets no CPU, and the raised batch would wait for it as long
// as if it had never been raised (visits ended uncounted).
func TestRaisingABatchRaisesItsHelpers(t *testing.T) {
	if setNiceOf(syscall.Gettid(), 0) != nil {
		t.Skip("raising a thread's priority needs CAP_SYS_NICE here")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	low := min(19, processNice+7)
	type seen struct{ start, end int }
	var mu sync.Mutex
	var views []seen
	b := NewBatcher(func(imgs []image.Image) ([][]float32, error) {
		// Each crop has two views to prepare: helpers prepare them (on a machine of more
		// than one core; on one, the worker's own thread does).
		err := parallelFor(2*len(imgs), func(i int) error {
			s := seen{start: threadNice()}
			time.Sleep(300 * time.Millisecond) // the watchdog raises the batch meanwhile
			s.end = threadNice()
			mu.Lock()
			views = append(views, s)
			mu.Unlock()
			return nil
		})
		return make([][]float32, len(imgs)), err
	}, BatcherConfig{Workers: 1, Nice: 7, UrgentAfter: 100 * time.Millisecond})
	defer b.Close()
	if _, err := b.Embed(image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(views) != 2 {
		t.Fatalf("%d views prepared, want 2", len(views))
	}
	for i, v := range views {
		if v != (seen{low, processNice}) {
			t.Errorf("view %d was prepared at nice %d → %d, want %d → %d (lowered with the batch, raised with it)",
				i, v.start, v.end, low, processNice)
		}
	}
	if st := b.Stats(); st.Urgent != 1 {
		t.Errorf("%d urgent batches counted, want 1", st.Urgent)
	}
}
