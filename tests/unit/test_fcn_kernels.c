/*
 * test_fcn_kernels.c - every fast path against the plain reference path
 * on random inputs: the direct 3x3 convolution (AVX2/FMA where the CPU
 * has it, and the portable C version forced) against a naive loop over
 * odd shapes, paddings, accumulate and ReLU; whole nets (BatchNorm, Scale
 * and ReLU folded into convolutions at inference, direct and Winograd
 * convolutions, 2x2 pooling) in FCN_KERNELS_AUTO and _PORTABLE against
 * FCN_KERNELS_REFERENCE (im2col + GEMM, nothing folded), forward at TEST
 * and forward + backward at TRAIN; bit-identical results for 1 and 2
 * threads on the fast paths; a backward through folded layers refused.
 * (c4 has 72 outputs, so it takes the Winograd path with ReLU folded.)
 * Tolerance: max |fast - ref| <= 1e-5 + 1e-4 max |ref|.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct.h"
#include "fcn.h"
#include "wgrad3.h"
#include "up2.h"
#include "wino4.h"
#include "layer.h"
#include "tap.h"

static struct fcn_rng rng = { 777 };

static float urand(void)
{
	return (float)(2 * fcn_rng_uniform(&rng) - 1);
}

/* n values uniform in [-1, 1) into p */
static void fill(float *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = urand();
}

static int close_enough(const float *a, const float *ref, size_t n, double *err)
{
	double mx = 0, d = 0;

	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - ref[i]);

		if (!(e <= d)) /* NaN counts */
			d = e;
		if (fabs(ref[i]) > mx)
			mx = fabs(ref[i]);
	}
	*err = d;
	return d <= 1e-5 + 1e-4 * mx;
}

/* y (O, ho, wo) = [y +] conv(x, w (O, I, 3, 3)) + bias [relu], naively */
static void naive(const float *x, int I, int h, int w, const float *wt,
		  const float *bias, int O, int ph, int pw, float *y, int accum,
		  int relu)
{
	int ho = h + 2 * ph - 2, wo = w + 2 * pw - 2;

	for (int o = 0; o < O; o++)
		for (int oy = 0; oy < ho; oy++)
			for (int ox = 0; ox < wo; ox++) {
				double s = bias ? bias[o] : 0;

				for (int i = 0; i < I; i++)
					for (int ky = 0; ky < 3; ky++)
						for (int kx = 0; kx < 3; kx++) {
							int iy = oy + ky - ph, ix = ox + kx - pw;

							if (iy >= 0 && iy < h && ix >= 0 && ix < w)
								s += (double)wt[((o * I + i) * 3 + ky) * 3 + kx] *
								     x[((size_t)i * h + iy) * w + ix];
						}
				float *d = y + ((size_t)o * ho + oy) * wo + ox;
				float v = (float)s + (accum ? *d : 0.0f);

				*d = relu && v < 0 ? 0 : v;
			}
}

static void test_direct(enum fcn_kernels mode, const char *what)
{
	static const int shapes[][6] = { /* I, O, h, w, pad, flags */
		{ 1, 16, 9, 30, 1, 0 }, { 3, 5, 7, 7, 1, 1 }, { 16, 16, 5, 24, 1, 2 },
		{ 8, 7, 6, 49, 0, 3 }, { 5, 9, 4, 3, 2, 1 }, { 2, 4, 1, 1, 1, 0 },
		{ 32, 12, 6, 26, 2, 2 }, { 4, 3, 3, 70, 1, 3 },
		/* AVX2 bands: 2 and 3 of them; 18 bands of 4 rows, 2 per chunk */
		{ 4, 6, 37, 30, 1, 2 }, { 24, 8, 70, 50, 1, 1 }, { 64, 5, 70, 254, 1, 0 },
	};

	fcn_set_kernels(mode);
	for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
		int I = shapes[k][0], O = shapes[k][1], h = shapes[k][2], w = shapes[k][3];
		int p = shapes[k][4], accum = shapes[k][5] & 1, relu = shapes[k][5] >> 1;
		int ho = h + 2 * p - 2, wo = w + 2 * p - 2;
		size_t nx = (size_t)I * h * w, ny = (size_t)O * ho * wo, nw = (size_t)O * I * 9;
		float *x = malloc(nx * 4), *wt = malloc(nw * 4), *b = malloc(O * 4);
		float *y = malloc(ny * 4), *ref = malloc(ny * 4);
		float *wp = malloc(fcn_direct_wsize(O, I) * 4);
		float *work = malloc(fcn_direct_work(I, ho, wo) * 4);
		double e = 0;
		int ok;

		fill(x, nx);
		fill(wt, nw);
		fill(b, O);
		fill(y, ny);
		memcpy(ref, y, ny * 4);
		naive(x, I, h, w, wt, b, O, p, p, ref, accum, relu);
		fcn_direct_pack(wt, O, I, 0, NULL, wp);
		fcn_direct_conv(x, I, h, w, wp, b, O, p, p, y, ho, wo, accum, relu, work);
		ok = close_enough(y, ref, ny, &e);
		CHECK(ok, "direct %s I%d O%d %dx%d pad %d accum %d relu %d (err %.2g)",
		      what, I, O, h, w, p, accum, relu, e);
		/* flipped packing: the data gradient's kernels (I <-> O) */
		float *wf = malloc(nw * 4), *wpf = malloc(fcn_direct_wsize(I, O) * 4);
		float *yf = malloc((size_t)I * ho * wo * 4), *reff = malloc((size_t)I * ho * wo * 4);
		float *xo = malloc((size_t)O * h * w * 4), *workf = malloc(fcn_direct_work(O, ho, wo) * 4);

		for (int i = 0; i < I; i++) /* wf (I, O, 3, 3) = rot180 of w^T */
			for (int o = 0; o < O; o++)
				for (int q = 0; q < 9; q++)
					wf[((size_t)i * O + o) * 9 + q] = wt[((size_t)o * I + i) * 9 + 8 - q];
		for (size_t i = 0; i < (size_t)O * h * w; i++)
			xo[i] = urand();
		naive(xo, O, h, w, wf, NULL, I, p, p, reff, 0, 0);
		fcn_direct_pack(wt, I, O, 1, NULL, wpf);
		fcn_direct_conv(xo, O, h, w, wpf, NULL, I, p, p, yf, ho, wo, 0, 0, workf);
		ok = close_enough(yf, reff, (size_t)I * ho * wo, &e);
		CHECK(ok,
		      "direct %s flipped I%d O%d %dx%d pad %d (err %.2g)", what, O, I, h, w, p, e);
		free(wf), free(wpf), free(yf), free(reff), free(xo), free(workf);
		free(x), free(wt), free(b), free(y), free(ref), free(wp), free(work);
	}
	fcn_set_kernels(FCN_KERNELS_AUTO);
}

