/* KNN background subtraction, faithful to OpenCV's BackgroundSubtractorKNN (bgfg_KNN.cpp),
 * re-implemented for speed.
 *
 * The algorithm (Zivkovic & van der Heijden 2006, as OpenCV implements it): every pixel keeps
 * 3 sets of N colour samples (short-, mid- and long-term), each with an "include" flag saying
 * whether the sample was background when it was taken. A pixel is background when at least
 * k samples that are flagged background lie within dist2_threshold (squared colour distance).
 * Its include flag is set when it is background, or when at least k samples of any flag are
 * close. Samples are refreshed at rates derived from the learning rate
 * 1/min(2*frames, history): each pixel refreshes its short set once every nShortUpdate frames
 * at a random phase (the mid set takes the oldest short sample, the long set the oldest mid
 * one), exactly as OpenCV's counters and randomised next-update maps do.
 *
 * Same results, different layout: OpenCV stores each pixel's 21 samples together and tests
 * them one pixel at a time, stopping at the k-th background match. We store each sample slot
 * as separate planes (structure of arrays) and test 64 pixels at a time, sample by sample, so
 * the compiler vectorises the distance computation; a block stops early once all its pixels
 * have k background matches. Whether a pixel is background and its include flag depend only
 * on the counts of close samples, not on the order they are visited, so the classification is
 * identical. Shadow detection (off by default) is order-dependent in OpenCV (it gives up at
 * the first black background sample), so it runs per pixel, in OpenCV's slot order, with
 * OpenCV's float arithmetic.
 */
#include "knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BLOCK 64

struct knn_model {
	int w, h;
	size_t n;         /* pixels */
	int nN, slots;    /* samples per set, 3*nN */
	knn_params p;
	int thresh_int;   /* dist2 < dist2_threshold  <=>  dist2 < thresh_int, for integer dist2 */
	uint8_t *samples; /* [slot][channel][pixel] */
	uint8_t *flags;   /* [slot][pixel] */
	uint8_t *idx_short, *idx_mid, *idx_long;    /* next slot of each set, per pixel */
	uint8_t *next_short, *next_mid, *next_long; /* update phase of each set, per pixel */
	uint8_t *include;                           /* this frame's include flags */
	int short_ctr, mid_ctr, long_ctr;
	unsigned short_rounds; /* completed short-term update periods, for fg_slowdown */
	long nframes;
	uint64_t rng;
	uint8_t *arena; /* one mapping holding every per-pixel array above */
	size_t arena_size;
	/* The start-up fast path (update_all), per set (UPDATE_LONG, _MID, _SHORT):
	 * all_due: the set's phases were last drawn over a period of 1, so they are all 0 and
	 *          every pixel is due when the counter is 0;
	 * in_step: every pass so far refreshed every pixel of the set or none, so its next slot
	 *          is the same for every pixel (idx_*[0]). */
	int all_due[3], in_step[3];
	int per_pixel; /* never take the fast path (tests compare the two) */
};

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64*: OpenCV uses its own RNG for the phases; only the distribution matters. */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* randomize draws every pixel's phase in [0, period). Four phases come from each 64-bit draw,
 * each a 16-bit slice scaled by a multiply and a shift rather than a division: at the start
 * of a stream every period ends every frame or two, and one draw and one 64-bit division per
 * pixel was 40% of a warm-up frame. For the periods here (at most 256) the bias is below
 * 0.4%. */
static void randomize(knn_model *m, uint8_t *phase, int period)
{
	const uint64_t p = (uint64_t)period;
	size_t i = 0;
	if (period == 1 && !m->per_pixel) {
		/* Every phase is 0. The draws are still taken, so that the phases drawn later are
		 * the same as the per-pixel path's. */
		memset(phase, 0, m->n);
		for (size_t draws = m->n / 4 + m->n % 4; draws > 0; draws--)
			next_rand(&m->rng);
		return;
	}
	for (; i + 4 <= m->n; i += 4) {
		uint64_t r = next_rand(&m->rng);
		phase[i] = (uint8_t)(((r & 0xffff) * p) >> 16);
		phase[i + 1] = (uint8_t)((((r >> 16) & 0xffff) * p) >> 16);
		phase[i + 2] = (uint8_t)((((r >> 32) & 0xffff) * p) >> 16);
		phase[i + 3] = (uint8_t)(((r >> 48) * p) >> 16);
	}
	for (; i < m->n; i++)
		phase[i] = (uint8_t)(((next_rand(&m->rng) >> 48) * p) >> 16);
}

void knn_set_params(knn_model *m, const knn_params *p)
{
	int nN = m->nN;
	m->p = *p;
	m->p.samples = nN; /* the sample count is fixed for the model's life */
	float t = p->dist2_threshold;
	m->thresh_int = t > 200000.f ? 200000 : (int)ceilf(t);
}

