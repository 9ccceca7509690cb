/*
 * conv_layer.c - Convolution and Deconvolution (Caffe semantics).
 * Convolution: weights (M, C/G, KH, KW), per image one im2col and one GEMM
 * per group (1x1 stride-1 unpadded kernels use the image as the column
 * matrix; 3x3 stride-1 kernels with at least 32 channels in and out per
 * group use Winograd F(2x2, 3x3) for the output and the data gradient,
 * and from 8 input channels on maps of 256 or more outputs (1024 in
 * training), Winograd F(4x4, 3x3): wino4.h).  Other kernels on maps of
 * at most FCN_WIDE_MAXPIX outputs (FCN-AlexNet's fc6 and fc7) take a
 * batch of images in one GEMM, forward and backward.
 * Deconvolution is convolution's backward-data pass: weights
 * (C, M/G, KH, KW), a GEMM into columns and col2im into the output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct.h"
#include "fuse.h"
#include "gemm.h"
#include "im2col.h"
#include "layer.h"
#include "threads.h"
#include "winograd.h"
#include "wino4.h"
#include "wgrad3.h"
#include "up2.h"

/* Most channels in or out for which the direct 3x3 convolution is used
 * (above, Winograd or im2col + GEMM); a build-time knob for tuning. */
#ifndef FCN_DIRECT_MAXCH
#define FCN_DIRECT_MAXCH 64
#endif
/* 3x3 stride-1 kernels with at least FCN_WINO4_MINCH input channels on
 * maps of at least FCN_WINO4_MINPIX outputs use Winograd F(4x4, 3x3)
 * (wino4.h), forward and (with as many output channels, on such input
 * maps) data gradient; in training, whose weights change every step and
 * are transformed again, from FCN_WINO4_MINPIX_TRAIN (16x16 maps lost
 * there).  1-channel inputs and tiny maps keep the direct kernel and
 * F(2x2, 3x3). */
#ifndef FCN_WINO4_MINCH
#define FCN_WINO4_MINCH 8
#endif
#ifndef FCN_WINO4_MINPIX
#define FCN_WINO4_MINPIX 256
#endif
#ifndef FCN_WINO4_MINPIX_TRAIN
#define FCN_WINO4_MINPIX_TRAIN 1024
#endif

/* 3x3 stride-1 kernels on maps of at least FCN_WGRAD3_MINPIX outputs take
 * their weight gradient from the direct sum (wgrad3.h) instead of im2col +
 * GEMM (docs/bench-fcn.md has the figures). */
#ifndef FCN_WGRAD3_MINPIX
#define FCN_WGRAD3_MINPIX 1
#endif

/* Convolutions on maps of at most FCN_WIDE_MAXPIX outputs (FCN-AlexNet's
 * fc6 and fc7 on 9x9) run a batch as one GEMM: the images' columns side
 * by side, (K, N HW); per image such GEMMs are thin (81 columns) and
 * run at half of OpenBLAS's rate, for 8 images 648 are not thin. */
#ifndef FCN_WIDE_MAXPIX
#define FCN_WIDE_MAXPIX 256
#endif

struct conv {
	int num_output, bias, group;
	int kh, kw, sh, sw, ph, pw, dh, dw;
	int deconv, is1x1;
	struct fcn_filler wf, bf;
	struct fcn_geom g; /* im2col geometry: conv over the bottom, deconv over the top */
	/* Convolution: outputs [oy0, oy1) x [ox0, ox1) see the image; the rest
	 * see only padding and are the bias.  sub: that window, when smaller. */
	int oy0, oy1, ox0, ox1, sub;
	struct fcn_geom gs; /* im2col geometry of the window */
	/* 3x3 stride-1 kernels: Winograd F(2x2, 3x3) forward and data gradient */
	int wino;
	float *U, *Uflip; /* (16, M, C/G) and (16, C, M/G) transformed kernels, one buffer */
	size_t ucap;
	/* 3x3 stride-1 kernels with few channels: direct convolution (direct.c)
	 * for the output and the data gradient; packed weights */
	int direct;
	float *wp;
	size_t wpcap;
	/* 3x3 stride-1 kernels: Winograd F(4x4, 3x3) forward; U4 is
	 * transformed again only when the weights differ from w4, the weights
	 * (u4m, u4c, 3, 3) it was made from (u4m 0: none), so a stream's
	 * frames share one transform, and a reshape to the same channels
	 * keeps it */
	int wino4, u4m, u4c;
	float *U4, *w4;
	size_t u4cap;
	/* training: the data gradient by F(4x4, 3x3) too, the flipped kernels
	 * transformed into Ub */
	int wino4b;
	float *Ub;
	size_t ubcap;
	/* 3x3 stride-1 kernels: the weight gradient by the direct sum (wgrad3.h) */
	int wgrad3;
	/* Deconvolution 2x2 stride 2, no padding: the direct forward (up2.h) */
	int up2;
	/* small maps of a batch: one GEMM over the images (FCN_WIDE_MAXPIX) */
	int wide;
	/* inference: BatchNorm (+ Scale) folded into the weights and bias, and
	 * ReLU applied on the output (fcn_fuse_layers) */
	struct fcn_layer *bn, *sc;
	int relu;
	/* inference, direct path: the Concat whose bottoms are read in place */
	struct fcn_layer *cat;
	float *wfold, *bfold, *fa;
	size_t foldcap;
};

/* *p holds at least need floats, reallocated (contents lost) when *cap
 * is smaller: 1 when it was, 0 when kept, -1 when out of memory. */
static int grow(float **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	free(*p);
	*p = fcn_alloc_floats(need);
	*cap = *p ? need : 0;
	return *p ? 1 : -1;
}

/* Output range [*lo, *hi) whose kernel span meets [0, n). */
static void seeing_range(int n, int p, int s, int ek, int out, int *lo, int *hi)
{
	int a = p - ek + 1, b = n - 1 + p;

	*lo = a <= 0 ? 0 : (a + s - 1) / s;
	*hi = b < 0 ? 0 : b / s + 1;
	if (*hi > out)
		*hi = out;
	if (*lo > *hi)
		*lo = *hi;
}