/* Winograd F(4x4, 3x3) against the naive loop: tiles cut by the edges,
 * paddings 0-2, the input in up to 3 channel parts, bias and ReLU */
static void test_wino4(enum fcn_kernels mode, const char *what)
{
	static const int shapes[][7] = { /* I, O, h, w, pad, relu, parts */
		{ 1, 16, 9, 30, 1, 0, 1 }, { 3, 5, 7, 7, 1, 1, 1 }, { 16, 16, 6, 24, 1, 1, 2 },
		{ 8, 7, 6, 49, 0, 0, 1 }, { 5, 9, 4, 3, 2, 1, 3 }, { 2, 4, 1, 1, 1, 0, 1 },
		{ 32, 12, 13, 26, 2, 1, 2 }, { 4, 3, 3, 70, 1, 0, 1 },
		{ 48, 16, 35, 41, 1, 1, 3 }, { 64, 33, 18, 18, 1, 0, 2 },
		/* AVX2: 8-tile groups inside the rows, and at their ends */
		{ 16, 8, 13, 100, 1, 1, 1 }, { 9, 4, 22, 134, 0, 0, 2 },
		/* one tile block */
		{ 40, 44, 8, 8, 1, 1, 2 }, { 24, 64, 16, 16, 1, 0, 1 },
		/* 23 blocks: chunks of 2 */
		{ 8, 4, 90, 90, 1, 0, 1 },
	};

	fcn_set_kernels(mode);
	for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
		int I = shapes[k][0], O = shapes[k][1], h = shapes[k][2], w = shapes[k][3];
		int p = shapes[k][4], relu = shapes[k][5], np = shapes[k][6], accum = k & 1;
		int ho = h + 2 * p - 2, wo = w + 2 * p - 2;
		size_t nx = (size_t)I * h * w, ny = (size_t)O * ho * wo, nw = (size_t)O * I * 9;
		float *x = malloc(nx * 4), *wt = malloc(nw * 4), *b = malloc(O * 4);
		float *y = malloc(ny * 4), *ref = malloc(ny * 4), *y0 = malloc(ny * 4);
		float *U = malloc(fcn_wino4_usize(O, I) * 4);
		float *work = malloc(fcn_wino4_work(I, ho, wo) * 4);
		float *xs[3];
		struct fcn_direct_part parts[3];
		double e = 0;
		int ok, c0 = 0;

		fill(x, nx);
		fill(wt, nw);
		fill(b, O);
		fill(y0, ny);
		memcpy(y, y0, ny * 4);
		memcpy(ref, y0, ny * 4);
		for (int q = 0; q < np; q++) { /* part q: channels [c0, c0 + c), a copy */
			int c = q < np - 1 ? I / np : I - c0;

			xs[q] = malloc(((size_t)c * h * w + 1) * 4);
			memcpy(xs[q], x + (size_t)c0 * h * w, (size_t)c * h * w * 4);
			parts[q] = (struct fcn_direct_part){ xs[q], c };
			c0 += c;
		}
		naive(x, I, h, w, wt, b, O, p, p, ref, accum, relu);
		fcn_wino4_kernels(wt, O, I, 0, U);
		fcn_wino4_conv(parts, np, h, w, U, b, O, p, p, y, ho, wo, accum, relu, work);
		ok = close_enough(y, ref, ny, &e);
		CHECK(ok, "F(4x4) %s I%d O%d %dx%d pad %d accum %d relu %d parts %d (err %.2g)",
		      what, I, O, h, w, p, accum, relu, np, e);
		fcn_set_threads(1); /* other chunks per thread, the same bits */
		memcpy(ref, y0, ny * 4);
		fcn_wino4_conv(parts, np, h, w, U, b, O, p, p, ref, ho, wo, accum, relu, work);
		fcn_set_threads(2);
		CHECK(!memcmp(y, ref, ny * 4), "F(4x4) %s I%d O%d %dx%d: 1 and 2 threads bit-identical",
		      what, I, O, h, w);
		for (int q = 0; q < np; q++)
			free(xs[q]);
		free(x), free(wt), free(b), free(y), free(ref), free(y0), free(U), free(work);
	}
	fcn_set_kernels(FCN_KERNELS_AUTO);
}

/* The direct weight gradient against a naive double sum: channel counts
 * off the blocks of 4 outputs and 16 inputs, rows off the vectors of 8,
 * paddings 0-2, several row tiles; 1 and 2 threads bit-identical. */
