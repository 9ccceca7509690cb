/*
 * lrn_layer.c - LRN across channels (Caffe): scale = k + alpha/n * sum of
 * squares over the n channels centred on each channel, out = in *
 * scale^-beta.  Keeps scale for the backward pass.  Not done:
 * WITHIN_CHANNEL.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "threads.h"

struct lrn {
	int size;
	float alpha, beta, k;
	float *scale; /* (N, C, H, W) */
	float *ratio; /* (2, C, H, W) backward scratch */
	size_t cap;
};

static int lrn_parse(struct fcn_layer *l, struct pb_node *node,
		     struct fcn_err *err)
{
	static const char *const regions[] = { "ACROSS_CHANNELS", "WITHIN_CHANNEL",
					       NULL };
	struct lrn *r = calloc(1, sizeof *r);
	struct pb_node *m = pb_nth(node, "lrn_param", 0);
	const char *engine = NULL;
	int region = 0;

	if (!r)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = r;
	r->size = 5;
	r->alpha = 1;
	r->beta = 0.75f;
	r->k = 1;
	if (m && (pb_get_int(m, "local_size", 1, 1 << 16, &r->size, err) < 0 ||
		  pb_get_float(m, "alpha", &r->alpha, err) < 0 ||
		  pb_get_float(m, "beta", &r->beta, err) < 0 ||
		  pb_get_float(m, "k", &r->k, err) < 0 ||
		  pb_get_enum(m, "norm_region", regions, &region, err) < 0 ||
		  pb_get_str(m, "engine", &engine, err) < 0 ||
		  pb_check_used(m, "lrn_param", err) < 0))
		return -1;
	if (region)
		return pb_error(m, err, "layer '%s': WITHIN_CHANNEL LRN is not supported",
				l->name);
	if (r->size % 2 == 0)
		return pb_error(m ? m : node, err, "layer '%s': local_size %d must be odd",
				l->name, r->size);
	return 0;
}

