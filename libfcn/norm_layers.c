/*
 * norm_layers.c - BatchNorm (Caffe: three blobs mean, variance, moving
 * average factor, all with lr_mult 0; batch statistics in TRAIN unless
 * use_global_stats, the stored averages in TEST) and Scale (per-channel
 * factor and optional bias; the one-bottom form only).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "layer.h"
#include "threads.h"

/*
 * Sums over a channel's pixels run in double, in four interleaved partial
 * sums added at the end: one running sum would make each addition wait
 * for the previous one (4 cycles a pixel).  The order is fixed by the
 * shape, so the results do not depend on the threads.
 */
struct sums {
	double a0, a1, a2, a3, b0, b1, b2, b3;
};

static double total_a(const struct sums *s)
{
	return (s->a0 + s->a1) + (s->a2 + s->a3);
}

static double total_b(const struct sums *s)
{
	return (s->b0 + s->b1) + (s->b2 + s->b3);
}

/* s->a += p[i] */
static void sum_values(struct sums *s, const float *p, int n)
{
	double a0 = s->a0, a1 = s->a1, a2 = s->a2, a3 = s->a3;
	int i = 0;

	for (; i + 4 <= n; i += 4) {
		a0 += p[i];
		a1 += p[i + 1];
		a2 += p[i + 2];
		a3 += p[i + 3];
	}
	for (; i < n; i++)
		a0 += p[i];
	s->a0 = a0, s->a1 = a1, s->a2 = a2, s->a3 = a3;
}

double fcn_sum_floats(const float *p, int n)
{
	struct sums s = { 0 };

	sum_values(&s, p, n);
	return total_a(&s);
}

/* s->b += (p[i] - mean)^2 */
static void sum_squares(struct sums *s, const float *p, int n, double mean)
{
	double b0 = s->b0, b1 = s->b1, b2 = s->b2, b3 = s->b3, d;
	int i = 0;

	for (; i + 4 <= n; i += 4) {
		d = p[i] - mean, b0 += d * d;
		d = p[i + 1] - mean, b1 += d * d;
		d = p[i + 2] - mean, b2 += d * d;
		d = p[i + 3] - mean, b3 += d * d;
	}
	for (; i < n; i++)
		d = p[i] - mean, b0 += d * d;
	s->b0 = b0, s->b1 = b1, s->b2 = b2, s->b3 = b3;
}

/* s->a += p[i], s->b += p[i] q[i] */
static void sum_products(struct sums *s, const float *p, const float *q, int n)
{
	double a0 = s->a0, a1 = s->a1, a2 = s->a2, a3 = s->a3;
	double b0 = s->b0, b1 = s->b1, b2 = s->b2, b3 = s->b3;
	int i = 0;

	for (; i + 4 <= n; i += 4) {
		a0 += p[i], b0 += (double)p[i] * q[i];
		a1 += p[i + 1], b1 += (double)p[i + 1] * q[i + 1];
		a2 += p[i + 2], b2 += (double)p[i + 2] * q[i + 2];
		a3 += p[i + 3], b3 += (double)p[i + 3] * q[i + 3];
	}
	for (; i < n; i++)
		a0 += p[i], b0 += (double)p[i] * q[i];
	s->a0 = a0, s->a1 = a1, s->a2 = a2, s->a3 = a3;
	s->b0 = b0, s->b1 = b1, s->b2 = b2, s->b3 = b3;
}

/*
 * Training's BatchNorm + Scale (+ ReLU) in one layer (fuse.h), with the
 * three layers' arithmetic.  ReLU's select (y > 0 ? v : 0 v) is made from
 * masks, 4 lanes at a time, as neuron_layers.c does: a branch on the sign
 * would be mispredicted for half the pixels of a map.
 */
typedef float f4 __attribute__((vector_size(16)));
typedef int i4 __attribute__((vector_size(16)));

static f4 load4(const float *p)
{
	f4 v;

	memcpy(&v, p, sizeof v);
	return v;
}

/* y > 0 ? v : 0 v per lane; v unchanged without relu */
static f4 relu4(f4 y, f4 v, int relu)
{
	if (!relu)
		return v;
	i4 m = y > 0, r = ((i4)v & m) | ((i4)(0.0f * v) & ~m);
	f4 out;

	memcpy(&out, &r, sizeof out);
	return out;
}

static float relu1(float y, float v, int relu)
{
	return !relu || y > 0 ? v : 0.0f * v;
}

