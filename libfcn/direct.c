/*
 * direct.c - direct 3x3 stride-1 convolution (see direct.h).
 */
#include <stdlib.h>
#include <string.h>

#include "direct.h"
#include "threads.h"

#if defined(__x86_64__) || defined(__i386__)
#include "fma4x24.h"
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define OB 4  /* output channels per block */
#define PB 24 /* output pixels per block (3 AVX vectors) */

static int mode = -1;

enum fcn_kernels fcn_kernels(void)
{
	if (mode < 0) {
		const char *e = getenv("FCN_KERNELS");

		mode = !e ? FCN_KERNELS_AUTO :
		       !strcmp(e, "portable") ? FCN_KERNELS_PORTABLE :
		       !strcmp(e, "reference") ? FCN_KERNELS_REFERENCE :
						 FCN_KERNELS_AUTO;
	}
	return (enum fcn_kernels)mode;
}

void fcn_set_kernels(enum fcn_kernels k)
{
	mode = (int)k;
}

int fcn_kernels_avx2(void)
{
#if HAVE_X86
	static int have = -1;

	if (have < 0) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	}
	return have && fcn_kernels() == FCN_KERNELS_AUTO;
#else
	return 0;
#endif
}

size_t fcn_direct_wsize(int O, int I)
{
	return (size_t)(O + OB - 1) / OB * I * 9 * OB;
}

void fcn_direct_pack(const float *w, int O, int I, int flip,
		     const float *scale, float *wp)
{
	int nb = (O + OB - 1) / OB;

	for (int b = 0; b < nb; b++)
		for (int i = 0; i < I; i++)
			for (int k = 0; k < 9; k++)
				for (int j = 0; j < OB; j++) {
					int o = b * OB + j;
					float v = 0;

					if (o < O) {
						v = flip ? w[((size_t)i * O + o) * 9 + 8 - k] :
							   w[((size_t)o * I + i) * 9 + k];
						if (scale)
							v *= scale[o];
					}
					wp[(((size_t)b * I + i) * 9 + k) * OB + j] = v;
				}
}

/* padded input geometry: rows ho + 2, row length nb * PB + 2 (+ slack) */
static int pad_width(int wo)
{
	return (wo + PB - 1) / PB * PB + 8;
}

/*
 * The AVX2 path pads its input band by band: an item is BR output rows
 * (all output channels), whose BR + 2 padded input rows of every channel
 * are copied into a buffer of the item's chunk and used while they are in
 * the cache.  (The portable path pads the whole input once.)  Reading the
 * input in place instead is slower: planes of 256 x 256 floats are 2^18
 * bytes apart, so the rows of all channels fall into the same cache sets.
 */
#define BAND_FLOATS (1 << 16) /* a band's rows aim at 256 KiB */
#define MAX_CHUNKS 16

static int band_rows(int I, int wo)
{
	int br = BAND_FLOATS / (I * pad_width(wo)) - 2;

	return br < 4 ? 4 : br > 32 ? 32 : br;
}

/* Rows per band; bands, bands per chunk, chunks. */
static int band_split(int I, int ho, int wo, int *nband, int *grain, int *nchunk)
{
	int br = band_rows(I, wo);

	*nband = (ho + br - 1) / br;
	*nchunk = *nband < MAX_CHUNKS ? *nband : MAX_CHUNKS;
	*grain = (*nband + *nchunk - 1) / *nchunk;
	*nchunk = (*nband + *grain - 1) / *grain;
	return br;
}

size_t fcn_direct_work(int I, int ho, int wo)
{
	size_t whole = (size_t)I * (ho + 2) * pad_width(wo);
	int nband, grain, nchunk, br = band_split(I, ho, wo, &nband, &grain, &nchunk);
	size_t bands = (size_t)nchunk * I * (br + 2) * pad_width(wo);

	return (whole > bands ? whole : bands) + 16;
}

struct djob {
	const struct fcn_direct_part *parts;
	int nparts;
	const float *wp, *bias;
	float *y, *xp;
	int I, h, w, O, ph, pw, ho, wo, hp, wpad, accum, relu;
	int br, bgrain; /* AVX2: rows per band, bands per chunk */
};

/* Padded rows [r0, r1) of input channel c into dst, row r at
 * dst + (r - r0) * wpad. */
