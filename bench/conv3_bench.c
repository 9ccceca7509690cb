/*
 * conv3_bench.c - one 3x3 stride-1 pad-1 convolution layer, C channels in,
 * M out, H x W, timed by each of the engine's inference kernels in turn:
 * the direct kernel (direct.h) and Winograd F(4x4, 3x3) (wino4.h), and
 * by its training kernel for the weight gradient (wgrad3.h), rounds
 * alternating the three, each the best of ITERS calls.  Prints ms and
 * nominal GFLOP/s (2 C M 9 H W / time) of each, the inference kernels'
 * ratio, and the time of the weights' preparation (once per forward in a
 * net).
 *   conv3_bench C M H W [THREADS [ITERS [ROUNDS]]]
 * e.g. build/bench/conv3_bench 16 16 256 256 2 20 5
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "direct.h"
#include "fcn.h"
#include "layer.h"
#include "wino4.h"
#include "wgrad3.h"
#include "bench.h"

/* An int in [1, 2^16] from argv, or exit 2. */
static int arg(const char *s, const char *what)
{
	return arg_int("conv3_bench", s, what, 1, 1 << 16);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: conv3_bench C M H W [THREADS [ITERS [ROUNDS]]]\n");
		return 2;
	}
	int C = arg(argv[1], "C"), M = arg(argv[2], "M");
	int H = arg(argv[3], "H"), W = arg(argv[4], "W");
	int threads = argc > 5 ? arg(argv[5], "THREADS") : 2;
	int iters = argc > 6 ? arg(argv[6], "ITERS") : 10;
	int rounds = argc > 7 ? arg(argv[7], "ROUNDS") : 3;

	fcn_set_threads(threads);
	size_t nx = (size_t)C * H * W, ny = (size_t)M * H * W, nw = (size_t)M * C * 9;
	size_t dwork = fcn_direct_work(C, H, W), wwork = fcn_wino4_work(C, H, W);
	size_t gwork = fcn_wgrad3_work(C, H, W);
	float *x = fcn_alloc_floats(nx), *w = fcn_alloc_floats(nw), *b = fcn_alloc_floats(M);
	float *y = fcn_alloc_floats(ny), *wp = fcn_alloc_floats(fcn_direct_wsize(M, C));
	float *U = fcn_alloc_floats(fcn_wino4_usize(M, C));
	float *work = fcn_alloc_floats(dwork > wwork ? dwork > gwork ? dwork : gwork :
				       wwork > gwork ? wwork : gwork);
	float *dw = fcn_alloc_floats(nw);
	struct fcn_rng r = { 1 };

	if (!x || !w || !b || !y || !wp || !U || !work || !dw) {
		fprintf(stderr, "conv3_bench: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)fcn_rng_uniform(&r) - 0.5f;
	for (size_t i = 0; i < nw; i++)
		w[i] = (float)fcn_rng_uniform(&r) - 0.5f;
	double tk = now();

	fcn_direct_pack(w, M, C, 0, NULL, wp);
	tk = now() - tk;
	double tu = now();

	fcn_wino4_kernels(w, M, C, 0, U);
	tu = now() - tu;

	struct fcn_direct_part part = { x, C };
	double best[3] = { 1e30, 1e30, 1e30 };

	for (int round = 0; round < rounds; round++)
		for (int k = 0; k < 3; k++)
			for (int i = 0; i <= iters; i++) { /* the first call warms up */
				double t0 = now();

				if (k == 0)
					fcn_direct_conv(x, C, H, W, wp, b, M, 1, 1, y, H, W, 0, 1, work);
				else if (k == 1)
					fcn_wino4_conv(&part, 1, H, W, U, b, M, 1, 1, y, H, W, 0, 1, work);
				else /* y as the output's gradient */
					fcn_wgrad3(x, C, H, W, y, M, H, W, 1, 1, dw, work);
				double t = now() - t0;

				if (i > 0 && t < best[k])
					best[k] = t;
			}
	double gf = 2.0 * C * M * 9 * H * W * 1e-9;

	printf("C=%d M=%d %dx%d threads=%d: direct %.3f ms (%.1f GFLOP/s), "
	       "F(4x4) %.3f ms (%.1f GFLOP/s effective), direct / F(4x4) %.2f; "
	       "weights packed in %.3f ms, transformed in %.3f ms; "
	       "weight gradient (direct) %.3f ms (%.1f GFLOP/s)\n",
	       C, M, H, W, threads, best[0] * 1e3, gf / best[0], best[1] * 1e3,
	       gf / best[1], best[0] / best[1], tk * 1e3, tu * 1e3, best[2] * 1e3,
	       gf / best[2]);
	return 0;
}
