/*
 * up2.h - the forward of a 2x2 stride-2 deconvolution without padding
 * (the U-Net's up-sampling) computed directly: each input pixel gives a
 * disjoint 2x2 block of outputs, y[m][2i + a][2j + b] = bias[m] + sum over
 * c of w[c][m][a][b] x[c][i][j], so no column buffer and no GEMM of 32
 * inner products are needed.  A work item is one output channel by one
 * input row, 24 pixels at a time in a 4 x 24 register block (the 4 taps),
 * AVX2/FMA when the CPU has them, else portable C with the same order of
 * sums; items are fixed by the shapes, so results do not depend on the
 * number of threads.
 */
#ifndef FCN_UP2_H
#define FCN_UP2_H

/* wp (M, C, 4) = w (C, M, 2, 2) regrouped by output: C * M * 4 floats. */
void fcn_up2_pack(const float *w, int C, int M, float *wp);
/* y (M, 2h, 2w) = x (C, h, w) through the packed weights wp + bias (may
 * be NULL).  xt: NULL, or C * h * w floats of scratch where x is first
 * laid out row by row, (h, C, w) (faster; the same result). */
void fcn_up2(const float *x, int C, int h, int w, const float *wp,
	     const float *bias, int M, float *y, float *xt);

#endif