/* arena_new maps size bytes of zeroed memory for a model's per-pixel arrays, every page of it
 * already faulted in, writable. Why: a model is 7 MB at 320x240, and the first frame reads its
 * samples before it writes them. Left to calloc, each 4 KB page was first mapped to the shared
 * zero page and then copied on the first write, and every such copy flushed the TLB of every
 * other core running the process (an IPI, a VM exit here): when 16 sessions started together
 * that was 12% of the server's CPU in their first half second. Populated at once (one call
 * instead of a fault per page: 3.4-4.2 -> 2.1 ms a model), no page is copied and none flushed.
 * (Transparent huge pages were measured too, and were worse: the guest's fresh 2 MB pages cost
 * 25 times as much to clear as the 4 KB ones it recycles.) */
static uint8_t *arena_new(size_t size)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_POPULATE
	flags |= MAP_POPULATE;
#endif
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifndef MAP_POPULATE
	for (size_t i = 0; i < size; i += 4096) /* written, so never the zero page */
		((volatile uint8_t *)p)[i] = 0;
#endif
	return p;
}

knn_model *knn_new(int width, int height, const knn_params *p)
{
	knn_model *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->w = width;
	m->h = height;
	m->n = (size_t)width * height;
	m->nN = p->samples;
	m->slots = 3 * p->samples;
	knn_set_params(m, p);
	m->rng = p->seed ? p->seed : 0x9E3779B97F4A7C15ULL;
	/* samples (3 channels per slot), flags (one per slot) and 7 single planes */
	size_t n = m->n, planes = (size_t)m->slots * 3 + (size_t)m->slots + 7;
	m->arena_size = planes * n;
	m->arena = arena_new(m->arena_size);
	if (m->arena == NULL) {
		free(m);
		return NULL;
	}
	uint8_t *a = m->arena;
	m->samples = a, a += (size_t)m->slots * 3 * n;
	m->flags = a, a += (size_t)m->slots * n;
	m->idx_short = a, a += n;
	m->idx_mid = a, a += n;
	m->idx_long = a, a += n;
	m->next_short = a, a += n;
	m->next_mid = a, a += n;
	m->next_long = a, a += n;
	m->include = a;
	for (int set = 0; set < 3; set++)
		m->all_due[set] = m->in_step[set] = 1; /* phases and slots all start at 0 */
	return m;
}

void knn_per_pixel(knn_model *m) { m->per_pixel = 1; }

void knn_free(knn_model *m)
{
	if (m == NULL)
		return;
	munmap(m->arena, m->arena_size);
	free(m);
}

/* check_block_scalar counts, for len <= BLOCK pixels from start, the close samples (pbf) and
 * the close background samples (pb), then writes the mask and include flags. It is the
 * reference for the SIMD versions below, and handles the last partial block and thresholds
 * too large for 16-bit arithmetic. */
static void check_block_scalar(knn_model *m, const uint8_t *c0, const uint8_t *c1, const uint8_t *c2,
			       size_t start, int len, uint8_t *mask)
{
	uint8_t pb[BLOCK], pbf[BLOCK];
	const int k = m->p.k, thr = m->thresh_int;
	const size_t n = m->n;
	memset(pb, 0, sizeof(pb));
	memset(pbf, 0, sizeof(pbf));
	const uint8_t *p0 = c0 + start, *p1 = c1 + start, *p2 = c2 + start;
	for (int s = 0; s < m->slots; s++) {
		const uint8_t *s0 = m->samples + ((size_t)s * 3 + 0) * n + start;
		const uint8_t *s1 = m->samples + ((size_t)s * 3 + 1) * n + start;
		const uint8_t *s2 = m->samples + ((size_t)s * 3 + 2) * n + start;
		const uint8_t *f = m->flags + (size_t)s * n + start;
		for (int i = 0; i < len; i++) {
			int d0 = (int)s0[i] - p0[i], d1 = (int)s1[i] - p1[i], d2 = (int)s2[i] - p2[i];
			int d = d0 * d0 + d1 * d1 + d2 * d2;
			uint8_t close = (uint8_t)(d < thr);
			pbf[i] += close;
			pb[i] += close & f[i];
		}
		if (s + 1 >= k) {
			uint8_t lo = 255;
			for (int i = 0; i < len; i++)
				lo = pb[i] < lo ? pb[i] : lo;
			if (lo >= k)
				break; /* every pixel of the block is background */
		}
	}
	uint8_t *inc = m->include + start;
	uint8_t *out = mask + start;
	for (int i = 0; i < len; i++) {
		uint8_t bg = pb[i] >= k;
		inc[i] = bg | (pbf[i] >= k);
		out[i] = bg ? 0 : 255;
	}
}

#if defined(__x86_64__)
#include <immintrin.h>

/* The SIMD versions compute the same counts with saturating 16-bit arithmetic: each squared
 * channel difference fits in 16 bits unsigned (255^2), and a saturated sum is >= any
 * threshold they are used with (<= 65536), so "close" is decided exactly. */

