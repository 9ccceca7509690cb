/*
 * fma4x24.h - the register block of the AVX2 direct and F(4x4, 3x3)
 * kernels: accumulators a<k><v> for 4 rows k (output channels) by 24
 * lanes (3 vectors v); one step adds w[k] times the lanes x0, x1, x2 to
 * row k.  For functions compiled with target("avx2,fma") that declare
 * a00..a32.
 */
#ifndef FCN_FMA4X24_H
#define FCN_FMA4X24_H

#include <immintrin.h>

#define FMA4X24_ROW(k, w, x0, x1, x2)                                  \
	do {                                                           \
		__m256 w_ = _mm256_broadcast_ss(w);                    \
		a##k##0 = _mm256_fmadd_ps(w_, x0, a##k##0);             \
		a##k##1 = _mm256_fmadd_ps(w_, x1, a##k##1);             \
		a##k##2 = _mm256_fmadd_ps(w_, x2, a##k##2);             \
	} while (0)

#define FMA4X24(w, x0, x1, x2)                                         \
	do {                                                           \
		FMA4X24_ROW(0, (w), x0, x1, x2);                       \
		FMA4X24_ROW(1, (w) + 1, x0, x1, x2);                   \
		FMA4X24_ROW(2, (w) + 2, x0, x1, x2);                   \
		FMA4X24_ROW(3, (w) + 3, x0, x1, x2);                   \
	} while (0)

#endif
