//go:build linux

package models

import (
	"runtime"
	"sync"
	"syscall"
)

// On Linux, nice is per thread. A recognition worker lowers its own locked thread, and the
// goroutines it starts for a batch (preprocessing its images in parallel, several ONNX
// encoders at once) would otherwise run on ordinary threads at the live video's priority.
// So the threads working for one worker form a priority group with one nice level: the
// worker's thread, for good, and each helper's thread while it helps. Raising the group
// (the watchdog, for a batch that has waited too long) raises all of them at once: a raised
// batch must not sit waiting for a helper still lowered behind the video, which on a
// saturated machine gets no CPU at all.

// processNice is the nice value of the thread that loaded the package: every thread not lowered
// on purpose runs at it.
var processNice = threadNice()

// threadNice returns the calling thread's nice value (the raw getpriority system call returns
// 20 - nice).
func threadNice() int {
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		return 0
	}
	return 20 - cur
}

// setNiceOf sets thread tid to processNice + n (n ≥ 0). Raising a thread's priority back (a
// smaller n than it has) is refused without CAP_SYS_NICE or RLIMIT_NICE.
func setNiceOf(tid, n int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(19, processNice+n))
}

// priorityGroup is the threads working for one recognition worker, all at one nice level.
// A nil group is the process's own priority: its threads are never changed.
type priorityGroup struct {
	mu      sync.Mutex
	below   int // nice levels below the process's that the group's threads run at
	threads map[int]struct{}
}

// groupOfThread finds the group of the thread a call runs on. Only locked threads are ever
// in a group (a worker's, or a helper's while it helps), so no other goroutine can run on a
// thread found here.
var groupOfThread struct {
	sync.Mutex
	m map[int]*priorityGroup
}

// newPriorityGroup makes a group whose threads run below nice levels under the process's.
func newPriorityGroup(below int) *priorityGroup {
	return &priorityGroup{below: below, threads: map[int]struct{}{}}
}

// callerGroup is the group of the calling thread: nil unless the caller is working for a
// lowered recognition worker.
func callerGroup() *priorityGroup {
	groupOfThread.Lock()
	defer groupOfThread.Unlock()
	return groupOfThread.m[syscall.Gettid()]
}

// join puts the calling thread, which the caller has locked, in g at g's level; false when
// the system refused to change its priority (it is then not in g).
func (g *priorityGroup) join() (tid int, ok bool) {
	tid = syscall.Gettid()
	g.mu.Lock()
	defer g.mu.Unlock()
	if setNiceOf(tid, g.below) != nil {
		return tid, false
	}
	g.threads[tid] = struct{}{}
	groupOfThread.Lock()
	if groupOfThread.m == nil {
		groupOfThread.m = map[int]*priorityGroup{}
	}
	groupOfThread.m[tid] = g
	groupOfThread.Unlock()
	return tid, true
}

// leave takes thread tid out of g and puts it back at the process's priority; false when
// that was refused (no CAP_SYS_NICE): the thread must then end with its goroutine.
func (g *priorityGroup) leave(tid int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.threads, tid)
	groupOfThread.Lock()
	delete(groupOfThread.m, tid)
	groupOfThread.Unlock()
	return setNiceOf(tid, 0) == nil
}

// set moves every thread of g, and the helpers that join it from now on, to below levels
// under the process's. Lowering is always allowed; raising is refused without CAP_SYS_NICE,
// and then g keeps its level.
func (g *priorityGroup) set(below int) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for tid := range g.threads {
		if err := setNiceOf(tid, below); err != nil {
			// Put back the ones already moved: one group, one level.
			for t := range g.threads {
				setNiceOf(t, g.below)
			}
			return err
		}
	}
	g.below = below
	return nil
}

// run runs fn on a thread of g: a helper's thread joins g for fn and goes back to the
// process's priority after. A nil g runs fn as it is.
func (g *priorityGroup) run(fn func()) {
	if g == nil {
		fn()
		return
	}
	runtime.LockOSThread()
	tid, ok := g.join()
	if !ok {
		runtime.UnlockOSThread()
		fn()
		return
	}
	fn()
	if g.leave(tid) {
		runtime.UnlockOSThread()
	} // else: left locked, so that it ends with the goroutine instead of running anything else lowered
}
