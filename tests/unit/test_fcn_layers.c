/*
 * test_fcn_layers.c - every layer kind's backward pass against central
 * finite differences of its forward pass (objective sum(R * top) for a
 * fixed random R, or the loss itself for loss layers), on small shapes,
 * with float inputs and double accumulation; plus forward values checked
 * by hand (Caffe's pooling sizes, LRN, bilinear filler, crop) and the
 * accumulate-versus-store backward contract.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "direct.h"
#include "fcn.h"
#include "layer.h"
#include "tap.h"

struct harness {
	struct fcn_net *net; /* owner of workspace and rng */
	struct pb_node *root;
	struct fcn_layer *l;
	struct fcn_blob *bottom[4], *top[2];
	float *saved[4];
	float *r; /* (top count) */
	int nb, inplace, label_bottom;
};

static struct fcn_rng test_rng = { 12345 };

static double gauss(void)
{
	return fcn_rng_gauss(&test_rng);
}

static void harness_free(struct harness *h)
{
	if (h->l) {
		if (h->l->ops->free)
			h->l->ops->free(h->l);
		else
			free(h->l->priv);
		for (int i = 0; i < h->l->nparam; i++)
			fcn_blob_free(h->l->param[i].blob);
		free(h->l->bottom);
		free(h->l->top);
		free(h->l->accum);
		free(h->l->need_diff);
		free(h->l);
	}
	for (int i = 0; i < h->nb; i++) {
		fcn_blob_free(h->bottom[i]);
		free(h->saved[i]);
	}
	if (!h->inplace)
		fcn_blob_free(h->top[0]);
	free(h->r);
	pb_free(h->root);
	fcn_net_free(h->net);
}

/* Builds the layer described by text on bottoms of the given shapes.
 * label_bottom: index of a bottom holding class labels (no gradient), -1. */
static int harness_make(struct harness *h, const char *text, enum fcn_phase ph,
			int nb, const int shapes[][4], int inplace,
			int label_bottom, int nclass)
{
	struct fcn_err err;
	struct pb_node *node;
	const char *type = NULL;

	memset(h, 0, sizeof *h);
	h->net = fcn_net_parse("layer { name: 'in' type: 'Input' top: 'data' }",
			       "harness", ph, &err);
	h->root = pb_parse(text, "test", &err);
	if (!h->net || !h->root) {
		tap_diag("harness: %s", err.msg);
		return -1;
	}
	node = pb_nth(h->root, "layer", 0);
	pb_get_str(node, "type", &type, &err);
	h->l = calloc(1, sizeof *h->l);
	h->l->ops = fcn_layer_kind(type);
	h->l->net = h->net;
	h->l->name = "test";
	h->l->phase = ph;
	h->l->loss_weight = h->l->ops == &fcn_softmax_loss_ops ? 1.0f : 0.0f;
	for (int i = 0; i < FCN_MAX_PARAMS; i++)
		h->l->param[i] = (struct fcn_param){ "test", i, NULL, 1, 1 };
	if (h->l->ops->parse && h->l->ops->parse(h->l, node, &err) < 0) {
		tap_diag("parse: %s", err.msg);
		return -1;
	}
	for (int i = 0; i < h->l->nparam; i++)
		h->l->param[i].blob = fcn_blob_create();
	h->nb = nb;
	h->inplace = inplace;
	h->label_bottom = label_bottom;
	h->l->nbottom = nb;
	h->l->ntop = 1;
	h->l->bottom = calloc((size_t)nb, sizeof *h->l->bottom);
	h->l->top = calloc(1, sizeof *h->l->top);
	h->l->accum = calloc((size_t)nb, sizeof(int));
	h->l->need_diff = calloc((size_t)nb, sizeof(int));
	for (int i = 0; i < nb; i++) {
		struct fcn_blob *b = fcn_blob_create();

		fcn_blob_reshape(b, shapes[i][0], shapes[i][1], shapes[i][2],
				 shapes[i][3], 1, &err);
		for (size_t k = 0; k < fcn_blob_count(b); k++)
			b->data[k] = i == label_bottom ?
				     (float)(fcn_rng_next(&test_rng) % (uint64_t)nclass) :
				     (float)gauss();
		h->bottom[i] = h->l->bottom[i] = b;
		h->l->need_diff[i] = i != label_bottom;
		h->saved[i] = malloc(fcn_blob_count(b) * sizeof(float));
		memcpy(h->saved[i], b->data, fcn_blob_count(b) * sizeof(float));
	}
	h->top[0] = inplace ? h->bottom[0] : fcn_blob_create();
	h->l->top[0] = h->top[0];
	if (h->l->ops->reshape(h->l, &err) < 0) {
		tap_diag("reshape: %s", err.msg);
		return -1;
	}
	struct fcn_blob *t = h->top[0];

	if (fcn_blob_reshape(t, t->n, t->c, t->h, t->w, 1, &err) < 0)
		return -1;
	for (int i = 0; i < h->l->nparam; i++) {
		struct fcn_blob *p = h->l->param[i].blob;

		fcn_blob_reshape(p, p->n, p->c, p->h, p->w, 1, &err);
		for (size_t k = 0; k < fcn_blob_count(p); k++)
			p->data[k] = (float)(0.5 * gauss());
	}
	h->r = malloc(fcn_blob_count(t) * sizeof(float));
	for (size_t k = 0; k < fcn_blob_count(t); k++)
		h->r[k] = (float)gauss();
	return 0;
}

/* Forward from the saved inputs; the objective. */
static double objective(struct harness *h)
{
	struct fcn_err err;
	struct fcn_blob *t = h->top[0];
	double s = 0;

	for (int i = 0; i < h->nb; i++)
		memcpy(h->bottom[i]->data, h->saved[i],
		       fcn_blob_count(h->bottom[i]) * sizeof(float));
	fcn_net_set_seed(h->net, 99);
	if (h->l->ops->forward(h->l, &err) < 0) {
		tap_diag("forward: %s", err.msg);
		return NAN;
	}
	if (h->l->loss_weight != 0)
		return h->l->loss_weight * h->l->value;
	for (size_t k = 0; k < fcn_blob_count(t); k++)
		s += (double)h->r[k] * t->data[k];
	return s;
}

