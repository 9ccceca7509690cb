/*
 * ip_layer.c - InnerProduct (Caffe's fully connected layer): the bottom is
 * seen as a matrix (outer, K), outer the product of the axes before `axis`
 * (default 1) and K of the rest; y = x W^T + b with weights W (num_output, K)
 * stored as (num_output, K, 1, 1) (so the fillers' fan_in is K, as in
 * Caffe) and bias (num_output) stored as (1, 1, 1, num_output).  The top
 * keeps the axes before `axis`, then num_output, then 1s: axis 1 gives
 * (N, num_output, 1, 1).
 *
 * Not done here: transpose: true (weights stored (K, num_output)).
 */
#include <stdlib.h>

#include "gemm.h"
#include "layer.h"

struct ip {
	int num_output, bias, axis;
	struct fcn_filler wf, bf;
	int outer, k; /* the bottom as a matrix (outer, K) */
};

static int ip_parse(struct fcn_layer *l, struct pb_node *node,
		    struct fcn_err *err)
{
	struct ip *p = calloc(1, sizeof *p);
	struct pb_node *m = pb_nth(node, "inner_product_param", 0);
	int transpose = 0;

	if (!p)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = p;
	p->num_output = -1;
	p->bias = 1;
	p->axis = 1;
	if (!m)
		return pb_error(node, err, "layer '%s': inner_product_param missing",
				l->name);
	if (pb_get_int(m, "num_output", 1, 1 << 24, &p->num_output, err) < 0 ||
	    pb_get_bool(m, "bias_term", &p->bias, err) < 0 ||
	    pb_get_int(m, "axis", -3, 3, &p->axis, err) < 0 ||
	    pb_get_bool(m, "transpose", &transpose, err) < 0 ||
	    fcn_filler_parse(pb_nth(m, "weight_filler", 0), &p->wf, err) < 0 ||
	    fcn_filler_parse(pb_nth(m, "bias_filler", 0), &p->bf, err) < 0 ||
	    pb_check_used(m, "inner_product_param", err) < 0)
		return -1;
	if (p->num_output < 0)
		return pb_error(m, err, "layer '%s': num_output missing", l->name);
	if (transpose)
		return pb_error(m, err, "layer '%s': transpose: true is not supported",
				l->name);
	if (p->axis < 0)
		p->axis += 4;
	if (p->axis == 0)
		return pb_error(m, err, "layer '%s': axis 0 is not supported", l->name);
	l->nparam = p->bias ? 2 : 1;
	return 0;
}

static int ip_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct ip *p = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	int d[4] = { b->n, b->c, b->h, b->w }, M = p->num_output;
	size_t outer = 1, k = 1;

	for (int i = 0; i < 4; i++) {
		if (i < p->axis)
			outer *= (size_t)d[i];
		else
			k *= (size_t)d[i];
	}
	if (k > 1u << 30 || outer > 1u << 30)
		return fcn_layer_error(l, err, "input %dx%dx%dx%d too large", d[0], d[1],
				       d[2], d[3]);
	p->outer = (int)outer;
	p->k = (int)k;
	if (fcn_layer_param_shape(l, 0, M, p->k, 1, 1, err) < 0 ||
	    (p->bias && fcn_layer_param_shape(l, 1, 1, 1, 1, M, err) < 0))
		return -1;
	d[p->axis] = M;
	for (int i = p->axis + 1; i < 4; i++)
		d[i] = 1;
	if (fcn_blob_reshape(l->top[0], d[0], d[1], d[2], d[3], 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

static int ip_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct ip *p = l->priv;
	const float *x = l->bottom[0]->data;   /* (outer, K) */
	const float *W = l->param[0].blob->data; /* (M, K) */
	float *y = l->top[0]->data;            /* (outer, M) */
	int M = p->num_output;

	(void)err;
	fcn_gemm(0, 1, p->outer, M, p->k, 1.0f, x, p->k, W, p->k, 0.0f, y, M);
	if (p->bias) {
		const float *b = l->param[1].blob->data;

		for (int i = 0; i < p->outer; i++)
			for (int j = 0; j < M; j++)
				y[(size_t)i * M + j] += b[j];
	}
	return 0;
}

static int ip_backward(struct fcn_layer *l, struct fcn_err *err)
{
	struct ip *p = l->priv;
	struct fcn_blob *bot = l->bottom[0];
	const float *dy = l->top[0]->diff;       /* (outer, M) */
	const float *W = l->param[0].blob->data; /* (M, K) */
	int M = p->num_output;

	(void)err;
	/* dW (M, K) += dy^T (M, outer) x (outer, K) */
	fcn_gemm(1, 0, M, p->k, p->outer, 1.0f, dy, M, bot->data, p->k, 1.0f,
		 l->param[0].blob->diff, p->k);
	if (p->bias) {
		float *db = l->param[1].blob->diff;

		for (int j = 0; j < M; j++) {
			double s = 0;

			for (int i = 0; i < p->outer; i++)
				s += dy[(size_t)i * M + j];
			db[j] += (float)s;
		}
	}
	if (l->need_diff[0]) /* dx (outer, K) = dy (outer, M) x W (M, K) */
		fcn_gemm(0, 0, p->outer, p->k, M, 1.0f, dy, M, W, p->k,
			 l->accum[0] ? 1.0f : 0.0f, bot->diff, p->k);
	return 0;
}

static int ip_fill(struct fcn_layer *l, uint64_t seed, struct fcn_err *err)
{
	struct ip *p = l->priv;

	if (fcn_filler_run(&p->wf, l->param[0].blob, seed, err) < 0 ||
	    (p->bias && fcn_filler_run(&p->bf, l->param[1].blob, seed + 1, err) < 0))
		return fcn_layer_wrap(l, err);
	return 0;
}

const struct fcn_layer_ops fcn_ip_ops = {
	.type = "InnerProduct", .min_bottom = 1, .max_bottom = 1, .min_top = 1,
	.max_top = 1, .parse = ip_parse, .reshape = ip_reshape,
	.forward = ip_forward, .backward = ip_backward, .fill = ip_fill,
};
