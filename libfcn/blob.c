/*
 * blob.c - host blobs (aligned, grown on demand) and the engine's random
 * number generator (splitmix64 + Box-Muller: the same stream on every
 * platform for a given seed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

size_t fcn_blob_count(const struct fcn_blob *b)
{
	return (size_t)b->n * (size_t)b->c * (size_t)b->h * (size_t)b->w;
}

float *fcn_alloc_floats(size_t n)
{
	void *p = NULL;

	if (n > SIZE_MAX / sizeof(float) - 16)
		return NULL;
	if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)))
		return NULL;
	memset(p, 0, (n ? n : 1) * sizeof(float));
	return p;
}

struct fcn_blob *fcn_blob_create(void)
{
	struct fcn_blob *b = calloc(1, sizeof *b);

	if (b)
		b->dev = FCN_CPU;
	return b;
}

void fcn_blob_free(struct fcn_blob *b)
{
	if (!b)
		return;
	free(b->data);
	free(b->diff);
	free(b);
}

int fcn_blob_reshape(struct fcn_blob *b, int n, int c, int h, int w,
		     int with_diff, struct fcn_err *err)
{
	size_t count;

	if (n < 0 || c < 0 || h < 0 || w < 0) {
		snprintf(err->msg, sizeof err->msg, "negative blob shape %dx%dx%dx%d",
			 n, c, h, w);
		return -1;
	}
	count = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
	if (count >= FCN_BLOB_MAX) {
		snprintf(err->msg, sizeof err->msg, "blob %dx%dx%dx%d too large",
			 n, c, h, w);
		return -1;
	}
	if (count > b->cap || !b->data) {
		float *d = fcn_alloc_floats(count);

		if (!d)
			goto nomem;
		free(b->data);
		b->data = d;
		if (b->diff) {
			free(b->diff);
			b->diff = NULL;
		}
		b->cap = count;
	}
	if (with_diff && !b->diff) {
		b->diff = fcn_alloc_floats(b->cap);
		if (!b->diff)
			goto nomem;
	}
	b->n = n;
	b->c = c;
	b->h = h;
	b->w = w;
	return 0;
nomem:
	snprintf(err->msg, sizeof err->msg, "out of memory for a %dx%dx%dx%d blob",
		 n, c, h, w);
	return -1;
}

int fcn_blob_same_shape(const struct fcn_blob *a, const struct fcn_blob *b)
{
	return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

const char *fcn_blob_shape_str(const struct fcn_blob *b, char *buf, size_t len)
{
	snprintf(buf, len, "%dx%dx%dx%d", b->n, b->c, b->h, b->w);
	return buf;
}

uint64_t fcn_rng_next(struct fcn_rng *r)
{
	return fcn_rng_mix(r->s += FCN_RNG_GOLDEN);
}

double fcn_rng_uniform(struct fcn_rng *r)
{
	return (double)(fcn_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double fcn_rng_gauss(struct fcn_rng *r)
{
	double u1 = 1.0 - fcn_rng_uniform(r); /* (0, 1] */
	double u2 = fcn_rng_uniform(r);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
