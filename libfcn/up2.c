/*
 * up2.c - the direct 2x2 stride-2 deconvolution (see up2.h).
 */
#include <string.h>

#include "direct.h"
#include "threads.h"
#include "up2.h"

#if defined(__x86_64__) || defined(__i386__)
#include "fma4x24.h"
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define PB 24 /* input pixels per block (3 AVX vectors) */

struct ujob {
	const float *x, *wt, *bias; /* wt packed: (M, C, 4) */
	float *y;
	int C, h, w, M;
	size_t cs, rs; /* x's channel and row strides */
};

/* Input pixels [x0, x0 + n) of row i, output channel m, in plain C. */
static void block_c(const struct ujob *j, int m, int i, int x0, int n)
{
	float acc[4][PB] = { { 0 } }, b = j->bias ? j->bias[m] : 0.0f;

	for (int c = 0; c < j->C; c++) {
		const float *xr = j->x + c * j->cs + i * j->rs + x0;
		const float *wc = j->wt + ((size_t)m * j->C + c) * 4;

		for (int k = 0; k < 4; k++)
			for (int t = 0; t < n; t++)
				acc[k][t] += wc[k] * xr[t];
	}
	for (int a = 0; a < 2; a++) {
		float *row = j->y + ((size_t)m * 2 * j->h + 2 * i + a) * 2 * j->w + 2 * x0;

		for (int t = 0; t < n; t++) {
			row[2 * t] = acc[2 * a][t] + b;
			row[2 * t + 1] = acc[2 * a + 1][t] + b;
		}
	}
}

static void items_c(void *ctx, int lo, int hi)
{
	const struct ujob *j = ctx;

	for (int r = lo; r < hi; r++)
		for (int x0 = 0; x0 < j->w; x0 += PB)
			block_c(j, r % j->M, r / j->M, x0, j->w - x0 < PB ? j->w - x0 : PB);
}

#if HAVE_X86
/* out[0..16) = e and o interleaved, plus b */
__attribute__((target("avx2,fma")))
static void store_pairs(float *out, __m256 e, __m256 o, __m256 b)
{
	__m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);

	_mm256_storeu_ps(out, _mm256_add_ps(_mm256_permute2f128_ps(lo, hi, 0x20), b));
	_mm256_storeu_ps(out + 8, _mm256_add_ps(_mm256_permute2f128_ps(lo, hi, 0x31), b));
}

/* Input pixels [x0, x0 + n), n <= 24, of row i, output channel m: the
 * lanes past n load zeros (masked), and a short block's outputs go
 * through a buffer. */
__attribute__((target("avx2,fma")))
static void block_avx2(const struct ujob *j, int m, int i, int x0, int n)
{
	__m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00;
	__m256 a10 = a00, a11 = a00, a12 = a00;
	__m256 a20 = a00, a21 = a00, a22 = a00;
	__m256 a30 = a00, a31 = a00, a32 = a00;
	__m256 b = _mm256_set1_ps(j->bias ? j->bias[m] : 0.0f);
	__m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i k0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
	__m256i k1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lane);
	__m256i k2 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 16), lane);
	size_t wstride = 4, xstride = j->cs;
	const float *xr = j->x + i * j->rs + x0, *wc = j->wt + (size_t)m * j->C * 4;
	float *row0 = j->y + ((size_t)m * 2 * j->h + 2 * i) * 2 * j->w + 2 * x0;
	float *row1 = row0 + 2 * j->w, buf[2][2 * PB];

	if (n == PB)
		for (int c = 0; c < j->C; c++, xr += xstride, wc += wstride) {
			__m256 x0v = _mm256_loadu_ps(xr), x1v = _mm256_loadu_ps(xr + 8);
			__m256 x2v = _mm256_loadu_ps(xr + 16);

			FMA4X24(wc, x0v, x1v, x2v);
		}
	else
		for (int c = 0; c < j->C; c++, xr += xstride, wc += wstride) {
			__m256 x0v = _mm256_maskload_ps(xr, k0), x1v = _mm256_maskload_ps(xr + 8, k1);
			__m256 x2v = _mm256_maskload_ps(xr + 16, k2);

			FMA4X24(wc, x0v, x1v, x2v);
		}
	float *o0 = n == PB ? row0 : buf[0], *o1 = n == PB ? row1 : buf[1];

	/* taps (a, b) = rows 0 (0,0), 1 (0,1), 2 (1,0), 3 (1,1) */
	store_pairs(o0, a00, a10, b);
	store_pairs(o0 + 16, a01, a11, b);
	store_pairs(o0 + 32, a02, a12, b);
	store_pairs(o1, a20, a30, b);
	store_pairs(o1 + 16, a21, a31, b);
	store_pairs(o1 + 32, a22, a32, b);
	if (n < PB) {
		memcpy(row0, buf[0], 2 * (size_t)n * sizeof *row0);
		memcpy(row1, buf[1], 2 * (size_t)n * sizeof *row1);
	}
}

/* block_avx2 with 16 lanes (n <= 16): 4 x 16 accumulators, for rows
 * whose width leaves the 24-lane block idle lanes (16, 32, the tail of
 * 64 or 128). */
