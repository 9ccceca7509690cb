/*
 * neuron_layers.c - element-wise layers: ReLU (negative_slope), Sigmoid,
 * Power ((shift + scale x)^power), Dropout (TRAIN: keep with probability
 * 1 - r and scale by 1/(1 - r); TEST: identity).  ReLU, Sigmoid and
 * Dropout may run in place; Power in place only when power is 1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "layer.h"
#include "threads.h"

static int same_shape_top(struct fcn_layer *l, struct fcn_err *err)
{
	const struct fcn_blob *b = l->bottom[0];

	if (fcn_blob_reshape(l->top[0], b->n, b->c, b->h, b->w, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

/* --- ReLU -------------------------------------------------------------------- */
struct relu {
	float slope;
};

static int relu_parse(struct fcn_layer *l, struct pb_node *node,
		      struct fcn_err *err)
{
	struct relu *r = calloc(1, sizeof *r);
	struct pb_node *m = pb_nth(node, "relu_param", 0);
	const char *engine = NULL;

	if (!r)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = r;
	if (m && (pb_get_float(m, "negative_slope", &r->slope, err) < 0 ||
		  pb_get_str(m, "engine", &engine, err) < 0 ||
		  pb_check_used(m, "relu_param", err) < 0))
		return -1;
	if (r->slope < 0)
		return pb_error(m, err, "layer '%s': negative_slope %g < 0 is not supported",
				l->name, (double)r->slope);
	return 0;
}

float fcn_relu_slope(const struct fcn_layer *l)
{
	const struct relu *r = l->priv;

	return r->slope;
}

/* Element-wise work in fixed chunks of 2^16 over the threads. */
#define CHUNK 65536

/*
 * The sign of the input picks each output, and a branch on it would be
 * mispredicted for half the pixels of a feature map (5x slower than the
 * memory traffic).  So the choice is made with masks, four lanes at a
 * time (GCC vector extensions: SSE2 on x86-64, generic code elsewhere),
 * and the result is the same as "x > 0 ? a : s * a" element by element.
 */
typedef float f4 __attribute__((vector_size(16)));
typedef int i4 __attribute__((vector_size(16)));

/* y[i] (+)= x[i] > 0 ? a[i] : s * a[i] for i in [lo, hi) */
static void relu_select(const float *x, const float *a, float *y, float s,
			size_t lo, size_t hi, int accum)
{
	size_t i = lo;

	for (; i + 4 <= hi; i += 4) {
		f4 v, g, t;
		i4 m, r;

		memcpy(&v, x + i, sizeof v);
		memcpy(&g, a + i, sizeof g);
		t = s * g;
		m = v > 0;
		r = ((i4)g & m) | ((i4)t & ~m);
		memcpy(&t, &r, sizeof t);
		if (accum) {
			memcpy(&g, y + i, sizeof g);
			t = g + t;
		}
		memcpy(y + i, &t, sizeof t);
	}
	for (; i < hi; i++) {
		float g = x[i] > 0 ? a[i] : s * a[i];

		y[i] = accum ? y[i] + g : g;
	}
}

static void relu_forward_chunks(void *ctx, int lo, int hi)
{
	struct fcn_layer *l = ctx;
	const struct relu *r = l->priv;
	size_t n = fcn_blob_count(l->bottom[0]), end = (size_t)hi * CHUNK;

	relu_select(l->bottom[0]->data, l->bottom[0]->data, l->top[0]->data,
		    r->slope, (size_t)lo * CHUNK, end < n ? end : n, 0);
}

static int nchunks(const struct fcn_blob *b)
{
	return (int)((fcn_blob_count(b) + CHUNK - 1) / CHUNK);
}

static int relu_forward(struct fcn_layer *l, struct fcn_err *err)
{
	(void)err;
	fcn_parallel_for(nchunks(l->bottom[0]), 1, relu_forward_chunks, l);
	return 0;
}

/* In place the bottom holds the output, whose sign is the input's. */
static void relu_backward_chunks(void *ctx, int lo, int hi)
{
	struct fcn_layer *l = ctx;
	const struct relu *r = l->priv;
	size_t n = fcn_blob_count(l->bottom[0]), end = (size_t)hi * CHUNK;

	relu_select(l->bottom[0]->data, l->top[0]->diff, l->bottom[0]->diff,
		    r->slope, (size_t)lo * CHUNK, end < n ? end : n, l->accum[0]);
}

static int relu_backward(struct fcn_layer *l, struct fcn_err *err)
{
	(void)err;
	if (!l->need_diff[0])
		return 0;
	fcn_parallel_for(nchunks(l->bottom[0]), 1, relu_backward_chunks, l);
	return 0;
}

