package data

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes its catalogs; a background rebuild or a database goroutine left running
// after Close is a bug.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
