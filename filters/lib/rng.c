/* rng.c - see rng.h. */
#include <math.h>

#include "rng.h"

uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct rng rng_derive(uint64_t seed, uint64_t a, uint64_t b)
{
	struct rng r = {seed ^ (b * 0xd1b54a32d192ed03ULL)};

	rng_next(&r);
	r.s ^= a * 0x9e3779b97f4a7c15ULL;
	r.s = rng_next(&r);
	return r;
}

double rng_unif(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

double rng_range(struct rng *r, double lo, double hi)
{
	return lo + (hi - lo) * rng_unif(r);
}

size_t rng_below(struct rng *r, size_t n)
{
	return (size_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

double rng_normal(struct rng *r)
{
	double u = 1.0 - rng_unif(r); /* (0, 1]: log is finite */
	double v = rng_unif(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

void rng_shuffle(struct rng *r, size_t *perm, size_t n)
{
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = rng_below(r, i);
		size_t t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}