#define CHECK_BLOCK_SIMD(NAME, ATTR, VEC, W, LOADU, STOREU, ZERO, SET1_8, SET1_16, SUBS8, OR, AND, \
			 UNPACKLO8, UNPACKHI8, MULLO16, ADDS16, SUBS16, CMPEQ16, PACKS16, SUB8, CMPGT8, \
			 MOVEMASK)                                                                   \
	ATTR static void NAME(knn_model *m, const uint8_t *c0, const uint8_t *c1, const uint8_t *c2,     \
			      size_t start, uint8_t *mask)                                                 \
	{                                                                                            \
		enum { V = BLOCK / W };                                                              \
		const size_t n = m->n;                                                               \
		const VEC z = ZERO(), thrm1 = SET1_16((short)(m->thresh_int - 1));                   \
		const VEC kv = SET1_8((char)m->p.k), one = SET1_8(1);                               \
		VEC p0[V], p1[V], p2[V], pb[V], pbf[V];                                              \
		for (int v = 0; v < V; v++) {                                                        \
			p0[v] = LOADU((const VEC *)(c0 + start + v * W));                            \
			p1[v] = LOADU((const VEC *)(c1 + start + v * W));                            \
			p2[v] = LOADU((const VEC *)(c2 + start + v * W));                            \
			pb[v] = z;                                                                   \
			pbf[v] = z;                                                                  \
		}                                                                                    \
		for (int s = 0; s < m->slots; s++) {                                                 \
			const uint8_t *s0 = m->samples + ((size_t)s * 3 + 0) * n + start;            \
			const uint8_t *s1 = m->samples + ((size_t)s * 3 + 1) * n + start;            \
			const uint8_t *s2 = m->samples + ((size_t)s * 3 + 2) * n + start;            \
			const uint8_t *f = m->flags + (size_t)s * n + start;                         \
			for (int v = 0; v < V; v++) {                                                \
				VEC a0 = LOADU((const VEC *)(s0 + v * W));                           \
				VEC a1 = LOADU((const VEC *)(s1 + v * W));                           \
				VEC a2 = LOADU((const VEC *)(s2 + v * W));                           \
				VEC d0 = OR(SUBS8(a0, p0[v]), SUBS8(p0[v], a0));                     \
				VEC d1 = OR(SUBS8(a1, p1[v]), SUBS8(p1[v], a1));                     \
				VEC d2 = OR(SUBS8(a2, p2[v]), SUBS8(p2[v], a2));                     \
				VEC l0 = UNPACKLO8(d0, z), h0 = UNPACKHI8(d0, z);                    \
				VEC l1 = UNPACKLO8(d1, z), h1 = UNPACKHI8(d1, z);                    \
				VEC l2 = UNPACKLO8(d2, z), h2 = UNPACKHI8(d2, z);                    \
				VEC sl = ADDS16(ADDS16(MULLO16(l0, l0), MULLO16(l1, l1)), MULLO16(l2, l2)); \
				VEC sh = ADDS16(ADDS16(MULLO16(h0, h0), MULLO16(h1, h1)), MULLO16(h2, h2)); \
				VEC close = PACKS16(CMPEQ16(SUBS16(sl, thrm1), z), CMPEQ16(SUBS16(sh, thrm1), z)); \
				VEC flag = CMPEQ8_ONE(LOADU((const VEC *)(f + v * W)));              \
				pbf[v] = SUB8(pbf[v], close);                                        \
				pb[v] = SUB8(pb[v], AND(close, flag));                               \
			}                                                                            \
			if (s + 1 >= m->p.k) {                                                       \
				int below = 0;                                                       \
				for (int v = 0; v < V; v++)                                          \
					below |= MOVEMASK(CMPGT8(kv, pb[v]));                        \
				if (!below)                                                          \
					break;                                                       \
			}                                                                            \
		}                                                                                    \
		for (int v = 0; v < V; v++) {                                                        \
			VEC bg = CMPGT8(pb[v], SUB8(kv, one));   /* pb >= k */                       \
			VEC inc = OR(bg, CMPGT8(pbf[v], SUB8(kv, one)));                             \
			STOREU((VEC *)(m->include + start + v * W), AND(inc, one));                  \
			STOREU((VEC *)(mask + start + v * W), XOR_ALL(bg)); /* 255: foreground */  \
		}                                                                                    \
	}

#define CMPEQ8_ONE(x) _mm_cmpeq_epi8((x), _mm_set1_epi8(1))
#define XOR_ALL(x) _mm_xor_si128((x), _mm_set1_epi8((char)0xFF))
CHECK_BLOCK_SIMD(check_block_sse2, , __m128i, 16, _mm_loadu_si128, _mm_storeu_si128, _mm_setzero_si128,
		 _mm_set1_epi8, _mm_set1_epi16, _mm_subs_epu8, _mm_or_si128, _mm_and_si128, _mm_unpacklo_epi8,
		 _mm_unpackhi_epi8, _mm_mullo_epi16, _mm_adds_epu16, _mm_subs_epu16, _mm_cmpeq_epi16,
		 _mm_packs_epi16, _mm_sub_epi8, _mm_cmpgt_epi8, _mm_movemask_epi8)
#undef CMPEQ8_ONE
#undef XOR_ALL