/* xh = (x - mu) is, y = relu(xh ga + gb) over n values (y may be x) */
static void chain_forward(const float *x, float *xh, float *y, int n, float mu,
			  float is, float ga, float gb, int relu)
{
	int i = 0;

	for (; i + 4 <= n; i += 4) {
		f4 h = (load4(x + i) - mu) * is, v = h * ga + gb;

		memcpy(xh + i, &h, sizeof h);
		v = relu4(v, v, relu);
		memcpy(y + i, &v, sizeof v);
	}
	for (; i < n; i++) {
		float v;

		xh[i] = (x[i] - mu) * is;
		v = xh[i] * ga + gb;
		y[i] = relu1(v, v, relu);
	}
}

/* The gradient through the ReLU (mask from the output y) and the Scale
 * (factor a): g = relu(dy), h = g a; s->a += g, s->b += g xh (Scale's
 * sums), t->a += h, t->b += h xh (BatchNorm's), lane k into partial sum
 * k as sum_products adds them. */
static void chain_sums(struct sums *s, struct sums *t, const float *y, const float *dy,
		       const float *xh, int n, int relu, float a)
{
	double p[4] = { s->a0, s->a1, s->a2, s->a3 }, q[4] = { s->b0, s->b1, s->b2, s->b3 };
	double u[4] = { t->a0, t->a1, t->a2, t->a3 }, v[4] = { t->b0, t->b1, t->b2, t->b3 };
	int i = 0;

	for (; i + 4 <= n; i += 4) {
		f4 g = relu4(load4(y + i), load4(dy + i), relu), h = g * a;

		for (int k = 0; k < 4; k++) {
			double x = xh[i + k];

			p[k] += g[k], q[k] += g[k] * x, u[k] += h[k], v[k] += h[k] * x;
		}
	}
	for (; i < n; i++) {
		float g = relu1(y[i], dy[i], relu), h = g * a;

		p[0] += g, q[0] += (double)g * xh[i], u[0] += h, v[0] += (double)h * xh[i];
	}
	*s = (struct sums){ p[0], p[1], p[2], p[3], q[0], q[1], q[2], q[3] };
	*t = (struct sums){ u[0], u[1], u[2], u[3], v[0], v[1], v[2], v[3] };
}

/* dx [+]= (relu(dy) a - k1 - xh k2) is over n values (dx may be dy) */
static void chain_backward(const float *y, const float *dy, const float *xh, float *dx,
			   int n, int relu, float a, double k1, double k2, float is,
			   int accum)
{
	float h[4];
	int i = 0;

	for (; i + 4 <= n; i += 4) {
		f4 g = relu4(load4(y + i), load4(dy + i), relu) * a;

		memcpy(h, &g, sizeof h);
		for (int k = 0; k < 4; k++) {
			float d = (float)(h[k] - k1 - xh[i + k] * k2) * is;

			dx[i + k] = accum ? dx[i + k] + d : d;
		}
	}
	for (; i < n; i++) {
		float d = (float)(relu1(y[i], dy[i], relu) * a - k1 - xh[i] * k2) * is;

		dx[i] = accum ? dx[i] + d : d;
	}
}

/* --- BatchNorm ---------------------------------------------------------------- */
struct bn {
	int global; /* use stored statistics */
	float maf, eps;
	float *xhat;          /* (N, C, H, W) normalised input */
	float *mean, *invstd; /* (C) */
	size_t cap;
	int ccap;
	/* training: the in-place Scale and ReLU after it, computed here in the
	 * same passes (fcn_bn_fuse) */
	struct fcn_layer *sc, *relu;
};

static int bn_parse(struct fcn_layer *l, struct pb_node *node,
		    struct fcn_err *err)
{
	struct bn *b = calloc(1, sizeof *b);
	struct pb_node *m = pb_nth(node, "batch_norm_param", 0);

	if (!b)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = b;
	b->global = l->phase != FCN_TRAIN;
	b->maf = 0.999f;
	b->eps = 1e-5f;
	if (m && (pb_get_bool(m, "use_global_stats", &b->global, err) < 0 ||
		  pb_get_float(m, "moving_average_fraction", &b->maf, err) < 0 ||
		  pb_get_float(m, "eps", &b->eps, err) < 0 ||
		  pb_check_used(m, "batch_norm_param", err) < 0))
		return -1;
	l->nparam = 3;
	for (int i = 0; i < 3; i++)
		l->param[i].lr_mult = l->param[i].decay_mult = 0;
	return 0;
}

