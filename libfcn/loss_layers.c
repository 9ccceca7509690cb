/*
 * loss_layers.c - Softmax, SoftmaxWithLoss (Caffe's normalisations, ignore
 * label, optional per-class weights; or the soft Dice loss, or both
 * summed, when the net says so; the Dice per image or over the batch), Accuracy (top-1, ties count as correct as in Caffe) and the
 * lab's Dice metric (argmax prediction; per image 2|P and L|/(|P|+|L|),
 * 1 when both are empty; mean over the batch; pixels labelled 255 skipped).
 * "Python" layers are accepted only as python_param { layer: "Dice" }.
 * Class axis is always 1; labels are class indices stored as floats.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

/* At most this many classes when each is its own soft Dice group. */
#define DICE_MAX_CLASSES 256

/* Softmax over C of x (N, C, H, W) into y. */
static void softmax(const struct fcn_blob *b, const float *x, float *y)
{
	int C = b->c, hw = b->h * b->w;

	for (int n = 0; n < b->n; n++) {
		const float *xn = x + (size_t)n * C * hw;
		float *yn = y + (size_t)n * C * hw;

		for (int i = 0; i < hw; i++) {
			float m = -FLT_MAX, s = 0;

			for (int c = 0; c < C; c++)
				m = xn[(size_t)c * hw + i] > m ? xn[(size_t)c * hw + i] : m;
			for (int c = 0; c < C; c++) {
				float e = expf(xn[(size_t)c * hw + i] - m);

				yn[(size_t)c * hw + i] = e;
				s += e;
			}
			for (int c = 0; c < C; c++)
				yn[(size_t)c * hw + i] /= s;
		}
	}
}

static int check_axis(struct fcn_layer *l, struct pb_node *m, const char *what,
		      struct fcn_err *err)
{
	int axis = 1;
	const char *engine = NULL;

	if (!m)
		return 0;
	if (pb_get_int(m, "axis", 1, 1, &axis, err) < 0 ||
	    pb_get_str(m, "engine", &engine, err) < 0 ||
	    pb_check_used(m, what, err) < 0)
		return -1;
	(void)l;
	return 0;
}

static int label_shape_ok(struct fcn_layer *l, struct fcn_err *err)
{
	const struct fcn_blob *s = l->bottom[0], *y = l->bottom[1];
	char a[64], b[64];

	if (y->n != s->n || y->c != 1 || y->h != s->h || y->w != s->w)
		return fcn_layer_error(l, err, "label %s does not fit scores %s",
				       fcn_blob_shape_str(y, a, sizeof a),
				       fcn_blob_shape_str(s, b, sizeof b));
	return 0;
}

