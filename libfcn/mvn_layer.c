/*
 * mvn_layer.c - MVN, Caffe's mean-variance normalisation: per image and
 * channel (or per image across channels), y = x - mean, and with
 * normalize_variance y = (x - mean) / (sqrt(var) + eps), var the biased
 * variance E[(x - mean)^2].  Caffe adds eps to the standard deviation, not
 * to the variance, and so do we.
 *
 * Backward as Caffe computes it (mvn_layer.cpp): with normalize_variance
 * dx = (dy - mean(dy) - y * mean(y * dy)) / (sqrt(var) + eps), otherwise
 * dx = dy - mean(dy).  (The first is the exact gradient for eps = 0; with
 * Caffe's default eps 1e-9 the two differ by ~eps/std.)  The backward pass
 * reads only the top and the saved standard deviations, so the layer may
 * run in place.
 */
#include <math.h>
#include <stdlib.h>

#include "layer.h"

struct mvn {
	int variance, across;
	float eps;
	float *sd; /* (groups) sqrt(var) + eps from the last forward */
	size_t cap;
};

static int mvn_parse(struct fcn_layer *l, struct pb_node *node,
		     struct fcn_err *err)
{
	struct mvn *m = calloc(1, sizeof *m);
	struct pb_node *p = pb_nth(node, "mvn_param", 0);

	if (!m)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = m;
	m->variance = 1;
	m->eps = 1e-9f;
	if (p && (pb_get_bool(p, "normalize_variance", &m->variance, err) < 0 ||
		  pb_get_bool(p, "across_channels", &m->across, err) < 0 ||
		  pb_get_float(p, "eps", &m->eps, err) < 0 ||
		  pb_check_used(p, "mvn_param", err) < 0))
		return -1;
	if (!(m->eps >= 0))
		return pb_error(p, err, "layer '%s': eps %g is negative", l->name,
				(double)m->eps);
	l->nparam = 0;
	return 0;
}

/* Groups normalised together: count and size. */
static void mvn_groups(const struct mvn *m, const struct fcn_blob *x,
		       size_t *ng, size_t *dim)
{
	*ng = m->across ? (size_t)x->n : (size_t)x->n * x->c;
	*dim = *ng ? fcn_blob_count(x) / *ng : 0;
}

static int mvn_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct mvn *m = l->priv;
	const struct fcn_blob *x = l->bottom[0];
	size_t ng, dim;

	mvn_groups(m, x, &ng, &dim);
	if (ng > m->cap) {
		free(m->sd);
		if (!(m->sd = fcn_alloc_floats(ng))) {
			m->cap = 0;
			return fcn_layer_error(l, err, "out of memory");
		}
		m->cap = ng;
	}
	if (fcn_blob_reshape(l->top[0], x->n, x->c, x->h, x->w, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

static int mvn_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct mvn *m = l->priv;
	const struct fcn_blob *x = l->bottom[0];
	size_t ng, dim;

	(void)err;
	mvn_groups(m, x, &ng, &dim);
	for (size_t g = 0; g < ng; g++) {
		const float *xi = x->data + g * dim; /* (dim) */
		float *yi = l->top[0]->data + g * dim;
		double s = 0, v = 0;
		float mean, sd;

		for (size_t i = 0; i < dim; i++)
			s += xi[i];
		mean = (float)(s / (double)dim);
		for (size_t i = 0; i < dim; i++)
			yi[i] = xi[i] - mean;
		m->sd[g] = 1;
		if (!m->variance)
			continue;
		for (size_t i = 0; i < dim; i++)
			v += (double)yi[i] * yi[i];
		sd = (float)sqrt(v / (double)dim) + m->eps;
		m->sd[g] = sd;
		for (size_t i = 0; i < dim; i++)
			yi[i] /= sd;
	}
	return 0;
}

static int mvn_backward(struct fcn_layer *l, struct fcn_err *err)
{
	struct mvn *m = l->priv;
	struct fcn_blob *x = l->bottom[0];
	const struct fcn_blob *t = l->top[0];
	int accum = l->accum[0];
	size_t ng, dim;

	(void)err;
	if (!l->need_diff[0])
		return 0;
	mvn_groups(m, x, &ng, &dim);
	for (size_t g = 0; g < ng; g++) {
		const float *y = t->data + g * dim, *dy = t->diff + g * dim;
		float *dx = x->diff + g * dim; /* may be dy (in place) */
		double sdy = 0, sydy = 0;
		float mdy, mydy;

		for (size_t i = 0; i < dim; i++) {
			sdy += dy[i];
			sydy += (double)y[i] * dy[i];
		}
		mdy = (float)(sdy / (double)dim);
		mydy = m->variance ? (float)(sydy / (double)dim) : 0.0f;
		for (size_t i = 0; i < dim; i++) {
			float d = dy[i] - mdy - (m->variance ? y[i] * mydy : 0.0f);

			d /= m->sd[g];
			dx[i] = accum ? dx[i] + d : d;
		}
	}
	return 0;
}

static void mvn_free(struct fcn_layer *l)
{
	struct mvn *m = l->priv;

	if (m)
		free(m->sd);
	free(m);
}

const struct fcn_layer_ops fcn_mvn_ops = {
	.type = "MVN", .min_bottom = 1, .max_bottom = 1, .min_top = 1,
	.max_top = 1, .parse = mvn_parse, .reshape = mvn_reshape,
	.forward = mvn_forward, .backward = mvn_backward, .free = mvn_free,
};