/* Reads a repeated field with _h/_w variants: *h, *w keep defaults when absent. */
static int get_hw(struct pb_node *msg, const char *name, long lo, int *h,
		  int *w, struct fcn_err *err)
{
	char nh[64], nw[64];
	int v[2], n, hh = -1, ww = -1;

	if (pb_get_ints(msg, name, lo, 1 << 20, v, 2, &n, err) < 0)
		return -1;
	if (n == 1)
		*h = *w = v[0];
	else if (n == 2) {
		*h = v[0];
		*w = v[1];
	}
	snprintf(nh, sizeof nh, "%s_h", strcmp(name, "kernel_size") ? name : "kernel");
	snprintf(nw, sizeof nw, "%s_w", strcmp(name, "kernel_size") ? name : "kernel");
	if (pb_get_int(msg, nh, lo, 1 << 20, &hh, err) < 0 ||
	    pb_get_int(msg, nw, lo, 1 << 20, &ww, err) < 0)
		return -1;
	if ((hh >= 0) != (ww >= 0))
		return pb_error(msg, err, "%s and %s must be given together", nh, nw);
	if (hh >= 0) {
		if (n)
			return pb_error(msg, err, "%s and %s/%s both given", name, nh, nw);
		*h = hh;
		*w = ww;
	}
	return 0;
}

static int conv_parse(struct fcn_layer *l, struct pb_node *node,
		      struct fcn_err *err)
{
	struct conv *c = calloc(1, sizeof *c);
	struct pb_node *p = pb_nth(node, "convolution_param", 0);
	const char *engine = NULL;
	int axis = 1, nd = 0;

	if (!c)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = c;
	c->deconv = l->ops == &fcn_deconv_ops;
	c->num_output = -1;
	c->bias = 1;
	c->group = 1;
	c->kh = c->kw = -1;
	c->sh = c->sw = c->dh = c->dw = 1;
	if (!p)
		return pb_error(node, err, "layer '%s': convolution_param missing",
				l->name);
	if (pb_get_int(p, "num_output", 1, 1 << 24, &c->num_output, err) < 0 ||
	    pb_get_bool(p, "bias_term", &c->bias, err) < 0 ||
	    pb_get_int(p, "group", 1, 1 << 24, &c->group, err) < 0 ||
	    get_hw(p, "kernel_size", 1, &c->kh, &c->kw, err) < 0 ||
	    get_hw(p, "stride", 1, &c->sh, &c->sw, err) < 0 ||
	    get_hw(p, "pad", 0, &c->ph, &c->pw, err) < 0 ||
	    pb_get_int(p, "axis", 1, 1, &axis, err) < 0 ||
	    pb_get_bool(p, "force_nd_im2col", &nd, err) < 0 ||
	    pb_get_str(p, "engine", &engine, err) < 0)
		return -1;
	{
		int d[2], n;

		if (pb_get_ints(p, "dilation", 1, 1 << 20, d, 2, &n, err) < 0)
			return -1;
		if (n >= 1)
			c->dh = c->dw = d[0];
		if (n == 2)
			c->dw = d[1];
	}
	if (fcn_filler_parse(pb_nth(p, "weight_filler", 0), &c->wf, err) < 0 ||
	    fcn_filler_parse(pb_nth(p, "bias_filler", 0), &c->bf, err) < 0)
		return -1;
	if (pb_check_used(p, "convolution_param", err) < 0)
		return -1;
	if (c->num_output < 0)
		return pb_error(p, err, "layer '%s': num_output missing", l->name);
	if (c->kh < 0)
		return pb_error(p, err, "layer '%s': kernel_size missing", l->name);
	if (c->num_output % c->group)
		return pb_error(p, err, "layer '%s': num_output %d not a multiple of group %d",
				l->name, c->num_output, c->group);
	l->nparam = c->bias ? 2 : 1;
	return 0;
}

/* The wide path's workspace: the batch's columns (K, N HW), its output
 * or output gradient (M, N HW), one image's columns (K, HW). */
static size_t wide_work(const struct conv *c, int N, int M, int C)
{
	size_t K = (size_t)C * c->kh * c->kw, hw = (size_t)c->g.ho * c->g.wo;

	return K * hw * (N + 1) + (size_t)M * N * hw;
}