#define CMPEQ8_ONE(x) _mm256_cmpeq_epi8((x), _mm256_set1_epi8(1))
#define XOR_ALL(x) _mm256_xor_si256((x), _mm256_set1_epi8((char)0xFF))
CHECK_BLOCK_SIMD(check_block_avx2, __attribute__((target("avx2"))), __m256i, 32, _mm256_loadu_si256,
		 _mm256_storeu_si256, _mm256_setzero_si256, _mm256_set1_epi8, _mm256_set1_epi16, _mm256_subs_epu8,
		 _mm256_or_si256, _mm256_and_si256, _mm256_unpacklo_epi8, _mm256_unpackhi_epi8, _mm256_mullo_epi16,
		 _mm256_adds_epu16, _mm256_subs_epu16, _mm256_cmpeq_epi16, _mm256_packs_epi16, _mm256_sub_epi8,
		 _mm256_cmpgt_epi8, _mm256_movemask_epi8)
#undef CMPEQ8_ONE
#undef XOR_ALL
#endif

/* check_all classifies every pixel, with the widest SIMD the CPU has. */
static void check_all(knn_model *m, const uint8_t *c0, const uint8_t *c1, const uint8_t *c2, uint8_t *mask)
{
	const size_t n = m->n;
	size_t start = 0;
#if defined(__x86_64__)
	/* 16-bit arithmetic decides "close" exactly only for thresholds up to 65536. */
	if (m->thresh_int >= 1 && m->thresh_int <= 65536) {
		int avx2 = __builtin_cpu_supports("avx2");
		for (; start + BLOCK <= n; start += BLOCK) {
			if (avx2)
				check_block_avx2(m, c0, c1, c2, start, mask);
			else
				check_block_sse2(m, c0, c1, c2, start, mask);
		}
	}
#endif
	for (; start < n; start += BLOCK) {
		int len = n - start < BLOCK ? (int)(n - start) : BLOCK;
		check_block_scalar(m, c0, c1, c2, start, len, mask);
	}
}

/* shadow runs OpenCV's shadow test for one foreground pixel: 1 when it is a shadow. */
static int shadow(const knn_model *m, size_t px, uint8_t v0, uint8_t v1, uint8_t v2)
{
	const size_t n = m->n;
	const float tb = m->p.dist2_threshold, tau = m->p.shadow_tau;
	int ps = 0;
	for (int s = 0; s < m->slots; s++) {
		if (!m->flags[(size_t)s * n + px])
			continue;
		float b0 = m->samples[((size_t)s * 3 + 0) * n + px];
		float b1 = m->samples[((size_t)s * 3 + 1) * n + px];
		float b2 = m->samples[((size_t)s * 3 + 2) * n + px];
		float num = 0.f, den = 0.f;
		num += (float)v0 * b0; den += b0 * b0;
		num += (float)v1 * b1; den += b1 * b1;
		num += (float)v2 * b2; den += b2 * b2;
		if (den == 0)
			return 0;
		if (num <= den && num >= tau * den) {
			float a = num / den, dist2a = 0.f, dd;
			dd = a * b0 - v0; dist2a += dd * dd;
			dd = a * b1 - v1; dist2a += dd * dd;
			dd = a * b2 - v2; dist2a += dd * dd;
			if (dist2a < tb * a * a && ++ps >= m->p.k)
				return 1;
		}
	}
	return 0;
}

static inline void copy_slot(knn_model *m, size_t px, int from, int to)
{
	const size_t n = m->n;
	for (int c = 0; c < 3; c++)
		m->samples[((size_t)to * 3 + c) * n + px] = m->samples[((size_t)from * 3 + c) * n + px];
	m->flags[(size_t)to * n + px] = m->flags[(size_t)from * n + px];
}

enum { UPDATE_LONG, UPDATE_MID, UPDATE_SHORT };

static inline void update_pixel(knn_model *m, size_t i, int which, const uint8_t *c0, const uint8_t *c1,
				const uint8_t *c2)
{
	const int nN = m->nN;
	const size_t n = m->n;
	switch (which) {
	case UPDATE_LONG:
		copy_slot(m, i, nN + m->idx_mid[i], 2 * nN + m->idx_long[i]);
		m->idx_long[i] = m->idx_long[i] >= nN - 1 ? 0 : m->idx_long[i] + 1;
		break;
	case UPDATE_MID:
		copy_slot(m, i, m->idx_short[i], nN + m->idx_mid[i]);
		m->idx_mid[i] = m->idx_mid[i] >= nN - 1 ? 0 : m->idx_mid[i] + 1;
		break;
	default: {
		int s = m->idx_short[i];
		m->samples[((size_t)s * 3 + 0) * n + i] = c0[i];
		m->samples[((size_t)s * 3 + 1) * n + i] = c1[i];
		m->samples[((size_t)s * 3 + 2) * n + i] = c2[i];
		m->flags[(size_t)s * n + i] = m->include[i];
		m->idx_short[i] = s >= nN - 1 ? 0 : s + 1;
	}
	}
}

