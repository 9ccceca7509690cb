/* warp.c - see warp.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "warp.h"

void warp_coords(const struct warp_affine *m, long Ho, long Wo,
		 const float *dy, const float *dx, float *cy, float *cx)
{
	for (long yo = 0; yo < Ho; yo++) {
		double y0 = m->a[0] * yo + m->b[0], x0 = m->a[2] * yo + m->b[1];
		float *py = cy + yo * Wo, *px = cx + yo * Wo;

		if (dy) {
			const float *ey = dy + yo * Wo, *ex = dx + yo * Wo;

			for (long xo = 0; xo < Wo; xo++) {
				py[xo] = (float)(y0 + m->a[1] * xo) + ey[xo];
				px[xo] = (float)(x0 + m->a[3] * xo) + ex[xo];
			}
		} else {
			for (long xo = 0; xo < Wo; xo++) {
				py[xo] = (float)(y0 + m->a[1] * xo);
				px[xo] = (float)(x0 + m->a[3] * xo);
			}
		}
	}
}

static inline float tap(const float *src, long H, long W, long y, long x,
			float fill)
{
	return y >= 0 && y < H && x >= 0 && x < W ? src[y * W + x] : fill;
}

void warp_bilinear(const float *src, long H, long W, const float *cy,
		   const float *cx, size_t n, float fill, float *out)
{
	const float fh = (float)H, fw = (float)W;

	for (size_t i = 0; i < n; i++) {
		float y = cy[i], x = cx[i], fy, fx, wy, wx, v00, v01, v10, v11;
		long iy, ix;

		if (!(y > -1.0f && y < fh && x > -1.0f && x < fw)) {
			out[i] = fill;
			continue;
		}
		/* y, x > -1: truncation of y + 1 is a floor, no libm call */
		iy = (long)(y + 1.0f) - 1;
		ix = (long)(x + 1.0f) - 1;
		fy = (float)iy;
		fx = (float)ix;
		wy = y - fy;
		wx = x - fx;
		if (iy >= 0 && iy + 1 < H && ix >= 0 && ix + 1 < W) {
			const float *p = src + iy * W + ix;

			v00 = p[0];
			v01 = p[1];
			v10 = p[W];
			v11 = p[W + 1];
		} else {
			v00 = tap(src, H, W, iy, ix, fill);
			v01 = tap(src, H, W, iy, ix + 1, fill);
			v10 = tap(src, H, W, iy + 1, ix, fill);
			v11 = tap(src, H, W, iy + 1, ix + 1, fill);
		}
		out[i] = (v00 + (v01 - v00) * wx) * (1.0f - wy) +
			 (v10 + (v11 - v10) * wx) * wy;
	}
}

#define NEAREST(T)                                                          \
	do {                                                                \
		const T *s = src;                                           \
		T *o = out, f;                                              \
		memcpy(&f, fill, sizeof f);                                 \
		for (size_t i = 0; i < n; i++) {                            \
			float y = cy[i], x = cx[i];                         \
			if (y >= -0.5f && y < fh && x >= -0.5f && x < fw) { \
				long iy = (long)(y + 0.5f);                 \
				long ix = (long)(x + 0.5f);                 \
				if (iy < H && ix < W) {                     \
					o[i] = s[iy * W + ix];              \
					continue;                           \
				}                                           \
			}                                                   \
			o[i] = f;                                           \
		}                                                           \
	} while (0)

void warp_nearest(const void *src, long H, long W, size_t es, const float *cy,
		  const float *cx, size_t n, const void *fill, void *out)
{
	const float fh = (float)H - 0.5f, fw = (float)W - 0.5f;

	switch (es) {
	case 1: NEAREST(uint8_t); break;
	case 2: NEAREST(uint16_t); break;
	case 4: NEAREST(uint32_t); break;
	default: NEAREST(uint64_t); break;
	}
}