static int conv_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct conv *c = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	int G = c->group, M = c->num_output, C = b->c, ho, wo;
	int ekh = c->dh * (c->kh - 1) + 1, ekw = c->dw * (c->kw - 1) + 1;

	if (C % G)
		return fcn_layer_error(l, err, "%d input channels not a multiple of group %d",
				       C, G);
	if (!c->deconv) {
		ho = (b->h + 2 * c->ph - ekh) / c->sh + 1;
		wo = (b->w + 2 * c->pw - ekw) / c->sw + 1;
		if (b->h + 2 * c->ph < ekh || b->w + 2 * c->pw < ekw)
			return fcn_layer_error(l, err, "input %dx%d smaller than the kernel %dx%d (pad %d)",
					       b->h, b->w, ekh, ekw, c->ph);
		c->g = (struct fcn_geom){ C, b->h, b->w, c->kh, c->kw, c->sh, c->sw,
					  c->ph, c->pw, c->dh, c->dw, ho, wo };
		seeing_range(b->h, c->ph, c->sh, ekh, ho, &c->oy0, &c->oy1);
		seeing_range(b->w, c->pw, c->sw, ekw, wo, &c->ox0, &c->ox1);
		c->sub = c->sh <= ekh && c->sw <= ekw && c->oy1 > c->oy0 &&
			 c->ox1 > c->ox0 &&
			 (double)(c->oy1 - c->oy0) * (c->ox1 - c->ox0) < 0.9 * ho * wo;
		c->gs = c->g;
		if (c->sub) {
			c->gs.ph = c->ph - c->oy0 * c->sh;
			c->gs.pw = c->pw - c->ox0 * c->sw;
			c->gs.ho = c->oy1 - c->oy0;
			c->gs.wo = c->ox1 - c->ox0;
		}
		if (fcn_layer_param_shape(l, 0, M, C / G, c->kh, c->kw, err) < 0)
			return -1;
	} else {
		ho = c->sh * (b->h - 1) + ekh - 2 * c->ph;
		wo = c->sw * (b->w - 1) + ekw - 2 * c->pw;
		if (ho <= 0 || wo <= 0)
			return fcn_layer_error(l, err, "output would be %dx%d", ho, wo);
		c->g = (struct fcn_geom){ M, ho, wo, c->kh, c->kw, c->sh, c->sw,
					  c->ph, c->pw, c->dh, c->dw, b->h, b->w };
		if (fcn_layer_param_shape(l, 0, C, M / G, c->kh, c->kw, err) < 0)
			return -1;
	}
	if (c->bias && fcn_layer_param_shape(l, 1, 1, 1, 1, M, err) < 0)
		return -1;
	c->is1x1 = c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 &&
		   c->ph == 0 && c->pw == 0;
	c->up2 = c->deconv && c->kh == 2 && c->kw == 2 && c->sh == 2 && c->sw == 2 &&
		 c->ph == 0 && c->pw == 0 && c->dh == 1 && c->dw == 1 && G == 1 &&
		 fcn_kernels() != FCN_KERNELS_REFERENCE;
	if (fcn_blob_reshape(l->top[0], b->n, M, ho, wo, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	/* Winograd pays off when its 16 GEMMs are not too thin */
	c->wino = !c->deconv && c->kh == 3 && c->kw == 3 && c->sh == 1 &&
		  c->sw == 1 && c->dh == 1 && c->dw == 1 && !c->sub && c->ph <= 2 &&
		  c->pw <= 2 && C / G >= 32 && M / G >= 32;
	if (c->wino) {
		size_t need = (size_t)16 * M * (C / G);

		if (grow(&c->U, &c->ucap, 2 * need) < 0)
			return fcn_layer_error(l, err, "out of memory");
		c->Uflip = c->U + need;
		size_t wf = fcn_wino_work(C, M, ho, wo), wb = fcn_wino_work(M, C, b->h, b->w);

		if (!fcn_net_workspace(l->net, wf > wb ? wf : wb, err))
			return -1;
	}
	c->direct = !c->deconv && c->kh == 3 && c->kw == 3 && c->sh == 1 &&
		    c->sw == 1 && c->dh == 1 && c->dw == 1 && G == 1 && !c->sub &&
		    c->ph <= 2 && c->pw <= 2 && c->ph == c->pw && C <= FCN_DIRECT_MAXCH && M <= FCN_DIRECT_MAXCH &&
		    fcn_kernels() != FCN_KERNELS_REFERENCE;
	if (c->direct) {
		size_t need = fcn_direct_wsize(M, C), n2 = fcn_direct_wsize(C, M);

		if (n2 > need)
			need = n2;
		if (grow(&c->wp, &c->wpcap, need) < 0)
			return fcn_layer_error(l, err, "out of memory");
		size_t wf = fcn_direct_work(C, ho, wo), wb = fcn_direct_work(M, b->h, b->w);

		if (!fcn_net_workspace(l->net, wf > wb ? wf : wb, err))
			return -1;
	}
	int w4ok = !c->deconv && c->kh == 3 && c->kw == 3 && c->sh == 1 && c->sw == 1 &&
		   c->dh == 1 && c->dw == 1 && G == 1 && !c->sub && c->ph <= 2 &&
		   c->pw <= 2 && fcn_kernels() != FCN_KERNELS_REFERENCE;

	long minpix = l->phase == FCN_TRAIN ? FCN_WINO4_MINPIX_TRAIN : FCN_WINO4_MINPIX;

	c->wino4 = w4ok && C >= FCN_WINO4_MINCH && (long)ho * wo >= minpix;
	c->wino4b = w4ok && l->phase == FCN_TRAIN && M >= FCN_WINO4_MINCH &&
		    (long)b->h * b->w >= minpix;
	/* (its workspace is reserved in training; a backward in another phase
	 * grows it then) */
	c->wgrad3 = w4ok && (long)ho * wo >= FCN_WGRAD3_MINPIX;
	if (c->wgrad3 && l->phase == FCN_TRAIN &&
	    !fcn_net_workspace(l->net, fcn_wgrad3_work(C, ho, wo), err))
		return -1;
	if (c->wino4b) {
		if (grow(&c->Ub, &c->ubcap, fcn_wino4_usize(C, M)) < 0)
			return fcn_layer_error(l, err, "out of memory");
		if (!fcn_net_workspace(l->net, fcn_wino4_work(M, b->h, b->w), err))
			return -1;
	}
	if (c->wino4) {
		int r = grow(&c->U4, &c->u4cap, fcn_wino4_usize(M, C) + (size_t)M * C * 9);

		if (r < 0)
			return fcn_layer_error(l, err, "out of memory");
		if (r)
			c->u4m = 0;
		c->w4 = c->U4 + fcn_wino4_usize(M, C);
		if (!fcn_net_workspace(l->net, fcn_wino4_work(C, ho, wo), err))
			return -1;
	}
	c->wide = !c->deconv && G == 1 && !c->sub && !c->wino && !c->direct &&
		  !c->wino4 && !c->wgrad3 && b->n > 1 && (long)ho * wo <= FCN_WIDE_MAXPIX &&
		  fcn_kernels() != FCN_KERNELS_REFERENCE;
	if (c->wide && !fcn_net_workspace(l->net, wide_work(c, b->n, M, C), err))
		return -1;
	if (!c->is1x1) {
		size_t cols = (size_t)c->g.c * c->kh * c->kw * c->g.ho * c->g.wo;

		if (c->sub)
			cols += (size_t)M * c->gs.ho * c->gs.wo;
		if (!fcn_net_workspace(l->net, cols, err))
			return -1;
	}
	return 0;
}

struct bias_job {
	float *x;
	const float *bias;
	float *dbias;
	int hw, relu;
};

static void add_bias_rows(void *ctx, int lo, int hi)
{
	const struct bias_job *j = ctx;

	for (int i = lo; i < hi; i++) {
		float b = j->bias ? j->bias[i] : 0.0f, *t = j->x + (size_t)i * j->hw;

		if (j->bias)
			for (int k = 0; k < j->hw; k++)
				t[k] += b;
		if (j->relu)
			for (int k = 0; k < j->hw; k++)
				t[k] = t[k] > 0 ? t[k] : 0.0f;
	}
}

static void sum_bias_rows(void *ctx, int lo, int hi)
{
	const struct bias_job *j = ctx;

	for (int i = lo; i < hi; i++)
		j->dbias[i] += (float)fcn_sum_floats(j->x + (size_t)i * j->hw, j->hw);
}

/* top (M, HW) += bias (M) (when not NULL), then max(0, .) when relu */
static void add_bias(float *top, const float *bias, int m, int hw, int relu)
{
	struct bias_job j = { top, bias, NULL, hw, relu };

	if (bias || relu)
		fcn_parallel_for(m, 1 + 65536 / (hw + 1), add_bias_rows, &j);
}

/* dbias (M) += row sums of dtop (M, HW) */
static void sum_bias(float *dbias, const float *dtop, int m, int hw)
{
	struct bias_job j = { (float *)dtop, NULL, dbias, hw, 0 };

	fcn_parallel_for(m, 1 + 65536 / (hw + 1), sum_bias_rows, &j);
}

struct wide_job {
	float *wide;       /* (K, N HW) */
	float *img;        /* (K, HW) */
	int K, hw, n, N, dir, add;
};

/* dir 0: wide's block n = img; 1: img (= or += add) wide's block n */
static void wide_rows(void *ctx, int lo, int hi)
{
	const struct wide_job *j = ctx;
	size_t ld = (size_t)j->N * j->hw;

	for (int k = lo; k < hi; k++) {
		float *w = j->wide + k * ld + (size_t)j->n * j->hw;
		float *im = j->img + (size_t)k * j->hw;

		if (j->dir == 0)
			memcpy(w, im, (size_t)j->hw * sizeof *w);
		else if (j->add)
			for (int i = 0; i < j->hw; i++)
				im[i] += w[i];
		else
			memcpy(im, w, (size_t)j->hw * sizeof *w);
	}
}

static void wide_copy(float *wide, const float *img, int K, int hw, int n, int N,
		      int dir, int add)
{
	struct wide_job j = { wide, (float *)img, K, hw, n, N, dir, add };

	fcn_parallel_for(K, 1 + 16384 / (hw + 1), wide_rows, &j);
}

/* wide (K, N HW) = the batch's columns; stage (K, HW) for im2col */
static void wide_columns(const struct conv *c, const struct fcn_blob *b,
			 float *wide, float *stage)
{
	int K = b->c * c->kh * c->kw, hw = c->g.ho * c->g.wo;
	size_t bstride = (size_t)b->c * b->h * b->w;

	for (int n = 0; n < b->n; n++) {
		const float *x = b->data + n * bstride;

		if (!c->is1x1)
			fcn_im2col(x, &c->g, stage);
		wide_copy(wide, c->is1x1 ? x : stage, K, hw, n, b->n, 0, 0);
	}
}

static int wide_forward(struct fcn_layer *l, const float *W, const float *bias,
			struct fcn_err *err)
{
	struct conv *c = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	struct fcn_blob *t = l->top[0];
	int N = b->n, M = t->c, K = b->c * c->kh * c->kw, hw = c->g.ho * c->g.wo;
	float *wide = fcn_net_workspace(l->net, wide_work(c, N, M, b->c), err);

	if (!wide)
		return -1;
	float *ywide = wide + (size_t)K * N * hw, *stage = ywide + (size_t)M * N * hw;

	wide_columns(c, b, wide, stage);
	fcn_gemm(0, 0, M, N * hw, K, 1.0f, W, K, wide, N * hw, 0.0f, ywide, N * hw);
	for (int n = 0; n < N; n++) {
		float *y = t->data + (size_t)n * M * hw;

		wide_copy(ywide, y, M, hw, n, N, 1, 0);
		add_bias(y, bias, M, hw, c->relu);
	}
	return 0;
}

static int wide_backward(struct fcn_layer *l, struct fcn_err *err)
{
	struct conv *c = l->priv;
	struct fcn_blob *b = l->bottom[0];
	const struct fcn_blob *t = l->top[0];
	int N = b->n, M = t->c, K = b->c * c->kh * c->kw, hw = c->g.ho * c->g.wo;
	size_t bstride = (size_t)b->c * b->h * b->w;
	float *wide = fcn_net_workspace(l->net, wide_work(c, N, M, b->c), err);

	if (!wide)
		return -1;
	float *dywide = wide + (size_t)K * N * hw, *stage = dywide + (size_t)M * N * hw;
	const float *W = l->param[0].blob->data;

	for (int n = 0; n < N; n++) {
		const float *dy = t->diff + (size_t)n * M * hw;

		if (c->bias)
			sum_bias(l->param[1].blob->diff, dy, M, hw);
		wide_copy(dywide, dy, M, hw, n, N, 0, 0);
	}
	wide_columns(c, b, wide, stage);
	/* dW += dY (M, N HW) x cols^T */
	fcn_gemm(0, 1, M, K, N * hw, 1.0f, dywide, N * hw, wide, N * hw, 1.0f,
		 l->param[0].blob->diff, K);
	if (!l->need_diff[0])
		return 0;
	/* dcols (K, N HW) = W^T (K, M) x dY, over the columns */
	fcn_gemm(1, 0, K, N * hw, M, 1.0f, W, K, dywide, N * hw, 0.0f, wide, N * hw);
	for (int n = 0; n < N; n++) {
		float *dx = b->diff + n * bstride;

		if (c->is1x1) {
			wide_copy(wide, dx, K, hw, n, N, 1, l->accum[0]);
			continue;
		}
		wide_copy(wide, stage, K, hw, n, N, 1, 0);
		fcn_col2im(stage, &c->g, dx, l->accum[0]);
	}
	return 0;
}

/* Moves the seeing window of a (M, HO, WO) map to/from a dense
 * (M, HO', WO') buffer: dir 0 gathers, 1 scatters adding the bias (or
 * storing the bias alone outside the window). */
static void window_copy(const struct conv *c, int M, float *full, float *win,
			const float *bias, int dir)
{
	int HO = c->g.ho, WO = c->g.wo, h = c->gs.ho, w = c->gs.wo;

	for (int m = 0; m < M; m++) {
		float *f = full + (size_t)m * HO * WO, *s = win + (size_t)m * h * w;
		float b = bias ? bias[m] : 0.0f;

		if (dir == 0) {
			for (int y = 0; y < h; y++)
				memcpy(s + (size_t)y * w,
				       f + (size_t)(y + c->oy0) * WO + c->ox0,
				       (size_t)w * sizeof *s);
			continue;
		}
		for (int i = 0; i < HO * WO; i++)
			f[i] = b;
		for (int y = 0; y < h; y++) {
			float *row = f + (size_t)(y + c->oy0) * WO + c->ox0;

			for (int x = 0; x < w; x++)
				row[x] += s[(size_t)y * w + x];
		}
	}
}

/* The folded weights W a[m] and bias (bias - mean) a + beta of a
 * convolution followed by BatchNorm (stored statistics) and Scale. */
static int fold(struct fcn_layer *l, struct fcn_err *err)
{
	struct conv *c = l->priv;
	const struct fcn_blob *w = l->param[0].blob;
	int M = w->n;
	size_t K = fcn_blob_count(w) / (size_t)M, need = fcn_blob_count(w) + 3 * (size_t)M;

	if (grow(&c->wfold, &c->foldcap, need) < 0)
		return fcn_layer_error(l, err, "out of memory");
	c->bfold = c->wfold + fcn_blob_count(w);
	c->fa = c->bfold + M;
	float *fb = c->fa + M;

	fcn_bn_affine(c->bn, c->fa, fb);
	for (int m = 0; m < M; m++) {
		float a = c->fa[m], b0 = c->bias ? l->param[1].blob->data[m] : 0.0f;
		float b = b0 * a + fb[m];

		if (c->sc) {
			float g, beta;

			fcn_scale_affine(c->sc, m, &g, &beta);
			a *= g;
			b = b * g + beta;
		}
		c->fa[m] = a;
		c->bfold[m] = b;
		for (size_t k = 0; k < K; k++)
			c->wfold[m * K + k] = w->data[m * K + k] * a;
	}
	return 0;
}

/* Forward of Convolution. */
static int conv_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct conv *c = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	struct fcn_blob *t = l->top[0];
	const float *W = l->param[0].blob->data; /* (M, C/G, KH, KW) */
	const float *bias = c->bias ? l->param[1].blob->data : NULL;

	if (c->bn) {
		if (fold(l, err) < 0)
			return -1;
		W = c->wfold;
		bias = c->bfold;
	}
	int G = c->group, M = t->c, Mg = M / G, hw = c->gs.ho * c->gs.wo;
	int Kg = b->c / G * c->kh * c->kw;
	size_t bstride = (size_t)b->c * b->h * b->w, tstride = (size_t)M * t->h * t->w;
	size_t ncol = c->is1x1 ? 0 : (size_t)Kg * G * hw;
	float *col = c->is1x1 ? NULL :
		     fcn_net_workspace(l->net, ncol + (c->sub ? (size_t)M * hw : 0), err);

	if (!c->is1x1 && !col)
		return -1;
	if (c->wide && b->n > 1)
		return wide_forward(l, W, bias, err);
	if (c->direct || c->wino4) {
		struct fcn_direct_part parts[FCN_DIRECT_MAXPARTS];
		int np = c->cat ? c->cat->nbottom : 1;

		size_t nw = (size_t)M * b->c * 9;

		if (c->wino4 && (c->u4m != M || c->u4c != b->c ||
				 memcmp(W, c->w4, nw * sizeof *W))) {
			fcn_wino4_kernels(W, M, b->c, 0, c->U4);
			memcpy(c->w4, W, nw * sizeof *W);
			c->u4m = M;
			c->u4c = b->c;
		} else if (!c->wino4)
			fcn_direct_pack(W, M, b->c, 0, NULL, c->wp);
		for (int n = 0; n < b->n; n++) {
			float *y = t->data + n * tstride;

			for (int k = 0; k < np; k++) {
				const struct fcn_blob *p = c->cat ? c->cat->bottom[k] : b;

				parts[k] = (struct fcn_direct_part){
					p->data + n * (size_t)p->c * p->h * p->w, p->c
				};
			}
			if (c->wino4)
				fcn_wino4_conv(parts, np, b->h, b->w, c->U4, bias, M,
					       c->ph, c->pw, y, t->h, t->w, 0, c->relu, col);
			else
				fcn_direct_conv_parts(parts, np, b->h, b->w, c->wp, bias,
						      M, c->ph, c->pw, y, t->h, t->w, 0,
						      c->relu, col);
		}
		return 0;
	}
	if (c->wino) {
		fcn_wino_kernels(W, M, b->c / G, G, 0, c->U);
		for (int n = 0; n < b->n; n++) {
			float *y = t->data + n * tstride;

			fcn_wino_conv(b->data + n * bstride, b->c, b->h, b->w, c->U, M, G,
				      c->ph, c->pw, y, t->h, t->w, 0, col);
			add_bias(y, bias, M, t->h * t->w, c->relu);
		}
		return 0;
	}
	for (int n = 0; n < b->n; n++) {
		const float *x = b->data + n * bstride; /* (C, H, W) */
		float *y = t->data + n * tstride;       /* (M, HO, WO) */
		float *out = c->sub ? col + ncol : y;   /* (M, HO', WO') */

		if (!c->is1x1)
			fcn_im2col(x, &c->gs, col);
		const float *cm = c->is1x1 ? x : col;   /* (C*KH*KW, HO'*WO') */

		for (int g = 0; g < G; g++)
			fcn_gemm(0, 0, Mg, hw,
				    Kg, 1.0f, W + (size_t)g * Mg * Kg, Kg,
				    cm + (size_t)g * Kg * hw, hw, 0.0f,
				    out + (size_t)g * Mg * hw, hw);
		if (c->sub) {
			window_copy(c, M, y, out, bias, 1);
			add_bias(y, NULL, M, t->h * t->w, c->relu);
		} else
			add_bias(y, bias, M, hw, c->relu);
	}
	return 0;
}

