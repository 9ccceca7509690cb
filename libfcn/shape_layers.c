/*
 * shape_layers.c - the inputs (Input, Data: their tops are filled by the
 * caller; input_param shapes and the Data layers' data_param,
 * transform_param and other *_data_param blocks are accepted and ignored,
 * the stream gives the shape) and layers that move data: Crop, Concat,
 * Eltwise (SUM with coeff, PROD, MAX).
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "layer.h"

static int dim(const struct fcn_blob *b, int axis)
{
	return axis == 0 ? b->n : axis == 1 ? b->c : axis == 2 ? b->h : b->w;
}

/* --- Input, Data ------------------------------------------------------------------ */
static int input_parse(struct fcn_layer *l, struct pb_node *node,
		       struct fcn_err *err)
{
	static const char *const ignored[] = {
		"input_param", "data_param", "transform_param", "image_data_param",
		"memory_data_param", "hdf5_data_param", "window_data_param",
		"dense_image_data_param", NULL };

	(void)l;
	(void)err;
	for (int i = 0; ignored[i]; i++)
		for (int k = 0; k < pb_count(node, ignored[i]); k++)
			pb_mark_all(pb_nth(node, ignored[i], k));
	return 0;
}

const struct fcn_layer_ops fcn_input_ops = {
	.type = "Input", .min_bottom = 0, .max_bottom = 0, .min_top = 1,
	.max_top = 2, .parse = input_parse,
};

const struct fcn_layer_ops fcn_data_ops = {
	.type = "Data", .min_bottom = 0, .max_bottom = 0, .min_top = 1,
	.max_top = 2, .parse = input_parse,
};

/* --- Crop --------------------------------------------------------------------------- */
struct crop {
	int axis, noff, off[4];
	int o[4]; /* offsets per axis after reshape */
};

static int crop_parse(struct fcn_layer *l, struct pb_node *node,
		      struct fcn_err *err)
{
	struct crop *c = calloc(1, sizeof *c);
	struct pb_node *m = pb_nth(node, "crop_param", 0);

	if (!c)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = c;
	c->axis = 2;
	if (m && (pb_get_int(m, "axis", -4, 3, &c->axis, err) < 0 ||
		  pb_get_ints(m, "offset", 0, 1 << 30, c->off, 4, &c->noff, err) < 0 ||
		  pb_check_used(m, "crop_param", err) < 0))
		return -1;
	if (c->axis < 0)
		c->axis += 4;
	if (c->noff > 1 && c->noff != 4 - c->axis)
		return pb_error(m, err, "layer '%s': %d offsets for %d cropped axes",
				l->name, c->noff, 4 - c->axis);
	return 0;
}

