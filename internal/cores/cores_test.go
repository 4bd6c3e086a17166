package cores

import (
	"os"
	"runtime"
	"testing"
)

func TestForCallbacksGivesFourProcessorsPerCore(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set: the operator's choice stands")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	ForCallbacks()
	if got := runtime.GOMAXPROCS(0); got != perCore*N() {
		t.Fatalf("GOMAXPROCS %d after ForCallbacks, want %d (4 per core of %d)", got, perCore*N(), N())
	}
	if N() != n || N() < 1 {
		t.Fatalf("N() = %d changed with GOMAXPROCS", N())
	}
}

func TestForCallbacksLeavesTheOperatorsChoice(t *testing.T) {
	t.Setenv("GOMAXPROCS", "3")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	ForCallbacks()
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("GOMAXPROCS %d, want the 2 it was (the operator set GOMAXPROCS)", got)
	}
}