/*
 * Weight gradient dW_g += dY_g (Mg, HW) x col_g^T without the whole column
 * matrix on large maps (9 C x HW floats: 75 MB for 32 channels at
 * 256x256, written and read again from memory).  The output rows are cut into WG_GROUPS fixed
 * groups, each cut into chunks whose columns fit in the cache; a group's
 * chunks add into its own partial dW, and the partials are added into dW
 * in group order, so the result does not depend on the threads.
 */
#define WG_GROUPS 8
/* on maps of fewer pixels the whole matrix and one GEMM are faster (the
 * groups' GEMMs get thin, and their partials many) */
#define WG_MIN_PIXELS 4096

struct wgrad_job {
	const struct conv *c;
	const float *x, *dy; /* (C, H, W), (M, HO', WO') */
	float *scratch;      /* per group: a chunk's columns, then a partial dW */
	int G, Mg, Kg, rows;
	size_t cols, per;    /* floats of a chunk's columns; of scratch per group */
};

static size_t wgrad_rows(const struct conv *c, int Kg, int G)
{
	int wo = c->gs.wo, r = (int)((1 << 17) / ((size_t)Kg * G * wo + 1));

	if (r * wo < 512)
		r = (512 + wo - 1) / wo;
	return r < 1 ? 1 : r > c->gs.ho ? c->gs.ho : r;
}

