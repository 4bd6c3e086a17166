//go:build linux

package bgsub

import (
	"runtime"
	"syscall"
	"testing"
)

// TestFirstFrameFaultsNoModelMemory: the model's memory is faulted in, written, when the model
// is made, so the first frame does not take a page fault per 4 KB of samples. Left to calloc,
// the first frame read each page (mapping the shared zero page) and then wrote it (a
// copy-on-write fault and a TLB flush of every other core): over 2,000 faults for one 320×240
// model, which 16 sessions starting together paid at once.
func TestFirstFrameFaultsNoModelMemory(t *testing.T) {
	const w, h = 320, 240
	sc := newScene(w, h, 2, 3)
	c0, c1, c2 := planes(sc.frames[0], w*h)
	mask := make([]byte, w*h)

	runtime.LockOSThread() // the fault counter is this thread's
	defer runtime.UnlockOSThread()
	sub, err := NewSubtractor(w, h, DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	before := threadFaults(t)
	sub.Apply(c0, c1, c2, mask)
	sub.Apply(c0, c1, c2, mask)
	faults := threadFaults(t) - before
	// The model is 91 bytes a pixel, 1,707 pages here; a few faults can come from elsewhere
	// (the Go runtime, the test's own stack).
	if faults > 50 {
		t.Fatalf("the first frames took %d page faults: the model's memory was not faulted in when it was made", faults)
	}
}

func threadFaults(t *testing.T) int64 {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt + ru.Majflt
}
