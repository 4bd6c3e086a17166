//go:build !linux

package models

// Threads have no nice value of their own here: recognition runs at the process's priority,
// and every priority group is nil (the process's own).

type priorityGroup struct{}

func newPriorityGroup(int) *priorityGroup  { return nil }
func callerGroup() *priorityGroup          { return nil }
func (g *priorityGroup) join() (int, bool) { return 0, false }
func (g *priorityGroup) leave(int) bool    { return true }
func (g *priorityGroup) set(int) error     { return nil }
func (g *priorityGroup) run(fn func())     { fn() }