static size_t wgrad_cols(const struct conv *c, int Kg, int G)
{
	return (size_t)Kg * G * wgrad_rows(c, Kg, G) * c->gs.wo;
}

static size_t wgrad_scratch(const struct conv *c, int M, int Kg, int G)
{
	return wgrad_cols(c, Kg, G) + (size_t)M * Kg;
}

/* Group gi's partial dW (G * Mg, Kg) */
static float *wgrad_part(const struct wgrad_job *j, int gi)
{
	return j->scratch + gi * j->per + j->cols;
}

static void wgrad_groups(void *ctx, int lo, int hi)
{
	const struct wgrad_job *j = ctx;
	const struct fcn_geom *g = &j->c->gs;
	size_t hw = (size_t)g->ho * g->wo;

	for (int gi = lo; gi < hi; gi++) {
		float *col = j->scratch + gi * j->per, *part = wgrad_part(j, gi);
		int ya = (int)((long)g->ho * gi / WG_GROUPS);
		int yb = (int)((long)g->ho * (gi + 1) / WG_GROUPS);

		memset(part, 0, (size_t)j->G * j->Mg * j->Kg * sizeof *part);
		for (int y0 = ya; y0 < yb; y0 += j->rows) {
			int y1 = y0 + j->rows < yb ? y0 + j->rows : yb;
			int cw = (y1 - y0) * g->wo;

			fcn_im2col_rows(j->x, g, y0, y1, col);
			for (int k = 0; k < j->G; k++)
				fcn_gemm_serial(0, 1, j->Mg, j->Kg, cw, 1.0f,
						j->dy + (size_t)k * j->Mg * hw + (size_t)y0 * g->wo,
						(int)hw, col + (size_t)k * j->Kg * cw, cw, 1.0f,
						part + (size_t)k * j->Mg * j->Kg, j->Kg);
		}
	}
}

