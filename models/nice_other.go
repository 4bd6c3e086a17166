//go:build !linux

package models

// setThreadNice does nothing where threads have no nice value of their own.
func setThreadNice(int) {}
