package data

// The few dense linear-algebra routines catalog-adapted matching needs, from the system's
// BLAS and LAPACK (the libblas/liblapack that libfaiss_c already links: OpenBLAS on Debian).
// A pure-Go Cholesky and triangular solve of a 1280×1280 matrix took 3–10 times longer (see
// BenchmarkRefit).
//
// Fortran is column-major; our matrices are row-major, which is the same memory read as the
// transpose. Symmetric matrices (the scatter sums, the regularised covariance) are kept in
// their row-major lower triangle, which is Fortran's upper triangle ('U'); the Cholesky
// factor L (Σ = L Lᵀ) is then the row-major lower triangle of the factored array.

/*
#cgo LDFLAGS: -llapack -lblas
void dsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
	const double *a, const int *lda, const double *beta, double *c, const int *ldc);
void dsyr_(const char *uplo, const int *n, const double *alpha, const double *x, const int *incx,
	double *a, const int *lda);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dtrsm_(const char *side, const char *uplo, const char *transa, const char *diag, const int *m,
	const int *n, const double *alpha, const double *a, const int *lda, double *b, const int *ldb);
void dtrsv_(const char *uplo, const char *trans, const char *diag, const int *n, const double *a,
	const int *lda, double *x, const int *incx);
void sgemv_(const char *trans, const int *m, const int *n, const float *alpha, const float *a,
	const int *lda, const float *x, const int *incx, const float *beta, float *y, const int *incy);
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// symRankK adds alpha·XᵀX to the d×d symmetric s (lower triangle), X being k row vectors of
// length d, concatenated.
func symRankK(s []float64, x []float64, k, d int, alpha float64) {
	if k == 0 {
		return
	}
	checkLen("symRankK s", len(s), d*d)
	checkLen("symRankK x", len(x), k*d)
	uplo, trans := C.char('U'), C.char('N')
	n, kk, lda := C.int(d), C.int(k), C.int(d)
	a, beta := C.double(alpha), C.double(1)
	C.dsyrk_(&uplo, &trans, &n, &kk, &a, f64(x), &lda, &beta, f64(s), &lda)
}

// symRankOne adds alpha·x xᵀ to the symmetric s (lower triangle).
func symRankOne(s []float64, x []float64, alpha float64) {
	d := len(x)
	checkLen("symRankOne s", len(s), d*d)
	uplo := C.char('U')
	n, inc, a := C.int(d), C.int(1), C.double(alpha)
	C.dsyr_(&uplo, &n, &a, f64(x), &inc, f64(s), &n)
}

// cholesky factors the symmetric positive definite a (lower triangle, d×d) in place into L,
// a = L Lᵀ, in its lower triangle; the upper triangle is left as it was. It fails when a is
// not positive definite.
func cholesky(a []float64, d int) error {
	checkLen("cholesky", len(a), d*d)
	uplo := C.char('U')
	n, info := C.int(d), C.int(0)
	C.dpotrf_(&uplo, &n, f64(a), &n, &info)
	if info != 0 {
		return fmt.Errorf("data: Cholesky factorisation failed (LAPACK info %d)", int(info))
	}
	return nil
}

// solveLowerRows replaces each of the rows vectors in p (row-major, rows×d) by L⁻¹·row, L being
// the lower triangle of l.
func solveLowerRows(l []float64, p []float64, rows, d int) {
	if rows == 0 {
		return
	}
	checkLen("solveLowerRows l", len(l), d*d)
	checkLen("solveLowerRows p", len(p), rows*d)
	side, uplo, trans, diag := C.char('L'), C.char('U'), C.char('T'), C.char('N')
	m, n, ld, one := C.int(d), C.int(rows), C.int(d), C.double(1)
	C.dtrsm_(&side, &uplo, &trans, &diag, &m, &n, &one, f64(l), &ld, f64(p), &ld)
}

// solveLower replaces x by L⁻¹x.
func solveLower(l []float64, x []float64) {
	d := len(x)
	checkLen("solveLower", len(l), d*d)
	uplo, trans, diag := C.char('U'), C.char('T'), C.char('N')
	n, inc := C.int(d), C.int(1)
	C.dtrsv_(&uplo, &trans, &diag, &n, f64(l), &n, f64(x), &inc)
}

// matVec returns M·x for M rows×len(x), row-major.
func matVec(m []float32, rows int, x []float32) []float32 {
	y := make([]float32, rows)
	if rows == 0 {
		return y
	}
	d := len(x)
	checkLen("matVec", len(m), rows*d)
	trans := C.char('T')
	cm, cn, inc := C.int(d), C.int(rows), C.int(1)
	one, zero := C.float(1), C.float(0)
	C.sgemv_(&trans, &cm, &cn, &one, (*C.float)(unsafe.Pointer(&m[0])), &cm,
		(*C.float)(unsafe.Pointer(&x[0])), &inc, &zero, (*C.float)(unsafe.Pointer(&y[0])), &inc)
	return y
}

func f64(s []float64) *C.double { return (*C.double)(unsafe.Pointer(&s[0])) }

// checkLen guards the C calls, which would read or write out of bounds.
func checkLen(what string, got, want int) {
	if got < want || want == 0 {
		panic(fmt.Sprintf("data: %s: %d values, want %d", what, got, want))
	}
}
