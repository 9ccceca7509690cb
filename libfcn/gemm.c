/*
 * gemm.c - fcn_gemm: blocks of C over the engine's threads (see gemm.h).
 * Large products split the larger of M and N into eight blocks (at least
 * 64 wide, rounded to 16 so that the BLAS kernels see whole register
 * tiles), handed out dynamically: on a shared machine a thread that loses
 * its core does not hold the others up at the barrier.  The blocks do not
 * depend on the number of threads, so neither do the results' bits.
 */
#include <cblas.h>

#include "gemm.h"
#include "threads.h"

struct gemm_job {
	enum CBLAS_TRANSPOSE ta, tb;
	int trans_a, trans_b, split_m, m, n, k, lda, ldb, ldc;
	float alpha, beta;
	const float *a, *b;
	float *c;
};

/* Rows (split_m) or columns [lo, hi) of C. */
static void gemm_block(void *ctx, int lo, int hi)
{
	const struct gemm_job *j = ctx;
	int cnt = hi - lo;

	if (j->split_m) {
		const float *ai = j->trans_a ? j->a + lo : j->a + (long)lo * j->lda;

		cblas_sgemm(CblasRowMajor, j->ta, j->tb, cnt, j->n, j->k, j->alpha, ai,
			    j->lda, j->b, j->ldb, j->beta, j->c + (long)lo * j->ldc, j->ldc);
	} else {
		const float *bi = j->trans_b ? j->b + (long)lo * j->ldb : j->b + lo;

		cblas_sgemm(CblasRowMajor, j->ta, j->tb, j->m, cnt, j->k, j->alpha, j->a,
			    j->lda, bi, j->ldb, j->beta, j->c + lo, j->ldc);
	}
}

void fcn_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
	      const float *a, int lda, const float *b, int ldb, float beta,
	      float *c, int ldc)
{
	enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
	enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
	double work = (double)m * n * k;

	fcn_pool_threads(); /* starts the pool, BLAS single-threaded */
	if (work < 2e7) {
		cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb,
			    beta, c, ldc);
		return;
	}
	struct gemm_job j = { ta, tb, trans_a, trans_b, m >= n, m, n, k, lda, ldb,
			      ldc, alpha, beta, a, b, c };
	int len = j.split_m ? m : n;
	int chunk = (len + 7) / 8;

	chunk = chunk < 64 ? 64 : (chunk + 15) / 16 * 16;
	fcn_parallel_for(len, chunk, gemm_block, &j);
}

void fcn_gemm_serial(int trans_a, int trans_b, int m, int n, int k, float alpha,
		     const float *a, int lda, const float *b, int ldb, float beta,
		     float *c, int ldc)
{
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
		    ldb, beta, c, ldc);
}
