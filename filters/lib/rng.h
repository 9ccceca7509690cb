/*
 * rng.h - the one random number generator of the programs: splitmix64, small,
 * fast, and the same on every platform, so a seed repeats a run exactly.
 *
 * rng_derive() gives independent streams from (seed, a, b) — a record index
 * and a copy number, an epoch and a purpose — so work split over processes
 * (xargs -P over shards) draws what one process would.
 */
#ifndef RNG_H
#define RNG_H

#include <stddef.h>
#include <stdint.h>

struct rng {
	uint64_t s;
};

static inline struct rng rng_seeded(uint64_t seed)
{
	return (struct rng){seed};
}

/* The next 64 random bits. */
uint64_t rng_next(struct rng *r);
/* A generator for stream (a, b) of seed: the same triple, the same stream. */
struct rng rng_derive(uint64_t seed, uint64_t a, uint64_t b);
/* Uniform in [0, 1), 53 bits. */
double rng_unif(struct rng *r);
/* Uniform in [lo, hi). */
double rng_range(struct rng *r, double lo, double hi);
/* Uniform integer in [0, n), unbiased enough (Lemire's multiply); n >= 1. */
size_t rng_below(struct rng *r, size_t n);
/* Standard normal (Box-Muller, one value per call, no cached state). */
double rng_normal(struct rng *r);
/* perm = a uniformly random permutation of 0..n-1 (Fisher-Yates). */
void rng_shuffle(struct rng *r, size_t *perm, size_t n);

#endif
