package malloctune

import (
	"testing"
	"unsafe"
)

/*
The test allocates through C so that glibc's malloc, not Go's, holds the memory.
*/

func TestReadSeesAllocationsAndTrimKeepsThem(t *testing.T) {
	before := Read()
	const n, size = 64, 64 << 10 // below the mmap threshold: from the arenas
	ptrs := make([]unsafe.Pointer, n)
	for i := range ptrs {
		ptrs[i] = cmalloc(size)
	}
	during := Read()
	if grown := int64(during.InUse) - int64(before.InUse); grown < n*size {
		t.Fatalf("in use grew by %d bytes, want ≥ %d", grown, n*size)
	}
	Trim() // must not touch live memory
	if after := Read(); after.InUse < during.InUse-size {
		t.Fatalf("trim changed the memory in use: %d → %d", during.InUse, after.InUse)
	}
	for _, p := range ptrs {
		cfree(p)
	}
	if after := Read(); after.InUse > during.InUse-n*size/2 {
		t.Fatalf("freed memory still counted in use: %d, %d while allocated", after.InUse, during.InUse)
	}
	Trim()
}
