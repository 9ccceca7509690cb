/*
 * gemm.h - row-major single-precision GEMM, C = alpha op(A) op(B) + beta C,
 * with the threads split by this engine: the pool's threads each run
 * single-threaded OpenBLAS on a block of C's rows or columns.  One pool
 * of sleeping threads (threads.h) instead of OpenBLAS's and OpenMP's
 * spinning against each other.
 */
#ifndef FCN_GEMM_H
#define FCN_GEMM_H

void fcn_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
	      const float *a, int lda, const float *b, int ldb, float beta,
	      float *c, int ldc);
/* The same on the calling thread only (inside a task of the pool). */
void fcn_gemm_serial(int trans_a, int trans_b, int m, int n, int k, float alpha,
		     const float *a, int lda, const float *b, int ldb, float beta,
		     float *c, int ldc);

#endif
