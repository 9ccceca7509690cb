/*
 * wino4.h - 3x3 stride-1 convolution by Winograd's F(4x4, 3x3): 36
 * multiplications for 16 outputs where the direct sum needs 144.  Tiles
 * of 6x6 inputs (stepping 4) are transformed, 24 tiles at a time, into
 * V (36, C, 24); for each of the 36 positions and each
 * block of 4 output channels a small GEMM U (4, C) x V (C, 24) runs in
 * registers (AVX2/FMA when the CPU has them, else portable C), and the
 * products go back to 4x4 outputs with the bias and an optional ReLU on
 * the store (or added to the output).  The tile blocks are split into
 * fixed chunks, so results do not depend on the number of threads.
 *
 * F(4x4, 3x3) rounds more than the direct sum: on uniform random inputs
 * and weights with 16-64 input channels the largest error is about 1e-5
 * of the output's largest magnitude (tests/unit/test_fcn_kernels.c),
 * some ten times the direct kernel's, inside the tolerance every fast
 * path is held to against the reference path (im2col + GEMM), forward
 * and gradients.  conv_layer.c uses it at inference and in training
 * (forward and, with flipped kernels, the data gradient); the kernels
 * are transformed in float, 8 at a time.
 */
#ifndef FCN_WINO4_H
#define FCN_WINO4_H

#include <stddef.h>

#include "direct.h"

/* Floats of the transformed kernels of M outputs by C inputs. */
size_t fcn_wino4_usize(int M, int C);
/* U of w (M, C, 3, 3), or with flip of w (C, M, 3, 3) read transposed
 * and rotated by 180 degrees (the data gradient's kernels). */
void fcn_wino4_kernels(const float *w, int M, int C, int flip, float *U);
/* Floats of work space fcn_wino4_conv needs. */
size_t fcn_wino4_work(int C, int ho, int wo);
/* y (M, ho, wo) = [y +] the input parts (C channels in all, h x w)
 * correlated with U at padding (ph, pw) <= 2, ho = h + 2ph - 2,
 * wo = w + 2pw - 2, plus bias[m] (may be NULL), then max(0, .) when relu. */
void fcn_wino4_conv(const struct fcn_direct_part *parts, int nparts, int h,
		    int w, const float *U, const float *bias, int M, int ph,
		    int pw, float *y, int ho, int wo, int accum, int relu,
		    float *work);

#endif