static void test_wgrad3(enum fcn_kernels mode, const char *what)
{
	static const int shapes[][5] = { /* C, M, h, w, pad */
		{ 1, 16, 9, 30, 1 }, { 3, 5, 7, 7, 1 }, { 16, 16, 5, 24, 1 },
		{ 8, 7, 6, 49, 0 }, { 5, 9, 4, 3, 2 }, { 2, 4, 1, 1, 1 },
		{ 33, 12, 6, 26, 2 }, { 4, 3, 3, 70, 1 }, { 20, 6, 37, 64, 1 },
		{ 17, 4, 70, 250, 1 }, { 32, 8, 16, 16, 1 },
	};

	fcn_set_kernels(mode);
	for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
		int C = shapes[k][0], M = shapes[k][1], h = shapes[k][2], w = shapes[k][3];
		int p = shapes[k][4], ho = h + 2 * p - 2, wo = w + 2 * p - 2;
		size_t nx = (size_t)C * h * w, ny = (size_t)M * ho * wo, nw = (size_t)M * C * 9;
		float *x = malloc(nx * 4), *dy = malloc(ny * 4), *dw0 = malloc(nw * 4);
		float *dw = malloc(nw * 4), *dw1 = malloc(nw * 4), *ref = malloc(nw * 4);
		float *work = malloc(fcn_wgrad3_work(C, ho, wo) * 4);
		double e = 0;

		fill(x, nx);
		fill(dy, ny);
		fill(dw0, nw);
		for (int m = 0; m < M; m++) /* ref = dw0 + the sum, in double */
			for (int c = 0; c < C; c++)
				for (int q = 0; q < 9; q++) {
					size_t i = ((size_t)m * C + c) * 9 + q;
					double s = 0;

					for (int y = 0; y < ho; y++)
						for (int xx = 0; xx < wo; xx++) {
							int iy = y + q / 3 - p, ix = xx + q % 3 - p;

							if (iy >= 0 && iy < h && ix >= 0 && ix < w)
								s += (double)dy[((size_t)m * ho + y) * wo + xx] *
								     x[((size_t)c * h + iy) * w + ix];
						}
					ref[i] = (float)(dw0[i] + s);
				}
		memcpy(dw, dw0, nw * 4);
		fcn_wgrad3(x, C, h, w, dy, M, ho, wo, p, p, dw, work);
		int ok = close_enough(dw, ref, nw, &e);
		CHECK(ok, "wgrad3 %s C%d M%d %dx%d pad %d (err %.2g)",
		      what, C, M, h, w, p, e);
		fcn_set_threads(1);
		memcpy(dw1, dw0, nw * 4);
		fcn_wgrad3(x, C, h, w, dy, M, ho, wo, p, p, dw1, work);
		fcn_set_threads(2);
		CHECK(!memcmp(dw, dw1, nw * 4), "wgrad3 %s C%d M%d %dx%d: 1 and 2 threads bit-identical",
		      what, C, M, h, w);
		free(x), free(dy), free(dw0), free(dw), free(dw1), free(ref), free(work);
	}
	fcn_set_kernels(FCN_KERNELS_AUTO);
}

/* The direct 2x2 stride-2 deconvolution against a naive double sum: rows
 * off the blocks of 24 and 16 pixels (and of 32 = 16 + 16, 40 = 24 + 16,
 * 20: a masked 24, 12: a masked 16), odd channel counts, with and without
 * bias; reading x in place and from its row-by-row copy, 1 and 2 threads,
 * bit-identical. */
static void test_up2(enum fcn_kernels mode, const char *what)
{
	static const int shapes[][5] = { /* C, M, h, w, bias */
		{ 1, 1, 1, 1, 1 }, { 3, 5, 7, 7, 0 }, { 16, 8, 9, 24, 1 },
		{ 32, 16, 5, 50, 1 }, { 7, 3, 4, 73, 1 }, { 64, 32, 16, 16, 0 },
		{ 9, 6, 3, 32, 1 }, { 5, 4, 3, 40, 1 }, { 6, 2, 2, 20, 0 }, { 3, 5, 4, 12, 1 },
		{ 4, 3, 2, 128, 1 },
	};

	fcn_set_kernels(mode);
	for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
		int C = shapes[k][0], M = shapes[k][1], h = shapes[k][2], w = shapes[k][3];
		size_t nx = (size_t)C * h * w, ny = (size_t)M * 4 * h * w, nw = (size_t)C * M * 4;
		float *x = malloc(nx * 4), *wt = malloc(nw * 4), *b = malloc(M * 4);
		float *y = malloc(ny * 4), *y1 = malloc(ny * 4), *ref = malloc(ny * 4);
		float *work = malloc(nw * 4), *xt = malloc(nx * 4);
		const float *bias = shapes[k][4] ? b : NULL;
		double e = 0;

		fill(x, nx);
		fill(wt, nw);
		fill(b, M);
		for (int m = 0; m < M; m++)
			for (int oy = 0; oy < 2 * h; oy++)
				for (int ox = 0; ox < 2 * w; ox++) {
					double s = bias ? bias[m] : 0;

					for (int c = 0; c < C; c++)
						s += (double)wt[((size_t)c * M + m) * 4 + oy % 2 * 2 + ox % 2] *
						     x[((size_t)c * h + oy / 2) * w + ox / 2];
					ref[((size_t)m * 2 * h + oy) * 2 * w + ox] = (float)s;
				}
		fcn_up2_pack(wt, C, M, work);
		fcn_up2(x, C, h, w, work, bias, M, y, NULL);
		int ok = close_enough(y, ref, ny, &e);

		CHECK(ok, "up2 %s C%d M%d %dx%d bias %d (err %.2g)", what, C, M, h, w, bias != NULL, e);
		fcn_set_threads(1);
		fcn_up2(x, C, h, w, work, bias, M, y1, NULL);
		fcn_set_threads(2);
		CHECK(!memcmp(y, y1, ny * 4), "up2 %s C%d M%d %dx%d: 1 and 2 threads bit-identical",
		      what, C, M, h, w);
		memset(y1, 0, ny * 4);
		fcn_up2(x, C, h, w, work, bias, M, y1, xt);
		CHECK(!memcmp(y, y1, ny * 4), "up2 %s C%d M%d %dx%d: x read row by row, bit-identical",
		      what, C, M, h, w);
		free(x), free(wt), free(b), free(y), free(y1), free(ref), free(work), free(xt);
	}
	fcn_set_kernels(FCN_KERNELS_AUTO);
}

