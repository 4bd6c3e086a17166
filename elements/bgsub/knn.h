#ifndef EBRCS_KNN_H
#define EBRCS_KNN_H
#include <stdint.h>
#include <stddef.h>

/* The KNN background model of one video stream; see knn.c. */
typedef struct knn_model knn_model;

typedef struct {
	int history;           /* frames of history; learning rate 1/min(2*frames, history) */
	float dist2_threshold; /* squared colour distance under which a sample is "close" */
	int k;                 /* close background samples needed to call a pixel background */
	int samples;           /* samples per set (short, mid, long): OpenCV's nN, 7 */
	int detect_shadows;
	uint8_t shadow_value;  /* mask value for shadows (127) */
	float shadow_tau;      /* shadow threshold (0.5) */
	uint64_t seed;         /* for the random update phases */
	int fg_slowdown;       /* foreground pixels take 1 in fg_slowdown of their short-term
	                        * updates (<= 1: every one, as OpenCV) */
	int fg_slowdown_after; /* ... from this many frames on: before, the model is still
	                        * learning the scene, which is all foreground at first */
} knn_params;

knn_model *knn_new(int width, int height, const knn_params *p);
void knn_free(knn_model *m);
/* Makes the model take the per-pixel path always, never the start-up fast path: the same
 * results, slower (for tests). */
void knn_per_pixel(knn_model *m);
void knn_set_params(knn_model *m, const knn_params *p); /* history/threshold/k/shadows/slowdown only */

/* Classifies one frame given as three planes of width*height bytes and updates the model.
 * mask gets 255 (foreground), 0 (background) or shadow_value. */
void knn_apply(knn_model *m, const uint8_t *c0, const uint8_t *c1, const uint8_t *c2, uint8_t *mask);

/* Mask clean-up as the original system did it with OpenCV: erode with a 3x3 square
 * `erode` times, dilate `dilate` times, then threshold (> thresh → 255, else 0). Pixels
 * outside the image never erode or dilate anything (OpenCV's default borders). tmp must hold
 * width*height bytes. */
void knn_clean_mask(uint8_t *mask, uint8_t *tmp, int width, int height, int erode, int dilate, int thresh);

/* Converts a packed 3- or 4-byte-per-pixel frame (stride in bytes, channel offsets r g b) to
 * three planes of dw*dh, averaging each destination pixel's footprint (area resampling). */
void knn_downscale_packed(const uint8_t *src, int sw, int sh, int stride, int bpp, int off0, int off1, int off2,
			  uint8_t *c0, uint8_t *c1, uint8_t *c2, int dw, int dh);
/* Converts a 4:2:0 frame (luma plane, and chroma planes with a step of 1 for I420 or 2 for
 * NV12's interleaved plane) to three RGB planes of dw*dh (BT.601 limited range), averaging
 * each destination pixel's footprint in luma and in chroma before converting: the same
 * planes, up to rounding, as converting to RGB first and then averaging (the conversion is
 * linear). */
void knn_downscale_yuv420(const uint8_t *y, int ystride, const uint8_t *u, const uint8_t *v, int cstride, int cstep,
			  int sw, int sh, uint8_t *c0, uint8_t *c1, uint8_t *c2, int dw, int dh);
#endif