static int lrn_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct lrn *r = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	size_t need = fcn_blob_count(b);

	if (l->top[0] == l->bottom[0])
		return fcn_layer_error(l, err, "cannot run in place");
	if (fcn_blob_reshape(l->top[0], b->n, b->c, b->h, b->w, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	if (need > r->cap) {
		float *s = fcn_alloc_floats(need);
		float *q = fcn_alloc_floats(2 * (size_t)b->c * b->h * b->w);

		if (!s || !q) {
			free(s);
			free(q);
			return fcn_layer_error(l, err, "out of memory");
		}
		free(r->scale);
		free(r->ratio);
		r->scale = s;
		r->ratio = q;
		r->cap = need;
	}
	return 0;
}

/* s^-beta, with the common beta = 0.75 done by square roots. */
static inline float pow_neg(float s, float beta)
{
	if (beta == 0.75f) {
		float q = sqrtf(s);

		return 1.0f / (q * sqrtf(q));
	}
	return expf(-beta * logf(s));
}

struct lrn_job {
	struct fcn_layer *l;
	int n; /* image */
};

/* Channels per task: about 2^16 values. */
static int chan_grain(const struct fcn_blob *b)
{
	long k = 65536 / ((long)b->h * b->w + 1);

	return k < 1 ? 1 : (int)k;
}

/* Forward of channels [lo, hi) of image j->n. */
static void lrn_forward_channels(void *ctx, int lo, int hi)
{
	const struct lrn_job *j = ctx;
	const struct fcn_layer *l = j->l;
	const struct lrn *r = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	int C = b->c, hw = b->h * b->w, pre = (r->size - 1) / 2;
	float an = r->alpha / (float)r->size;
	const float *x = b->data + (size_t)j->n * C * hw; /* (C, H, W) */
	float *y = l->top[0]->data + (size_t)j->n * C * hw;
	float *sc = r->scale + (size_t)j->n * C * hw;

	for (int c = lo; c < hi; c++) {
		float *s = sc + (size_t)c * hw;
		int clo = c - pre < 0 ? 0 : c - pre;
		int chi = c + pre >= C ? C - 1 : c + pre;

		for (int i = 0; i < hw; i++)
			s[i] = 0;
		for (int cc = clo; cc <= chi; cc++) {
			const float *xc = x + (size_t)cc * hw;

			for (int i = 0; i < hw; i++)
				s[i] += xc[i] * xc[i];
		}
		const float *xc = x + (size_t)c * hw;
		float *yc = y + (size_t)c * hw;

		for (int i = 0; i < hw; i++) {
			s[i] = r->k + an * s[i];
			yc[i] = xc[i] * pow_neg(s[i], r->beta);
		}
	}
}

static int lrn_forward(struct fcn_layer *l, struct fcn_err *err)
{
	(void)err;
	for (int n = 0; n < l->bottom[0]->n; n++) {
		struct lrn_job j = { l, n };

		fcn_parallel_for(l->bottom[0]->c, chan_grain(l->bottom[0]),
				 lrn_forward_channels, &j);
	}
	return 0;
}

/* q = dy * y / scale for channels [lo, hi) of image j->n. */
static void lrn_ratio_channels(void *ctx, int lo, int hi)
{
	const struct lrn_job *j = ctx;
	const struct fcn_layer *l = j->l;
	const struct lrn *r = l->priv;
	const struct fcn_blob *t = l->top[0];
	int hw = t->h * t->w;
	size_t off = (size_t)j->n * t->c * hw;

	for (size_t i = (size_t)lo * hw; i < (size_t)hi * hw; i++)
		r->ratio[i] = t->diff[off + i] * t->data[off + i] / r->scale[off + i];
}

/* Bottom gradient of channels [lo, hi) of image j->n. */
static void lrn_backward_channels(void *ctx, int lo, int hi)
{
	const struct lrn_job *j = ctx;
	const struct fcn_layer *l = j->l;
	const struct lrn *r = l->priv;
	struct fcn_blob *b = l->bottom[0];
	int C = b->c, hw = b->h * b->w, pre = (r->size - 1) / 2;
	float f = 2.0f * r->alpha * r->beta / (float)r->size;
	int accum = l->accum[0];
	size_t off = (size_t)j->n * C * hw;
	const float *x = b->data + off, *dy = l->top[0]->diff + off;
	const float *sc = r->scale + off, *q = r->ratio;
	float *dx = b->diff + off;

	for (int c = lo; c < hi; c++) {
		int clo = c - pre < 0 ? 0 : c - pre;
		int chi = c + pre >= C ? C - 1 : c + pre;
		size_t o = (size_t)c * hw;
		float *acc = r->ratio + (size_t)C * hw + o;

		memcpy(acc, q + (size_t)clo * hw, (size_t)hw * sizeof *acc);
		for (int cc = clo + 1; cc <= chi; cc++) {
			const float *qc = q + (size_t)cc * hw;

			for (int i = 0; i < hw; i++)
				acc[i] += qc[i];
		}
		for (int i = 0; i < hw; i++) {
			float g = dy[o + i] * pow_neg(sc[o + i], r->beta) -
				  f * x[o + i] * acc[i];

			dx[o + i] = accum ? dx[o + i] + g : g;
		}
	}
}

static int lrn_backward(struct fcn_layer *l, struct fcn_err *err)
{
	(void)err;
	if (!l->need_diff[0])
		return 0;
	for (int n = 0; n < l->bottom[0]->n; n++) {
		struct lrn_job j = { l, n };
		int g = chan_grain(l->bottom[0]);

		fcn_parallel_for(l->bottom[0]->c, g, lrn_ratio_channels, &j);
		fcn_parallel_for(l->bottom[0]->c, g, lrn_backward_channels, &j);
	}
	return 0;
}

static void lrn_free(struct fcn_layer *l)
{
	struct lrn *r = l->priv;

	if (r) {
		free(r->scale);
		free(r->ratio);
	}
	free(r);
}

const struct fcn_layer_ops fcn_lrn_ops = {
	.type = "LRN", .min_bottom = 1, .max_bottom = 1, .min_top = 1, .max_top = 1,
	.parse = lrn_parse, .reshape = lrn_reshape,
	.forward = lrn_forward, .backward = lrn_backward, .free = lrn_free,
};
