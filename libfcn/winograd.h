/*
 * winograd.h - 3x3 stride-1 convolution by Winograd's F(2x2, 3x3): 16
 * GEMMs on transformed 4x4 input tiles and kernels, 2.25x fewer
 * multiplications than im2col + GEMM.  Used for the forward pass and,
 * with flipped and transposed kernels, for the data gradient.
 */
#ifndef FCN_WINOGRAD_H
#define FCN_WINOGRAD_H

#include <stddef.h>

/* Transformed kernels U (16, R, K) of w (M, Cg, 3, 3), G groups.
 * flip 0: R = M, K = Cg (forward).  flip 1: R = G*Cg, K = M/G, each kernel
 * rotated by 180 degrees and the channel roles swapped (data gradient). */
void fcn_wino_kernels(const float *w, int M, int Cg, int G, int flip,
		      float *U);
/* Floats of work space fcn_wino_conv needs. */
size_t fcn_wino_work(int cin, int cout, int ho, int wo);
/* y (COUT, HO, WO) = x (CIN, H, W) convolved with U, padding ph, pw;
 * stored, or added when accum.  HO = H + 2ph - 2, WO = W + 2pw - 2. */
void fcn_wino_conv(const float *x, int cin, int h, int w, const float *U,
		   int cout, int groups, int ph, int pw, float *y, int ho, int wo,
		   int accum, float *work);

#endif