struct wsum_job {
	const struct wgrad_job *w;
	float *dW;
};

static void wgrad_sum(void *ctx, int lo, int hi)
{
	const struct wsum_job *j = ctx;
	const struct wgrad_job *w = j->w;

	for (int i = lo; i < hi; i++) {
		float s = wgrad_part(w, 0)[i];

		for (int gi = 1; gi < WG_GROUPS; gi++)
			s += wgrad_part(w, gi)[i];
		j->dW[i] += s;
	}
}

static void weight_grad(const struct conv *c, const float *x, const float *dy,
			float *dW, int G, int Mg, int Kg, float *scratch)
{
	struct wgrad_job j = { c, x, dy, scratch, G, Mg, Kg, (int)wgrad_rows(c, Kg, G),
			       wgrad_cols(c, Kg, G), wgrad_scratch(c, G * Mg, Kg, G) };
	struct wsum_job s = { &j, dW };

	fcn_pool_threads(); /* starts the pool, BLAS single-threaded */
	fcn_parallel_for(WG_GROUPS, 1, wgrad_groups, &j);
	fcn_parallel_for(G * Mg * Kg, 4096, wgrad_sum, &s);
}

struct transpose_job {
	float *dst;       /* (R, C) */
	const float *src; /* (C, R) */
	int r, c, add;
};

static void transpose_rows(void *ctx, int lo, int hi)
{
	const struct transpose_job *j = ctx;

	for (int y = 0; y < j->c; y++) {
		const float *s = j->src + (size_t)y * j->r;

		for (int x = lo; x < hi; x++) {
			float *d = j->dst + (size_t)x * j->c + y;

			*d = j->add ? *d + s[x] : s[x];
		}
	}
}

/* dst (R, C) = (or +=, add) src^T, src (C, R); blocks of 64 rows of dst,
 * whose C columns stay in L1 while src is read a row segment at a time */
static void transpose_into(float *dst, const float *src, int r, int c, int add)
{
	struct transpose_job j = { dst, src, r, c, add };

	fcn_parallel_for(r, 64, transpose_rows, &j);
}

static int conv_backward(struct fcn_layer *l, struct fcn_err *err)
{
	struct conv *c = l->priv;
	struct fcn_blob *b = l->bottom[0];
	const struct fcn_blob *t = l->top[0];
	const float *W = l->param[0].blob->data;
	float *dW = l->param[0].blob->diff;
	int G = c->group, M = t->c, Mg = M / G, hw = c->gs.ho * c->gs.wo;
	int Kg = b->c / G * c->kh * c->kw;
	size_t bstride = (size_t)b->c * b->h * b->w, tstride = (size_t)M * t->h * t->w;
	/* the workspace: [dY's window (sub)] [scratch: the weight gradient's
	 * chunks, then the data gradient's columns (im2col path) */
	size_t nwin = c->sub ? (size_t)M * hw : 0;
	size_t nfull = c->is1x1 ? 0 : (size_t)Kg * G * hw;
	int chunked = !c->wgrad3 && nfull && hw >= WG_MIN_PIXELS;
	size_t ncol = c->direct || c->wino ? 0 : nfull;
	size_t nwg = c->wgrad3 ? fcn_wgrad3_work(b->c, c->gs.ho, c->gs.wo) :
		     !chunked ? nfull : wgrad_scratch(c, M, Kg, G) * WG_GROUPS;
	/* the data gradient's GEMM on small maps: its transpose, W^T dY as
	 * (dY^T W)^T, whose long side OpenBLAS runs faster (fc6's 9216 x 81
	 * x 4096: 62 ms against 75 on 2 threads) */
	int thin = G == 1 && hw <= FCN_WIDE_MAXPIX && Kg >= hw && !c->direct &&
		   !c->wino && !c->wino4b && fcn_kernels() != FCN_KERNELS_REFERENCE;
	size_t nt = thin ? (size_t)Kg * hw : 0, nsc = ncol > nwg ? ncol : nwg;
	float *work = nwin + nsc + nt == 0 ? NULL :
		      fcn_net_workspace(l->net, nwin + nsc + nt, err);
	float *col = work ? work + nwin : NULL, *dcolt = work ? work + nwin + nsc : NULL;

	if (nwin + nsc + nt && !work)
		return -1;
	if (c->wide && b->n > 1)
		return wide_backward(l, err);
	for (int n = 0; n < b->n; n++) {
		const float *x = b->data + n * bstride;
		float *dyfull = t->diff + n * tstride;   /* (M, HO, WO) */
		float *dy = c->sub ? work : dyfull;      /* (M, HO', WO') */

		if (c->bias)
			sum_bias(l->param[1].blob->diff, dyfull, M, t->h * t->w);
		if (c->sub)
			window_copy(c, M, dyfull, dy, NULL, 0);
		if (c->wgrad3) {
			fcn_wgrad3(x, b->c, b->h, b->w, dy, M, c->gs.ho, c->gs.wo, c->gs.ph,
				   c->gs.pw, dW, col);
		} else if (chunked) {
			weight_grad(c, x, dy, dW, G, Mg, Kg, col);
		} else {
			if (!c->is1x1)
				fcn_im2col(x, &c->gs, col);
			const float *cm = c->is1x1 ? x : col;

			for (int g = 0; g < G; g++) /* dW_g += dY_g (Mg, HW) x col_g^T */
				fcn_gemm(0, 1, Mg, Kg, hw,
					    1.0f, dy + (size_t)g * Mg * hw, hw,
					    cm + (size_t)g * Kg * hw, hw, 1.0f,
					    dW + (size_t)g * Mg * Kg, Kg);
		}
		if (!l->need_diff[0])
			continue;
		float *dx = b->diff + n * bstride;     /* (C, H, W) */
		if (c->wino4b) { /* dX = dY correlated with the flipped kernels */
			struct fcn_direct_part part = { dy, M };

			if (n == 0)
				fcn_wino4_kernels(W, b->c, M, 1, c->Ub);
			fcn_wino4_conv(&part, 1, t->h, t->w, c->Ub, NULL, b->c, 2 - c->ph,
				       2 - c->pw, dx, b->h, b->w, l->accum[0], 0, col);
			continue;
		}
		if (c->direct) { /* dX = dY correlated with the flipped kernels */
			if (n == 0)
				fcn_direct_pack(W, b->c, M, 1, NULL, c->wp);
			fcn_direct_conv(dy, M, t->h, t->w, c->wp, NULL, b->c, 2 - c->ph,
					2 - c->pw, dx, b->h, b->w, l->accum[0], 0, col);
			continue;
		}
		if (c->wino) { /* dX = dY correlated with the flipped kernels */
			if (n == 0)
				fcn_wino_kernels(W, M, b->c / G, G, 1, c->Uflip);
			fcn_wino_conv(dy, M, t->h, t->w, c->Uflip, b->c, G, 2 - c->ph,
				      2 - c->pw, dx, b->h, b->w, l->accum[0], col);
			continue;
		}
		float *dcol = c->is1x1 ? dx : col;
		float beta = c->is1x1 && l->accum[0] ? 1.0f : 0.0f;

		if (thin) { /* dcol^T (HW, Kg) = dY^T (HW, M) x W (M, Kg) */
			fcn_gemm(1, 0, hw, Kg, M, 1.0f, dy, hw, W, Kg, 0.0f, dcolt, Kg);
			transpose_into(dcol, dcolt, Kg, hw, beta != 0.0f);
		} else
		for (int g = 0; g < G; g++) /* dcol_g = W_g^T (Kg, Mg) x dY_g */
			fcn_gemm(1, 0, Kg, hw, Mg,
				    1.0f, W + (size_t)g * Mg * Kg, Kg,
				    dy + (size_t)g * Mg * hw, hw, beta,
				    dcol + (size_t)g * Kg * hw, hw);
		if (!c->is1x1)
			fcn_col2im(col, &c->gs, dx, l->accum[0]);
	}
	return 0;
}

