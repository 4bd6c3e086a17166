#include <stdint.h>

/* Pillow's vertical pass: rows output rows of row_bytes bytes; output row y sums the n[y]
 * input rows from start[y] (relative to src) with weights k[y*ksize ...]. acc holds
 * row_bytes int32s of scratch. */
void resample_vertical(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int row_bytes, int rows,
		       const int32_t *start, const int32_t *n, const int32_t *k, int ksize, int32_t *acc);

/* Pillow's horizontal pass: rows rows of out_w RGB pixels; output pixel x sums the n[x]
 * input pixels from start[x] with weights k[x*ksize ...]. */
void resample_horizontal(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int out_w, int rows,
			 const int32_t *start, const int32_t *n, const int32_t *k, int ksize);