int warp_is_integral(const struct warp_affine *m)
{
	for (int i = 0; i < 4; i++)
		if (fabs(m->a[i] - nearbyint(m->a[i])) > 1e-9)
			return 0;
	for (int i = 0; i < 2; i++)
		if (fabs(m->b[i] - nearbyint(m->b[i])) > 1e-9 ||
		    fabs(m->b[i]) > 1e15)
			return 0;
	return 1;
}

/* The xo in [*lo, *hi) where 0 <= c + a xo < n, for a in {-1, 0, 1}. */
static void span(long c, long a, long n, long Wo, long *lo, long *hi)
{
	long l = 0, h = Wo;

	if (a == 0) {
		if (c < 0 || c >= n)
			h = 0;
	} else if (a > 0) {
		l = -c > 0 ? -c : 0;               /* c + xo >= 0 */
		h = n - c < Wo ? n - c : Wo;       /* c + xo <= n - 1 */
	} else {
		l = c - (n - 1) > 0 ? c - (n - 1) : 0; /* c - xo <= n - 1 */
		h = c + 1 < Wo ? c + 1 : Wo;           /* c - xo >= 0 */
	}
	*lo = l > h ? h : l < *lo ? *lo : l;
	*hi = h < *hi ? h : *hi;
	if (*hi < *lo)
		*hi = *lo;
}

/* dst[j] = src[-j], j = 0..n-1, elements of es bytes: 8 bytes at a time
 * (byte order reversed within a word, then the elements put back whole). */
static void reverse_copy(void *restrict dst, const void *restrict src,
			 long n, size_t es)
{
	unsigned char *d = dst;
	const unsigned char *s = (const unsigned char *)src + es; /* one past */
	long per = (long)(8 / es), j = 0;

	for (; j + per <= n; j += per, d += 8, s -= 8) {
		uint64_t v;

		memcpy(&v, s - 8, 8);
		if (es == 1) {
			v = __builtin_bswap64(v);
		} else if (es == 2) {
			v = __builtin_bswap64(v);
			v = ((v >> 8) & 0x00ff00ff00ff00ffULL) |
			    ((v & 0x00ff00ff00ff00ffULL) << 8);
		} else if (es == 4) {
			v = (v >> 32) | (v << 32);
		}
		memcpy(d, &v, 8);
	}
	for (; j < n; j++, d += es, s -= es)
		memcpy(d, s - es, es);
}

#define GATHER(T)                                                          \
	do {                                                               \
		const T *s = src;                                          \
		T *o = out, f;                                             \
		memcpy(&f, fill, sizeof f);                                \
		for (long yo = 0; yo < Ho; yo++, o += Wo) {                \
			long y = a0 * yo + b0, x = a2 * yo + b1;           \
			long lo = 0, hi = Wo, step = a1 * W + a3;          \
			const T *p;                                        \
			span(y, a1, H, Wo, &lo, &hi);                      \
			span(x, a3, W, Wo, &lo, &hi);                      \
			for (long xo = 0; xo < lo; xo++)                   \
				o[xo] = f;                                 \
			p = s + (y + a1 * lo) * W + (x + a3 * lo);         \
			if (step == 1) {                                   \
				memcpy(o + lo, p, (size_t)(hi - lo) * sizeof f); \
			} else if (step == -1) {                           \
				reverse_copy(o + lo, p, hi - lo, sizeof f); \
			} else if (a0 == 0 && a3 == 0 && yo + 8 <= Ho &&   \
				   x + 7 * a2 >= 0 && x + 7 * a2 < W &&    \
				   x >= 0 && x < W) {                      \
				/* 8 output rows from 8 adjacent input     \
				 * columns: each input line read once */   \
				long d = a2;                               \
				for (int r = 1; r < 8; r++) {              \
					for (long xo = 0; xo < lo; xo++)   \
						o[r * Wo + xo] = f;        \
					for (long xo = hi; xo < Wo; xo++)  \
						o[r * Wo + xo] = f;        \
				}                                          \
				for (long xo = lo; xo < hi; xo++, p += step) { \
					o[xo] = p[0];                      \
					o[Wo + xo] = p[d];                 \
					o[2 * Wo + xo] = p[2 * d];         \
					o[3 * Wo + xo] = p[3 * d];         \
					o[4 * Wo + xo] = p[4 * d];         \
					o[5 * Wo + xo] = p[5 * d];         \
					o[6 * Wo + xo] = p[6 * d];         \
					o[7 * Wo + xo] = p[7 * d];         \
				}                                          \
				for (long xo = hi; xo < Wo; xo++)          \
					o[xo] = f;                         \
				yo += 7;                                   \
				o += 7 * Wo;                               \
				continue;                                  \
			} else {                                           \
				for (long xo = lo; xo < hi; xo++, p += step) \
					o[xo] = *p;                        \
			}                                                  \
			for (long xo = hi; xo < Wo; xo++)                  \
				o[xo] = f;                                 \
		}                                                          \
	} while (0)