/* Forward of Deconvolution: convolution's backward-data pass. */
static int deconv_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct conv *c = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	struct fcn_blob *t = l->top[0];
	const float *W = l->param[0].blob->data; /* (C, M/G, KH, KW) */
	int G = c->group, C = b->c, Cg = C / G, M = t->c;
	int Kg = M / G * c->kh * c->kw, hwin = b->h * b->w, hw = t->h * t->w;
	size_t bstride = (size_t)C * hwin, tstride = (size_t)M * hw;
	if (c->up2) {
		float *wp = fcn_net_workspace(l->net, (size_t)C * M * 4 + bstride, err);

		if (!wp)
			return -1;
		fcn_up2_pack(W, C, M, wp);
		for (int n = 0; n < b->n; n++)
			fcn_up2(b->data + n * bstride, C, b->h, b->w, wp,
				c->bias ? l->param[1].blob->data : NULL, M, t->data + n * tstride,
				wp + (size_t)C * M * 4);
		return 0;
	}
	float *col = c->is1x1 ? NULL : fcn_net_workspace(l->net, (size_t)Kg * G * hwin, err);
	/* disjoint taps (2x2 stride 2): columns to pixels in one pass */
	int tiles = !c->is1x1 && fcn_kernels() != FCN_KERNELS_REFERENCE &&
		    fcn_col2im_disjoint(&c->g);

	if (!c->is1x1 && !col)
		return -1;
	for (int n = 0; n < b->n; n++) {
		const float *x = b->data + n * bstride; /* (C, H, W) */
		float *y = t->data + n * tstride;       /* (M, HO, WO) */
		float *cm = c->is1x1 ? y : col;         /* (M*KH*KW, H*W) */

		for (int g = 0; g < G; g++)
			fcn_gemm(1, 0, Kg, hwin,
				    Cg, 1.0f, W + (size_t)g * Cg * Kg, Kg,
				    x + (size_t)g * Cg * hwin, hwin, 0.0f,
				    cm + (size_t)g * Kg * hwin, hwin);
		if (tiles) {
			fcn_col2im_tiles(col, &c->g, y,
					 c->bias ? l->param[1].blob->data : NULL);
			continue;
		}
		if (!c->is1x1)
			fcn_col2im(col, &c->g, y, 0);
		if (c->bias)
			add_bias(y, l->param[1].blob->data, M, hw, 0);
	}
	return 0;
}

static int deconv_backward(struct fcn_layer *l, struct fcn_err *err)
{
	struct conv *c = l->priv;
	struct fcn_blob *b = l->bottom[0];
	const struct fcn_blob *t = l->top[0];
	const float *W = l->param[0].blob->data;
	float *dW = l->param[0].blob->diff;
	int G = c->group, C = b->c, Cg = C / G, M = t->c;
	int Kg = M / G * c->kh * c->kw, hwin = b->h * b->w, hw = t->h * t->w;
	size_t bstride = (size_t)C * hwin, tstride = (size_t)M * hw;
	float *col = c->is1x1 ? NULL : fcn_net_workspace(l->net, (size_t)Kg * G * hwin, err);

	if (!c->is1x1 && !col)
		return -1;
	for (int n = 0; n < b->n; n++) {
		const float *x = b->data + n * bstride;
		const float *dy = t->diff + n * tstride;

		if (c->bias)
			sum_bias(l->param[1].blob->diff, dy, M, hw);
		if (!c->is1x1)
			fcn_im2col(dy, &c->g, col);
		const float *cm = c->is1x1 ? dy : col; /* (M*KH*KW, H*W) */

		for (int g = 0; g < G; g++) /* dW_g += X_g (Cg, HW) x col_g^T */
			fcn_gemm(0, 1, Cg, Kg, hwin,
				    1.0f, x + (size_t)g * Cg * hwin, hwin,
				    cm + (size_t)g * Kg * hwin, hwin, 1.0f,
				    dW + (size_t)g * Cg * Kg, Kg);
		if (!l->need_diff[0])
			continue;
		float *dx = b->diff + n * bstride;
		float beta = l->accum[0] ? 1.0f : 0.0f;

		for (int g = 0; g < G; g++) /* dX_g = W_g (Cg, Kg) x col_g */
			fcn_gemm(0, 0, Cg, hwin,
				    Kg, 1.0f, W + (size_t)g * Cg * Kg, Kg,
				    cm + (size_t)g * Kg * hwin, hwin, beta,
				    dx + (size_t)g * Cg * hwin, hwin);
	}
	return 0;
}