__attribute__((target("avx2,fma")))
static void block16_avx2(const struct ujob *j, int m, int i, int x0, int n)
{
	__m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
	__m256 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
	__m256 b = _mm256_set1_ps(j->bias ? j->bias[m] : 0.0f);
	__m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i k0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
	__m256i k1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lane);
	const float *xr = j->x + i * j->rs + x0, *wc = j->wt + (size_t)m * j->C * 4;
	float *row0 = j->y + ((size_t)m * 2 * j->h + 2 * i) * 2 * j->w + 2 * x0;
	float *row1 = row0 + 2 * j->w, buf[2][32];

#define FMA4X16(x0v, x1v)                                                      \
	do {                                                                   \
		__m256 w0 = _mm256_broadcast_ss(wc), w1 = _mm256_broadcast_ss(wc + 1); \
		__m256 w2 = _mm256_broadcast_ss(wc + 2), w3 = _mm256_broadcast_ss(wc + 3); \
		a00 = _mm256_fmadd_ps(w0, x0v, a00);                           \
		a01 = _mm256_fmadd_ps(w0, x1v, a01);                           \
		a10 = _mm256_fmadd_ps(w1, x0v, a10);                           \
		a11 = _mm256_fmadd_ps(w1, x1v, a11);                           \
		a20 = _mm256_fmadd_ps(w2, x0v, a20);                           \
		a21 = _mm256_fmadd_ps(w2, x1v, a21);                           \
		a30 = _mm256_fmadd_ps(w3, x0v, a30);                           \
		a31 = _mm256_fmadd_ps(w3, x1v, a31);                           \
	} while (0)
	if (n == 16)
		for (int c = 0; c < j->C; c++, xr += j->cs, wc += 4) {
			__m256 x0v = _mm256_loadu_ps(xr), x1v = _mm256_loadu_ps(xr + 8);

			FMA4X16(x0v, x1v);
		}
	else
		for (int c = 0; c < j->C; c++, xr += j->cs, wc += 4) {
			__m256 x0v = _mm256_maskload_ps(xr, k0), x1v = _mm256_maskload_ps(xr + 8, k1);

			FMA4X16(x0v, x1v);
		}
#undef FMA4X16
	float *o0 = n == 16 ? row0 : buf[0], *o1 = n == 16 ? row1 : buf[1];

	store_pairs(o0, a00, a10, b);
	store_pairs(o0 + 16, a01, a11, b);
	store_pairs(o1, a20, a30, b);
	store_pairs(o1 + 16, a21, a31, b);
	if (n < 16) {
		memcpy(row0, buf[0], 2 * (size_t)n * sizeof *row0);
		memcpy(row1, buf[1], 2 * (size_t)n * sizeof *row1);
	}
}

/* A row in blocks of 24 lanes, and of 16 where 24 would leave lanes idle
 * (a width of 32 is two 16s; a rest of 17-23 one masked 24). */
static void items_avx2(void *ctx, int lo, int hi)
{
	const struct ujob *j = ctx;

	for (int r = lo; r < hi; r++)
		for (int x0 = 0; x0 < j->w;) {
			int rest = j->w - x0;

			if ((rest >= PB && rest != 32) || (rest > 16 && rest < PB)) {
				block_avx2(j, r % j->M, r / j->M, x0, rest < PB ? rest : PB);
				x0 += PB;
			} else {
				block16_avx2(j, r % j->M, r / j->M, x0, rest < 16 ? rest : 16);
				x0 += 16;
			}
		}
}
#endif

void fcn_up2_pack(const float *w, int C, int M, float *wp)
{
	for (int m = 0; m < M; m++)
		for (int c = 0; c < C; c++)
			memcpy(wp + ((size_t)m * C + c) * 4, w + ((size_t)c * M + m) * 4,
			       4 * sizeof *wp);
}

struct tjob {
	const float *x;
	float *xt;
	int C, h, w;
};

/* Rows [lo, hi) of x (C, h, w) to xt (h, C, w). */
static void rows_t(void *ctx, int lo, int hi)
{
	const struct tjob *t = ctx;

	for (int i = lo; i < hi; i++)
		for (int c = 0; c < t->C; c++)
			memcpy(t->xt + ((size_t)i * t->C + c) * t->w,
			       t->x + ((size_t)c * t->h + i) * t->w, (size_t)t->w * sizeof *t->xt);
}

void fcn_up2(const float *x, int C, int h, int w, const float *wp,
	     const float *bias, int M, float *y, float *xt)
{
	struct ujob j = { x, wp, bias, y, C, h, w, M, (size_t)h * w, (size_t)w };
	int grain = 1 + (1 << 16) / (C * w + 1);

	if (C <= 0 || M <= 0 || h <= 0 || w <= 0)
		return;
	if (xt) {
		/* an item reads one row of every plane: planes a power of two
		 * apart share L1 sets, rows of all planes side by side do not */
		struct tjob t = { x, xt, C, h, w };

		fcn_parallel_for(h, 1 + (1 << 14) / (C * w + 1), rows_t, &t);
		j.x = xt;
		j.cs = (size_t)w;
		j.rs = (size_t)C * w;
	}
#if HAVE_X86
	if (fcn_kernels_avx2()) {
		fcn_parallel_for(M * h, grain, items_avx2, &j);
		return;
	}
#endif
	fcn_parallel_for(M * h, grain, items_c, &j);
}