void warp_gather(const void *src, long H, long W, size_t es,
		 const struct warp_affine *m, long Ho, long Wo,
		 const void *fill, void *out)
{
	long a0 = lrint(m->a[0]), a1 = lrint(m->a[1]), a2 = lrint(m->a[2]),
	     a3 = lrint(m->a[3]), b0 = lrint(m->b[0]), b1 = lrint(m->b[1]);

	/* the common case, a copy or a crop inside the plane: rows at once */
	if (a0 == 1 && a1 == 0 && a2 == 0 && a3 == 1 && b0 >= 0 && b1 >= 0 &&
	    b0 + Ho <= H && b1 + Wo <= W) {
		for (long yo = 0; yo < Ho; yo++)
			memcpy((char *)out + (size_t)(yo * Wo) * es,
			       (const char *)src + (size_t)((yo + b0) * W + b1) * es,
			       (size_t)Wo * es);
		return;
	}
	switch (es) {
	case 1: GATHER(uint8_t); break;
	case 2: GATHER(uint16_t); break;
	case 4: GATHER(uint32_t); break;
	default: GATHER(uint64_t); break;
	}
}

/* Gaussian weights exp(-x^2 / 2 sigma^2), x = -rad..rad, summing to 1. */
static void gauss_kernel(double sigma, long rad, float *k)
{
	double sum = 0;

	for (long i = -rad; i <= rad; i++)
		sum += exp(-0.5 * (double)(i * i) / (sigma * sigma));
	for (long i = -rad; i <= rad; i++)
		k[i + rad] = (float)(exp(-0.5 * (double)(i * i) / (sigma * sigma)) / sum);
}