/* conv blocks as in the U-Net: 3x3 convs + BatchNorm + Scale + ReLU, pool,
 * a Winograd-sized conv, a deconvolution, a concat, a scorer */
static const char *net_text =
	"layer { name: 'in' type: 'Input' top: 'data' top: 'label' }\n"
	"layer { name: 'c1' type: 'Convolution' bottom: 'data' top: 'c1' convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }\n"
	"layer { name: 'b1' type: 'BatchNorm' bottom: 'c1' top: 'c1' }\n"
	"layer { name: 's1' type: 'Scale' bottom: 'c1' top: 'c1' scale_param { bias_term: true } }\n"
	"layer { name: 'r1' type: 'ReLU' bottom: 'c1' top: 'c1' }\n"
	"layer { name: 'c2' type: 'Convolution' bottom: 'c1' top: 'c2' convolution_param { num_output: 12 kernel_size: 3 pad: 1 bias_term: false } }\n"
	"layer { name: 'b2' type: 'BatchNorm' bottom: 'c2' top: 'c2' }\n"
	"layer { name: 'r2' type: 'ReLU' bottom: 'c2' top: 'c2' }\n"
	"layer { name: 'p' type: 'Pooling' bottom: 'c2' top: 'p' pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
	"layer { name: 'c3' type: 'Convolution' bottom: 'p' top: 'c3' convolution_param { num_output: 40 kernel_size: 3 pad: 1 } }\n"
	"layer { name: 'b3' type: 'BatchNorm' bottom: 'c3' top: 'c3' }\n"
	"layer { name: 's3' type: 'Scale' bottom: 'c3' top: 'c3' }\n"
	"layer { name: 'r3' type: 'ReLU' bottom: 'c3' top: 'c3' }\n"
	"layer { name: 'c4' type: 'Convolution' bottom: 'c3' top: 'c4' convolution_param { num_output: 72 kernel_size: 3 pad: 1 } }\n"
	"layer { name: 'r4' type: 'ReLU' bottom: 'c4' top: 'c4' }\n"
	"layer { name: 'up' type: 'Deconvolution' bottom: 'c4' top: 'up' convolution_param { num_output: 6 kernel_size: 2 stride: 2 } }\n"
	"layer { name: 'cat' type: 'Concat' bottom: 'up' bottom: 'c2' top: 'cat' }\n"
	"layer { name: 'c5' type: 'Convolution' bottom: 'cat' top: 'c5' convolution_param { num_output: 5 kernel_size: 3 pad: 1 } }\n"
	"layer { name: 'r5' type: 'ReLU' bottom: 'c5' top: 'c5' }\n"
	"layer { name: 'sc' type: 'Convolution' bottom: 'c5' top: 'score' convolution_param { num_output: 2 kernel_size: 1 } }\n"
	"layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'score' bottom: 'label' top: 'loss' }\n";

enum { N = 2, H = 64, W = 68 }; /* c2 and c5 at 64 x 68 take F(4x4) at TEST */

static struct fcn_net *make(enum fcn_phase ph, enum fcn_kernels mode)
{
	struct fcn_err err = { 0 };
	struct fcn_net *net;
	struct fcn_rng r = { 4242 };

	fcn_set_kernels(mode);
	net = fcn_net_parse(net_text, "kernels", ph, &err);
	if (!net || fcn_net_reshape(net, N, 3, H, W, &err) < 0) {
		CHECK(0, "net: %s", err.msg);
		exit(1);
	}
	for (size_t i = 0; i < fcn_net_nparams(net); i++) {
		struct fcn_param *p = fcn_net_param(net, i);
		const char *l = p->layer;

		for (size_t k = 0; k < fcn_blob_count(p->blob); k++) {
			float u = (float)fcn_rng_uniform(&r);

			if (l[0] == 'b') /* mean, variance, factor */
				p->blob->data[k] = p->index == 0 ? u - 0.5f :
						   p->index == 1 ? 0.5f + u : 0.8f;
			else if (l[0] == 's' && l[1] != 'c' && p->index == 0)
				p->blob->data[k] = 0.5f + u;
			else
				p->blob->data[k] = (u - 0.5f) * 0.6f;
		}
	}
	float *x = fcn_net_blob(net, "data")->data, *y = fcn_net_blob(net, "label")->data;

	for (size_t k = 0; k < (size_t)N * 3 * H * W; k++)
		x[k] = (float)fcn_rng_uniform(&r) * 4 - 2;
	for (size_t k = 0; k < (size_t)N * H * W; k++)
		y[k] = (float)(fcn_rng_next(&r) & 1);
	fcn_set_kernels(FCN_KERNELS_AUTO);
	return net;
}