const struct fcn_layer_ops fcn_relu_ops = {
	.type = "ReLU", .min_bottom = 1, .max_bottom = 1, .min_top = 1, .max_top = 1,
	.parse = relu_parse, .reshape = same_shape_top,
	.forward = relu_forward, .backward = relu_backward,
};

/* --- Sigmoid ----------------------------------------------------------------- */
static int sigmoid_parse(struct fcn_layer *l, struct pb_node *node,
			 struct fcn_err *err)
{
	struct pb_node *m = pb_nth(node, "sigmoid_param", 0);
	const char *engine = NULL;

	(void)l;
	if (m && (pb_get_str(m, "engine", &engine, err) < 0 ||
		  pb_check_used(m, "sigmoid_param", err) < 0))
		return -1;
	return 0;
}

static int sigmoid_forward(struct fcn_layer *l, struct fcn_err *err)
{
	const float *x = l->bottom[0]->data;
	float *y = l->top[0]->data;
	long n = (long)fcn_blob_count(l->bottom[0]);

	(void)err;
	for (long i = 0; i < n; i++)
		y[i] = 0.5f * tanhf(0.5f * x[i]) + 0.5f;
	return 0;
}

static int sigmoid_backward(struct fcn_layer *l, struct fcn_err *err)
{
	const float *y = l->top[0]->data, *dy = l->top[0]->diff;
	float *dx = l->bottom[0]->diff;
	long n = (long)fcn_blob_count(l->bottom[0]);
	int accum = l->accum[0];

	(void)err;
	if (!l->need_diff[0])
		return 0;
	for (long i = 0; i < n; i++) {
		float g = dy[i] * y[i] * (1 - y[i]);

		dx[i] = accum ? dx[i] + g : g;
	}
	return 0;
}

const struct fcn_layer_ops fcn_sigmoid_ops = {
	.type = "Sigmoid", .min_bottom = 1, .max_bottom = 1, .min_top = 1,
	.max_top = 1, .parse = sigmoid_parse, .reshape = same_shape_top,
	.forward = sigmoid_forward, .backward = sigmoid_backward,
};

/* --- Power ------------------------------------------------------------------- */
struct power {
	float power, scale, shift;
};

static int power_parse(struct fcn_layer *l, struct pb_node *node,
		       struct fcn_err *err)
{
	struct power *p = calloc(1, sizeof *p);
	struct pb_node *m = pb_nth(node, "power_param", 0);

	if (!p)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = p;
	p->power = 1;
	p->scale = 1;
	if (m && (pb_get_float(m, "power", &p->power, err) < 0 ||
		  pb_get_float(m, "scale", &p->scale, err) < 0 ||
		  pb_get_float(m, "shift", &p->shift, err) < 0 ||
		  pb_check_used(m, "power_param", err) < 0))
		return -1;
	return 0;
}

static int power_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	const struct power *p = l->priv;

	if (l->top[0] == l->bottom[0] && p->power != 1)
		return fcn_layer_error(l, err, "cannot run in place unless power is 1");
	return same_shape_top(l, err);
}

static int power_forward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct power *p = l->priv;
	const float *x = l->bottom[0]->data;
	float *y = l->top[0]->data;
	long n = (long)fcn_blob_count(l->bottom[0]);

	(void)err;
	for (long i = 0; i < n; i++) {
		float v = p->shift + p->scale * x[i];

		y[i] = p->power == 1 ? v : p->power == 2 ? v * v : powf(v, p->power);
	}
	return 0;
}

static int power_backward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct power *p = l->priv;
	const float *x = l->bottom[0]->data, *dy = l->top[0]->diff;
	float *dx = l->bottom[0]->diff;
	long n = (long)fcn_blob_count(l->bottom[0]);
	int accum = l->accum[0];

	(void)err;
	if (!l->need_diff[0])
		return 0;
	for (long i = 0; i < n; i++) {
		float d;

		if (p->power == 1 || p->scale == 0)
			d = p->power * p->scale;
		else
			d = p->power * p->scale *
			    powf(p->shift + p->scale * x[i], p->power - 1);
		float g = dy[i] * d;

		dx[i] = accum ? dx[i] + g : g;
	}
	return 0;
}

const struct fcn_layer_ops fcn_power_ops = {
	.type = "Power", .min_bottom = 1, .max_bottom = 1, .min_top = 1,
	.max_top = 1, .parse = power_parse, .reshape = power_reshape,
	.forward = power_forward, .backward = power_backward,
};

/* --- Dropout ----------------------------------------------------------------- */
struct dropout {
	float ratio;
	unsigned char *mask; /* (N, C, H, W) kept units */
	size_t cap;
};

static int dropout_parse(struct fcn_layer *l, struct pb_node *node,
			 struct fcn_err *err)
{
	struct dropout *d = calloc(1, sizeof *d);
	struct pb_node *m = pb_nth(node, "dropout_param", 0);
	int scale_train = 1;

