package web

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: event streams, upload tasks, the session
// janitor, pipelines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