static int scalar_top(struct fcn_layer *l, struct fcn_err *err)
{
	if (l->ntop && fcn_blob_reshape(l->top[0], 1, 1, 1, 1, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

/* --- Softmax ------------------------------------------------------------------ */
static int softmax_parse(struct fcn_layer *l, struct pb_node *node,
			 struct fcn_err *err)
{
	return check_axis(l, pb_nth(node, "softmax_param", 0), "softmax_param", err);
}

static int softmax_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	const struct fcn_blob *b = l->bottom[0];

	if (fcn_blob_reshape(l->top[0], b->n, b->c, b->h, b->w, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

static int softmax_forward(struct fcn_layer *l, struct fcn_err *err)
{
	(void)err;
	softmax(l->bottom[0], l->bottom[0]->data, l->top[0]->data);
	return 0;
}

static int softmax_backward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct fcn_blob *t = l->top[0];
	int C = t->c, hw = t->h * t->w, accum = l->accum[0];

	(void)err;
	if (!l->need_diff[0])
		return 0;
	for (int n = 0; n < t->n; n++) {
		size_t off = (size_t)n * C * hw;
		const float *y = t->data + off, *dy = t->diff + off;
		float *dx = l->bottom[0]->diff + off;

		for (int i = 0; i < hw; i++) {
			float dot = 0;

			for (int c = 0; c < C; c++)
				dot += dy[(size_t)c * hw + i] * y[(size_t)c * hw + i];
			for (int c = 0; c < C; c++) {
				size_t k = (size_t)c * hw + i;
				float g = y[k] * (dy[k] - dot);

				dx[k] = accum ? dx[k] + g : g;
			}
		}
	}
	return 0;
}

const struct fcn_layer_ops fcn_softmax_ops = {
	.type = "Softmax", .min_bottom = 1, .max_bottom = 1, .min_top = 1,
	.max_top = 1, .parse = softmax_parse, .reshape = softmax_reshape,
	.forward = softmax_forward, .backward = softmax_backward,
};

/* --- SoftmaxWithLoss ------------------------------------------------------------ */
enum { NORM_FULL, NORM_VALID, NORM_BATCH, NORM_NONE };

struct sloss {
	int has_ignore, ignore, norm;
	float *prob; /* (N, K, H, W) */
	size_t cap;
	double normalizer;
	double *dice_i, *dice_s; /* (N, K) soft Dice sums for the backward pass */
};

/* The soft Dice's groups: one (the classes >= 1 together), or each class
 * >= 1 on its own (fcn_net_set_dice_each with more than two classes). */
static int dice_groups(const struct fcn_layer *l, int K)
{
	return fcn_net_dice_each(l->net) && K > 2 ? K - 1 : 1;
}

static int sloss_parse(struct fcn_layer *l, struct pb_node *node,
		       struct fcn_err *err)
{
	static const char *const norms[] = { "FULL", "VALID", "BATCH_SIZE", "NONE",
					     NULL };
	struct sloss *s = calloc(1, sizeof *s);
	struct pb_node *m = pb_nth(node, "loss_param", 0);
	int normalize = -1;

	if (!s)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = s;
	s->norm = NORM_VALID;
	if (m) {
		s->has_ignore = pb_count(m, "ignore_label") > 0;
		if (pb_get_int(m, "ignore_label", -1000000, 1000000, &s->ignore, err) < 0 ||
		    pb_get_bool(m, "normalize", &normalize, err) < 0 ||
		    pb_get_enum(m, "normalization", norms, &s->norm, err) < 0 ||
		    pb_check_used(m, "loss_param", err) < 0)
			return -1;
		/* Caffe: normalize counts only when normalization is not given */
		if (normalize >= 0 && !pb_count(m, "normalization"))
			s->norm = normalize ? NORM_VALID : NORM_BATCH;
	}
	return check_axis(l, pb_nth(node, "softmax_param", 0), "softmax_param", err);
}

static int sloss_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct sloss *s = l->priv;
	size_t need = fcn_blob_count(l->bottom[0]);

	if (label_shape_ok(l, err) < 0)
		return -1;
	if (need > s->cap) {
		float *p = fcn_alloc_floats(need);

		if (!p)
			return fcn_layer_error(l, err, "out of memory");
		free(s->prob);
		s->prob = p;
		s->cap = need;
	}
	free(s->dice_i);
	free(s->dice_s);
	size_t nk = (size_t)l->bottom[0]->n * (size_t)l->bottom[0]->c;
	s->dice_i = calloc(nk, sizeof *s->dice_i);
	s->dice_s = calloc(nk, sizeof *s->dice_s);
	if (!s->dice_i || !s->dice_s)
		return fcn_layer_error(l, err, "out of memory");
	return scalar_top(l, err);
}

/* Label k at pixel i: -1 when ignored, -2 when out of range. */
static int label_at(const struct sloss *s, float v, int K)
{
	int k = (int)v;

	if ((float)k != v)
		return -2;
	if (s->has_ignore && k == s->ignore)
		return -1;
	return k >= 0 && k < K ? k : -2;
}

static int sloss_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct sloss *s = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	const float *lab = l->bottom[1]->data;
	int K = b->c, hw = b->h * b->w, nclassw, G = dice_groups(l, K);
	const float *cw = fcn_net_class_weights(l->net, &nclassw);
	double loss = 0, count = 0;
	enum fcn_loss kind;

	if (cw && nclassw != K)
		return fcn_layer_error(l, err, "%d class weights for %d classes",
				       nclassw, K);
	softmax(b, b->data, s->prob);
	for (int n = 0; n < b->n; n++) {
		const float *p = s->prob + (size_t)n * K * hw;
		const float *y = lab + (size_t)n * hw;
		double *di = s->dice_i + (size_t)n * G, *ds = s->dice_s + (size_t)n * G;

		for (int g = 0; g < G; g++)
			di[g] = ds[g] = 0;
		for (int i = 0; i < hw; i++) {
			int k = label_at(s, y[i], K);

			if (k == -2)
				return fcn_layer_error(l, err, "label %g at image %d pixel %d not a class in 0..%d",
						       (double)y[i], n, i, K - 1);
			if (k < 0)
				continue;
			double w = cw ? cw[k] : 1.0;
			double pk = p[(size_t)k * hw + i];

			loss -= w * log(pk > FLT_MIN ? pk : FLT_MIN);
			count += w;
			if (G == 1) {
				double fg = 1.0 - p[i];

				di[0] += fg * (k >= 1);
				ds[0] += fg + (k >= 1);
				continue;
			}
			for (int g = 0; g < G; g++) {
				double pc = p[(size_t)(g + 1) * hw + i];

				di[g] += pc * (k == g + 1);
				ds[g] += pc + (k == g + 1);
			}
		}
	}
	switch (s->norm) {
	case NORM_FULL: s->normalizer = (double)b->n * hw; break;
	case NORM_VALID: s->normalizer = count; break;
	case NORM_BATCH: s->normalizer = b->n; break;
	default: s->normalizer = 1; break;
	}
	if (s->normalizer < 1)
		s->normalizer = 1;
	kind = fcn_net_loss_kind(l->net);
	l->value = kind == FCN_LOSS_DICE ? 0 : loss / s->normalizer;
	if (kind != FCN_LOSS_SOFTMAX) {
		double d = 0; /* the groups' soft Dice, summed */

		for (int g = 0; g < G; g++) {
			double di = 0, i2 = 0, sum = 0;

			for (int n = 0; n < b->n; n++) {
				double in = s->dice_i[(size_t)n * G + g];
				double sn = s->dice_s[(size_t)n * G + g];

				di += (2 * in + 1) / (sn + 1);
				i2 += in;
				sum += sn;
			}
			d += fcn_net_dice_batch(l->net) ? (2 * i2 + 1) / (sum + 1) :
							  di / b->n;
		}
		l->value += 1.0 - d / G;
	}
	if (l->ntop)
		l->top[0]->data[0] = (float)l->value;
	return 0;
}

/* The gradient of the soft Dice term with each class >= 1 its own group:
 * dL/dp_c = -(2 [y = c] S_c - I2_c) / S_c^2 / (div G) for c >= 1 (0 for the
 * background), through the softmax dx_j = p_j (dp_j - sum_c dp_c p_c). */
static void dice_each_grad(const float *p, size_t hw, size_t i, int k, int K,
			   const double *S, const double *I2, double scale,
			   double *gx)
{
	double dp[DICE_MAX_CLASSES], dot = 0;

	dp[0] = 0;
	for (int c = 1; c < K; c++) {
		dp[c] = -(2.0 * (k == c) * S[c - 1] - I2[c - 1]) /
			(S[c - 1] * S[c - 1]) * scale;
		dot += dp[c] * p[(size_t)c * hw + i];
	}
	for (int c = 0; c < K; c++)
		gx[c] = p[(size_t)c * hw + i] * (dp[c] - dot);
}

static int sloss_backward(struct fcn_layer *l, struct fcn_err *err)
{
	struct sloss *s = l->priv;
	struct fcn_blob *b = l->bottom[0];
	const float *lab = l->bottom[1]->data;
	int K = b->c, hw = b->h * b->w, nclassw, accum = l->accum[0];
	int G = dice_groups(l, K);
	const float *cw = fcn_net_class_weights(l->net, &nclassw);
	enum fcn_loss kind = fcn_net_loss_kind(l->net);
	int ce = kind != FCN_LOSS_DICE, dice = kind != FCN_LOSS_SOFTMAX;
	int batch = fcn_net_dice_batch(l->net);
	double bi[DICE_MAX_CLASSES] = {0}, bs[DICE_MAX_CLASSES] = {0};

	if (!l->need_diff[0])
		return 0;
	if (G > 1 && K > DICE_MAX_CLASSES)
		return fcn_layer_error(l, err, "%d classes, at most %d", K, DICE_MAX_CLASSES);
	for (int n = 0; n < b->n; n++)
		for (int g = 0; g < G; g++)
			bi[g] += s->dice_i[(size_t)n * G + g],
			bs[g] += s->dice_s[(size_t)n * G + g];
	for (int n = 0; n < b->n; n++) {
		const float *p = s->prob + (size_t)n * K * hw;
		const float *y = lab + (size_t)n * hw;
		float *dx = b->diff + (size_t)n * K * hw;
		/* soft Dice D = I2 / S of each group in this image, or in the
		 * whole batch */
		double S[DICE_MAX_CLASSES], I2[DICE_MAX_CLASSES], gx[DICE_MAX_CLASSES];
		double div = batch ? 1.0 : (double)b->n;

		for (int g = 0; g < G; g++) {
			S[g] = (batch ? bs[g] : s->dice_s[(size_t)n * G + g]) + 1;
			I2[g] = 2 * (batch ? bi[g] : s->dice_i[(size_t)n * G + g]) + 1;
		}
		for (int i = 0; i < hw; i++) {
			int k = label_at(s, y[i], K);
			/* one group: dL/dfg, fg = 1 - p0; dfg/dx_c = p0 p_c - [c=0] p0 */
			double dfg = k < 0 ? 0 : -(2.0 * (k >= 1) * S[0] - I2[0]) /
						 (S[0] * S[0]) / div;

			if (k >= 0 && dice && G > 1)
				dice_each_grad(p, (size_t)hw, (size_t)i, k, K, S, I2,
					       1.0 / (div * G), gx);
			for (int c = 0; c < K; c++) {
				size_t o = (size_t)c * hw + i;
				double g = 0;

				if (k >= 0 && dice)
					g += G > 1 ? gx[c] : dfg * (p[i] * p[o] - (c == 0) * p[i]);
				if (k >= 0 && ce) {
					double w = cw ? cw[k] : 1.0;

					g += w * (p[o] - (c == k)) / s->normalizer;
				}
				g *= l->loss_weight;
				dx[o] = accum ? dx[o] + (float)g : (float)g;
			}
		}
	}
	return 0;
}

static void sloss_free(struct fcn_layer *l)
{
	struct sloss *s = l->priv;

	if (s) {
		free(s->prob);
		free(s->dice_i);
		free(s->dice_s);
	}
	free(s);
}

const struct fcn_layer_ops fcn_softmax_loss_ops = {
	.type = "SoftmaxWithLoss", .min_bottom = 2, .max_bottom = 2,
	.min_top = 0, .max_top = 1, .parse = sloss_parse,
	.reshape = sloss_reshape, .forward = sloss_forward,
	.backward = sloss_backward, .free = sloss_free,
};

/* --- Accuracy ------------------------------------------------------------------- */
struct acc {
	int has_ignore, ignore;
};

static int acc_parse(struct fcn_layer *l, struct pb_node *node,
		     struct fcn_err *err)
{
	struct acc *a = calloc(1, sizeof *a);
	struct pb_node *m = pb_nth(node, "accuracy_param", 0);
	int topk = 1, axis = 1;

	if (!a)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = a;
	if (m) {
		a->has_ignore = pb_count(m, "ignore_label") > 0;
		if (pb_get_int(m, "ignore_label", -1000000, 1000000, &a->ignore, err) < 0 ||
		    pb_get_int(m, "top_k", 1, 1, &topk, err) < 0 ||
		    pb_get_int(m, "axis", 1, 1, &axis, err) < 0 ||
		    pb_check_used(m, "accuracy_param", err) < 0)
			return -1;
	}
	return 0;
}

static int acc_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	if (label_shape_ok(l, err) < 0)
		return -1;
	return scalar_top(l, err);
}

static int acc_forward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct acc *a = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	int K = b->c, hw = b->h * b->w;
	long right = 0, count = 0;

	for (int n = 0; n < b->n; n++) {
		const float *x = b->data + (size_t)n * K * hw;
		const float *y = l->bottom[1]->data + (size_t)n * hw;

		for (int i = 0; i < hw; i++) {
			int k = (int)y[i], better = 0;

			if (a->has_ignore && k == a->ignore)
				continue;
			if (k < 0 || k >= K || (float)k != y[i])
				return fcn_layer_error(l, err, "label %g at image %d pixel %d not a class in 0..%d",
						       (double)y[i], n, i, K - 1);
			for (int c = 0; c < K; c++)
				better += x[(size_t)c * hw + i] > x[(size_t)k * hw + i];
			right += better == 0;
			count++;
		}
	}
	l->value = count ? (double)right / (double)count : 0.0;
	if (l->ntop)
		l->top[0]->data[0] = (float)l->value;
	return 0;
}