static void test_nets(void)
{
	struct fcn_err err = { 0 };
	static const char *modes[] = { "auto", "portable" };
	struct fcn_net *ref = make(FCN_TEST, FCN_KERNELS_REFERENCE);
	struct fcn_net *tref = make(FCN_TRAIN, FCN_KERNELS_REFERENCE);
	double e = 0;
	int ok;

	fcn_set_kernels(FCN_KERNELS_REFERENCE);
	CHECK(fcn_net_forward(ref, NULL, &err) == 0, "reference forward %s", err.msg);
	fcn_net_zero_diffs(tref);
	CHECK(fcn_net_forward(tref, NULL, &err) == 0 && fcn_net_backward(tref, &err) == 0,
	      "reference train step %s", err.msg);
	for (int m = 0; m < 2; m++) {
		enum fcn_kernels k = m ? FCN_KERNELS_PORTABLE : FCN_KERNELS_AUTO;
		struct fcn_net *net = make(FCN_TEST, k);
		static const char *blobs[] = { "c1", "c2", "p", "c3", "c4", "c5", "score" };

		fcn_set_kernels(k);
		CHECK(fcn_net_forward(net, NULL, &err) == 0, "%s forward %s", modes[m], err.msg);
		for (size_t b = 0; b < sizeof blobs / sizeof blobs[0]; b++) {
			struct fcn_blob *a = fcn_net_blob(net, blobs[b]);

			ok = close_enough(a->data, fcn_net_blob(ref, blobs[b])->data,
					  fcn_blob_count(a), &e);
			CHECK(ok,
			      "TEST %s: blob %s matches the reference path (err %.2g)", modes[m],
			      blobs[b], e);
		}
		for (size_t i = 0; i < fcn_net_nlayers(net); i++) {
			double fwd, bwd;

			if (strcmp(fcn_net_layer_name(net, i, NULL), "cat"))
				continue;
			fcn_net_layer_time(net, i, &fwd, &bwd);
			CHECK(fwd == 0, "TEST %s: c5 reads the Concat's bottoms in place (cat not run)",
			      modes[m]);
		}
		CHECK(fcn_net_backward(net, &err) < 0 && strstr(err.msg, "folded"),
		      "%s: backward through folded layers refused (%s)", modes[m], err.msg);
		fcn_net_free(net);

		net = make(FCN_TRAIN, k);
		fcn_set_kernels(k);
		fcn_net_zero_diffs(net);
		CHECK(fcn_net_forward(net, NULL, &err) == 0 && fcn_net_backward(net, &err) == 0,
		      "%s train step %s", modes[m], err.msg);
		for (size_t i = 0; i < fcn_net_nparams(net); i++) {
			struct fcn_param *p = fcn_net_param(net, i), *q = fcn_net_param(tref, i);

			if (p->layer[0] == 'b')
				continue; /* running statistics: checked through the data */
			ok = close_enough(p->blob->diff, q->blob->diff, fcn_blob_count(p->blob), &e);
			CHECK(ok,
			      "TRAIN %s: gradient of %s[%d] matches the reference path (err %.2g)",
			      modes[m], p->layer, p->index, e);
		}
		fcn_net_free(net);
	}
	fcn_net_free(ref);
	fcn_net_free(tref);
	fcn_set_kernels(FCN_KERNELS_AUTO);
}

/* Training's BatchNorm + Scale + ReLU in one layer (fuse.h) against the
 * three run one after the other (the reference path): the same bits, in
 * a net whose other layers (1x1 convolutions) compute alike on both. */
/* 2x2 max pooling: the AVX2 kernel (AUTO) against the scalar loop
 * (REFERENCE) on values with many ties (the zeros after a ReLU), widths
 * with and without a tail of fewer than 8 outputs: the same maxima and, through the backward pass, the same argmax (the
 * first maximum in scan order) to the bit. */
static const char *pool_text =
	"layer { name: 'in' type: 'Input' top: 'data' top: 'label' }\n"
	"layer { name: 'id' type: 'Convolution' bottom: 'data' top: 'x' convolution_param { num_output: 3 kernel_size: 1 } }\n"
	"layer { name: 'p' type: 'Pooling' bottom: 'x' top: 'p' pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
	"layer { name: 'up' type: 'Deconvolution' bottom: 'p' top: 'u' convolution_param { num_output: 3 group: 3 kernel_size: 2 stride: 2 bias_term: false } }\n"
	"layer { name: 'sc' type: 'Convolution' bottom: 'u' top: 'score' convolution_param { num_output: 2 kernel_size: 1 } }\n"
	"layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'score' bottom: 'label' top: 'loss' }\n";

static struct fcn_net *pool_net(enum fcn_kernels mode, int h, int w)
{
	struct fcn_err err = { 0 };
	struct fcn_rng r = { 99 };
	struct fcn_net *net;

	fcn_set_kernels(mode);
	net = fcn_net_parse(pool_text, "pool", FCN_TRAIN, &err);
	if (!net || fcn_net_reshape(net, 2, 3, h, w, &err) < 0) {
		CHECK(0, "pool net: %s", err.msg);
		exit(1);
	}
	for (size_t i = 0; i < fcn_net_nparams(net); i++) {
		struct fcn_param *p = fcn_net_param(net, i);
		size_t n = fcn_blob_count(p->blob);

		for (size_t k = 0; k < n; k++) /* 'id': the identity; 'up': copies */
			p->blob->data[k] = !strcmp(p->layer, "id") ?
					   (p->index == 0 && k % 4 == 0 ? 1.0f : 0.0f) :
					   !strcmp(p->layer, "up") ? 1.0f :
					   (float)fcn_rng_uniform(&r) - 0.5f;
	}
	float *x = fcn_net_blob(net, "data")->data, *y = fcn_net_blob(net, "label")->data;