	if (!d)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = d;
	d->ratio = 0.5f;
	if (m && (pb_get_float(m, "dropout_ratio", &d->ratio, err) < 0 ||
		  pb_get_bool(m, "scale_train", &scale_train, err) < 0 ||
		  pb_check_used(m, "dropout_param", err) < 0))
		return -1;
	if (!(d->ratio >= 0 && d->ratio < 1))
		return pb_error(m, err, "layer '%s': dropout_ratio %g not in [0, 1)",
				l->name, (double)d->ratio);
	if (!scale_train)
		return pb_error(m, err, "layer '%s': scale_train false is not supported",
				l->name);
	return 0;
}

static int dropout_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct dropout *d = l->priv;
	size_t need = fcn_blob_count(l->bottom[0]);

	if (need > d->cap) {
		unsigned char *m = malloc(need);

		if (!m)
			return fcn_layer_error(l, err, "out of memory");
		free(d->mask);
		d->mask = m;
		d->cap = need;
	}
	return same_shape_top(l, err);
}

/* splitmix64 (fcn_rng_next) is a counter: draw i of a layer's forward is
 * fcn_rng_mix(s + (i + 1) * golden), so chunks of it are drawn in parallel
 * and give the sequence fcn_rng_next would, whatever the threads. */
#define DROP_CHUNK 4096

/* v when keep is 1, +0 when it is 0, without a branch (the mask is
 * random: a branch on it mispredicts half the time) */
static inline float keep_or_zero(float v, uint32_t keep)
{
	uint32_t b;

	memcpy(&b, &v, sizeof b);
	b &= -keep;
	memcpy(&v, &b, sizeof v);
	return v;
}

struct drop_job {
	const float *x;
	float *y;
	unsigned char *mask;
	size_t n;
	uint64_t s0, thresh;
	float scale;
};

static void dropout_chunks(void *ctx, int lo, int hi)
{
	const struct drop_job *j = ctx;
	size_t end = (size_t)hi * DROP_CHUNK < j->n ? (size_t)hi * DROP_CHUNK : j->n;

	for (size_t i = (size_t)lo * DROP_CHUNK; i < end; i++) {
		uint32_t keep = fcn_rng_mix(j->s0 + (uint64_t)(i + 1) * FCN_RNG_GOLDEN) >= j->thresh;

		j->mask[i] = (unsigned char)keep;
		j->y[i] = keep_or_zero(j->x[i] * j->scale, keep);
	}
}

static int dropout_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct dropout *d = l->priv;
	const float *x = l->bottom[0]->data;
	float *y = l->top[0]->data;
	size_t n = fcn_blob_count(l->bottom[0]);
	struct fcn_rng *rng = fcn_net_rng(l->net);
	float s = 1.0f / (1.0f - d->ratio);
	uint64_t thresh = (uint64_t)(d->ratio * 18446744073709551616.0);

	(void)err;
	if (l->phase != FCN_TRAIN || d->ratio == 0) {
		if (y != x)
			memcpy(y, x, n * sizeof *y);
		memset(d->mask, 1, n);
		return 0;
	}
	struct drop_job j = { x, y, d->mask, n, rng->s, thresh, s };

	fcn_parallel_for((int)((n + DROP_CHUNK - 1) / DROP_CHUNK), 4, dropout_chunks, &j);
	rng->s += (uint64_t)n * FCN_RNG_GOLDEN;
	return 0;
}

static int dropout_backward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct dropout *d = l->priv;
	const float *dy = l->top[0]->diff;
	float *dx = l->bottom[0]->diff;
	long n = (long)fcn_blob_count(l->bottom[0]);
	float s = l->phase == FCN_TRAIN ? 1.0f / (1.0f - d->ratio) : 1.0f;
	int accum = l->accum[0];

	(void)err;
	if (!l->need_diff[0])
		return 0;
	if (accum)
		for (long i = 0; i < n; i++)
			dx[i] += keep_or_zero(dy[i] * s, d->mask[i]);
	else
		for (long i = 0; i < n; i++)
			dx[i] = keep_or_zero(dy[i] * s, d->mask[i]);
	return 0;
}

static void dropout_free(struct fcn_layer *l)
{
	struct dropout *d = l->priv;

	if (d)
		free(d->mask);
	free(d);
}

const struct fcn_layer_ops fcn_dropout_ops = {
	.type = "Dropout", .min_bottom = 1, .max_bottom = 1, .min_top = 1,
	.max_top = 1, .parse = dropout_parse, .reshape = dropout_reshape,
	.forward = dropout_forward, .backward = dropout_backward,
	.free = dropout_free,
};
