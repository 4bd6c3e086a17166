package data

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLinalg checks the BLAS/LAPACK calls (and our row-major conventions) against plain Go.
func TestLinalg(t *testing.T) {
	const d, k = 7, 5
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, k*d)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	// S = 2·XᵀX + 0.5·v vᵀ + I, lower triangles.
	s := make([]float64, d*d)
	symRankK(s, x, k, d, 2)
	v := x[:d]
	symRankOne(s, v, 0.5)
	for i := range d {
		s[i*d+i]++
	}
	want := func(i, j int) float64 {
		sum := 0.5 * v[i] * v[j]
		for r := range k {
			sum += 2 * x[r*d+i] * x[r*d+j]
		}
		if i == j {
			sum++
		}
		return sum
	}
	for i := range d {
		for j := 0; j <= i; j++ {
			if math.Abs(s[i*d+j]-want(i, j)) > 1e-9 {
				t.Fatalf("S[%d][%d] = %v, want %v", i, j, s[i*d+j], want(i, j))
			}
		}
	}
	l := append([]float64(nil), s...)
	if err := cholesky(l, d); err != nil {
		t.Fatal(err)
	}
	for i := range d { // L Lᵀ = S
		for j := 0; j <= i; j++ {
			var sum float64
			for m := 0; m <= j; m++ {
				sum += l[i*d+m] * l[j*d+m]
			}
			if math.Abs(sum-want(i, j)) > 1e-9 {
				t.Fatalf("(L Lᵀ)[%d][%d] = %v, want %v", i, j, sum, want(i, j))
			}
		}
	}
	// L⁻¹ applied to rows, and to one vector: L·y = row.
	rows := append([]float64(nil), x...)
	solveLowerRows(l, rows, k, d)
	one := append([]float64(nil), x[d:2*d]...)
	solveLower(l, one)
	for r := range k {
		for i := range d {
			var sum float64
			for m := 0; m <= i; m++ {
				sum += l[i*d+m] * rows[r*d+m]
			}
			if math.Abs(sum-x[r*d+i]) > 1e-9 {
				t.Fatalf("row %d: (L y)[%d] = %v, want %v", r, i, sum, x[r*d+i])
			}
		}
	}
	for i := range d {
		if math.Abs(one[i]-rows[d+i]) > 1e-12 {
			t.Fatalf("solveLower and solveLowerRows differ at %d", i)
		}
	}
	if err := cholesky(make([]float64, d*d), d); err == nil {
		t.Fatal("Cholesky of zero succeeded")
	}
	// M·x for M rows×d, row-major, float32.
	m := make([]float32, k*d)
	xv := make([]float32, d)
	for i := range m {
		m[i] = float32(r.NormFloat64())
	}
	for i := range xv {
		xv[i] = float32(r.NormFloat64())
	}
	y := matVec(m, k, xv)
	for r := range k {
		var sum float64
		for i := range d {
			sum += float64(m[r*d+i]) * float64(xv[i])
		}
		if math.Abs(sum-float64(y[r])) > 1e-5 {
			t.Fatalf("matVec[%d] = %v, want %v", r, y[r], sum)
		}
	}
}