	for (size_t k = 0; k < (size_t)2 * 3 * h * w; k++) /* 4 levels: ties */
		x[k] = (float)(int)(fcn_rng_uniform(&r) * 4) * 0.25f - 0.5f;
	for (size_t k = 0; k < (size_t)2 * h * w; k++)
		y[k] = (float)(fcn_rng_next(&r) & 1);
	return net;
}

static void test_pool2x2(void)
{
	/* 17 outputs a row: two vectors and a tail; 8: one; 7: a tail only */
	static const int shapes[][2] = { { 10, 34 }, { 6, 16 }, { 4, 14 }, { 8, 50 } };
	struct fcn_err err = { 0 };

	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int h = shapes[s][0], w = shapes[s][1];
		struct fcn_net *net[2];

		for (int m = 0; m < 2; m++) {
			net[m] = pool_net(m ? FCN_KERNELS_REFERENCE : FCN_KERNELS_AUTO, h, w);
			fcn_net_zero_diffs(net[m]);
			CHECK(fcn_net_forward(net[m], NULL, &err) == 0 &&
			      fcn_net_backward(net[m], &err) == 0, "pool %dx%d: %s step runs %s", h, w,
			      m ? "reference" : "auto", err.msg);
		}
		fcn_set_kernels(FCN_KERNELS_AUTO);
		struct fcn_blob *a = fcn_net_blob(net[0], "p"), *b = fcn_net_blob(net[1], "p");
		struct fcn_blob *da = fcn_net_blob(net[0], "x"), *db = fcn_net_blob(net[1], "x");

		CHECK(!memcmp(a->data, b->data, fcn_blob_count(a) * 4),
		      "pool 2x2 %dx%d: maxima as the scalar loop's, bit for bit", h, w);
		CHECK(!memcmp(da->diff, db->diff, fcn_blob_count(da) * 4),
		      "pool 2x2 %dx%d: gradient at the scalar loop's argmax, bit for bit", h, w);
		fcn_net_free(net[0]);
		fcn_net_free(net[1]);
	}
}

static void test_bn_chain(void)
{
	static const char *text =
		"layer { name: 'in' type: 'Input' top: 'data' top: 'label' }\n"
		"layer { name: 'c1' type: 'Convolution' bottom: 'data' top: 'c1' convolution_param { num_output: 6 kernel_size: 1 } }\n"
		"layer { name: 'b1' type: 'BatchNorm' bottom: 'c1' top: 'c1' }\n"
		"layer { name: 's1' type: 'Scale' bottom: 'c1' top: 'c1' scale_param { bias_term: true } }\n"
		"layer { name: 'r1' type: 'ReLU' bottom: 'c1' top: 'c1' }\n"
		"layer { name: 'c2' type: 'Convolution' bottom: 'c1' top: 'c2' convolution_param { num_output: 4 kernel_size: 1 } }\n"
		"layer { name: 'b2' type: 'BatchNorm' bottom: 'c2' top: 'c2' }\n"
		"layer { name: 's2' type: 'Scale' bottom: 'c2' top: 'c2' }\n"
		"layer { name: 'sc' type: 'Convolution' bottom: 'c2' top: 'score' convolution_param { num_output: 2 kernel_size: 1 } }\n"
		"layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'score' bottom: 'label' top: 'loss' }\n";
	struct fcn_net *net[2];
	struct fcn_err err = { 0 };

	for (int m = 0; m < 2; m++) {
		struct fcn_rng r = { 99 };

		fcn_set_kernels(m ? FCN_KERNELS_REFERENCE : FCN_KERNELS_AUTO);
		net[m] = fcn_net_parse(text, "chain", FCN_TRAIN, &err);
		if (!net[m] || fcn_net_reshape(net[m], 3, 3, 17, 23, &err) < 0) {
			CHECK(0, "chain net: %s", err.msg);
			exit(1);
		}
		for (size_t i = 0; i < fcn_net_nparams(net[m]); i++) { /* all but BatchNorm's */
			struct fcn_param *p = fcn_net_param(net[m], i);

			for (size_t k = 0; p->layer[0] != 'b' && k < fcn_blob_count(p->blob); k++)
				p->blob->data[k] = (float)fcn_rng_uniform(&r) * 2 - 0.5f;
		}
		struct fcn_blob *x = fcn_net_blob(net[m], "data"), *y = fcn_net_blob(net[m], "label");

		for (size_t k = 0; k < fcn_blob_count(x); k++)
			x->data[k] = (float)fcn_rng_uniform(&r) * 4 - 1;
		for (size_t k = 0; k < fcn_blob_count(y); k++)
			y->data[k] = (float)(fcn_rng_next(&r) & 1);
		for (int step = 0; step < 2; step++) {
			fcn_net_zero_diffs(net[m]);
			CHECK(fcn_net_forward(net[m], NULL, &err) == 0 &&
			      fcn_net_backward(net[m], &err) == 0, "chain train step %s", err.msg);
		}
	}
	int same = 1, nonzero = 0;

	for (size_t i = 0; i < fcn_net_nparams(net[0]); i++) {
		struct fcn_blob *a = fcn_net_param(net[0], i)->blob, *b = fcn_net_param(net[1], i)->blob;
		size_t n = fcn_blob_count(a) * sizeof(float);

		same &= !memcmp(a->data, b->data, n) && !memcmp(a->diff, b->diff, n);
		for (size_t k = 0; k < fcn_blob_count(a); k++)
			nonzero += a->diff[k] != 0;
	}
	CHECK(same && nonzero > 40, "TRAIN BatchNorm + Scale (+ ReLU) fused: parameters, statistics "
	      "and gradients (%d nonzero) bit-identical to the three layers", nonzero);
	CHECK(!memcmp(fcn_net_blob(net[0], "score")->data, fcn_net_blob(net[1], "score")->data,
		      fcn_blob_count(fcn_net_blob(net[0], "score")) * sizeof(float)),
	      "TRAIN fused chain: scores bit-identical");
	for (size_t i = 0; i < fcn_net_nlayers(net[0]); i++) {
		const char *name = fcn_net_layer_name(net[0], i, NULL);
		double fwd[2], bwd[2];

		if (strcmp(name, "s1") && strcmp(name, "r1") && strcmp(name, "s2"))
			continue;
		fcn_net_layer_time(net[0], i, &fwd[0], &bwd[0]);
		fcn_net_layer_time(net[1], i, &fwd[1], &bwd[1]);
		CHECK(fwd[0] == 0 && bwd[0] == 0 && fwd[1] > 0 && bwd[1] > 0,
		      "TRAIN: %s folded into its BatchNorm (skipped), run by the reference path", name);
	}
	fcn_net_free(net[0]);
	fcn_net_free(net[1]);
	fcn_set_kernels(FCN_KERNELS_AUTO);
}

