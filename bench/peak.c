/*
 * peak.c - the machine's single-precision FMA peak and OpenBLAS SGEMM rate,
 * per thread and with THREADS threads at once (each its own work), to set
 * the engine's GFLOP/s against.  Usage: peak [THREADS [SECONDS]]
 * FMA: 12 independent AVX2 FMA chains (enough to hide the latency), so the
 * figure is the issue rate times 16 flops.  SGEMM: 1024^3, single-threaded
 * OpenBLAS in each thread.
 */
#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

static double seconds = 1.0;

#define FMA12(m, c)                                                               \
	do {                                                                      \
		a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c);   \
		a2 = _mm256_fmadd_ps(a2, m, c); a3 = _mm256_fmadd_ps(a3, m, c);   \
		a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);   \
		a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c);   \
		a8 = _mm256_fmadd_ps(a8, m, c); a9 = _mm256_fmadd_ps(a9, m, c);   \
		a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c); \
	} while (0)

__attribute__((target("avx2,fma"))) static void *fma_thread(void *arg)
{
	double *out = arg, t0 = now(), flops = 0;
	__m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
	__m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2),
	       a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5),
	       a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8),
	       a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);

	while (now() - t0 < seconds) {
		for (int r = 0; r < 100000; r++)
			FMA12(m, c);
		flops += 100000.0 * 12 * 16;
	}
	float s[8];

	a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
			   _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
	a0 = _mm256_add_ps(a0, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
	_mm256_storeu_ps(s, a0);
	*out = flops / (now() - t0) / 1e9 + 0 * s[0];
	return NULL;
}

static void *gemm_thread(void *arg)
{
	double *out = arg, t0, flops = 0;
	int n = 1024;
	float *a = calloc((size_t)n * n, 4), *b = calloc((size_t)n * n, 4),
	      *c = calloc((size_t)n * n, 4);

	for (int i = 0; i < n * n; i++)
		a[i] = b[i] = (float)(i % 7) * 0.1f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b,
		    n, 0, c, n);
	t0 = now();
	while (now() - t0 < seconds) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a,
			    n, b, n, 0, c, n);
		flops += 2.0 * n * n * n;
	}
	*out = flops / (now() - t0) / 1e9;
	free(a);
	free(b);
	free(c);
	return NULL;
}

static double run(void *(*fn)(void *), int nt)
{
	pthread_t t[64];
	double r[64], sum = 0;

	for (int i = 0; i < nt; i++)
		pthread_create(&t[i], NULL, fn, &r[i]);
	for (int i = 0; i < nt; i++) {
		pthread_join(t[i], NULL);
		sum += r[i];
	}
	return sum;
}

int main(int argc, char **argv)
{
	int nt = argc > 1 ? atoi(argv[1]) : 2;

	if (argc > 2)
		seconds = atof(argv[2]);
	if (nt < 1 || nt > 64 || seconds <= 0) {
		fprintf(stderr, "usage: peak [THREADS [SECONDS]]\n");
		return 2;
	}
	openblas_set_num_threads(1);
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
		fprintf(stderr, "peak: no AVX2/FMA\n");
		return 1;
	}
	printf("fma_gflop_s_1=%.1f\n", run(fma_thread, 1));
	printf("fma_gflop_s_%d=%.1f\n", nt, run(fma_thread, nt));
	printf("sgemm_gflop_s_1=%.1f\n", run(gemm_thread, 1));
	printf("sgemm_gflop_s_%d=%.1f\n", nt, run(gemm_thread, nt));
	return 0;
}