static int bn_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct bn *b = l->priv;
	const struct fcn_blob *x = l->bottom[0];
	size_t need = fcn_blob_count(x);

	if (fcn_layer_param_shape(l, 0, 1, 1, 1, x->c, err) < 0 ||
	    fcn_layer_param_shape(l, 1, 1, 1, 1, x->c, err) < 0 ||
	    fcn_layer_param_shape(l, 2, 1, 1, 1, 1, err) < 0)
		return -1;
	if (need > b->cap || x->c > b->ccap) {
		free(b->xhat);
		free(b->mean);
		free(b->invstd);
		b->xhat = fcn_alloc_floats(need);
		b->mean = fcn_alloc_floats((size_t)x->c);
		b->invstd = fcn_alloc_floats((size_t)x->c);
		b->cap = need;
		b->ccap = x->c;
		if (!b->xhat || !b->mean || !b->invstd) {
			b->cap = 0;
			b->ccap = 0;
			return fcn_layer_error(l, err, "out of memory");
		}
	}
	if (fcn_blob_reshape(l->top[0], x->n, x->c, x->h, x->w, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

/* Forward of channels [lo, hi): each channel's sums in a fixed order, so
 * the results do not depend on the threads. */
static void bn_forward_channels(void *ctx, int lo, int hi)
{
	struct fcn_layer *l = ctx;
	struct bn *b = l->priv;
	const struct fcn_blob *x = l->bottom[0];
	int C = x->c, hw = x->h * x->w, N = x->n;
	float *rm = l->param[0].blob->data, *rv = l->param[1].blob->data;
	float *fac = l->param[2].blob->data;
	double m = (double)N * hw;

	for (int c = lo; c < hi; c++) {
		double mean, var;

		if (b->global) {
			double s = fac[0] == 0 ? 0 : 1.0 / fac[0];

			mean = rm[c] * s;
			var = rv[c] * s;
		} else {
			struct sums s = { 0 };

			for (int n = 0; n < N; n++)
				sum_values(&s, x->data + ((size_t)n * C + c) * hw, hw);
			mean = total_a(&s) / m;
			for (int n = 0; n < N; n++)
				sum_squares(&s, x->data + ((size_t)n * C + c) * hw, hw, mean);
			var = total_b(&s) / m;
			rm[c] = (float)(rm[c] * b->maf + mean);
			rv[c] = (float)(rv[c] * b->maf + (m > 1 ? var * m / (m - 1) : var));
		}
		float mu = (float)mean, is = (float)(1.0 / sqrt(var + b->eps));

		b->mean[c] = mu;
		b->invstd[c] = is;
		float ga = 1, gb = 0;

		if (b->sc)
			fcn_scale_affine(b->sc, c, &ga, &gb);
		for (int n = 0; n < N; n++) {
			size_t o = ((size_t)n * C + c) * hw;
			const float *xi = x->data + o;
			float *xh = b->xhat + o, *y = l->top[0]->data + o;

			if (b->global) /* the backward needs no xhat */
				for (int i = 0; i < hw; i++)
					y[i] = (xi[i] - mu) * is;
			else if (b->sc)
				chain_forward(xi, xh, y, hw, mu, is, ga, gb, b->relu != NULL);
			else
				for (int i = 0; i < hw; i++) {
					xh[i] = (xi[i] - mu) * is;
					y[i] = xh[i];
				}
		}
	}
}

static int bn_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct bn *b = l->priv;
	const struct fcn_blob *x = l->bottom[0];
	float *fac = l->param[2].blob->data;

	(void)err;
	fcn_parallel_for(x->c, 1 + 65536 / (x->n * x->h * x->w + 1),
			 bn_forward_channels, l);
	if (!b->global)
		fac[0] = fac[0] * b->maf + 1;
	return 0;
}

static void bn_backward_channels(void *ctx, int lo, int hi)
{
	struct fcn_layer *l = ctx;
	struct bn *b = l->priv;
	struct fcn_blob *x = l->bottom[0];
	int C = x->c, hw = x->h * x->w, N = x->n, accum = l->accum[0];
	double m = (double)N * hw;
	int relu = b->relu != NULL;

	for (int c = lo; c < hi; c++) {
		struct sums s = { 0 }, ss = { 0 };
		double k1 = 0, k2 = 0; /* mean of dy, mean of dy xhat */
		float ga = 1, gb;

		if (b->sc) { /* the Scale's (and ReLU's) gradient first */
			fcn_scale_affine(b->sc, c, &ga, &gb);
			for (int n = 0; n < N; n++) {
				size_t o = ((size_t)n * C + c) * hw;

				chain_sums(&ss, &s, l->top[0]->data + o, l->top[0]->diff + o,
					   b->xhat + o, hw, relu, ga);
			}
			b->sc->param[0].blob->diff[c] += (float)total_b(&ss);
			if (b->sc->nparam > 1)
				b->sc->param[1].blob->diff[c] += (float)total_a(&ss);
			if (!l->need_diff[0])
				continue;
		} else if (!b->global) {
			for (int n = 0; n < N; n++) {
				size_t o = ((size_t)n * C + c) * hw;

				sum_products(&s, l->top[0]->diff + o, b->xhat + o, hw);
			}
		}
		if (!b->global) {
			k1 = total_a(&s) / m;
			k2 = total_b(&s) / m;
		}
		for (int n = 0; n < N; n++) {
			size_t o = ((size_t)n * C + c) * hw;
			const float *dy = l->top[0]->diff + o, *xh = b->xhat + o;
			const float *y = l->top[0]->data + o;
			float *dx = x->diff + o, is = b->invstd[c];

			if (b->sc) {
				chain_backward(y, dy, xh, dx, hw, relu, ga, k1, k2, is, accum);
				continue;
			}
			for (int i = 0; i < hw; i++) {
				float g = dy[i];

				if (!b->global)
					g = (float)(g - k1 - xh[i] * k2);
				g *= is;
				dx[i] = accum ? dx[i] + g : g;
			}
		}
	}
}

static int bn_backward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct fcn_blob *x = l->bottom[0];
	const struct bn *b = l->priv;

	(void)err;
	if (!l->need_diff[0] && !b->sc)
		return 0;
	fcn_parallel_for(x->c, 1 + 65536 / (x->n * x->h * x->w + 1),
			 bn_backward_channels, l);
	return 0;
}

