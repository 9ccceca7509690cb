/*
 * wgrad3.c - the direct weight gradient of a 3x3 stride-1 convolution
 * (see wgrad3.h).
 */
#include <string.h>

#include "direct.h"
#include "threads.h"
#include "wgrad3.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define MB 4              /* output channels per item */
#define CB 16             /* input channels per item, at most */
#define LANES 8
#define NACC (MB * 3)     /* vectors live in the kernel: 4 channels x 3 kx */
#define TILE_FLOATS 1024  /* a tile's output pixels (one channel), at least a row */

struct gjob {
	const float *x, *dy;
	float *dW, *xp, *zero;
	int C, h, w, M, ho, wo, ph, pw;
	int wv;            /* vectors per output row: ceil(wo / 8) */
	int xs;            /* padded row length: wv * 8 + 8 */
	int cb, ncb;       /* channels per item, channel blocks */
	int tr;            /* output rows per tile */
};

/* The padded input: C planes of ho + 2 rows of xs floats; row yy, column
 * xx hold x[c][yy - ph][xx - pw], zero outside. */
static size_t plane(const struct gjob *j)
{
	return (size_t)(j->ho + 2) * j->xs;
}

size_t fcn_wgrad3_work(int C, int ho, int wo)
{
	int wv = (wo + LANES - 1) / LANES;

	return (size_t)C * (ho + 2) * (wv * LANES + LANES) + (size_t)wv * LANES + 16;
}

static void pad_planes(void *ctx, int lo, int hi)
{
	const struct gjob *j = ctx;

	for (int c = lo; c < hi; c++) {
		float *p = j->xp + c * plane(j);
		const float *xc = j->x + (size_t)c * j->h * j->w;

		for (int yy = 0; yy < j->ho + 2; yy++) {
			float *row = p + (size_t)yy * j->xs;
			int iy = yy - j->ph, n = j->w < j->xs - j->pw ? j->w : j->xs - j->pw;

			memset(row, 0, (size_t)j->xs * sizeof *row);
			if (iy < 0 || iy >= j->h)
				continue;
			if (n > 0)
				memcpy(row + j->pw, xc + (size_t)iy * j->w, (size_t)n * sizeof *row);
		}
	}
}

/* The 4 dY planes of item block mb (a missing channel reads zeros). */
static void dy_rows(const struct gjob *j, int mb, const float **d, size_t *ds)
{
	for (int k = 0; k < MB; k++) {
		int m = mb * MB + k;

		d[k] = m < j->M ? j->dy + (size_t)m * j->ho * j->wo : j->zero;
		ds[k] = m < j->M ? (size_t)j->wo : 0;
	}
}

/* acc (NACC, 8) += over rows [y0, y1): dY[k] row y times the padded
 * input rows y of xr, shifted by kx = 0, 1, 2 */
static void kernel_c(const struct gjob *j, const float **d, const size_t *ds,
		     const float *xr, int y0, int y1, float *acc)
{
	float a[NACC][LANES];

	memcpy(a, acc, sizeof a);
	for (int y = y0; y < y1; y++) {
		const float *xv = xr + (size_t)y * j->xs;

		for (int v = 0; v < j->wv; v++)
			for (int l = 0; l < LANES; l++) {
				int xi = v * LANES + l;

				if (xi >= j->wo)
					break;
				for (int k = 0; k < MB; k++) {
					float g = d[k][y * ds[k] + xi];

					a[k * 3][l] += g * xv[xi];
					a[k * 3 + 1][l] += g * xv[xi + 1];
					a[k * 3 + 2][l] += g * xv[xi + 2];
				}
			}
	}
	memcpy(acc, a, sizeof a);
}

#if HAVE_X86
#define WG_STEP(k, g)                                    \
	do {                                             \
		a##k##0 = _mm256_fmadd_ps(g, x0, a##k##0); \
		a##k##1 = _mm256_fmadd_ps(g, x1, a##k##1); \
		a##k##2 = _mm256_fmadd_ps(g, x2, a##k##2); \
	} while (0)

#define WG_LOAD(k)                                       \
	__m256 a##k##0 = _mm256_loadu_ps(acc + (k * 3) * LANES), \
	       a##k##1 = _mm256_loadu_ps(acc + (k * 3 + 1) * LANES), \
	       a##k##2 = _mm256_loadu_ps(acc + (k * 3 + 2) * LANES)