/* update_all refreshes set `which` of every pixel when all are due and their slots are the
 * same: whole planes are copied instead of pixel by pixel. That is every frame of a stream's
 * first 5 to 10 (the learning rate starts at 1/2, so each period is one frame long), when a
 * frame cost 3 times a settled one, and 16 sessions starting together pay for it at once. */
static void update_all(knn_model *m, int which, const uint8_t *c0, const uint8_t *c1, const uint8_t *c2)
{
	const int nN = m->nN;
	const size_t n = m->n;
	uint8_t *idx;
	int from = -1, to;
	switch (which) {
	case UPDATE_LONG:
		from = nN + m->idx_mid[0], to = 2 * nN + m->idx_long[0], idx = m->idx_long;
		break;
	case UPDATE_MID:
		from = m->idx_short[0], to = nN + m->idx_mid[0], idx = m->idx_mid;
		break;
	default:
		to = m->idx_short[0], idx = m->idx_short;
	}
	uint8_t *dst = m->samples + (size_t)to * 3 * n;
	if (from >= 0) {
		memcpy(dst, m->samples + (size_t)from * 3 * n, 3 * n);
		memcpy(m->flags + (size_t)to * n, m->flags + (size_t)from * n, n);
	} else {
		memcpy(dst, c0, n);
		memcpy(dst + n, c1, n);
		memcpy(dst + 2 * n, c2, n);
		memcpy(m->flags + (size_t)to * n, m->include, n);
	}
	memset(idx, idx[0] >= nN - 1 ? 0 : idx[0] + 1, n);
}

/* update_pass refreshes set `which` of every pixel whose phase equals ctr. Only a few pixels
 * are due in any frame, so they are found 16 at a time and the rest skipped without a branch
 * per pixel. */
static void update_pass(knn_model *m, const uint8_t *phase, uint8_t ctr, int which, const uint8_t *c0,
			const uint8_t *c1, const uint8_t *c2, const uint8_t *skip)
{
	const size_t n = m->n;
	size_t i = 0;
	if (m->all_due[which] && !skip) {
		if (ctr != 0)
			return; /* none is due */
		/* A copy takes the source set's slot too: long reads mid's, mid reads short's. */
		int source_in_step = which == UPDATE_LONG ? m->in_step[UPDATE_MID]
				   : which == UPDATE_MID  ? m->in_step[UPDATE_SHORT] : 1;
		if (m->in_step[which] && source_in_step && !m->per_pixel) {
			update_all(m, which, c0, c1, c2);
			return;
		}
	} else {
		m->in_step[which] = 0; /* some pixels are refreshed, some not: the slots part */
	}
	if (skip) {
		/* Conservative learning: this round, foreground pixels keep their samples. */
		for (; i < n; i++)
			if (phase[i] == ctr && !skip[i])
				update_pixel(m, i, which, c0, c1, c2);
		return;
	}
#if defined(__x86_64__)
	const __m128i want = _mm_set1_epi8((char)ctr);
	for (; i + 16 <= n; i += 16) {
		unsigned bits = (unsigned)_mm_movemask_epi8(
			_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(phase + i)), want));
		while (bits) {
			update_pixel(m, i + (size_t)__builtin_ctz(bits), which, c0, c1, c2);
			bits &= bits - 1;
		}
	}
#endif
	for (; i < n; i++)
		if (phase[i] == ctr)
			update_pixel(m, i, which, c0, c1, c2);
}

void knn_apply(knn_model *m, const uint8_t *c0, const uint8_t *c1, const uint8_t *c2, uint8_t *mask)
{
	const size_t n = m->n;
	const int nN = m->nN;

	m->nframes++;
	double rate = 1.0 / (double)(2 * m->nframes < m->p.history ? 2 * m->nframes : m->p.history);
	int kshort = (int)(log(0.7) / log(1 - rate)) + 1;
	int kmid = (int)(log(0.4) / log(1 - rate)) - kshort + 1;
	int klong = (int)(log(0.1) / log(1 - rate)) - kshort - kmid + 1;
	int short_period = kshort / nN + 1, mid_period = kmid / nN + 1, long_period = klong / nN + 1;

	/* 1. classify every pixel against the model as it was before this frame */
	check_all(m, c0, c1, c2, mask);
	if (m->p.detect_shadows) {
		for (size_t i = 0; i < n; i++)
			if (mask[i] && shadow(m, i, c0[i], c1[i], c2[i]))
				mask[i] = m->p.shadow_value;
	}

	/* 2. refresh the samples of the pixels whose phase is due, in the order OpenCV uses per
	 *    pixel: long takes the oldest mid sample, mid the oldest short, short the new value.
	 *    Three passes keep that order for every pixel. */
	update_pass(m, m->next_long, (uint8_t)m->long_ctr, UPDATE_LONG, c0, c1, c2, NULL);
	update_pass(m, m->next_mid, (uint8_t)m->mid_ctr, UPDATE_MID, c0, c1, c2, NULL);
	/* An object held still becomes background once the short-term samples have learnt it
	 * (about 2 s at history 300). With fg_slowdown F, pixels that are foreground now learn
	 * only in 1 of F rounds, so a product left in the checkout area stays an object F times
	 * longer, while the background itself (lighting drift) learns at the normal rate. */
	int slow = m->p.fg_slowdown > 1 && m->nframes > m->p.fg_slowdown_after &&
		   (m->short_rounds % (unsigned)m->p.fg_slowdown) != 0;
	update_pass(m, m->next_short, (uint8_t)m->short_ctr, UPDATE_SHORT, c0, c1, c2, slow ? mask : NULL);

	/* 3. advance the counters; a finished period draws new random phases */
	if (++m->short_ctr >= short_period) {
		m->short_ctr = 0;
		m->short_rounds++;
		randomize(m, m->next_short, short_period);
		m->all_due[UPDATE_SHORT] = short_period == 1;
	}
	if (++m->mid_ctr >= mid_period) {
		m->mid_ctr = 0;
		randomize(m, m->next_mid, mid_period);
		m->all_due[UPDATE_MID] = mid_period == 1;
	}
	if (++m->long_ctr >= long_period) {
		m->long_ctr = 0;
		randomize(m, m->next_long, long_period);
		m->all_due[UPDATE_LONG] = long_period == 1;
	}
}