static void fill_rows(const struct djob *j, int c, int r0, int r1, float *dst)
{
	int k = 0, cp = c;

	while (k < j->nparts - 1 && cp >= j->parts[k].c)
		cp -= j->parts[k++].c;
	const float *src = j->parts[k].x + (size_t)cp * j->h * j->w;

	for (int r = r0; r < r1; r++) {
		float *d = dst + (size_t)(r - r0) * j->wpad;
		int iy = r - j->ph, x0 = j->pw, n = j->w;

		if (iy < 0 || iy >= j->h) {
			memset(d, 0, (size_t)j->wpad * sizeof *d);
			continue;
		}
		if (n > j->wpad - x0)
			n = j->wpad - x0;
		memset(d, 0, (size_t)x0 * sizeof *d);
		memcpy(d + x0, src + (size_t)iy * j->w, (size_t)n * sizeof *d);
		memset(d + x0 + n, 0, (size_t)(j->wpad - x0 - n) * sizeof *d);
	}
}

static void pad_rows(void *ctx, int lo, int hi)
{
	const struct djob *j = ctx;

	for (int c = lo; c < hi; c++)
		fill_rows(j, c, 0, j->hp, j->xp + (size_t)c * j->hp * j->wpad);
}

/* Stores a block's results acc[OB][PB] for outputs ob*OB.., row oy, x0.. */
static void store_block(const struct djob *j, float acc[OB][PB], int ob,
			int oy, int x0)
{
	int n = j->wo - x0 < PB ? j->wo - x0 : PB;

	for (int k = 0; k < OB; k++) {
		int o = ob * OB + k;

		if (o >= j->O)
			break;
		float b = j->bias ? j->bias[o] : 0.0f;
		float *dst = j->y + ((size_t)o * j->ho + oy) * j->wo + x0;

		for (int i = 0; i < n; i++) {
			float v = acc[k][i] + b;

			if (j->accum)
				v += dst[i];
			if (j->relu && v < 0)
				v = 0;
			dst[i] = v;
		}
	}
}

static void rows_c(void *ctx, int lo, int hi)
{
	const struct djob *j = ctx;
	int nob = (j->O + OB - 1) / OB, nxb = (j->wo + PB - 1) / PB;

	for (int item = lo; item < hi; item++) {
		int oy = item / nob, ob = item % nob;
		const float *wb = j->wp + (size_t)ob * j->I * 9 * OB;

		for (int xb = 0; xb < nxb; xb++) {
			float acc[OB][PB] = { { 0 } };

			for (int c = 0; c < j->I; c++) {
				const float *r0 = j->xp + ((size_t)c * j->hp + oy) * j->wpad +
						  xb * PB;
				const float *wc = wb + (size_t)c * 9 * OB;

				for (int ky = 0; ky < 3; ky++)
					for (int kx = 0; kx < 3; kx++) {
						const float *r = r0 + (size_t)ky * j->wpad + kx;
						const float *wk = wc + (ky * 3 + kx) * OB;

						for (int k = 0; k < OB; k++)
							for (int i = 0; i < PB; i++)
								acc[k][i] += wk[k] * r[i];
					}
			}
			store_block(j, acc, ob, oy, xb * PB);
		}
	}
}

#if HAVE_X86
__attribute__((target("avx2,fma")))
/* Output rows [y0, y1), all output channels, from their padded input rows
 * in buf (I, y1 - y0 + 2, wpad). */
