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

/* y (M, 2h, 2w) = x (C, h, w) through w (C, M, 2, 2) + bias (may be
 * NULL); work holds C * M * 4 floats (the weights regrouped by output). */
void fcn_up2(const float *x, int C, int h, int w, const float *wt,
	     const float *bias, int M, float *y, float *work);

#endif
