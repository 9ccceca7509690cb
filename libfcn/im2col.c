/*
 * im2col.c - patch extraction for convolution as GEMM (see im2col.h).
 * Rows whose kernel tap falls in the padding are filled with zeros without
 * bounds checks in the inner loop: each output row is split into a left
 * pad part, an interior run (a strided copy) and a right pad part.
 */
#include <string.h>

#include "im2col.h"

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

void fcn_im2col(const float *im, const struct fcn_geom *g, float *col)
{
	const int kk = g->kh * g->kw, howo = g->ho * g->wo;

#pragma omp parallel for schedule(static) if ((long)g->c * kk * howo > (1L << 20))
	for (int r = 0; r < g->c * kk; r++) {
		int c = r / kk, ky = r % kk / g->kw, kx = r % g->kw;
		const float *plane = im + (size_t)c * g->h * g->w;
		float *out = col + (size_t)r * howo;
		int xlo, xhi, xoff = kx * g->dw - g->pw;

		valid_range(g->wo, g->sw, g->pw, kx * g->dw, g->w, &xlo, &xhi);
		for (int y = 0; y < g->ho; y++) {
			int iy = y * g->sh - g->ph + ky * g->dh;
			float *o = out + (size_t)y * g->wo;

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

void fcn_col2im(const float *col, const struct fcn_geom *g, float *im,
		int accum)
{
	const int kk = g->kh * g->kw, howo = g->ho * g->wo;

#pragma omp parallel for schedule(static) if ((long)g->c * kk * howo > (1L << 20))
	for (int c = 0; c < g->c; c++) {
		float *plane = im + (size_t)c * g->h * g->w;

		if (!accum)
			memset(plane, 0, (size_t)g->h * g->w * sizeof *plane);
		for (int k = 0; k < kk; k++) {
			int ky = k / g->kw, kx = k % g->kw;
			const float *in = col + ((size_t)c * kk + k) * howo;
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
