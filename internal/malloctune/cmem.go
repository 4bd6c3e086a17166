package malloctune

/*
#include <stdlib.h>
*/
import "C"

import "unsafe"

// cmalloc and cfree let the tests allocate from glibc (cgo is not allowed in test files).
func cmalloc(n int) unsafe.Pointer { return C.malloc(C.size_t(n)) }
func cfree(p unsafe.Pointer)       { C.free(p) }