#define WG_STORE(k)                                          \
	do {                                                 \
		_mm256_storeu_ps(acc + (k * 3) * LANES, a##k##0);     \
		_mm256_storeu_ps(acc + (k * 3 + 1) * LANES, a##k##1); \
		_mm256_storeu_ps(acc + (k * 3 + 2) * LANES, a##k##2); \
	} while (0)

__attribute__((target("avx2,fma")))
static void kernel_avx2(const struct gjob *j, const float **d, const size_t *ds,
			const float *xr, int y0, int y1, float *acc)
{
	int full = j->wo / LANES, tail = j->wo % LANES;
	__m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail),
					  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	WG_LOAD(0);
	WG_LOAD(1);
	WG_LOAD(2);
	WG_LOAD(3);

	for (int y = y0; y < y1; y++) {
		const float *xv = xr + (size_t)y * j->xs;
		const float *d0 = d[0] + y * ds[0], *d1 = d[1] + y * ds[1];
		const float *d2 = d[2] + y * ds[2], *d3 = d[3] + y * ds[3];
		int v = 0;

		for (; v < full; v++) {
			const float *p = xv + v * LANES;
			__m256 x0 = _mm256_loadu_ps(p), x1 = _mm256_loadu_ps(p + 1);
			__m256 x2 = _mm256_loadu_ps(p + 2);

			WG_STEP(0, _mm256_loadu_ps(d0 + v * LANES));
			WG_STEP(1, _mm256_loadu_ps(d1 + v * LANES));
			WG_STEP(2, _mm256_loadu_ps(d2 + v * LANES));
			WG_STEP(3, _mm256_loadu_ps(d3 + v * LANES));
		}
		if (tail) {
			const float *p = xv + v * LANES;
			__m256 x0 = _mm256_loadu_ps(p), x1 = _mm256_loadu_ps(p + 1);
			__m256 x2 = _mm256_loadu_ps(p + 2);

			WG_STEP(0, _mm256_maskload_ps(d0 + v * LANES, mask));
			WG_STEP(1, _mm256_maskload_ps(d1 + v * LANES, mask));
			WG_STEP(2, _mm256_maskload_ps(d2 + v * LANES, mask));
			WG_STEP(3, _mm256_maskload_ps(d3 + v * LANES, mask));
		}
	}
	WG_STORE(0);
	WG_STORE(1);
	WG_STORE(2);
	WG_STORE(3);
}
#endif

typedef void kernel_fn(const struct gjob *, const float **, const size_t *,
		       const float *, int, int, float *);

/* Items [lo, hi): output block mb = i / ncb by input block i % ncb; acc
 * (cb, 3 ky, NACC, 8) over every tile, then its lanes into dW. */
static void items(const struct gjob *j, int lo, int hi, kernel_fn *kernel)
{
	float acc[CB * 3 * NACC * LANES];

	for (int i = lo; i < hi; i++) {
		int mb = i / j->ncb, c0 = i % j->ncb * j->cb;
		int c1 = c0 + j->cb < j->C ? c0 + j->cb : j->C;
		const float *d[MB];
		size_t ds[MB];

		dy_rows(j, mb, d, ds);
		memset(acc, 0, sizeof acc);
		for (int y0 = 0; y0 < j->ho; y0 += j->tr) {
			int y1 = y0 + j->tr < j->ho ? y0 + j->tr : j->ho;

			for (int c = c0; c < c1; c++)
				for (int ky = 0; ky < 3; ky++)
					kernel(j, d, ds, j->xp + c * plane(j) + (size_t)ky * j->xs,
					       y0, y1, acc + ((c - c0) * 3 + ky) * NACC * LANES);
		}
		for (int k = 0; k < MB && mb * MB + k < j->M; k++)
			for (int c = c0; c < c1; c++)
				for (int ky = 0; ky < 3; ky++)
					for (int kx = 0; kx < 3; kx++) {
						const float *a = acc + (((c - c0) * 3 + ky) * NACC +
									k * 3 + kx) * LANES;
						float s = 0;

						for (int l = 0; l < LANES; l++)
							s += a[l];
						j->dW[(((size_t)(mb * MB + k) * j->C + c) * 3 + ky) * 3 + kx] += s;
					}
	}
}

static void items_c(void *ctx, int lo, int hi)
{
	items(ctx, lo, hi, kernel_c);
}

#if HAVE_X86
static void items_avx2(void *ctx, int lo, int hi)
{
	items(ctx, lo, hi, kernel_avx2);
}
#endif

void fcn_wgrad3(const float *x, int C, int h, int w, const float *dy, int M,
		int ho, int wo, int ph, int pw, float *dW, float *work)
{
	int wv = (wo + LANES - 1) / LANES, cb = C < CB ? C : CB;
	int tr = TILE_FLOATS / (wo > 0 ? wo : 1);
	struct gjob j = { x, dy, dW, work, NULL, C, h, w, M, ho, wo, ph, pw,
			  wv, wv * LANES + LANES, cb, (C + cb - 1) / cb,
			  tr < 1 ? 1 : tr };
	int n = (M + MB - 1) / MB * j.ncb;

	if (C <= 0 || M <= 0 || ho <= 0 || wo <= 0)
		return;
	j.zero = work + (size_t)C * plane(&j);
	memset(j.zero, 0, (size_t)wv * LANES * sizeof *j.zero);
	fcn_parallel_for(C, 1 + 65536 / (int)(plane(&j) + 1), pad_planes, &j);
#if HAVE_X86
	if (fcn_kernels_avx2()) {
		fcn_parallel_for(n, 1, items_avx2, &j);
		return;
	}
#endif
	fcn_parallel_for(n, 1, items_c, &j);
}
