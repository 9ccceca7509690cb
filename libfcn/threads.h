/*
 * threads.h - the engine's worker threads: a process-wide pool (its size
 * is the thread count of fcn_set_threads) whose idle threads sleep on a
 * condition variable.  OpenMP's default is to spin at every barrier, which
 * on a shared machine steals the cores the other threads need: FCN-AlexNet
 * ran twice as fast on a loaded 2-core host with sleeping workers.
 *
 * fcn_parallel_for(n, fn, ctx) calls fn(ctx, lo, hi) on disjoint ranges
 * covering [0, n) in chunks of `grain`, on the pool and the calling thread,
 * and returns when all are done.  Ranges are fixed by n and grain alone, so
 * results do not depend on the number of threads.  Calls from inside fn, or
 * while another thread uses the pool, run inline.
 */
#ifndef FCN_THREADS_H
#define FCN_THREADS_H

void fcn_parallel_for(int n, int grain, void (*fn)(void *ctx, int lo, int hi),
		      void *ctx);
/* Number of threads the pool uses (the caller included). */
int fcn_pool_threads(void);
/* Sets it (fcn_set_threads); the default is omp_get_max_threads(). */
void fcn_pool_resize(int nthreads);

#endif