static int backward(struct harness *h)
{
	struct fcn_err err;
	struct fcn_blob *t = h->top[0];

	objective(h);
	for (int i = 0; i < h->l->nparam; i++)
		memset(h->l->param[i].blob->diff, 0,
		       fcn_blob_count(h->l->param[i].blob) * sizeof(float));
	if (h->l->loss_weight == 0)
		memcpy(t->diff, h->r, fcn_blob_count(t) * sizeof(float));
	if (h->l->ops->backward(h->l, &err) < 0) {
		tap_diag("backward: %s", err.msg);
		return -1;
	}
	return 0;
}

/* Compares analytic gradients in grad (copied) with finite differences of
 * the elements of x (a saved input or a parameter).  At most 40 elements. */
static int fd_check(struct harness *h, float *x, const float *grad, size_t n,
		    double eps, double tol, double *worst)
{
	size_t step = n > 40 ? n / 40 : 1;
	int bad = 0;

	for (size_t k = 0; k < n; k += step) {
		float keep = x[k];

		x[k] = (float)(keep + eps);
		double up = objective(h);
		x[k] = (float)(keep - eps);
		double down = objective(h);
		x[k] = keep;
		double num = (up - down) / (2 * eps);
		double ana = grad[k];
		double e = fabs(num - ana) / (1e-3 + fabs(num) + fabs(ana));

		if (e > *worst)
			*worst = e;
		if (e > tol) {
			if (bad < 3)
				tap_diag("  element %zu: numeric %.6g analytic %.6g", k,
					 num, ana);
			bad++;
		}
	}
	return bad;
}

/* The whole check for one layer configuration. */
static void grad_check(const char *what, const char *text, enum fcn_phase ph,
		       int nb, const int shapes[][4], int inplace,
		       int label_bottom, int nclass, double eps, double tol)
{
	struct harness h;
	int bad = 0;
	double worst = 0;

	if (harness_make(&h, text, ph, nb, shapes, inplace, label_bottom,
			 nclass) < 0 ||
	    backward(&h) < 0) {
		CHECK(0, "%s: set up", what);
		harness_free(&h);
		return;
	}
	for (int i = 0; i < nb; i++) {
		size_t n = fcn_blob_count(h.bottom[i]);
		float *g;

		if (i == label_bottom || !h.l->need_diff[i])
			continue;
		g = malloc(n * sizeof *g);
		memcpy(g, h.bottom[i]->diff, n * sizeof *g);
		bad += fd_check(&h, h.saved[i], g, n, eps, tol, &worst);
		free(g);
	}
	for (int i = 0; i < h.l->nparam; i++) {
		struct fcn_blob *p = h.l->param[i].blob;
		size_t n = fcn_blob_count(p);
		float *g;

		if (h.l->param[i].lr_mult == 0 && h.l->ops == &fcn_batchnorm_ops)
			continue;
		g = malloc(n * sizeof *g);
		memcpy(g, p->diff, n * sizeof *g);
		bad += fd_check(&h, p->data, g, n, eps, tol, &worst);
		free(g);
	}
	CHECK(bad == 0, "%s: backward matches finite differences (worst rel. error %.2g)",
	      what, worst);
	/* accumulate mode adds to what is there */
	if (!inplace && h.l->need_diff[0]) {
		size_t n = fcn_blob_count(h.bottom[0]);
		float *g = malloc(n * sizeof *g);
		double e = 0;

		memcpy(g, h.bottom[0]->diff, n * sizeof *g);
		h.l->accum[0] = 1;
		backward(&h);
		for (size_t k = 0; k < n; k++)
			e = fmax(e, fabs(h.bottom[0]->diff[k] - 2 * g[k]) /
					    (1e-6 + fabs(g[k])));
		CHECK(e < 1e-4, "%s: accumulating backward adds (err %.2g)", what, e);
		free(g);
	}
	harness_free(&h);
}

#define LAYER(type, params) "layer { name: 't' type: '" type "' " params " }"