/* weights changed between two forwards (a solver step, a model loaded
 * into the net) are used by the second: F(4x4)'s transformed kernels are
 * kept across forwards only while the weights are unchanged */
static void test_weights_change(void)
{
	struct fcn_err err = { 0 };
	struct fcn_net *net = make(FCN_TEST, FCN_KERNELS_AUTO);
	struct fcn_net *ref = make(FCN_TEST, FCN_KERNELS_REFERENCE);
	struct fcn_net *nets[2] = { net, ref };
	double e = 0;

	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < 2; k++) {
			struct fcn_blob *w = fcn_net_param_find(nets[k], "c2", 0)->blob;

			if (pass)
				for (size_t i = 0; i < fcn_blob_count(w); i++)
					w->data[i] *= i % 3 ? -0.5f : 2.0f;
			fcn_set_kernels(k ? FCN_KERNELS_REFERENCE : FCN_KERNELS_AUTO);
			CHECK(fcn_net_forward(nets[k], NULL, &err) == 0, "forward %s", err.msg);
		}
	struct fcn_blob *a = fcn_net_blob(net, "c2");
	int ok = close_enough(a->data, fcn_net_blob(ref, "c2")->data, fcn_blob_count(a), &e);

	CHECK(ok, "TEST auto: c2 after its weights changed matches the reference path (err %.2g)", e);
	/* reshaped to another size (the transform kept), weights changed again */
	for (int k = 0; k < 2; k++) {
		struct fcn_blob *w = fcn_net_param_find(nets[k], "c2", 0)->blob;
		struct fcn_blob *x;

		fcn_set_kernels(k ? FCN_KERNELS_REFERENCE : FCN_KERNELS_AUTO);
		CHECK(fcn_net_reshape(nets[k], 1, 3, H + 4, W - 4, &err) == 0, "reshape %s", err.msg);
		x = fcn_net_blob(nets[k], "data");
		for (size_t i = 0; i < fcn_blob_count(x); i++)
			x->data[i] = (float)(i % 7) * 0.3f - 1.0f;
		w->data[0] += 1.0f;
		CHECK(fcn_net_forward(nets[k], NULL, &err) == 0, "forward %s", err.msg);
	}
	a = fcn_net_blob(net, "c2");
	ok = close_enough(a->data, fcn_net_blob(ref, "c2")->data, fcn_blob_count(a), &e);
	CHECK(ok, "TEST auto: c2 after a reshape and a weight change matches the reference path (err %.2g)", e);
	fcn_net_free(net);
	fcn_net_free(ref);
	fcn_set_kernels(FCN_KERNELS_AUTO);
}

/* Small maps of a batch (FCN-AlexNet's fc6 and fc7 on 9x9) take one GEMM
 * over the images, the columns side by side (FCN_WIDE_MAXPIX in
 * conv_layer.c): outputs, every parameter gradient and the data gradient
 * through an im2col convolution (f6) and 1x1 ones, one of them (f7) read
 * by two layers, so that its gradient adds into one already written,
 * against the reference path's per-image GEMMs.  With one image, the data
 * gradient's GEMM on small maps computed transposed (f6, sa, sb). */
static const char *wide_text =
	"layer { name: 'in' type: 'Input' top: 'data' top: 'label' }\n"
	"layer { name: 'f5' type: 'Convolution' bottom: 'data' top: 'f5' convolution_param { num_output: 20 kernel_size: 1 } }\n"
	"layer { name: 'f6' type: 'Convolution' bottom: 'f5' top: 'f6' convolution_param { num_output: 36 kernel_size: 5 pad: 2 } }\n"
	"layer { name: 'r6' type: 'ReLU' bottom: 'f6' top: 'f6' }\n"
	"layer { name: 'f7' type: 'Convolution' bottom: 'f6' top: 'f7' convolution_param { num_output: 100 kernel_size: 1 } }\n"
	"layer { name: 'sa' type: 'Convolution' bottom: 'f7' top: 'sa' convolution_param { num_output: 3 kernel_size: 1 } }\n"
	"layer { name: 'sb' type: 'Convolution' bottom: 'f7' top: 'sb' convolution_param { num_output: 3 kernel_size: 1 bias_term: false } }\n"
	"layer { name: 'sum' type: 'Eltwise' bottom: 'sa' bottom: 'sb' top: 'score' }\n"
	"layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'score' bottom: 'label' top: 'loss' }\n";

