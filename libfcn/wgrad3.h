/*
 * wgrad3.h - the weight gradient of a 3x3 stride-1 convolution, summed
 * directly over the output pixels instead of through im2col and a thin
 * GEMM: for few channels at high resolution the im2col copy (9 floats per
 * input pixel and channel) and OpenBLAS's packing of a 16-row matrix cost
 * more than the products.
 *
 * The input is copied once into a zero-padded buffer.  A work item is a
 * block of 4 output channels by a block of input channels; it walks the
 * output rows in tiles (whose 4 dY rows stay in the L1 cache), and for
 * each input channel and kernel row keeps 4 x 3 vectors of 8 lanes in
 * registers (AVX2/FMA when the CPU has them, else portable C with the same
 * order of sums), adding dY[m] times the 3 shifted input rows.  The lanes
 * are summed once at the end.  Items are fixed by the shapes and each
 * gradient is summed in a fixed order, so results do not depend on the
 * number of threads.
 */
#ifndef FCN_WGRAD3_H
#define FCN_WGRAD3_H

#include <stddef.h>

/* Floats of work space fcn_wgrad3 needs. */
size_t fcn_wgrad3_work(int C, int ho, int wo);
/* dW (M, C, 3, 3) += sum over (y, x) < (ho, wo) of dy[m][y][x] times
 * x[c][y + ky - ph][x + kx - pw] (zero outside the h x w input), with
 * ho <= h + 2ph - 2 and wo <= w + 2pw - 2. */
void fcn_wgrad3(const float *x, int C, int h, int w, const float *dy, int M,
		int ho, int wo, int ph, int pw, float *dW, float *work);

#endif