/* Separable square min/max filter of radius r over one image, ignoring pixels outside it.
 * Written as whole-row passes (one per offset) so that the compiler vectorises them. */
static void minmax_rows(const uint8_t *in, uint8_t *out, int w, int h, int r, int is_max)
{
	for (int y = 0; y < h; y++) {
		const uint8_t *a = in + (size_t)y * w;
		uint8_t *o = out + (size_t)y * w;
		memcpy(o, a, (size_t)w);
		for (int j = -r; j <= r; j++) {
			if (j == 0)
				continue;
			int lo = j < 0 ? -j : 0, hi = j > 0 ? w - j : w;
			const uint8_t *b = a + j;
			if (is_max)
				for (int x = lo; x < hi; x++) o[x] = b[x] > o[x] ? b[x] : o[x];
			else
				for (int x = lo; x < hi; x++) o[x] = b[x] < o[x] ? b[x] : o[x];
		}
	}
}

static void minmax_cols(const uint8_t *in, uint8_t *out, int w, int h, int r, int is_max)
{
	for (int y = 0; y < h; y++) {
		int lo = y - r < 0 ? 0 : y - r, hi = y + r >= h ? h - 1 : y + r;
		uint8_t *o = out + (size_t)y * w;
		memcpy(o, in + (size_t)lo * w, (size_t)w);
		for (int j = lo + 1; j <= hi; j++) {
			const uint8_t *a = in + (size_t)j * w;
			if (is_max)
				for (int x = 0; x < w; x++) o[x] = a[x] > o[x] ? a[x] : o[x];
			else
				for (int x = 0; x < w; x++) o[x] = a[x] < o[x] ? a[x] : o[x];
		}
	}
}

void knn_clean_mask(uint8_t *mask, uint8_t *tmp, int w, int h, int erode, int dilate, int thresh)
{
	/* OpenCV turns `iterations` of a 3x3 square into one (2*iterations+1) square. */
	if (erode > 0) {
		minmax_rows(mask, tmp, w, h, erode, 0);
		minmax_cols(tmp, mask, w, h, erode, 0);
	}
	if (dilate > 0) {
		minmax_rows(mask, tmp, w, h, dilate, 1);
		minmax_cols(tmp, mask, w, h, dilate, 1);
	}
	size_t n = (size_t)w * h;
	for (size_t i = 0; i < n; i++)
		mask[i] = mask[i] > thresh ? 255 : 0;
}

void knn_downscale_packed(const uint8_t *src, int sw, int sh, int stride, int bpp, int off0, int off1, int off2,
			  uint8_t *c0, uint8_t *c1, uint8_t *c2, int dw, int dh)
{
	if (dw == sw && dh == sh) {
		for (int y = 0; y < sh; y++) {
			const uint8_t *row = src + (size_t)y * stride;
			size_t o = (size_t)y * dw;
			for (int x = 0; x < sw; x++) {
				c0[o + x] = row[x * bpp + off0];
				c1[o + x] = row[x * bpp + off1];
				c2[o + x] = row[x * bpp + off2];
			}
		}
		return;
	}
	for (int y = 0; y < dh; y++) {
		int y0 = (int)((long)y * sh / dh), y1 = (int)((long)(y + 1) * sh / dh);
		if (y1 <= y0)
			y1 = y0 + 1;
		for (int x = 0; x < dw; x++) {
			int x0 = (int)((long)x * sw / dw), x1 = (int)((long)(x + 1) * sw / dw);
			if (x1 <= x0)
				x1 = x0 + 1;
			unsigned s0 = 0, s1 = 0, s2 = 0, cnt = (unsigned)((y1 - y0) * (x1 - x0));
			for (int yy = y0; yy < y1; yy++) {
				const uint8_t *p = src + (size_t)yy * stride + (size_t)x0 * bpp;
				for (int xx = x0; xx < x1; xx++, p += bpp) {
					s0 += p[off0];
					s1 += p[off1];
					s2 += p[off2];
				}
			}
			size_t o = (size_t)y * dw + x;
			c0[o] = (uint8_t)((s0 + cnt / 2) / cnt);
			c1[o] = (uint8_t)((s1 + cnt / 2) / cnt);
			c2[o] = (uint8_t)((s2 + cnt / 2) / cnt);
		}
	}
}