void fcn_bn_fuse(struct fcn_layer *l, struct fcn_layer *sc, struct fcn_layer *relu)
{
	struct bn *b = l->priv;

	b->sc = sc;
	b->relu = sc ? relu : NULL;
}

int fcn_bn_global(const struct fcn_layer *l)
{
	const struct bn *b = l->priv;

	return b->global ? 0 : -1;
}

/* The forward's arithmetic for stored statistics, as an affine map. */
void fcn_bn_affine(const struct fcn_layer *l, float *a, float *bb)
{
	const struct bn *b = l->priv;
	const float *rm = l->param[0].blob->data, *rv = l->param[1].blob->data;
	const float *fac = l->param[2].blob->data;
	double s = fac[0] == 0 ? 0 : 1.0 / fac[0];

	for (int c = 0; c < l->param[0].blob->w; c++) {
		float mean = (float)(rm[c] * s);
		float invstd = (float)(1.0 / sqrt(rv[c] * s + b->eps));

		a[c] = invstd;
		bb[c] = -mean * invstd;
	}
}

static void bn_free(struct fcn_layer *l)
{
	struct bn *b = l->priv;

	if (b) {
		free(b->xhat);
		free(b->mean);
		free(b->invstd);
	}
	free(b);
}

const struct fcn_layer_ops fcn_batchnorm_ops = {
	.type = "BatchNorm", .min_bottom = 1, .max_bottom = 1, .min_top = 1,
	.max_top = 1, .parse = bn_parse, .reshape = bn_reshape,
	.forward = bn_forward, .backward = bn_backward, .free = bn_free,
};

/* --- Scale ---------------------------------------------------------------------- */
struct scale {
	int bias;
	struct fcn_filler f, bf;
	float *x; /* (N, C, H, W) copy of the input when in place */
	size_t cap;
};

static int scale_parse(struct fcn_layer *l, struct pb_node *node,
		       struct fcn_err *err)
{
	struct scale *s = calloc(1, sizeof *s);
	struct pb_node *m = pb_nth(node, "scale_param", 0);
	int axis = 1, naxes = 1;

	if (!s)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = s;
	if (fcn_filler_parse(m ? pb_nth(m, "filler", 0) : NULL, &s->f, err) < 0 ||
	    fcn_filler_parse(m ? pb_nth(m, "bias_filler", 0) : NULL, &s->bf, err) < 0)
		return -1;
	if (!m || !pb_count(m, "filler"))
		s->f.value = 1; /* Caffe: the scale starts at 1 */
	if (m && (pb_get_int(m, "axis", 1, 1, &axis, err) < 0 ||
		  pb_get_int(m, "num_axes", 1, 1, &naxes, err) < 0 ||
		  pb_get_bool(m, "bias_term", &s->bias, err) < 0 ||
		  pb_check_used(m, "scale_param", err) < 0))
		return -1;
	l->nparam = s->bias ? 2 : 1;
	return 0;
}

