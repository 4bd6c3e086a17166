//go:build linux

package models

import "syscall"

// setThreadNice lowers the calling thread's priority by n nice levels from the process's (on
// Linux, nice is per thread; capped at 19). A failure (a sandbox that forbids it) leaves the
// priority as it was: recognition still runs.
func setThreadNice(n int) {
	tid := syscall.Gettid()
	// The raw getpriority system call returns 20 - nice.
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return
	}
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(19, 20-cur+n))
}
