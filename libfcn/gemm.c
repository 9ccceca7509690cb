/*
 * gemm.c - fcn_gemm: blocks of C over OpenMP threads (see gemm.h).
 * Large products split the larger of M and N into eight blocks (at least
 * 64 wide, rounded to 16 so that the BLAS kernels see whole register
 * tiles), handed out dynamically: on a shared machine a thread that loses
 * its core does not hold the others up at the barrier.  The blocks do not
 * depend on the number of threads, so neither do the results' bits.
 */
#include <cblas.h>
#include <omp.h>

#include "gemm.h"

void fcn_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
	      const float *a, int lda, const float *b, int ldb, float beta,
	      float *c, int ldc)
{
	enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
	enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
	int nt = omp_get_max_threads();
	double work = (double)m * n * k;

	if (work < 2e7 || omp_in_parallel()) {
		cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb,
			    beta, c, ldc);
		return;
	}
	int split_m = m >= n;
	int len = split_m ? m : n;
	int chunk = (len + 7) / 8;

	chunk = chunk < 64 ? 64 : (chunk + 15) / 16 * 16;
	int blocks = (len + chunk - 1) / chunk;

#pragma omp parallel for schedule(dynamic, 1) num_threads(blocks < nt ? blocks : nt)
	for (int i = 0; i < blocks; i++) {
		int lo = i * chunk, cnt = len - lo < chunk ? len - lo : chunk;

		if (split_m) {
			const float *ai = trans_a ? a + lo : a + (long)lo * lda;

			cblas_sgemm(CblasRowMajor, ta, tb, cnt, n, k, alpha, ai, lda, b,
				    ldb, beta, c + (long)lo * ldc, ldc);
		} else {
			const float *bi = trans_b ? b + (long)lo * ldb : b + lo;

			cblas_sgemm(CblasRowMajor, ta, tb, m, cnt, k, alpha, a, lda, bi,
				    ldb, beta, c + lo, ldc);
		}
	}
}
