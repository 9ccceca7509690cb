/*
 * direct.h - direct 3x3 stride-1 convolution for few channels at high
 * resolution (where im2col's 9x copy and thin GEMMs cost more than the
 * arithmetic), and the engine's kernel switch.
 *
 * The input is copied once into a zero-padded buffer; each work item is an
 * output row times a block of 4 output channels, computed 24 pixels at a
 * time in registers (AVX2/FMA when the CPU has them, chosen at run time,
 * else portable C with the same loop order), with the bias, an optional
 * accumulate and an optional ReLU applied on the store.  Items are fixed by
 * the shapes, so results do not depend on the number of threads.
 */
#ifndef FCN_DIRECT_H
#define FCN_DIRECT_H

#include <stddef.h>

/* Kernel selection (process-wide; tests switch it to compare paths):
 * FCN_KERNELS_AUTO: the fastest the CPU runs; FCN_KERNELS_PORTABLE: the
 * same algorithms in plain C; FCN_KERNELS_REFERENCE: im2col + GEMM (and
 * Winograd as before) only, and no folding of BatchNorm, Scale and ReLU
 * into convolutions.  The default comes from the environment variable
 * FCN_KERNELS ("auto", "portable", "reference"). */
enum fcn_kernels { FCN_KERNELS_AUTO, FCN_KERNELS_PORTABLE, FCN_KERNELS_REFERENCE };
enum fcn_kernels fcn_kernels(void);
void fcn_set_kernels(enum fcn_kernels k);
/* 1 when the AVX2/FMA kernels run (AUTO mode on a CPU that has them). */
int fcn_kernels_avx2(void);

/* Packed weights: (ceil(O/4), I, 9, 4) floats. */
size_t fcn_direct_wsize(int O, int I);
/* Packs w: (O, I, 3, 3), or with flip (I, O, 3, 3) read transposed and
 * rotated by 180 degrees (the data gradient's kernels); each output's
 * weights times scale[o] when scale is not NULL. */
void fcn_direct_pack(const float *w, int O, int I, int flip,
		     const float *scale, float *wp);
/* Floats of work space fcn_direct_conv needs. */
size_t fcn_direct_work(int I, int ho, int wo);
/* y (O, ho, wo) = [y +] x (I, h, w) correlated with the packed 3x3 kernels
 * at padding (ph, pw) <= 2, ho = h + 2ph - 2, wo = w + 2pw - 2, plus
 * bias[o] (may be NULL), then max(0, .) when relu. */
void fcn_direct_conv(const float *x, int I, int h, int w, const float *wp,
		     const float *bias, int O, int ph, int pw, float *y, int ho,
		     int wo, int accum, int relu, float *work);
/* The input as consecutive channel parts (the bottoms of a Concat read in
 * place): part k holds parts[k].c channels (c, h, w) at parts[k].x. */
struct fcn_direct_part {
	const float *x;
	int c;
};
#define FCN_DIRECT_MAXPARTS 8
void fcn_direct_conv_parts(const struct fcn_direct_part *parts, int nparts,
			   int h, int w, const float *wp, const float *bias,
			   int O, int ph, int pw, float *y, int ho, int wo,
			   int accum, int relu, float *work);

#endif