int warp_elastic_field(struct rng *r, long Ho, long Wo, double alpha,
		       double sigma, float *dy, float *dx)
{
	long s = sigma >= 2 ? (long)floor(sigma / 2) : 1;
	long rad = (long)(4 * (sigma / s) + 0.5);
	long gh = (Ho - 1) / s + 2, gw = (Wo - 1) / s + 2;
	long nh = gh + 2 * rad, nw = gw + 2 * rad;
	float *noise = malloc(sizeof(float) * (size_t)(nh * nw));
	float *tmp = malloc(sizeof(float) * (size_t)(nh * gw));
	float *coarse = malloc(sizeof(float) * (size_t)(2 * gh * gw));
	float *k = malloc(sizeof(float) * (size_t)(2 * rad + 1));
	float *row = malloc(sizeof(float) * (size_t)(2 * gw));
	long *xi = malloc(sizeof(long) * (size_t)Wo);
	float *xw = malloc(sizeof(float) * (size_t)Wo);
	double scale = alpha / (double)s;
	int rc = -1;

	if (!noise || !tmp || !coarse || !k || !row || !xi || !xw)
		goto out;
	for (long xo = 0; xo < Wo; xo++) {
		xi[xo] = xo / s;
		xw[xo] = (float)(xo - xi[xo] * s) / (float)s;
	}
	gauss_kernel(sigma / s, rad, k);
	for (int f = 0; f < 2; f++) {
		float *c = coarse + f * gh * gw;

		for (long i = 0; i < nh * nw; i++)
			noise[i] = (float)((2 * rng_unif(r) - 1) * scale);
		for (long y = 0; y < nh; y++) {
			float *o = tmp + y * gw;

			for (long x = 0; x < gw; x++)
				o[x] = 0;
			for (long j = 0; j <= 2 * rad; j++) {
				const float *p = noise + y * nw + j;
				float kj = k[j];

				for (long x = 0; x < gw; x++)
					o[x] += kj * p[x];
			}
		}
		for (long y = 0; y < gh; y++) {
			float *o = c + y * gw;

			for (long x = 0; x < gw; x++)
				o[x] = 0;
			for (long j = 0; j <= 2 * rad; j++) {
				const float *p = tmp + (y + j) * gw;

				for (long x = 0; x < gw; x++)
					o[x] += k[j] * p[x];
			}
		}
	}
	for (long yo = 0; yo < Ho; yo++) {
		long j = yo / s;
		float wy = (float)(yo - j * s) / (float)s;

		for (int f = 0; f < 2; f++) {
			const float *c0 = coarse + f * gh * gw + j * gw, *c1 = c0 + gw;
			float *ro = row + f * gw;

			for (long x = 0; x < gw; x++)
				ro[x] = c0[x] + (c1[x] - c0[x]) * wy;
		}
		for (long xo = 0; xo < Wo; xo++) {
			long i = xi[xo];
			float wx = xw[xo];

			dy[yo * Wo + xo] = row[i] + (row[i + 1] - row[i]) * wx;
			dx[yo * Wo + xo] = row[gw + i] +
					   (row[gw + i + 1] - row[gw + i]) * wx;
		}
	}
	rc = 0;
out:
	free(noise);
	free(tmp);
	free(coarse);
	free(k);
	free(row);
	free(xi);
	free(xw);
	return rc;
}

static long blur_radius(double sigma)
{
	return sigma > 0 ? (long)(4 * sigma + 0.5) : 0;
}

size_t warp_blur_scratch(long H, long W, double sigma)
{
	long rad = blur_radius(sigma);

	return (size_t)(2 * rad + 1) + (size_t)(W + 2 * rad) + (size_t)(H * W);
}

/* scipy's 'reflect' (d c b a | a b c d | d c b a), any distance. */
static long reflect(long i, long n)
{
	i %= 2 * n;
	if (i < 0)
		i += 2 * n;
	return i < n ? i : 2 * n - 1 - i;
}

void warp_blur(float *plane, long H, long W, double sigma, float *tmp)
{
	long rad = blur_radius(sigma);
	float *k = tmp, *line = k + 2 * rad + 1, *mid = line + W + 2 * rad;

	if (rad == 0)
		return;
	gauss_kernel(sigma, rad, k);
	for (long y = 0; y < H; y++) {
		const float *p = plane + y * W;

		for (long x = -rad; x < W + rad; x++)
			line[x + rad] = p[reflect(x, W)];
		float *o = mid + y * W;

		for (long x = 0; x < W; x++)
			o[x] = 0;
		for (long j = 0; j <= 2 * rad; j++) {
			const float *q = line + j;
			float kj = k[j];

			for (long x = 0; x < W; x++)
				o[x] += kj * q[x];
		}
	}
	for (long y = 0; y < H; y++) {
		float *o = plane + y * W;

		for (long x = 0; x < W; x++)
			o[x] = 0;
		for (long j = 0; j <= 2 * rad; j++) {
			const float *p = mid + reflect(y + j - rad, H) * W;

			for (long x = 0; x < W; x++)
				o[x] += k[j] * p[x];
		}
	}
}
