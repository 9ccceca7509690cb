/*
 * threads.c - a small pool of sleeping worker threads (see threads.h).
 * One job at a time: the submitter publishes it under the mutex, bumps the
 * generation and wakes the workers; everybody claims chunks with an atomic
 * counter; the submitter waits until every worker has left the job.
 */
#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "fcn.h"
#include "threads.h"

#define MAX_THREADS 256

struct job {
	void (*fn)(void *ctx, int lo, int hi);
	void *ctx;
	int n, grain, nchunks;
	atomic_int next;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t wake, done;
	pthread_mutex_t submit; /* one job at a time */
	pthread_t th[MAX_THREADS];
	int nworkers;
	int running; /* workers still inside the current job */
	unsigned long gen;
	int quit;
	struct job *job;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
	   .done = PTHREAD_COND_INITIALIZER, .submit = PTHREAD_MUTEX_INITIALIZER };

static _Thread_local int in_pool;

static void run(struct job *j)
{
	int i;

	while ((i = atomic_fetch_add(&j->next, 1)) < j->nchunks) {
		int lo = i * j->grain, hi = lo + j->grain;

		j->fn(j->ctx, lo, hi < j->n ? hi : j->n);
	}
}

/* arg: the generation at creation (no job in flight then), so that a
 * worker that starts late still takes part in a job published since. */
static void *worker(void *arg)
{
	unsigned long seen = (unsigned long)(uintptr_t)arg;

	in_pool = 1;
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (pool.gen == seen && !pool.quit)
			pthread_cond_wait(&pool.wake, &pool.mu);
		if (pool.quit)
			break;
		seen = pool.gen;
		struct job *j = pool.job;

		pthread_mutex_unlock(&pool.mu);
		run(j);
		pthread_mutex_lock(&pool.mu);
		if (--pool.running == 0)
			pthread_cond_signal(&pool.done);
	}
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

static void pool_stop(void)
{
	pthread_mutex_lock(&pool.mu);
	pool.quit = 1;
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < pool.nworkers; i++)
		pthread_join(pool.th[i], NULL);
	pool.nworkers = 0;
	pool.quit = 0;
}

static pthread_once_t started = PTHREAD_ONCE_INIT;

/* The default pool: OpenMP's thread count (OMP_NUM_THREADS or the cores);
 * BLAS single-threaded, the pool splits the work. */
static void start_default(void)
{
	int n = omp_get_max_threads() - 1;

	openblas_set_num_threads(1);
	for (int i = 0; i < n && i < MAX_THREADS; i++) {
		if (pthread_create(&pool.th[i], NULL, worker, (void *)(uintptr_t)pool.gen))
			break;
		pool.nworkers++;
	}
}

void fcn_pool_resize(int nthreads)
{
	int want = nthreads - 1;

	if (want < 0)
		want = 0;
	if (want > MAX_THREADS)
		want = MAX_THREADS;
	pthread_once(&started, start_default);
	pthread_mutex_lock(&pool.submit);
	if (want != pool.nworkers) {
		pool_stop();
		for (int i = 0; i < want; i++) {
			if (pthread_create(&pool.th[i], NULL, worker,
					   (void *)(uintptr_t)pool.gen))
				break; /* fewer threads, still correct */
			pool.nworkers++;
		}
	}
	pthread_mutex_unlock(&pool.submit);
}

int fcn_pool_threads(void)
{
	pthread_once(&started, start_default);
	return pool.nworkers + 1;
}

void fcn_parallel_for(int n, int grain, void (*fn)(void *ctx, int lo, int hi),
		      void *ctx)
{
	struct job j = { fn, ctx, n, grain > 0 ? grain : 1, 0, 0 };

	if (n <= 0)
		return;
	j.nchunks = (n + j.grain - 1) / j.grain;
	pthread_once(&started, start_default);
	if (in_pool || j.nchunks == 1 || pthread_mutex_trylock(&pool.submit)) {
		run(&j);
		return;
	}
	if (!pool.nworkers) {
		pthread_mutex_unlock(&pool.submit);
		run(&j);
		return;
	}
	pthread_mutex_lock(&pool.mu);
	pool.job = &j;
	pool.running = pool.nworkers;
	pool.gen++;
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.mu);
	in_pool = 1;
	run(&j);
	in_pool = 0;
	pthread_mutex_lock(&pool.mu);
	while (pool.running)
		pthread_cond_wait(&pool.done, &pool.mu);
	pool.job = NULL;
	pthread_mutex_unlock(&pool.mu);
	pthread_mutex_unlock(&pool.submit);
}