static inline uint8_t clamp255(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* BT.601 limited range to RGB, in 16.16 fixed point (the inverse of the limited-range
 * matrix GStreamer and the encoders use for SD video). */
static inline void yuv_to_rgb(int Y, int U, int V, uint8_t *r, uint8_t *g, uint8_t *b)
{
	int c = (Y - 16) * 76309, d = U - 128, e = V - 128;
	*r = clamp255((c + 104597 * e + 32768) >> 16);
	*g = clamp255((c - 25675 * d - 53279 * e + 32768) >> 16);
	*b = clamp255((c + 132201 * d + 32768) >> 16);
}

/* row_to_rgb converts a row of Y, U, V means to RGB, as yuv_to_rgb does, in a loop the
 * compiler vectorises (inlined into each row function, so for each instruction set). */
static inline __attribute__((always_inline)) void row_to_rgb(const int32_t *restrict yv, const int32_t *restrict uv,
							       const int32_t *restrict vv, int dw, uint8_t *restrict o0,
							       uint8_t *restrict o1, uint8_t *restrict o2)
{
	for (int x = 0; x < dw; x++) {
		int32_t c = (yv[x] - 16) * 76309, d = uv[x] - 128, e = vv[x] - 128;
		int32_t r = (c + 104597 * e + 32768) >> 16;
		int32_t g = (c - 25675 * d - 53279 * e + 32768) >> 16;
		int32_t b = (c + 132201 * d + 32768) >> 16;
		o0[x] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
		o1[x] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
		o2[x] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
	}
}

/* One row of the 2:1 case: luma as 2x2 means, chroma as it is (step 1 or 2), converted.
 * Written as plain loops over restrict pointers so that the compiler vectorises them; built
 * twice, for the baseline and for AVX2 (chosen at run time, as the KNN's blocks are). */
#define YUV420_ROW_HALF(NAME, ATTR)                                                                           \
	ATTR static void NAME(const uint8_t *restrict r0, const uint8_t *restrict r1, const uint8_t *restrict ur,    \
			      const uint8_t *restrict vr, int cstep, int dw, uint8_t *restrict o0, uint8_t *restrict o1, \
			      uint8_t *restrict o2)                                                                  \
	{                                                                                                      \
		yuv420_row_half_body(r0, r1, ur, vr, cstep, dw, o0, o1, o2);                                    \
	}

static inline __attribute__((always_inline)) void yuv420_row_half_body(const uint8_t *restrict r0, const uint8_t *restrict r1,
								      const uint8_t *restrict ur, const uint8_t *restrict vr,
								      int cstep, int dw, uint8_t *restrict o0,
								      uint8_t *restrict o1, uint8_t *restrict o2)
{
	int32_t yv[dw], uv[dw], vv[dw];
	for (int x = 0; x < dw; x++)
		yv[x] = (r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1] + 2) >> 2;
	if (cstep == 1) {
		for (int x = 0; x < dw; x++) {
			uv[x] = ur[x];
			vv[x] = vr[x];
		}
	} else {
		for (int x = 0; x < dw; x++) {
			uv[x] = ur[2 * x];
			vv[x] = vr[2 * x];
		}
	}
	row_to_rgb(yv, uv, vv, dw, o0, o1, o2);
}

YUV420_ROW_HALF(yuv420_row_half, )
#if defined(__x86_64__)
YUV420_ROW_HALF(yuv420_row_half_avx2, __attribute__((target("avx2"))))
#endif

/* One row of the 4:1 case (640x480 to 160x120, the live pipelines' size): luma as 4x4 means,
 * chroma as 2x2 means, converted; the same values as the general footprint mean below, a
 * dozen times faster because the compiler can vectorise it. */
#define YUV420_ROW_QUARTER(NAME, ATTR)                                                                        \
	ATTR static void NAME(const uint8_t *restrict r0, int ystride, const uint8_t *restrict u0,                 \
			      const uint8_t *restrict v0, int cstride, int cstep, int dw, uint8_t *restrict o0,      \
			      uint8_t *restrict o1, uint8_t *restrict o2)                                            \
	{                                                                                                      \
		yuv420_row_quarter_body(r0, ystride, u0, v0, cstride, cstep, dw, o0, o1, o2);                 \
	}