static void band_avx2(const struct djob *j, int y0, int y1, const float *buf)
{
	int nob = (j->O + OB - 1) / OB, nxb = (j->wo + PB - 1) / PB;
	size_t wstride = j->wpad, cstride = (size_t)(j->br + 2) * wstride;

	for (int item = 0; item < (y1 - y0) * nob; item++) {
		int oy = y0 + item % (y1 - y0), ob = item / (y1 - y0);
		const float *wb = j->wp + (size_t)ob * j->I * 9 * OB;

		for (int xb = 0; xb < nxb; xb++) {
			__m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00;
			__m256 a10 = a00, a11 = a00, a12 = a00;
			__m256 a20 = a00, a21 = a00, a22 = a00;
			__m256 a30 = a00, a31 = a00, a32 = a00;
			const float *r0 = buf + (size_t)(oy - y0) * wstride + xb * PB;

			for (int c = 0; c < j->I; c++) {
				const float *wc = wb + (size_t)c * 9 * OB;
				const float *rc = r0 + c * cstride;

				for (int ky = 0; ky < 3; ky++) {
					const float *r = rc + ky * wstride;
					const float *wk = wc + ky * 3 * OB;

					/* the next block's columns: the hardware
					 * prefetcher does not follow 3 x I rows */
					_mm_prefetch((const char *)(r + PB + 24), _MM_HINT_T0);

					for (int kx = 0; kx < 3; kx++, wk += OB) {
						__m256 x0 = _mm256_loadu_ps(r + kx);
						__m256 x1 = _mm256_loadu_ps(r + kx + 8);
						__m256 x2 = _mm256_loadu_ps(r + kx + 16);

						FMA4X24(wk, x0, x1, x2);
					}
				}
			}
			int x0 = xb * PB;

			if (x0 + PB <= j->wo && ob * OB + OB <= j->O) {
				__m256 acc[OB][3] = { { a00, a01, a02 }, { a10, a11, a12 },
						      { a20, a21, a22 }, { a30, a31, a32 } };
				__m256 zero = _mm256_setzero_ps();

				for (int k = 0; k < OB; k++) {
					int o = ob * OB + k;
					__m256 b = _mm256_set1_ps(j->bias ? j->bias[o] : 0.0f);
					float *dst = j->y + ((size_t)o * j->ho + oy) * j->wo + x0;

					for (int v = 0; v < 3; v++) {
						__m256 s = _mm256_add_ps(acc[k][v], b);

						if (j->accum)
							s = _mm256_add_ps(s, _mm256_loadu_ps(dst + 8 * v));
						if (j->relu)
							s = _mm256_max_ps(s, zero);
						_mm256_storeu_ps(dst + 8 * v, s);
					}
				}
			} else {
				float acc[OB][PB];

				_mm256_storeu_ps(acc[0], a00);
				_mm256_storeu_ps(acc[0] + 8, a01);
				_mm256_storeu_ps(acc[0] + 16, a02);
				_mm256_storeu_ps(acc[1], a10);
				_mm256_storeu_ps(acc[1] + 8, a11);
				_mm256_storeu_ps(acc[1] + 16, a12);
				_mm256_storeu_ps(acc[2], a20);
				_mm256_storeu_ps(acc[2] + 8, a21);
				_mm256_storeu_ps(acc[2] + 16, a22);
				_mm256_storeu_ps(acc[3], a30);
				_mm256_storeu_ps(acc[3] + 8, a31);
				_mm256_storeu_ps(acc[3] + 16, a32);
				store_block(j, acc, ob, oy, x0);
			}
		}
	}
}

__attribute__((target("avx2,fma")))
static void rows_avx2(void *ctx, int lo, int hi)
{
	const struct djob *j = ctx;
	size_t cstride = (size_t)(j->br + 2) * j->wpad;
	float *buf = j->xp + (size_t)(lo / j->bgrain) * j->I * cstride;

	for (int band = lo; band < hi; band++) {
		int y0 = band * j->br, y1 = y0 + j->br < j->ho ? y0 + j->br : j->ho;

		for (int c = 0; c < j->I; c++)
			fill_rows(j, c, y0, y1 + 2, buf + c * cstride);
		band_avx2(j, y0, y1, buf);
	}
}
#endif

void fcn_direct_conv_parts(const struct fcn_direct_part *parts, int nparts,
			   int h, int w, const float *wp, const float *bias,
			   int O, int ph, int pw, float *y, int ho, int wo,
			   int accum, int relu, float *work)
{
	int I = 0;

	for (int k = 0; k < nparts; k++)
		I += parts[k].c;
	struct djob j = { parts, nparts, wp, bias, y, work, I, h, w, O, ph, pw,
			  ho, wo, ho + 2, pad_width(wo), accum, relu, 0, 0 };
	int nob = (O + OB - 1) / OB;
	long per = (long)(nob * OB) * I * 9 * ((wo + PB - 1) / PB * PB);
	int grain = (int)(1 + (1L << 21) / (per + 1));

#if HAVE_X86
	if (fcn_kernels_avx2()) {
		int nband, nchunk;

		j.br = band_split(I, ho, wo, &nband, &j.bgrain, &nchunk);
		fcn_parallel_for(nband, j.bgrain, rows_avx2, &j);
		return;
	}
#endif
	fcn_parallel_for(I, 1 + 65536 / (j.hp * j.wpad + 1), pad_rows, &j);
	fcn_parallel_for(ho * nob, grain, rows_c, &j);
}

void fcn_direct_conv(const float *x, int I, int h, int w, const float *wp,
		     const float *bias, int O, int ph, int pw, float *y, int ho,
		     int wo, int accum, int relu, float *work)
{
	struct fcn_direct_part part = { x, I };

	fcn_direct_conv_parts(&part, 1, h, w, wp, bias, O, ph, pw, y, ho, wo,
			      accum, relu, work);
}