static struct fcn_net *wide_net(enum fcn_kernels mode, int n)
{
	struct fcn_err err = { 0 };
	struct fcn_rng r = { 31337 };
	struct fcn_net *net;

	fcn_set_kernels(mode);
	net = fcn_net_parse(wide_text, "wide", FCN_TRAIN, &err);
	if (!net || fcn_net_reshape(net, n, 5, 9, 10, &err) < 0) {
		CHECK(0, "wide net: %s", err.msg);
		exit(1);
	}
	for (size_t i = 0; i < fcn_net_nparams(net); i++) {
		struct fcn_blob *b = fcn_net_param(net, i)->blob;

		for (size_t k = 0; k < fcn_blob_count(b); k++)
			b->data[k] = (float)fcn_rng_uniform(&r) - 0.5f;
	}
	struct fcn_blob *x = fcn_net_blob(net, "data"), *y = fcn_net_blob(net, "label");

	for (size_t k = 0; k < fcn_blob_count(x); k++)
		x->data[k] = (float)fcn_rng_uniform(&r) * 2 - 1;
	for (size_t k = 0; k < fcn_blob_count(y); k++)
		y->data[k] = (float)(fcn_rng_next(&r) % 3);
	return net;
}

static void test_wide(int n)
{
	struct fcn_err err = { 0 };
	struct fcn_net *net[2];
	static const char *blobs[] = { "f5", "f6", "f7", "score" };
	double e = 0;

	for (int k = 0; k < 2; k++) {
		net[k] = wide_net(k ? FCN_KERNELS_REFERENCE : FCN_KERNELS_AUTO, n);
		fcn_net_zero_diffs(net[k]);
		CHECK(fcn_net_forward(net[k], NULL, &err) == 0 &&
		      fcn_net_backward(net[k], &err) == 0, "wide net train step %s", err.msg);
	}
	for (size_t b = 0; b < sizeof blobs / sizeof blobs[0]; b++) {
		struct fcn_blob *a = fcn_net_blob(net[0], blobs[b]), *r = fcn_net_blob(net[1], blobs[b]);
		int ok = close_enough(a->data, r->data, fcn_blob_count(a), &e);

		CHECK(ok, "wide, %d images: blob %s matches the per-image GEMMs (err %.2g)",
		      n, blobs[b], e);
		ok = close_enough(a->diff, r->diff, fcn_blob_count(a), &e);
		CHECK(ok, "wide, %d images: gradient of blob %s matches (err %.2g)", n,
		      blobs[b], e);
	}
	for (size_t i = 0; i < fcn_net_nparams(net[0]); i++) {
		struct fcn_param *p = fcn_net_param(net[0], i), *q = fcn_net_param(net[1], i);
		int ok = close_enough(p->blob->diff, q->blob->diff, fcn_blob_count(p->blob), &e);

		CHECK(ok, "wide, %d images: gradient of %s[%d] matches (err %.2g)", n, p->layer,
		      p->index, e);
	}
	fcn_net_free(net[0]);
	fcn_net_free(net[1]);
	fcn_set_kernels(FCN_KERNELS_AUTO);
}

/* the fast paths give the same bits for any thread count */
static void test_threads(void)
{
	struct fcn_err err = { 0 };
	float *out[2], *grad[2];
	size_t n = 0, ng = 0;

	for (int t = 0; t < 2; t++) {
		fcn_set_threads(t + 1);
		struct fcn_net *net = make(FCN_TEST, FCN_KERNELS_AUTO);
		struct fcn_net *tr = make(FCN_TRAIN, FCN_KERNELS_AUTO);
		struct fcn_blob *s = fcn_net_blob(net, "score");
		struct fcn_blob *g = fcn_net_param_find(tr, "c1", 0)->blob;

		fcn_net_forward(net, NULL, &err);
		fcn_net_zero_diffs(tr);
		fcn_net_forward(tr, NULL, &err);
		fcn_net_backward(tr, &err);
		n = fcn_blob_count(s);
		ng = fcn_blob_count(g);
		out[t] = malloc(n * 4);
		grad[t] = malloc(ng * 4);
		memcpy(out[t], s->data, n * 4);
		memcpy(grad[t], g->diff, ng * 4);
		fcn_net_free(net);
		fcn_net_free(tr);
	}
	CHECK(!memcmp(out[0], out[1], n * 4), "TEST scores bit-identical for 1 and 2 threads");
	CHECK(!memcmp(grad[0], grad[1], ng * 4), "TRAIN gradient bit-identical for 1 and 2 threads");
	for (int t = 0; t < 2; t++)
		free(out[t]), free(grad[t]);
	fcn_set_threads(2);
}

/* A kernel test in the AVX2 mode (where the CPU has it) and the portable one. */
static void both_paths(void (*test)(enum fcn_kernels, const char *), const char *name)
{
	if (fcn_kernels_avx2())
		test(FCN_KERNELS_AUTO, "avx2");
	else
		tap_skip("%s avx2: this CPU has no AVX2/FMA", name);
	test(FCN_KERNELS_PORTABLE, "portable");
}

int main(void)
{
	fcn_set_threads(2);
	both_paths(test_direct, "direct");
	both_paths(test_wino4, "F(4x4)");
	both_paths(test_wgrad3, "wgrad3");
	both_paths(test_up2, "up2");
	test_nets();
	test_pool2x2();
	test_bn_chain();
	test_weights_change();
	test_wide(3);
	test_wide(1); /* the data gradient's transposed GEMM */
	test_threads();
	return tap_done();
}