static inline __attribute__((always_inline)) void yuv420_row_quarter_body(const uint8_t *restrict r0, int ystride,
									 const uint8_t *restrict u0,
									 const uint8_t *restrict v0, int cstride,
									 int cstep, int dw, uint8_t *restrict o0,
									 uint8_t *restrict o1, uint8_t *restrict o2)
{
	int32_t yv[dw], uv[dw], vv[dw];
	for (int x = 0; x < dw; x++)
		yv[x] = 0;
	for (int j = 0; j < 4; j++) {
		const uint8_t *r = r0 + (size_t)j * ystride;
		for (int x = 0; x < dw; x++)
			yv[x] += r[4 * x] + r[4 * x + 1] + r[4 * x + 2] + r[4 * x + 3];
	}
	for (int x = 0; x < dw; x++)
		yv[x] = (yv[x] + 8) >> 4;
	const uint8_t *u1 = u0 + cstride, *v1 = v0 + cstride;
	if (cstep == 1) {
		for (int x = 0; x < dw; x++) {
			uv[x] = (u0[2 * x] + u0[2 * x + 1] + u1[2 * x] + u1[2 * x + 1] + 2) >> 2;
			vv[x] = (v0[2 * x] + v0[2 * x + 1] + v1[2 * x] + v1[2 * x + 1] + 2) >> 2;
		}
	} else {
		for (int x = 0; x < dw; x++) {
			uv[x] = (u0[4 * x] + u0[4 * x + 2] + u1[4 * x] + u1[4 * x + 2] + 2) >> 2;
			vv[x] = (v0[4 * x] + v0[4 * x + 2] + v1[4 * x] + v1[4 * x + 2] + 2) >> 2;
		}
	}
	row_to_rgb(yv, uv, vv, dw, o0, o1, o2);
}

YUV420_ROW_QUARTER(yuv420_row_quarter, )
#if defined(__x86_64__)
YUV420_ROW_QUARTER(yuv420_row_quarter_avx2, __attribute__((target("avx2"))))
#endif

void knn_downscale_yuv420(const uint8_t *y, int ystride, const uint8_t *u, const uint8_t *v, int cstride, int cstep,
			  int sw, int sh, uint8_t *c0, uint8_t *c1, uint8_t *c2, int dw, int dh)
{
	int cw = (sw + 1) / 2, ch = (sh + 1) / 2;
	if (dw * 2 == sw && dh * 2 == sh) {
		/* The common case (640x480 to 320x240): a 2x2 mean of luma, chroma as it is. */
		typeof(&yuv420_row_half) row = yuv420_row_half;
#if defined(__x86_64__)
		if (__builtin_cpu_supports("avx2"))
			row = yuv420_row_half_avx2;
#endif
		for (int yy = 0; yy < dh; yy++) {
			const uint8_t *r0 = y + (size_t)(2 * yy) * ystride;
			size_t o = (size_t)yy * dw;
			row(r0, r0 + ystride, u + (size_t)yy * cstride, v + (size_t)yy * cstride, cstep, dw, c0 + o, c1 + o, c2 + o);
		}
		return;
	}
	if (dw * 4 == sw && dh * 4 == sh) {
		typeof(&yuv420_row_quarter) row = yuv420_row_quarter;
#if defined(__x86_64__)
		if (__builtin_cpu_supports("avx2"))
			row = yuv420_row_quarter_avx2;
#endif
		for (int yy = 0; yy < dh; yy++) {
			size_t o = (size_t)yy * dw;
			row(y + (size_t)(4 * yy) * ystride, ystride, u + (size_t)(2 * yy) * cstride, v + (size_t)(2 * yy) * cstride,
			    cstride, cstep, dw, c0 + o, c1 + o, c2 + o);
		}
		return;
	}
	for (int yy = 0; yy < dh; yy++) {
		int y0 = (int)((long)yy * sh / dh), y1 = (int)((long)(yy + 1) * sh / dh);
		if (y1 <= y0)
			y1 = y0 + 1;
		int cy0 = y0 / 2, cy1 = (y1 + 1) / 2;
		if (cy1 > ch)
			cy1 = ch;
		if (cy1 <= cy0)
			cy1 = cy0 + 1;
		for (int x = 0; x < dw; x++) {
			int x0 = (int)((long)x * sw / dw), x1 = (int)((long)(x + 1) * sw / dw);
			if (x1 <= x0)
				x1 = x0 + 1;
			int cx0 = x0 / 2, cx1 = (x1 + 1) / 2;
			if (cx1 > cw)
				cx1 = cw;
			if (cx1 <= cx0)
				cx1 = cx0 + 1;
			unsigned sy = 0, su = 0, sv = 0;
			unsigned ny = (unsigned)((y1 - y0) * (x1 - x0)), nc = (unsigned)((cy1 - cy0) * (cx1 - cx0));
			for (int j = y0; j < y1; j++) {
				const uint8_t *p = y + (size_t)j * ystride;
				for (int i = x0; i < x1; i++)
					sy += p[i];
			}
			for (int j = cy0; j < cy1; j++) {
				const uint8_t *pu = u + (size_t)j * cstride, *pv = v + (size_t)j * cstride;
				for (int i = cx0; i < cx1; i++) {
					su += pu[i * cstep];
					sv += pv[i * cstep];
				}
			}
			size_t o = (size_t)yy * dw + x;
			yuv_to_rgb((int)((sy + ny / 2) / ny), (int)((su + nc / 2) / nc), (int)((sv + nc / 2) / nc), &c0[o], &c1[o],
				   &c2[o]);
		}
	}
}
