/* The two passes of the Pillow-exact bicubic resampler (resample.go has the algorithm and
 * why it must be exact). In C because they are most of a crop's preprocessing, and a live
 * session recognises each crop under four views: the Go loops, bounds-checked and scalar,
 * took about 2 ms a view. The arithmetic is the Go version's, integer and in the same
 * order, so the output is byte-identical (TestResizeMatchesPillow). */
#include <stddef.h>
#include <stdint.h>

#include "resample.h"

#define PRECISION_BITS 22

static inline uint8_t clip8(int32_t ss)
{
	int32_t v = ss >> PRECISION_BITS; /* arithmetic shift, as Go's and Pillow's */
	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* Each output row is a weighted sum of a few input rows: accumulate row by row, so the
 * inner loop walks memory in order and the compiler can vectorise it. */
static inline __attribute__((always_inline)) void vertical_body(const uint8_t *restrict src, int sstride,
								 uint8_t *restrict dst, int dstride, int row_bytes,
								 int rows, const int32_t *restrict start,
								 const int32_t *restrict n, const int32_t *restrict k,
								 int ksize, int32_t *restrict acc)
{
	const int32_t half = (int32_t)1 << (PRECISION_BITS - 1);
	for (int y = 0; y < rows; y++) {
		const int32_t *ky = k + (size_t)y * ksize;
		for (int j = 0; j < row_bytes; j++)
			acc[j] = half;
		for (int i = 0; i < n[y]; i++) {
			const uint8_t *restrict s = src + (size_t)(start[y] + i) * sstride;
			int32_t kw = ky[i];
			for (int j = 0; j < row_bytes; j++)
				acc[j] += (int32_t)s[j] * kw;
		}
		uint8_t *restrict d = dst + (size_t)y * dstride;
		for (int j = 0; j < row_bytes; j++)
			d[j] = clip8(acc[j]);
	}
}

static void vertical_plain(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int row_bytes, int rows,
			   const int32_t *start, const int32_t *n, const int32_t *k, int ksize, int32_t *acc)
{
	vertical_body(src, sstride, dst, dstride, row_bytes, rows, start, n, k, ksize, acc);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void vertical_avx2(const uint8_t *src, int sstride, uint8_t *dst, int dstride,
							     int row_bytes, int rows, const int32_t *start,
							     const int32_t *n, const int32_t *k, int ksize, int32_t *acc)
{
	vertical_body(src, sstride, dst, dstride, row_bytes, rows, start, n, k, ksize, acc);
}
#endif

void resample_vertical(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int row_bytes, int rows,
		       const int32_t *start, const int32_t *n, const int32_t *k, int ksize, int32_t *acc)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2")) {
		vertical_avx2(src, sstride, dst, dstride, row_bytes, rows, start, n, k, ksize, acc);
		return;
	}
#endif
	vertical_plain(src, sstride, dst, dstride, row_bytes, rows, start, n, k, ksize, acc);
}

/* Each output pixel of a row is a weighted sum of a few neighbouring input pixels, all three
 * channels at once. */
void resample_horizontal(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int out_w, int rows,
			 const int32_t *start, const int32_t *n, const int32_t *k, int ksize)
{
	const int32_t half = (int32_t)1 << (PRECISION_BITS - 1);
	for (int y = 0; y < rows; y++) {
		const uint8_t *restrict srow = src + (size_t)y * sstride;
		uint8_t *restrict drow = dst + (size_t)y * dstride;
		for (int x = 0; x < out_w; x++) {
			const uint8_t *restrict in = srow + (size_t)start[x] * 3;
			const int32_t *restrict kx = k + (size_t)x * ksize;
			int32_t ss0 = half, ss1 = half, ss2 = half;
			for (int i = 0; i < n[x]; i++) {
				int32_t kw = kx[i];
				ss0 += (int32_t)in[3 * i] * kw;
				ss1 += (int32_t)in[3 * i + 1] * kw;
				ss2 += (int32_t)in[3 * i + 2] * kw;
			}
			drow[3 * x] = clip8(ss0);
			drow[3 * x + 1] = clip8(ss1);
			drow[3 * x + 2] = clip8(ss2);
		}
	}
}
