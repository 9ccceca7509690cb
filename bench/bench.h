/*
 * bench.h - what the benchmark programs share: a monotonic clock, and
 * integer arguments checked against a range (a bad one is a usage error).
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* An int in [lo, hi] from argument s, or "prog: bad WHAT 's'" and exit 2. */
static inline int arg_int(const char *prog, const char *s, const char *what,
			  long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: bad %s '%s'\n", prog, what, s);
		exit(2);
	}
	return (int)v;
}

#endif