static int crop_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct crop *c = l->priv;
	const struct fcn_blob *a = l->bottom[0], *r = l->bottom[1];
	int d[4];

	for (int i = 0; i < 4; i++) {
		c->o[i] = 0;
		d[i] = dim(a, i);
		if (i < c->axis)
			continue;
		c->o[i] = c->noff == 0 ? 0 : c->noff == 1 ? c->off[0] : c->off[i - c->axis];
		d[i] = dim(r, i);
		if (c->o[i] + d[i] > dim(a, i))
			return fcn_layer_error(l, err, "axis %d: offset %d + size %d exceeds the input's %d",
					       i, c->o[i], d[i], dim(a, i));
	}
	if (fcn_blob_reshape(l->top[0], d[0], d[1], d[2], d[3], 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

/* Copies the cropped window: dir 0 bottom -> top, 1 top diff -> bottom diff. */
static void crop_copy(const struct crop *c, const struct fcn_blob *a,
		      const struct fcn_blob *t, const float *src, float *dst,
		      int dir)
{
	int rows = t->n * t->c * t->h;

	for (int r = 0; r < rows; r++) {
		int n = r / (t->c * t->h), ch = r / t->h % t->c, y = r % t->h;
		size_t ai = (((size_t)(n + c->o[0]) * a->c + (size_t)(ch + c->o[1])) *
				     a->h + (size_t)(y + c->o[2])) * a->w + (size_t)c->o[3];
		size_t ti = (size_t)r * t->w;

		if (dir == 0)
			memcpy(dst + ti, src + ai, (size_t)t->w * sizeof *dst);
		else
			for (int x = 0; x < t->w; x++)
				dst[ai + x] += src[ti + x];
	}
}

static int crop_forward(struct fcn_layer *l, struct fcn_err *err)
{
	(void)err;
	crop_copy(l->priv, l->bottom[0], l->top[0], l->bottom[0]->data,
		  l->top[0]->data, 0);
	return 0;
}

static int crop_backward(struct fcn_layer *l, struct fcn_err *err)
{
	struct fcn_blob *a = l->bottom[0];

	(void)err;
	if (!l->need_diff[0])
		return 0;
	if (!l->accum[0])
		memset(a->diff, 0, fcn_blob_count(a) * sizeof(float));
	crop_copy(l->priv, a, l->top[0], l->top[0]->diff, a->diff, 1);
	return 0;
}

const struct fcn_layer_ops fcn_crop_ops = {
	.type = "Crop", .min_bottom = 2, .max_bottom = 2, .min_top = 1,
	.max_top = 1, .parse = crop_parse, .reshape = crop_reshape,
	.forward = crop_forward, .backward = crop_backward,
};

/* --- Concat -------------------------------------------------------------------------- */
struct concat {
	int axis;
};

static int concat_parse(struct fcn_layer *l, struct pb_node *node,
			struct fcn_err *err)
{
	struct concat *c = calloc(1, sizeof *c);
	struct pb_node *m = pb_nth(node, "concat_param", 0);
	int legacy = -1;

	if (!c)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = c;
	c->axis = 1;
	if (m && (pb_get_int(m, "axis", -4, 3, &c->axis, err) < 0 ||
		  pb_get_int(m, "concat_dim", 0, 3, &legacy, err) < 0 ||
		  pb_check_used(m, "concat_param", err) < 0))
		return -1;
	if (legacy >= 0)
		c->axis = legacy;
	if (c->axis < 0)
		c->axis += 4;
	return 0;
}

int fcn_concat_axis(const struct fcn_layer *concat)
{
	return ((const struct concat *)concat->priv)->axis;
}

/* outer: product of the dims before axis; inner: from axis on. */
static void split_dims(const struct fcn_blob *b, int axis, size_t *outer,
		       size_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int i = 0; i < 4; i++)
		*(i < axis ? outer : inner) *= (size_t)dim(b, i);
}

static int concat_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	const struct concat *c = l->priv;
	const struct fcn_blob *b0 = l->bottom[0];
	int d[4] = { b0->n, b0->c, b0->h, b0->w };

	for (int j = 1; j < l->nbottom; j++) {
		for (int i = 0; i < 4; i++)
			if (i != c->axis && dim(l->bottom[j], i) != d[i])
				return fcn_layer_error(l, err, "bottom %d differs on axis %d (%d, not %d)",
						       j, i, dim(l->bottom[j], i), d[i]);
		d[c->axis] += dim(l->bottom[j], c->axis);
	}
	if (fcn_blob_reshape(l->top[0], d[0], d[1], d[2], d[3], 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

static int concat_forward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct concat *c = l->priv;
	size_t outer, tinner, off = 0;

	(void)err;
	split_dims(l->top[0], c->axis, &outer, &tinner);
	for (int j = 0; j < l->nbottom; j++) {
		size_t o, inner;

		split_dims(l->bottom[j], c->axis, &o, &inner);
		for (size_t k = 0; k < outer; k++)
			memcpy(l->top[0]->data + k * tinner + off,
			       l->bottom[j]->data + k * inner, inner * sizeof(float));
		off += inner;
	}
	return 0;
}

static int concat_backward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct concat *c = l->priv;
	size_t outer, tinner, off = 0;

	(void)err;
	split_dims(l->top[0], c->axis, &outer, &tinner);
	for (int j = 0; j < l->nbottom; j++) {
		size_t o, inner;

		split_dims(l->bottom[j], c->axis, &o, &inner);
		if (l->need_diff[j])
			for (size_t k = 0; k < outer; k++) {
				float *dx = l->bottom[j]->diff + k * inner;
				const float *dy = l->top[0]->diff + k * tinner + off;

				for (size_t i = 0; i < inner; i++)
					dx[i] = l->accum[j] ? dx[i] + dy[i] : dy[i];
			}
		off += inner;
	}
	return 0;
}

const struct fcn_layer_ops fcn_concat_ops = {
	.type = "Concat", .min_bottom = 1, .max_bottom = 64, .min_top = 1,
	.max_top = 1, .parse = concat_parse, .reshape = concat_reshape,
	.forward = concat_forward, .backward = concat_backward,
};

/* --- Eltwise ------------------------------------------------------------------------- */
enum { ELT_PROD, ELT_SUM, ELT_MAX };

struct eltwise {
	int op, ncoeff;
	float coeff[64];
	int *arg; /* MAX: which bottom won, (N, C, H, W) */
	size_t cap;
};

static int eltwise_parse(struct fcn_layer *l, struct pb_node *node,
			 struct fcn_err *err)
{
	static const char *const ops[] = { "PROD", "SUM", "MAX", NULL };
	struct eltwise *e = calloc(1, sizeof *e);
	struct pb_node *m = pb_nth(node, "eltwise_param", 0);
	int stable = 1;

	if (!e)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = e;
	e->op = ELT_SUM;
	if (m && (pb_get_enum(m, "operation", ops, &e->op, err) < 0 ||
		  pb_get_floats(m, "coeff", e->coeff, 64, &e->ncoeff, err) < 0 ||
		  pb_get_bool(m, "stable_prod_grad", &stable, err) < 0 ||
		  pb_check_used(m, "eltwise_param", err) < 0))
		return -1;
	if (e->ncoeff && e->op != ELT_SUM)
		return pb_error(m, err, "layer '%s': coeff needs operation SUM", l->name);
	return 0;
}

static int eltwise_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct eltwise *e = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	size_t need = fcn_blob_count(b);
	char s1[64], s2[64];

	if (e->ncoeff && e->ncoeff != l->nbottom)
		return fcn_layer_error(l, err, "%d coeffs for %d bottoms", e->ncoeff,
				       l->nbottom);
	for (int j = 1; j < l->nbottom; j++)
		if (!fcn_blob_same_shape(b, l->bottom[j]))
			return fcn_layer_error(l, err, "bottom %d is %s, bottom 0 %s", j,
					       fcn_blob_shape_str(l->bottom[j], s1, sizeof s1),
					       fcn_blob_shape_str(b, s2, sizeof s2));
	for (int j = 0; j < l->nbottom; j++)
		if (l->top[0] == l->bottom[j])
			return fcn_layer_error(l, err, "cannot run in place");
	if (e->op == ELT_MAX && need > e->cap) {
		int *a = malloc(need * sizeof *a);

		if (!a)
			return fcn_layer_error(l, err, "out of memory");
		free(e->arg);
		e->arg = a;
		e->cap = need;
	}
	if (fcn_blob_reshape(l->top[0], b->n, b->c, b->h, b->w, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

static int eltwise_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct eltwise *e = l->priv;
	long n = (long)fcn_blob_count(l->bottom[0]);
	float *y = l->top[0]->data;

	(void)err;
	for (long i = 0; i < n; i++) {
		float v = l->bottom[0]->data[i];
		int arg = 0;

		if (e->op == ELT_SUM)
			v *= e->ncoeff ? e->coeff[0] : 1.0f;
		for (int j = 1; j < l->nbottom; j++) {
			float x = l->bottom[j]->data[i];

			if (e->op == ELT_SUM)
				v += (e->ncoeff ? e->coeff[j] : 1.0f) * x;
			else if (e->op == ELT_PROD)
				v *= x;
			else if (x > v) {
				v = x;
				arg = j;
			}
		}
		y[i] = v;
		if (e->op == ELT_MAX)
			e->arg[i] = arg;
	}
	return 0;
}

static int eltwise_backward(struct fcn_layer *l, struct fcn_err *err)
{
	struct eltwise *e = l->priv;
	long n = (long)fcn_blob_count(l->bottom[0]);
	const float *dy = l->top[0]->diff;

	(void)err;
	for (int j = 0; j < l->nbottom; j++) {
		float *dx = l->bottom[j]->diff;
		int accum = l->accum[j];

		if (!l->need_diff[j])
			continue;
		for (long i = 0; i < n; i++) {
			float g;

			if (e->op == ELT_SUM) {
				g = dy[i] * (e->ncoeff ? e->coeff[j] : 1.0f);
			} else if (e->op == ELT_MAX) {
				g = e->arg[i] == j ? dy[i] : 0.0f;
			} else {
				g = dy[i];
				for (int k = 0; k < l->nbottom; k++)
					if (k != j)
						g *= l->bottom[k]->data[i];
			}
			dx[i] = accum ? dx[i] + g : g;
		}
	}
	return 0;
}

static void eltwise_free(struct fcn_layer *l)
{
	struct eltwise *e = l->priv;

	if (e)
		free(e->arg);
	free(e);
}

const struct fcn_layer_ops fcn_eltwise_ops = {
	.type = "Eltwise", .min_bottom = 2, .max_bottom = 64, .min_top = 1,
	.max_top = 1, .parse = eltwise_parse, .reshape = eltwise_reshape,
	.forward = eltwise_forward, .backward = eltwise_backward,
	.free = eltwise_free,
};