static void test_gradients(void)
{
	static const int s1[][4] = { { 2, 4, 7, 6 } };
	static const int s2[][4] = { { 2, 3, 5, 5 } };
	static const int s3[][4] = { { 2, 4, 3, 4 } };
	static const int s4[][4] = { { 2, 3, 7, 7 } };
	static const int s5[][4] = { { 2, 5, 3, 3 } };
	static const int s6[][4] = { { 2, 3, 4, 5 } };
	static const int crop[][4] = { { 2, 3, 7, 8 }, { 1, 1, 4, 5 } };
	static const int two[][4] = { { 2, 3, 4, 5 }, { 2, 3, 4, 5 } };
	static const int three[][4] = { { 2, 3, 4, 5 }, { 2, 3, 4, 5 }, { 2, 3, 4, 5 } };
	static const int cat[][4] = { { 2, 3, 4, 5 }, { 2, 2, 4, 5 } };
	static const int loss[][4] = { { 2, 3, 4, 5 }, { 2, 1, 4, 5 } };
	static const int w1[][4] = { { 1, 64, 5, 6 } };
	static const int w2[][4] = { { 2, 32, 7, 5 } };

	grad_check("Convolution k3 s2 p1 dilation 2 group 2",
		   LAYER("Convolution", "convolution_param { num_output: 6 kernel_size: 3 "
			 "stride: 2 pad: 1 dilation: 2 group: 2 }"),
		   FCN_TRAIN, 1, s1, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Convolution kernel_h/w stride_h/w pad_h/w",
		   LAYER("Convolution", "convolution_param { num_output: 3 kernel_h: 3 "
			 "kernel_w: 2 stride_h: 1 stride_w: 2 pad_h: 0 pad_w: 1 }"),
		   FCN_TRAIN, 1, s1, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Convolution k3 s2 pad 4 (outputs seeing only padding skipped)",
		   LAYER("Convolution", "convolution_param { num_output: 4 kernel_size: 3 "
			 "stride: 2 pad: 4 group: 2 }"),
		   FCN_TRAIN, 1, s3, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Convolution k3 pad_h 5 pad_w 0",
		   LAYER("Convolution", "convolution_param { num_output: 2 kernel_size: 3 "
			 "pad_h: 5 pad_w: 0 }"),
		   FCN_TRAIN, 1, s1, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Convolution 3x3 s1 pad 1 group 2, 64 -> 64 (Winograd)",
		   LAYER("Convolution", "convolution_param { num_output: 64 kernel_size: 3 "
			 "pad: 1 group: 2 }"),
		   FCN_TRAIN, 1, w1, 0, -1, 0, 0.1, 2e-2); /* linear: a large step is exact */
	grad_check("Convolution 3x3 s1 pad 0, 32 -> 32 (Winograd, odd output)",
		   LAYER("Convolution", "convolution_param { num_output: 32 kernel_size: 3 }"),
		   FCN_TRAIN, 1, w2, 0, -1, 0, 0.1, 2e-2); /* linear: a large step is exact */
	grad_check("Convolution 3x3 s1 pad_h 2 pad_w 0, 32 -> 32 (Winograd)",
		   LAYER("Convolution", "convolution_param { num_output: 32 kernel_size: 3 "
			 "pad_h: 2 pad_w: 0 }"),
		   FCN_TRAIN, 1, w2, 0, -1, 0, 0.1, 2e-2); /* linear: a large step is exact */
	grad_check("Convolution 3x3 s1 pad 1, 4 -> 4 (im2col)",
		   LAYER("Convolution", "convolution_param { num_output: 4 kernel_size: 3 pad: 1 }"),
		   FCN_TRAIN, 1, s1, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Convolution 1x1, no bias",
		   LAYER("Convolution", "convolution_param { num_output: 4 kernel_size: 1 "
			 "bias_term: false }"),
		   FCN_TRAIN, 1, s2, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Deconvolution k4 s2 p1 group 2",
		   LAYER("Deconvolution", "convolution_param { num_output: 4 kernel_size: 4 "
			 "stride: 2 pad: 1 group: 2 }"),
		   FCN_TRAIN, 1, s3, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Deconvolution 1x1",
		   LAYER("Deconvolution", "convolution_param { num_output: 2 kernel_size: 1 }"),
		   FCN_TRAIN, 1, s3, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Pooling MAX k3 s2 (ceil)",
		   LAYER("Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
		   FCN_TRAIN, 1, s4, 0, -1, 0, 1e-3, 2e-2);
	grad_check("Pooling MAX k3 s2 pad 1",
		   LAYER("Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }"),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-3, 2e-2);
	grad_check("Pooling AVE k3 s2 pad 1",
		   LAYER("Pooling", "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }"),
		   FCN_TRAIN, 1, s4, 0, -1, 0, 1e-2, 2e-2);
	grad_check("LRN local_size 3 alpha 0.5 k 2",
		   LAYER("LRN", "lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }"),
		   FCN_TRAIN, 1, s5, 0, -1, 0, 1e-2, 2e-2);
	grad_check("LRN local_size 5 beta 0.6",
		   LAYER("LRN", "lrn_param { local_size: 5 alpha: 1 beta: 0.6 }"),
		   FCN_TRAIN, 1, s5, 0, -1, 0, 1e-2, 2e-2);
	grad_check("ReLU negative_slope 0.1 in place",
		   LAYER("ReLU", "relu_param { negative_slope: 0.1 }"),
		   FCN_TRAIN, 1, s6, 1, -1, 0, 1e-3, 2e-2);
	grad_check("ReLU", LAYER("ReLU", ""), FCN_TRAIN, 1, s6, 0, -1, 0, 1e-3, 2e-2);
	/* 294 values: four-lane blocks and a tail of 2 */
	grad_check("ReLU negative_slope 0.2, odd count",
		   LAYER("ReLU", "relu_param { negative_slope: 0.2 }"),
		   FCN_TRAIN, 1, s4, 0, -1, 0, 1e-3, 2e-2);
	grad_check("Sigmoid", LAYER("Sigmoid", ""), FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Power power 2 scale 0.5 shift 1",
		   LAYER("Power", "power_param { power: 2 scale: 0.5 shift: 1 }"),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Power shift -116 in place",
		   LAYER("Power", "power_param { shift: -116 }"),
		   FCN_TRAIN, 1, s6, 1, -1, 0, 1e-2, 2e-2);
	grad_check("Dropout 0.3 TRAIN (fixed seed)",
		   LAYER("Dropout", "dropout_param { dropout_ratio: 0.3 }"),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Dropout TEST", LAYER("Dropout", ""), FCN_TEST, 1, s6, 1, -1, 0,
		   1e-2, 2e-2);
	grad_check("Crop axis 2 offset 2 1",
		   LAYER("Crop", "crop_param { axis: 2 offset: 2 offset: 1 }"),
		   FCN_TRAIN, 2, crop, 0, 1, 1, 1e-2, 2e-2);
	grad_check("Eltwise SUM coeff 1 -0.5",
		   LAYER("Eltwise", "eltwise_param { operation: SUM coeff: 1 coeff: -0.5 }"),
		   FCN_TRAIN, 2, two, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Eltwise PROD of 3", LAYER("Eltwise", "eltwise_param { operation: PROD }"),
		   FCN_TRAIN, 3, three, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Eltwise MAX", LAYER("Eltwise", "eltwise_param { operation: MAX }"),
		   FCN_TRAIN, 2, two, 0, -1, 0, 1e-3, 2e-2);
	grad_check("Concat axis 1", LAYER("Concat", ""), FCN_TRAIN, 2, cat, 0, -1, 0,
		   1e-2, 2e-2);
	grad_check("Concat axis 3", LAYER("Concat", "concat_param { axis: 3 }"),
		   FCN_TRAIN, 2, two, 0, -1, 0, 1e-2, 2e-2);
	grad_check("BatchNorm (batch statistics)", LAYER("BatchNorm", ""), FCN_TRAIN, 1,
		   s6, 0, -1, 0, 1e-2, 3e-2);
	grad_check("Scale with bias", LAYER("Scale", "scale_param { bias_term: true }"),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Scale in place", LAYER("Scale", ""), FCN_TRAIN, 1, s6, 1, -1, 0,
		   1e-2, 2e-2);
	/* 7x7 planes: the four partial sums and a tail of 1 */
	grad_check("BatchNorm (batch statistics), 7x7", LAYER("BatchNorm", ""), FCN_TRAIN, 1,
		   s4, 0, -1, 0, 1e-2, 3e-2);
	grad_check("Scale with bias, 7x7", LAYER("Scale", "scale_param { bias_term: true }"),
		   FCN_TRAIN, 1, s4, 0, -1, 0, 1e-2, 2e-2);
	grad_check("MVN (per channel, normalize_variance)", LAYER("MVN", ""),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("MVN across_channels in place", LAYER("MVN", "mvn_param { across_channels: true }"),
		   FCN_TRAIN, 1, s6, 1, -1, 0, 1e-2, 2e-2);
	grad_check("MVN across_channels", LAYER("MVN", "mvn_param { across_channels: true }"),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("MVN in place", LAYER("MVN", ""),
		   FCN_TRAIN, 1, s6, 1, -1, 0, 1e-2, 2e-2);
	grad_check("MVN mean only", LAYER("MVN", "mvn_param { normalize_variance: false }"),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("InnerProduct axis 1",
		   LAYER("InnerProduct", "inner_product_param { num_output: 5 }"),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("InnerProduct axis 2, no bias",
		   LAYER("InnerProduct", "inner_product_param { num_output: 3 axis: 2 "
			 "bias_term: false }"),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("InnerProduct axis -1 (last)",
		   LAYER("InnerProduct", "inner_product_param { num_output: 2 axis: -1 }"),
		   FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("Softmax", LAYER("Softmax", ""), FCN_TRAIN, 1, s6, 0, -1, 0, 1e-2, 2e-2);
	grad_check("SoftmaxWithLoss normalize",
		   LAYER("SoftmaxWithLoss", "loss_param { normalize: true }"),
		   FCN_TRAIN, 2, loss, 0, 1, 3, 1e-2, 2e-2);
	grad_check("SoftmaxWithLoss normalization FULL",
		   LAYER("SoftmaxWithLoss", "loss_param { normalization: FULL }"),
		   FCN_TRAIN, 2, loss, 0, 1, 3, 1e-2, 2e-2);
	grad_check("SoftmaxWithLoss normalization NONE wins over normalize",
		   LAYER("SoftmaxWithLoss", "loss_param { normalize: true normalization: NONE }"),
		   FCN_TRAIN, 2, loss, 0, 1, 3, 1e-2, 2e-2);
	grad_check("SoftmaxWithLoss ignore_label 1 normalize false",
		   LAYER("SoftmaxWithLoss", "loss_param { ignore_label: 1 normalize: false }"),
		   FCN_TRAIN, 2, loss, 0, 1, 3, 1e-2, 2e-2);
}

/* Weighted and Dice losses go through the net's settings. */
static void test_loss_modes(void)
{
	static const int loss[][4] = { { 2, 3, 4, 5 }, { 2, 1, 4, 5 } };
	static const int bin[][4] = { { 2, 2, 4, 5 }, { 2, 1, 4, 5 } };
	struct fcn_err err;
	struct harness h;
	float w[3] = { 0.2f, 1.0f, 3.0f };
	double worst = 0;
	int bad = 0;

	harness_make(&h, LAYER("SoftmaxWithLoss", "loss_param { normalize: true }"),
		     FCN_TRAIN, 2, loss, 0, 1, 3);
	CHECK(fcn_net_set_class_weights(h.net, w, 3, &err) == 0, "class weights set");
	backward(&h);
	{
		size_t n = fcn_blob_count(h.bottom[0]);
		float *g = malloc(n * sizeof *g);

		memcpy(g, h.bottom[0]->diff, n * sizeof *g);
		bad = fd_check(&h, h.saved[0], g, n, 1e-2, 2e-2, &worst);
		free(g);
	}
	/* by hand: sum w[y] * -log p(y) / sum w[y] */
	{
		double num = 0, den = 0;
		const struct fcn_blob *s = h.bottom[0];
		int hw = s->h * s->w;

		objective(&h);
		for (int n = 0; n < s->n; n++)
			for (int i = 0; i < hw; i++) {
				int k = (int)h.bottom[1]->data[n * hw + i];
				double z = 0;

				for (int c = 0; c < 3; c++)
					z += exp(s->data[(n * 3 + c) * hw + i]);
				num -= w[k] * log(exp(s->data[(n * 3 + k) * hw + i]) / z);
				den += w[k];
			}
		CHECK(fabs(h.l->value - num / den) < 1e-5 * fabs(num / den),
		      "weighted softmax loss %.6f = by hand %.6f", h.l->value, num / den);
	}
	CHECK(bad == 0, "weighted SoftmaxWithLoss: backward matches finite differences (%.2g)",
	      worst);
	harness_free(&h);

	/* normalizations: FULL divides by N*H*W, NONE by 1, normalize: false by N */
	{
		static const char *const texts[] = {
			LAYER("SoftmaxWithLoss", "loss_param { normalization: FULL }"),
			LAYER("SoftmaxWithLoss", "loss_param { normalization: NONE normalize: true }"),
			LAYER("SoftmaxWithLoss", "loss_param { normalize: false }"),
		};
		double v[3];

		for (int i = 0; i < 3; i++) {
			test_rng.s = 777; /* the same inputs each time */
			harness_make(&h, texts[i], FCN_TRAIN, 2, loss, 0, 1, 3);
			objective(&h);
			v[i] = h.l->value;
			harness_free(&h);
		}
		CHECK(fabs(v[1] - 40 * v[0]) < 1e-4 * v[1] && fabs(v[2] - 20 * v[0]) < 1e-4 * v[2],
		      "loss normalizations: FULL %.4f, NONE %.4f (x40), BATCH_SIZE %.4f (x20)",
		      v[0], v[1], v[2]);
	}

	/* soft Dice loss needs a net with a SoftmaxWithLoss to switch */
	harness_make(&h, LAYER("SoftmaxWithLoss", "loss_param { ignore_label: 255 }"),
		     FCN_TRAIN, 2, bin, 0, 1, 2);
	CHECK(fcn_net_set_loss(h.net, FCN_LOSS_DICE, &err) < 0,
	      "set_loss refuses a net without SoftmaxWithLoss: %s", err.msg);
	fcn_net_free(h.net);
	h.net = fcn_net_parse("layer { name: 'in' type: 'Input' top: 'data' top: 'label' }"
			      "layer { name: 'l' type: 'SoftmaxWithLoss' bottom: 'data' bottom: 'label' }",
			      "harness", FCN_TRAIN, &err);
	h.l->net = h.net;
	CHECK(fcn_net_set_loss(h.net, FCN_LOSS_DICE, &err) == 0, "Dice loss set");
	h.saved[1][3] = 255; /* an ignored pixel */
	backward(&h);
	{
		size_t n = fcn_blob_count(h.bottom[0]);
		float *g = malloc(n * sizeof *g);

		worst = 0;
		memcpy(g, h.bottom[0]->diff, n * sizeof *g);
		bad = fd_check(&h, h.saved[0], g, n, 1e-2, 2e-2, &worst);
		free(g);
	}
	{
		const struct fcn_blob *s = h.bottom[0];
		int hw = s->h * s->w;
		double d = 0;

		objective(&h);
		for (int n = 0; n < s->n; n++) {
			double I = 0, S = 0;

			for (int i = 0; i < hw; i++) {
				float y = h.bottom[1]->data[n * hw + i];
				double a = s->data[(n * 2) * hw + i], b = s->data[(n * 2 + 1) * hw + i];
				double p1 = 1 / (1 + exp(a - b));

				if (y == 255)
					continue;
				I += p1 * (y >= 1);
				S += p1 + (y >= 1);
			}
			d += (2 * I + 1) / (S + 1);
		}
		CHECK(fabs(h.l->value - (1 - d / s->n)) < 1e-5,
		      "soft Dice loss %.6f = by hand %.6f", h.l->value, 1 - d / s->n);
	}
	CHECK(bad == 0, "Dice loss: backward matches finite differences (%.2g)", worst);
	harness_free(&h);
}

/* The softmax+dice loss (weighted cross-entropy + 1 - soft Dice, per image
 * or over the batch) against finite differences and against PyTorch
 * (tests/ref/torch_dice_loss.py, float64 autograd; skipped when $PYTHON
 * cannot import torch). */
static void test_softmax_dice(void)
{
	static const int shape[][4] = { { 3, 3, 4, 5 }, { 3, 1, 4, 5 } };
	static const char *const over[] = { "image", "batch" };
	static const char *const groups[] = { "union", "each" };
	float w[3] = { 0.5f, 2.0f, 1.0f };
	const char *py = getenv("PYTHON");
	struct fcn_err err;

	for (int mode = 0; mode < 4; mode++) {
		int batch = mode & 1, each = mode >> 1;
		struct harness h;
		double worst = 0, ref[1 + 180], gw = 0;
		int bad, nref = 0;
		size_t n;
		float *g;
		char path[] = "/tmp/test_fcn_diceXXXXXX", cmd[512];
		FILE *f;
		int fd;

		test_rng.s = 4242 + mode;
		harness_make(&h, LAYER("SoftmaxWithLoss", "loss_param { ignore_label: 255 }"),
			     FCN_TRAIN, 2, shape, 0, 1, 3);
		fcn_net_free(h.net);
		h.net = fcn_net_parse("layer { name: 'in' type: 'Input' top: 'data' top: 'label' }"
				      "layer { name: 'l' type: 'SoftmaxWithLoss' bottom: 'data' bottom: 'label' }",
				      "harness", FCN_TRAIN, &err);
		h.l->net = h.net;
		CHECK(fcn_net_set_loss(h.net, FCN_LOSS_SOFTMAX_DICE, &err) == 0 &&
		      fcn_net_set_class_weights(h.net, w, 3, &err) == 0,
		      "softmax+dice (%s, %s) set", over[batch], groups[each]);
		fcn_net_set_dice_batch(h.net, batch);
		fcn_net_set_dice_each(h.net, each);
		h.saved[1][3] = 255; /* an ignored pixel */
		h.saved[1][27] = 255;
		backward(&h);
		n = fcn_blob_count(h.bottom[0]);
		g = malloc(n * sizeof *g);
		memcpy(g, h.bottom[0]->diff, n * sizeof *g);
		bad = fd_check(&h, h.saved[0], g, n, 1e-2, 2e-2, &worst);
		CHECK(bad == 0, "softmax+dice over %s, %s: backward matches finite differences (%.2g)",
		      over[batch], groups[each], worst);
		objective(&h);

		fd = mkstemp(path);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (f) {
			fprintf(f, "3 3 4 5\n");
			for (size_t k = 0; k < n; k++)
				fprintf(f, "%.9g\n", h.saved[0][k]);
			for (size_t k = 0; k < 60; k++)
				fprintf(f, "%g\n", h.saved[1][k]);
			fclose(f);
			snprintf(cmd, sizeof cmd,
				 "%s tests/ref/torch_dice_loss.py %s %s 0.5,2,1 %s 2>/dev/null",
				 py && *py ? py : "/usr/bin/python3", path, over[batch],
				 groups[each]);
			FILE *p = popen(cmd, "r");

			while (p && nref < 181 && fscanf(p, "%lf", &ref[nref]) == 1)
				nref++;
			if (p && pclose(p) != 0)
				nref = 0;
			unlink(path);
		}
		if (nref != 181) {
			tap_skip("softmax+dice over %s, %s vs PyTorch: reference did not run",
				 over[batch], groups[each]);
			free(g);
			harness_free(&h);
			continue;
		}
		for (size_t k = 0; k < n; k++)
			gw = fmax(gw, fabs(g[k] - ref[1 + k]) / (1e-6 + 1e-4 * fabs(ref[1 + k])));
		CHECK(fabs(h.l->value - ref[0]) <= 1e-6 + 1e-5 * fabs(ref[0]),
		      "softmax+dice over %s, %s: loss %.7f = PyTorch %.7f", over[batch],
		      groups[each], h.l->value, ref[0]);
		CHECK(gw <= 1, "softmax+dice over %s, %s: gradient = PyTorch's (worst %.2g of "
		      "1e-6 + 1e-4 |ref|)", over[batch], groups[each], gw);
		free(g);
		harness_free(&h);
	}
}

static struct fcn_blob *run_forward(struct harness *h, const char *text,
				    const int shape[][4], int nb,
				    const float *const *inputs)
{
	if (harness_make(h, text, FCN_TEST, nb, shape, 0, -1, 0) < 0)
		return NULL;
	for (int i = 0; i < nb; i++)
		memcpy(h->saved[i], inputs[i], fcn_blob_count(h->bottom[i]) * sizeof(float));
	objective(h);
	return h->top[0];
}

static void test_forward_values(void)
{
	struct harness h;
	struct fcn_blob *t;

	/* Caffe pooling sizes: ceil, and the clip rule with padding */
	{
		static const int s[][4] = { { 1, 1, 6, 6 } };
		float x[36];
		const float *in[] = { x };

		for (int i = 0; i < 36; i++)
			x[i] = (float)i;
		t = run_forward(&h, LAYER("Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
				s, 1, in);
		/* ceil((6-3)/2)+1 = 3: windows start at 0, 2, 4 (the last clipped) */
		CHECK(t && t->h == 3 && t->w == 3 && t->data[0] == 14 && t->data[2] == 17 &&
		      t->data[8] == 35, "MAX 3/2 on 6x6: 3x3, values 14 17 .. 35");
		harness_free(&h);
		t = run_forward(&h, LAYER("Pooling", "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }"),
				s, 1, in);
		/* ceil((6+2-3)/2)+1 = 4; (4-1)*2 = 6 < 6+1 keeps 4.  Window (0,0)
		 * covers rows/cols -1..1, divisor 9 (clipped to the padded image). */
		CHECK(t && t->h == 4 && fabsf(t->data[0] - (0 + 1 + 6 + 7) / 9.0f) < 1e-5f,
		      "AVE 3/2 pad 1 on 6x6: 4x4, corner divides by 9 (got %g)",
		      t ? (double)t->data[0] : -1.0);
		/* last window: rows 5..7 → clipped to padded 5..6 → divisor 2x2 */
		CHECK(t && fabsf(t->data[15] - 35 / 4.0f) < 1e-5f,
		      "AVE last window divides by the part inside the padded image (got %g)",
		      t ? (double)t->data[15] : -1.0);
		harness_free(&h);
	}
	{
		static const int s[][4] = { { 1, 1, 5, 5 } };
		float x[25] = { 0 };
		const float *in[] = { x };

		t = run_forward(&h, LAYER("Pooling", "pooling_param { pool: MAX kernel_size: 2 stride: 2 pad: 1 }"),
				s, 1, in);
		/* ceil((5+2-2)/2)+1 = 4, (4-1)*2 = 6 >= 5+1: one less → 3 */
		CHECK(t && t->h == 3, "pooling clip rule: 5x5 k2 s2 p1 gives 3 (got %d)",
		      t ? t->h : -1);
		harness_free(&h);
	}
	/* LRN by hand on one pixel with 3 channels */
	{
		static const int s[][4] = { { 1, 3, 1, 1 } };
		float x[3] = { 1, 2, 3 };
		const float *in[] = { x };

		t = run_forward(&h, LAYER("LRN", "lrn_param { local_size: 3 alpha: 0.3 beta: 0.75 k: 2 }"),
				s, 1, in);
		double want = 2 / pow(2 + 0.1 * (1 + 4 + 9), 0.75);

		CHECK(t && fabs(t->data[1] - want) < 1e-5, "LRN middle channel %g = %g",
		      t ? (double)t->data[1] : -1.0, want);
		harness_free(&h);
	}
	/* ReLU with a slope, element by element (294 values: four-lane blocks
	 * and a tail), signed zeros and infinities included */
	{
		static const int s[][4] = { { 2, 3, 7, 7 } };
		float x[294];
		const float *in[] = { x };
		int bad = 0;

		for (int i = 0; i < 294; i++)
			x[i] = (float)((i * 37) % 19 - 9) / 4;
		x[5] = -0.0f, x[6] = INFINITY, x[7] = -INFINITY, x[293] = -3;
		t = run_forward(&h, LAYER("ReLU", "relu_param { negative_slope: 0.25 }"), s, 1, in);
		for (int i = 0; t && i < 294; i++) {
			float want = x[i] > 0 ? x[i] : 0.25f * x[i];

			bad += memcmp(&t->data[i], &want, sizeof want) != 0;
		}
		CHECK(t && !bad, "ReLU slope 0.25: every value is x > 0 ? x : 0.25 x (%d differ)", bad);
		harness_free(&h);
	}
	/* conv and deconv sizes */
	{
		static const int s[][4] = { { 1, 3, 256, 256 } };
		static const int d[][4] = { { 1, 2, 9, 9 } };
		struct fcn_err err;

		harness_make(&h, LAYER("Convolution", "convolution_param { num_output: 2 kernel_size: 11 stride: 4 pad: 100 }"),
			     FCN_TEST, 1, s, 0, -1, 0);
		CHECK(h.top[0]->h == 112, "conv 11/4 pad 100 on 256: 112 (got %d)", h.top[0]->h);
		harness_free(&h);
		harness_make(&h, LAYER("Deconvolution", "convolution_param { num_output: 2 group: 2 "
				       "kernel_size: 63 stride: 32 bias_term: false weight_filler { type: 'bilinear' } }"),
			     FCN_TEST, 1, d, 0, -1, 0);
		CHECK(h.top[0]->h == 319, "deconv 63/32 on 9: 319 (got %d)", h.top[0]->h);
		/* bilinear filler: f = 32, c = 63/64 */
		h.l->ops->fill(h.l, 1, &err);
		{
			const float *w = h.l->param[0].blob->data;
			double c = 63.0 / 64.0;
			double w0 = (1 - fabs(0 / 32.0 - c)) * (1 - fabs(0 / 32.0 - c));
			double w31 = (1 - fabs(31 / 32.0 - c)) * (1 - fabs(40 / 32.0 - c));

			CHECK(fabs(w[0] - w0) < 1e-6 && fabs(w[40 * 63 + 31] - w31) < 1e-6 &&
			      fabs(w[63 * 63 + 40 * 63 + 31] - w31) < 1e-6,
			      "bilinear filler as in REFERENCE.md, every group");
		}
		harness_free(&h);
	}
}

/* A one-Convolution harness on 2 images of (c, h, w); -1 (a failed
 * check) when it does not build. */
static int conv_harness(struct harness *hs, const char *params, int c, int h,
			int w, enum fcn_phase ph)
{
	char text[256];
	int shape[1][4] = { { 2, c, h, w } };

	snprintf(text, sizeof text, "layer { name: 't' type: 'Convolution' "
		 "convolution_param { %s } }", params);
	if (harness_make(hs, text, ph, 1, (const int(*)[4])shape, 0, -1, 0) < 0) {
		CHECK(0, "conv %s builds", params);
		return -1;
	}
	return 0;
}

/* Convolution forward against a direct double-precision sum, for the
 * Winograd path (3x3 stride 1) and the im2col path alike. */
static void test_conv_direct(void)
{
	static const struct {
		const char *params;
		int c, h, w, m, k, s, p, g;
	} cases[] = {
		{ "num_output: 64 kernel_size: 3 pad: 1 group: 2", 64, 7, 9, 64, 3, 1, 1, 2 },
		{ "num_output: 32 kernel_size: 3", 32, 6, 5, 32, 3, 1, 0, 1 },
		{ "num_output: 32 kernel_size: 3 pad: 2", 32, 5, 4, 32, 3, 1, 2, 1 },
		{ "num_output: 6 kernel_size: 3 pad: 1 group: 2", 4, 7, 9, 6, 3, 1, 1, 2 },
		{ "num_output: 4 kernel_size: 3 stride: 2 pad: 1", 2, 7, 7, 4, 3, 2, 1, 1 },
		{ "num_output: 2 kernel_size: 5 pad: 2", 3, 6, 6, 2, 5, 1, 2, 1 },
	};

	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		struct harness h;
		double d2 = 0, r2 = 0;

		if (conv_harness(&h, cases[ci].params, cases[ci].c, cases[ci].h, cases[ci].w,
				 FCN_TEST) < 0)
			continue;
		objective(&h);
		const struct fcn_blob *x = h.bottom[0], *y = h.top[0];
		const float *W = h.l->param[0].blob->data, *B = h.l->param[1].blob->data;
		int k = cases[ci].k, s = cases[ci].s, p = cases[ci].p, G = cases[ci].g;
		int Cg = x->c / G, Mg = y->c / G;

		for (int n = 0; n < y->n; n++)
			for (int m = 0; m < y->c; m++)
				for (int oy = 0; oy < y->h; oy++)
					for (int ox = 0; ox < y->w; ox++) {
						double acc = B[m];
						int g = m / Mg;

						for (int c = 0; c < Cg; c++)
							for (int ky = 0; ky < k; ky++)
								for (int kx = 0; kx < k; kx++) {
									int iy = oy * s - p + ky, ix = ox * s - p + kx;

									if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w)
										continue;
									acc += (double)W[((m * Cg + c) * k + ky) * k + kx] *
									       x->data[((n * x->c + g * Cg + c) * x->h + iy) * x->w + ix];
								}
						double got = y->data[((n * y->c + m) * y->h + oy) * y->w + ox];

						d2 += (got - acc) * (got - acc);
						r2 += acc * acc;
					}
		CHECK(sqrt(d2 / r2) < 1e-6, "conv forward %s (%dx%d) = direct sum (rel. error %.2g)",
		      cases[ci].params, x->h, x->w, sqrt(d2 / r2));
		harness_free(&h);
	}
}

/* Weight gradient on maps large enough for the chunked path (row groups,
 * several column chunks per group: 32 channels, 130x64), and a group of 2,
 * against a direct double-precision sum of dY x X. */
static void test_conv_weight_grad(void)
{
	static const struct {
		const char *params;
		int c, h, w, m, p, g;
	} cases[] = {
		{ "num_output: 4 kernel_size: 3 pad: 1", 32, 130, 64, 4, 1, 1 },
		{ "num_output: 4 kernel_size: 3 group: 2", 6, 66, 70, 4, 0, 2 },
	};

	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		struct harness h;
		double d2 = 0, r2 = 0;

		if (conv_harness(&h, cases[ci].params, cases[ci].c, cases[ci].h, cases[ci].w,
				 FCN_TRAIN) < 0)
			continue;
		backward(&h);
		const struct fcn_blob *x = h.bottom[0], *y = h.top[0];
		const float *dW = h.l->param[0].blob->diff;
		int p = cases[ci].p, G = cases[ci].g, Cg = x->c / G, Mg = y->c / G;

		for (int m = 0; m < y->c; m++)
			for (int c = 0; c < Cg; c++)
				for (int k = 0; k < 9; k++) {
					double acc = 0;
					int ky = k / 3, kx = k % 3, g = m / Mg;

					for (int n = 0; n < y->n; n++)
						for (int oy = 0; oy < y->h; oy++)
							for (int ox = 0; ox < y->w; ox++) {
								int iy = oy - p + ky, ix = ox - p + kx;

								if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w)
									continue;
								acc += (double)h.r[((n * y->c + m) * y->h + oy) * y->w + ox] *
								       x->data[((n * x->c + g * Cg + c) * x->h + iy) * x->w + ix];
							}
					double got = dW[(m * Cg + c) * 9 + k];

					d2 += (got - acc) * (got - acc);
					r2 += acc * acc;
				}
		CHECK(sqrt(d2 / r2) < 1e-5, "conv weight gradient %s (%dx%d) = direct sum (rel. error %.2g)",
		      cases[ci].params, x->h, x->w, sqrt(d2 / r2));
		{
			size_t nw = fcn_blob_count(h.l->param[0].blob);
			float *two = malloc(nw * sizeof *two);

			memcpy(two, dW, nw * sizeof *two);
			fcn_set_threads(1);
			backward(&h);
			fcn_set_threads(2);
			CHECK(!memcmp(two, dW, nw * sizeof *two),
			      "conv weight gradient %s: the same bits on 1 and 2 threads", cases[ci].params);
			free(two);
		}
		harness_free(&h);
	}
}

/* Fillers: statistics of msra/xavier/gaussian and determinism. */
static void test_fillers(void)
{
	struct fcn_err err;
	struct fcn_blob *b = fcn_blob_create(), *b2 = fcn_blob_create();
	struct fcn_filler f = { .type = FCN_FILL_MSRA };
	double s = 0, s2 = 0, mx = 0;
	size_t n;

	fcn_blob_reshape(b, 64, 32, 3, 3, 0, &err);
	fcn_blob_reshape(b2, 64, 32, 3, 3, 0, &err);
	n = fcn_blob_count(b);
	fcn_filler_run(&f, b, 7, &err);
	for (size_t i = 0; i < n; i++) {
		s += b->data[i];
		s2 += (double)b->data[i] * b->data[i];
	}
	double var = s2 / n - (s / n) * (s / n), want = 2.0 / (32 * 9);

	CHECK(fabs(var - want) < 0.1 * want && fabs(s / n) < 0.01,
	      "msra: variance %.5f ~ 2/fan_in %.5f", var, want);
	f.type = FCN_FILL_XAVIER;
	fcn_filler_run(&f, b, 7, &err);
	for (size_t i = 0; i < n; i++)
		mx = fmax(mx, fabs(b->data[i]));
	CHECK(mx <= sqrt(3.0 / (32 * 9)) && mx > 0.95 * sqrt(3.0 / (32 * 9)),
	      "xavier: |w| <= sqrt(3/fan_in), max %.4f", mx);
	fcn_filler_run(&f, b2, 7, &err);
	CHECK(!memcmp(b->data, b2->data, n * sizeof(float)), "fillers are deterministic per seed");
	fcn_filler_run(&f, b2, 8, &err);
	CHECK(memcmp(b->data, b2->data, n * sizeof(float)), "another seed, other values");
	fcn_blob_free(b);
	fcn_blob_free(b2);
}

/* MAX pooling, 2x2 and 3x3 stride 2 (the U-Net's, FCN-8s' and
 * FCN-AlexNet's), in every kernel mode, against a naive loop written
 * here: Caffe's output size (ceil, the last windows clipped), the first
 * maximum in scan order, and the gradient summed at it; on values of four
 * levels (ties everywhere), odd and even sizes, rows with and without a
 * tail past the 8-output vectors.  Bit for bit. */
static void test_max_pool(void)
{
	static const int shapes[][2] = { { 10, 34 }, { 9, 35 }, { 6, 16 }, { 5, 19 },
					 { 13, 50 }, { 4, 4 }, { 3, 3 }, { 9, 33 } };
	static const enum fcn_kernels modes[] = { FCN_KERNELS_AUTO, FCN_KERNELS_PORTABLE,
						  FCN_KERNELS_REFERENCE };
	static const char *names[] = { "auto", "portable", "reference" };

	for (int K = 2; K <= 3; K++)
		for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
			for (int m = 0; m < 3; m++) {
				int H = shapes[sh][0], W = shapes[sh][1], C = 3;
				int s[][4] = { { 2, C, H, W } };
				char text[160];
				struct harness h;

				fcn_set_kernels(modes[m]);
				snprintf(text, sizeof text,
					 "layer { name: 't' type: 'Pooling' pooling_param { pool: MAX "
					 "kernel_size: %d stride: 2 } }", K);
				if (harness_make(&h, text, FCN_TRAIN, 1, s, 0, -1, 0) < 0) {
					CHECK(0, "pool harness");
					continue;
				}
				for (size_t k = 0; k < fcn_blob_count(h.bottom[0]); k++)
					h.saved[0][k] = (float)(fcn_rng_next(&test_rng) % 4) - 1.5f;
				backward(&h);
				int HO = (H - K + 1) / 2 + 1, WO = (W - K + 1) / 2 + 1, ok = 1, okd = 1;
				float *dx = calloc(fcn_blob_count(h.bottom[0]), sizeof *dx);

				ok = h.top[0]->h == HO && h.top[0]->w == WO;
				for (int pl = 0; ok && pl < 2 * C; pl++)
					for (int oy = 0; oy < HO; oy++)
						for (int ox = 0; ox < WO; ox++) {
							const float *x = h.saved[0] + (size_t)pl * H * W;
							size_t o = ((size_t)pl * HO + oy) * WO + ox;
							int best = -1;

							for (int y = 2 * oy; y < 2 * oy + K && y < H; y++)
								for (int xx = 2 * ox; xx < 2 * ox + K && xx < W; xx++)
									if (best < 0 || x[y * W + xx] > x[best])
										best = y * W + xx;
							ok &= h.top[0]->data[o] == x[best];
							dx[(size_t)pl * H * W + best] += h.r[o];
						}
				okd = ok && !memcmp(dx, h.bottom[0]->diff,
						    fcn_blob_count(h.bottom[0]) * sizeof *dx);
				CHECK(ok, "MAX %dx%d/2 %s on %dx%d: %dx%d, the maxima", K, K, names[m], H,
				      W, HO, WO);
				CHECK(okd, "MAX %dx%d/2 %s on %dx%d: gradient at the first maximum", K, K,
				      names[m], H, W);
				free(dx);
				harness_free(&h);
			}
	fcn_set_kernels(FCN_KERNELS_AUTO);
}

int main(void)
{
	fcn_set_threads(2);
	test_gradients();
	test_loss_modes();
	test_softmax_dice();
	test_forward_values();
	test_max_pool();
	test_conv_direct();
	test_conv_weight_grad();
	test_fillers();
	return tap_done();
}
