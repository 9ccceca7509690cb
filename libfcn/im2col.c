/*
 * im2col.c - patch extraction for convolution as GEMM (see im2col.h).
 * Rows whose kernel tap falls in the padding are filled with zeros without
 * bounds checks in the inner loop: each output row is split into a left
 * pad part, an interior run (a strided copy) and a right pad part.
 */
#include <string.h>

#include "im2col.h"
#include "threads.h"

struct im2col_job {
	const float *src;
	float *dst;
	const struct fcn_geom *g;
	int accum;
	const float *bias;
	int y0, y1; /* im2col: output rows */
};

/* Output columns x in [lo, hi) read input column x*s - p + kx*d inside
 * [0, W). */
static void valid_range(int wo, int s, int p, int off, int w, int *lo, int *hi)
{
	/* x*s - p + off >= 0  and  x*s - p + off < w */
	int a = p - off, b = w + p - off;
	int l = a <= 0 ? 0 : (a + s - 1) / s;
	int h = b <= 0 ? 0 : (b + s - 1) / s;

	*lo = l < wo ? l : wo;
	*hi = h < wo ? h : wo;
	if (*hi < *lo)
		*hi = *lo;
}

/* Rows [lo, hi) of the column matrix. */
static void im2col_rows(void *ctx, int lo, int hi)
{
	const struct im2col_job *j = ctx;
	const struct fcn_geom *g = j->g;
	const int kk = g->kh * g->kw, howo = (j->y1 - j->y0) * g->wo;

	for (int r = lo; r < hi; r++) {
		int c = r / kk, ky = r % kk / g->kw, kx = r % g->kw;
		const float *plane = j->src + (size_t)c * g->h * g->w;
		float *out = j->dst + (size_t)r * howo;
		int xlo, xhi, xoff = kx * g->dw - g->pw;

		valid_range(g->wo, g->sw, g->pw, kx * g->dw, g->w, &xlo, &xhi);
		for (int y = j->y0; y < j->y1; y++) {
			int iy = y * g->sh - g->ph + ky * g->dh;
			float *o = out + (size_t)(y - j->y0) * g->wo;

			if (iy < 0 || iy >= g->h) {
				memset(o, 0, (size_t)g->wo * sizeof *o);
				continue;
			}
			const long base = (long)iy * g->w + xoff;

			for (int x = 0; x < xlo; x++)
				o[x] = 0;
			if (g->sw == 1 && xhi > xlo)
				memcpy(o + xlo, plane + base + xlo,
				       (size_t)(xhi - xlo) * sizeof *o);
			else
				for (int x = xlo; x < xhi; x++)
					o[x] = plane[base + (long)x * g->sw];
			for (int x = xhi; x < g->wo; x++)
				o[x] = 0;
		}
	}
}

/* Rows per task: about 2^16 output values. */
static int grain(const struct fcn_geom *g, int per)
{
	long cells = (long)g->ho * g->wo * per;
	long k = cells > 0 ? 65536 / cells : 1;

	return k < 1 ? 1 : (int)k;
}

void fcn_im2col(const float *im, const struct fcn_geom *g, float *col)
{
	struct im2col_job j = { im, col, g, 0, NULL, 0, g->ho };

	fcn_parallel_for(g->c * g->kh * g->kw, grain(g, 1), im2col_rows, &j);
}

void fcn_im2col_rows(const float *im, const struct fcn_geom *g, int y0, int y1,
		     float *col)
{
	struct im2col_job j = { im, col, g, 0, NULL, y0, y1 };

	im2col_rows(&j, 0, g->c * g->kh * g->kw);
}

/* Channels [lo, hi) of the image. */
static void col2im_channels(void *ctx, int lo, int hi)
{
	const struct im2col_job *j = ctx;
	const struct fcn_geom *g = j->g;
	const int kk = g->kh * g->kw, howo = g->ho * g->wo;

	for (int c = lo; c < hi; c++) {
		float *plane = j->dst + (size_t)c * g->h * g->w;

		if (!j->accum)
			memset(plane, 0, (size_t)g->h * g->w * sizeof *plane);
		for (int k = 0; k < kk; k++) {
			int ky = k / g->kw, kx = k % g->kw;
			const float *in = j->src + ((size_t)c * kk + k) * howo;
			int xlo, xhi, xoff = kx * g->dw - g->pw;

			valid_range(g->wo, g->sw, g->pw, kx * g->dw, g->w, &xlo, &xhi);
			for (int y = 0; y < g->ho; y++) {
				int iy = y * g->sh - g->ph + ky * g->dh;

				if (iy < 0 || iy >= g->h)
					continue;
				const long base = (long)iy * g->w + xoff;
				const float *i = in + (size_t)y * g->wo;

				for (int x = xlo; x < xhi; x++)
					plane[base + (long)x * g->sw] += i[x];
			}
		}
	}
}

void fcn_col2im(const float *col, const struct fcn_geom *g, float *im,
		int accum)
{
	struct im2col_job j = { col, im, g, accum, NULL, 0, 0 };

	fcn_parallel_for(g->c, grain(g, g->kh * g->kw), col2im_channels, &j);
}

int fcn_col2im_disjoint(const struct fcn_geom *g)
{
	return g->kh == g->sh && g->kw == g->sw && !g->ph && !g->pw &&
	       g->dh == 1 && g->dw == 1 && g->h == g->ho * g->sh &&
	       g->w == g->wo * g->sw;
}

/* Image rows [lo, hi) of (C, H): row y of channel c is tap row y % sh of
 * column row y / sh, its pixels taken from the sw tap planes in turn. */
static void tile_rows(void *ctx, int lo, int hi)
{
	const struct im2col_job *j = ctx;
	const struct fcn_geom *g = j->g;
	const int kk = g->kh * g->kw, howo = g->ho * g->wo;

	for (int r = lo; r < hi; r++) {
		int c = r / g->h, y = r % g->h, ky = y % g->sh, iy = y / g->sh;
		float b = j->bias ? j->bias[c] : 0.0f;
		float *o = j->dst + (size_t)r * g->w;

		for (int kx = 0; kx < g->sw; kx++) {
			const float *in = j->src +
					  ((size_t)c * kk + ky * g->kw + kx) * howo +
					  (size_t)iy * g->wo;

			for (int x = 0; x < g->wo; x++)
				o[x * g->sw + kx] = in[x] + b;
		}
	}
}

void fcn_col2im_tiles(const float *col, const struct fcn_geom *g, float *im,
		      const float *bias)
{
	struct im2col_job j = { col, im, g, 0, bias, 0, 0 };
	int rows = 1 + 65536 / (g->w + 1);

	fcn_parallel_for(g->c * g->h, rows, tile_rows, &j);
}