/* In-place layer i on blob t? */
static int in_place_on(struct fcn_layer **layers, size_t n, size_t i,
		       const struct fcn_layer_ops *ops, const struct fcn_blob *t)
{
	return i < n && layers[i]->ops == ops && layers[i]->nbottom == 1 &&
	       layers[i]->ntop == 1 && layers[i]->bottom[0] == t &&
	       layers[i]->top[0] == t;
}

/* Does a layer other than layers[skip] read or write blob t? */
static int blob_used(struct fcn_layer **layers, size_t n, size_t skip,
		     const struct fcn_blob *t, int reads, int writes)
{
	for (size_t i = 0; i < n; i++) {
		if (i == skip)
			continue;
		for (int j = 0; reads && j < layers[i]->nbottom; j++)
			if (layers[i]->bottom[j] == t)
				return 1;
		for (int j = 0; writes && j < layers[i]->ntop; j++)
			if (layers[i]->top[j] == t)
				return 1;
	}
	return 0;
}

/* A direct or F(4x4) Convolution layers[i] that alone reads the top of a channel
 * Concat layers[k] (k < i; nothing else writes that top, and nothing
 * between them writes the Concat's bottoms) reads the bottoms in place. */
static void elide_concat(struct fcn_layer **layers, size_t n, size_t i)
{
	struct conv *c = layers[i]->priv;
	const struct fcn_blob *b = layers[i]->bottom[0];
	size_t k = i;

	if (!c->direct && !c->wino4)
		return;
	while (k-- > 0)
		if (layers[k]->ntop == 1 && layers[k]->top[0] == b)
			break;
	if (k >= i || layers[k]->ops != &fcn_concat_ops || layers[k]->fused ||
	    fcn_concat_axis(layers[k]) != 1 ||
	    layers[k]->nbottom > FCN_DIRECT_MAXPARTS ||
	    blob_used(layers, n, i, b, 1, 0) || blob_used(layers, n, k, b, 0, 1))
		return;
	for (size_t m = k + 1; m < i; m++)
		for (int j = 0; j < layers[m]->ntop; j++)
			for (int q = 0; q < layers[k]->nbottom; q++)
				if (layers[m]->top[j] == layers[k]->bottom[q])
					return;
	c->cat = layers[k];
	layers[k]->fused = 2;
}

void fcn_fuse_layers(struct fcn_layer **layers, size_t n)
{
	int on = fcn_kernels() != FCN_KERNELS_REFERENCE;

	for (size_t i = 0; i < n; i++) {
		layers[i]->fused = 0;
		if (layers[i]->ops == &fcn_conv_ops) {
			struct conv *c = layers[i]->priv;

			c->bn = c->sc = NULL;
			c->relu = 0;
			c->cat = NULL;
		}
	}
	for (size_t i = 0; on && i < n; i++)
		if (layers[i]->ops == &fcn_conv_ops)
			elide_concat(layers, n, i);
	for (size_t i = 0; on && i < n; i++) {
		struct fcn_layer *l = layers[i];
		struct fcn_blob *t = l->top[0];
		struct conv *c = l->priv;
		size_t k = i + 1;

		if (l->ops != &fcn_conv_ops)
			continue;
		if (in_place_on(layers, n, k, &fcn_batchnorm_ops, t) &&
		    fcn_bn_global(layers[k]) == 0) {
			c->bn = layers[k];
			layers[k++]->fused = 2;
			if (in_place_on(layers, n, k, &fcn_scale_ops, t)) {
				c->sc = layers[k];
				layers[k++]->fused = 2;
			}
		}
		if (in_place_on(layers, n, k, &fcn_relu_ops, t) &&
		    fcn_relu_slope(layers[k]) == 0) {
			c->relu = 1;
			layers[k]->fused = 1;
		}
	}
}

void fcn_fuse_train(struct fcn_layer **layers, size_t n)
{
	int on = fcn_kernels() != FCN_KERNELS_REFERENCE;

	for (size_t i = 0; i < n; i++) {
		layers[i]->fused = 0;
		if (layers[i]->ops == &fcn_batchnorm_ops)
			fcn_bn_fuse(layers[i], NULL, NULL);
	}
	for (size_t i = 0; on && i < n; i++) {
		struct fcn_layer *bn = layers[i], *sc, *relu = NULL;
		struct fcn_blob *t = bn->top[0];

		if (bn->ops != &fcn_batchnorm_ops || bn->bottom[0] != t ||
		    fcn_bn_global(bn) == 0 || !in_place_on(layers, n, i + 1, &fcn_scale_ops, t))
			continue;
		sc = layers[i + 1];
		if (in_place_on(layers, n, i + 2, &fcn_relu_ops, t) &&
		    fcn_relu_slope(layers[i + 2]) == 0)
			relu = layers[i + 2];
		if (sc->need_backward != bn->need_backward ||
		    (relu && relu->need_backward != bn->need_backward))
			continue;
		fcn_bn_fuse(bn, sc, relu);
		sc->fused = 3;
		if (relu)
			relu->fused = 3;
	}
}

static int conv_fill(struct fcn_layer *l, uint64_t seed, struct fcn_err *err)
{
	struct conv *c = l->priv;

	if (fcn_filler_run(&c->wf, l->param[0].blob, seed, err) < 0)
		return fcn_layer_wrap(l, err);
	if (c->bias && fcn_filler_run(&c->bf, l->param[1].blob, seed + 1, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

static void conv_free(struct fcn_layer *l)
{
	struct conv *c = l->priv;

	if (c) {
		free(c->U); /* Uflip lies in it */
		free(c->wp);
		free(c->U4);
		free(c->Ub);
		free(c->wfold);
	}
	free(c);
}

const struct fcn_layer_ops fcn_conv_ops = {
	.type = "Convolution", .min_bottom = 1, .max_bottom = 1,
	.min_top = 1, .max_top = 1,
	.parse = conv_parse, .reshape = conv_reshape,
	.forward = conv_forward, .backward = conv_backward, .fill = conv_fill,
	.free = conv_free,
};

const struct fcn_layer_ops fcn_deconv_ops = {
	.type = "Deconvolution", .min_bottom = 1, .max_bottom = 1,
	.min_top = 1, .max_top = 1,
	.parse = conv_parse, .reshape = conv_reshape,
	.forward = deconv_forward, .backward = deconv_backward, .fill = conv_fill,
	.free = conv_free,
};
