//go:build !linux

package models

// Threads have no nice value of their own here: recognition runs at the process's priority.

func setThreadNice(int)           {}
func callerPriority() int         { return 0 }
func atPriority(_ int, fn func()) { fn() }
func threadID() int               { return 0 }
func setNiceOf(int, int) error    { return nil }
