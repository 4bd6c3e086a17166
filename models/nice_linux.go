//go:build linux

package models

import (
	"runtime"
	"syscall"
)

// On Linux, nice is per thread. The recognition workers lower their own locked thread's
// priority; the goroutines they start (preprocessing a batch's images in parallel, several
// ONNX encoders at once) would otherwise run on ordinary threads at the live video's priority.

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

// threadID is the calling thread's id.
func threadID() int { return syscall.Gettid() }

// setNiceOf sets thread tid to processNice + n (n ≥ 0). Raising a thread's priority back (a
// smaller n than it has) is refused without CAP_SYS_NICE or RLIMIT_NICE.
func setNiceOf(tid, n int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(19, processNice+n))
}

// setThreadNice lowers the calling thread's priority by n nice levels from the process's
// (capped at 19). A failure (a sandbox that forbids it) leaves the priority as it was:
// recognition still runs.
func setThreadNice(n int) {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), min(19, processNice+n))
}

// callerPriority is what a helper goroutine started now should run at: the calling thread's
// nice value when the caller runs on a thread lowered on purpose (a recognition worker, locked
// to it), else the process's. Unlocked goroutines never see a lowered thread: every lowered
// thread is locked to the goroutine that lowered it until it is restored or ends.
func callerPriority() int { return threadNice() }

// atPriority runs fn on a thread at nice level nice: the helper's thread is lowered for fn
// and restored after. Raising a thread's priority back is refused to unprivileged processes
// (RLIMIT_NICE); the thread is then left locked, so that it ends with the goroutine instead
// of running anything else at the lowered priority.
func atPriority(nice int, fn func()) {
	if nice <= processNice {
		fn()
		return
	}
	runtime.LockOSThread()
	tid := syscall.Gettid()
	if syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(19, nice)) != nil {
		runtime.UnlockOSThread()
		fn()
		return
	}
	fn()
	if syscall.Setpriority(syscall.PRIO_PROCESS, tid, processNice) == nil {
		runtime.UnlockOSThread()
	}
}