const struct fcn_layer_ops fcn_accuracy_ops = {
	.type = "Accuracy", .min_bottom = 2, .max_bottom = 2, .min_top = 0,
	.max_top = 1, .parse = acc_parse, .reshape = acc_reshape,
	.forward = acc_forward,
};

/* --- Dice ------------------------------------------------------------------------ */
static int dice_forward(struct fcn_layer *l, struct fcn_err *err)
{
	const struct fcn_blob *b = l->bottom[0];
	int K = b->c, hw = b->h * b->w;
	double sum = 0;

	(void)err;
	for (int n = 0; n < b->n; n++) {
		const float *x = b->data + (size_t)n * K * hw;
		const float *y = l->bottom[1]->data + (size_t)n * hw;
		long inter = 0, np = 0, nl = 0;

		for (int i = 0; i < hw; i++) {
			int best = 0;

			if (y[i] == 255)
				continue;
			for (int c = 1; c < K; c++)
				if (x[(size_t)c * hw + i] > x[(size_t)best * hw + i])
					best = c;
			int p = best >= 1, t = y[i] >= 1;

			inter += p && t;
			np += p;
			nl += t;
		}
		sum += np + nl ? 2.0 * inter / (double)(np + nl) : 1.0;
	}
	l->value = sum / b->n;
	if (l->ntop)
		l->top[0]->data[0] = (float)l->value;
	return 0;
}

