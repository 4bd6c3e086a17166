package data

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>

// ebrcs_blas_single_thread asks the BLAS the process loaded to use one thread, when it is an
// OpenBLAS (found by name: the reference BLAS has no threads and no such function).
static void ebrcs_blas_single_thread(void) {
	void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
	if (set) set(1);
}

static void (*omp_set)(int);

static void ebrcs_find_omp(void) {
	omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
}

// ebrcs_omp_single_thread makes OpenMP parallel regions started from the calling thread use
// that thread alone (OpenMP keeps this setting per thread).
static void ebrcs_omp_single_thread(void) {
	if (omp_set) omp_set(1);
}
*/
import "C"

// The math libraries FAISS and the adapted matching use would spin for nothing here.
//
// OpenBLAS's pthread build keeps a pool of worker threads that, after every call, spin in
// sched_yield waiting for the next one; FAISS's OpenMP regions end with libgomp's workers and
// the caller spinning at a barrier. A checkout calls them for microseconds per recognition
// (projecting the visit's vectors, scoring the prototypes), so the spinning was most of the
// cost: with one live session, 40% of the server's CPU went to OpenBLAS's sched_yield and 9%
// to libgomp (perf), taken from the video of every other session. One thread spins for
// nothing. The only large work (a refit at 10,000 products, the scatter of a catalog opened
// without scatter.bin) runs in the background, where a second thread would save well under a
// second on this class of machine.
func init() {
	C.ebrcs_blas_single_thread()
	C.ebrcs_find_omp()
}

// singleThreadedOMP keeps the OpenMP regions FAISS starts from this OS thread on it alone.
// OpenMP's thread count is per thread and its default comes from OMP_NUM_THREADS, read once
// when libgomp loads, so it is set on each thread that searches (a plain store, set again
// on every call since a goroutine may have moved to another thread).
func singleThreadedOMP() {
	C.ebrcs_omp_single_thread()
}