static int scale_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct scale *s = l->priv;
	const struct fcn_blob *x = l->bottom[0];

	if (fcn_layer_param_shape(l, 0, 1, 1, 1, x->c, err) < 0 ||
	    (s->bias && fcn_layer_param_shape(l, 1, 1, 1, 1, x->c, err) < 0))
		return -1;
	if (fcn_blob_reshape(l->top[0], x->n, x->c, x->h, x->w, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

static void scale_forward_planes(void *ctx, int lo, int hi)
{
	struct fcn_layer *l = ctx;
	struct scale *s = l->priv;
	const struct fcn_blob *x = l->bottom[0];
	int C = x->c, hw = x->h * x->w;
	const float *a = l->param[0].blob->data;
	const float *b = s->bias ? l->param[1].blob->data : NULL;

	for (int p = lo; p < hi; p++) {
		int c = p % C;
		size_t o = (size_t)p * hw;
		const float *xi = x->data + o;
		float *yi = l->top[0]->data + o, bc = b ? b[c] : 0.0f;

		if (l->top[0] == x)
			memcpy(s->x + o, xi, (size_t)hw * sizeof(float));
		for (int i = 0; i < hw; i++)
			yi[i] = xi[i] * a[c] + bc;
	}
}

static int scale_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct scale *s = l->priv;
	const struct fcn_blob *x = l->bottom[0];
	size_t need = fcn_blob_count(x);

	/* the copy of the input in place, made here: a Scale folded into its
	 * BatchNorm in training (fuse.h) never runs and needs none */
	if (l->top[0] == x && need > s->cap) {
		free(s->x);
		if (!(s->x = fcn_alloc_floats(need))) {
			s->cap = 0;
			return fcn_layer_error(l, err, "out of memory");
		}
		s->cap = need;
	}
	fcn_parallel_for(x->n * x->c, 1 + 65536 / (x->h * x->w + 1),
			 scale_forward_planes, l);
	return 0;
}

static void scale_backward_channels(void *ctx, int lo, int hi)
{
	struct fcn_layer *l = ctx;
	struct scale *s = l->priv;
	struct fcn_blob *x = l->bottom[0];
	int C = x->c, hw = x->h * x->w, N = x->n;
	const float *a = l->param[0].blob->data;
	const float *xin = l->top[0] == x ? s->x : x->data;
	float *da = l->param[0].blob->diff;
	float *db = s->bias ? l->param[1].blob->diff : NULL;

	for (int c = lo; c < hi; c++) {
		struct sums sum = { 0 };

		for (int n = 0; n < N; n++) {
			size_t o = ((size_t)n * C + c) * hw;
			const float *dy = l->top[0]->diff + o;

			sum_products(&sum, dy, xin + o, hw);
			if (l->need_diff[0])
				for (int i = 0; i < hw; i++) {
					float g = dy[i] * a[c];

					x->diff[o + i] = l->accum[0] ? x->diff[o + i] + g : g;
				}
		}
		da[c] += (float)total_b(&sum);
		if (db)
			db[c] += (float)total_a(&sum);
	}
}

static int scale_backward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct fcn_blob *x = l->bottom[0];

	(void)err;
	fcn_parallel_for(x->c, 1 + 65536 / (x->n * x->h * x->w + 1),
			 scale_backward_channels, l);
	return 0;
}

static int scale_fill(struct fcn_layer *l, uint64_t seed, struct fcn_err *err)
{
	struct scale *s = l->priv;

	if (fcn_filler_run(&s->f, l->param[0].blob, seed, err) < 0 ||
	    (s->bias && fcn_filler_run(&s->bf, l->param[1].blob, seed + 1, err) < 0))
		return fcn_layer_wrap(l, err);
	return 0;
}

void fcn_scale_affine(const struct fcn_layer *l, int c, float *g, float *b)
{
	const struct scale *s = l->priv;

	*g = l->param[0].blob->data[c];
	*b = s->bias ? l->param[1].blob->data[c] : 0.0f;
}

static void scale_free(struct fcn_layer *l)
{
	struct scale *s = l->priv;

	if (s)
		free(s->x);
	free(s);
}

const struct fcn_layer_ops fcn_scale_ops = {
	.type = "Scale", .min_bottom = 1, .max_bottom = 1, .min_top = 1,
	.max_top = 1, .parse = scale_parse, .reshape = scale_reshape,
	.forward = scale_forward, .backward = scale_backward, .fill = scale_fill,
	.free = scale_free,
};