const struct fcn_layer_ops fcn_dice_ops = {
	.type = "Dice", .min_bottom = 2, .max_bottom = 2, .min_top = 0,
	.max_top = 1, .reshape = acc_reshape, .forward = dice_forward,
};

static int python_parse(struct fcn_layer *l, struct pb_node *node,
			struct fcn_err *err)
{
	struct pb_node *m = pb_nth(node, "python_param", 0);
	const char *module = NULL, *layer = NULL, *param = NULL;
	int share = 0;

	if (!m)
		return pb_error(node, err, "layer '%s': python_param missing", l->name);
	if (pb_get_str(m, "module", &module, err) < 0 ||
	    pb_get_str(m, "layer", &layer, err) < 0 ||
	    pb_get_str(m, "param_str", &param, err) < 0 ||
	    pb_get_bool(m, "share_in_parallel", &share, err) < 0 ||
	    pb_check_used(m, "python_param", err) < 0)
		return -1;
	if (layer && strcmp(layer, "Dice") && !pb_count(node, "bottom"))
		return pb_error(m, err, "layer '%s': Python data layer %s.%s reads data in its "
				"own repository's code: replace it with layer { name: \"data\" "
				"type: \"Input\" top: \"data\" top: \"label\" } and feed the "
				"images with fcn-train --train (preprocessing: --scale/--shift)",
				l->name, module ? module : "", layer);
	if (!layer || strcmp(layer, "Dice"))
		return pb_error(m, err, "layer '%s': Python layer '%s' is not built in (only Dice)",
				l->name, layer ? layer : "");
	return 0;
}

const struct fcn_layer_ops fcn_python_ops = {
	.type = "Python", .min_bottom = 2, .max_bottom = 2, .min_top = 0,
	.max_top = 1, .parse = python_parse, .reshape = acc_reshape,
	.forward = dice_forward,
};
