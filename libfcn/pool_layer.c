/*
 * pool_layer.c - Pooling, MAX and AVE, with Caffe's output size
 * (ceil((H + 2p - k)/s) + 1, one less when the last window would start in
 * the padding) and its AVE divisor (the window clipped to the padded
 * image).  MAX keeps the argmax of each output for the backward pass.
 * Not done: STOCHASTIC pooling, the optional mask top.
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct.h"
#include "layer.h"
#include "threads.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

enum { POOL_MAX, POOL_AVE, POOL_STOCHASTIC };

struct pool {
	int method, global;
	int kh, kw, sh, sw, ph, pw;
	int *mask; /* (N, C, HO, WO) argmax offsets in the plane */
	size_t mask_cap;
};

static int pool_parse(struct fcn_layer *l, struct pb_node *node,
		      struct fcn_err *err)
{
	static const char *const methods[] = { "MAX", "AVE", "STOCHASTIC", NULL };
	static const char *const rounds[] = { "CEIL", "FLOOR", NULL };
	struct pool *p = calloc(1, sizeof *p);
	struct pb_node *m = pb_nth(node, "pooling_param", 0);
	const char *engine = NULL;
	int k = -1, s = 1, pad = 0, round = 0;

	if (!p)
		return fcn_layer_error(l, err, "out of memory");
	l->priv = p;
	p->kh = p->kw = -1;
	if (!m)
		return pb_error(node, err, "layer '%s': pooling_param missing", l->name);
	p->kh = p->kw = -1;
	p->sh = p->sw = 1;
	if (pb_get_enum(m, "pool", methods, &p->method, err) < 0 ||
	    pb_get_int(m, "kernel_size", 1, 1 << 20, &k, err) < 0 ||
	    pb_get_int(m, "kernel_h", 1, 1 << 20, &p->kh, err) < 0 ||
	    pb_get_int(m, "kernel_w", 1, 1 << 20, &p->kw, err) < 0 ||
	    pb_get_int(m, "stride", 1, 1 << 20, &s, err) < 0 ||
	    pb_get_int(m, "stride_h", 1, 1 << 20, &p->sh, err) < 0 ||
	    pb_get_int(m, "stride_w", 1, 1 << 20, &p->sw, err) < 0 ||
	    pb_get_int(m, "pad", 0, 1 << 20, &pad, err) < 0 ||
	    pb_get_int(m, "pad_h", 0, 1 << 20, &p->ph, err) < 0 ||
	    pb_get_int(m, "pad_w", 0, 1 << 20, &p->pw, err) < 0 ||
	    pb_get_bool(m, "global_pooling", &p->global, err) < 0 ||
	    pb_get_enum(m, "round_mode", rounds, &round, err) < 0 ||
	    pb_get_str(m, "engine", &engine, err) < 0)
		return -1;
	if (pb_check_used(m, "pooling_param", err) < 0)
		return -1;
	if (p->method == POOL_STOCHASTIC)
		return pb_error(m, err, "layer '%s': STOCHASTIC pooling is not supported",
				l->name);
	if (round)
		return pb_error(m, err, "layer '%s': round_mode FLOOR is not supported",
				l->name);
	if (k > 0)
		p->kh = p->kw = k;
	if (pb_count(m, "stride"))
		p->sh = p->sw = s;
	if (pb_count(m, "pad"))
		p->ph = p->pw = pad;
	if (!p->global && (p->kh < 0 || p->kw < 0))
		return pb_error(m, err, "layer '%s': kernel_size missing", l->name);
	if (p->ph >= p->kh && !p->global)
		return pb_error(m, err, "layer '%s': pad %d not smaller than the kernel %d",
				l->name, p->ph, p->kh);
	return 0;
}

static int pool_reshape(struct fcn_layer *l, struct fcn_err *err)
{
	struct pool *p = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	int ho, wo;

	if (p->global) {
		p->kh = b->h;
		p->kw = b->w;
		p->sh = p->sw = 1;
		p->ph = p->pw = 0;
	}
	if (b->h + 2 * p->ph < p->kh || b->w + 2 * p->pw < p->kw)
		return fcn_layer_error(l, err, "input %dx%d smaller than the kernel %dx%d",
				       b->h, b->w, p->kh, p->kw);
	ho = (b->h + 2 * p->ph - p->kh + p->sh - 1) / p->sh + 1;
	wo = (b->w + 2 * p->pw - p->kw + p->sw - 1) / p->sw + 1;
	if (p->ph > 0 && (ho - 1) * p->sh >= b->h + p->ph)
		ho--;
	if (p->pw > 0 && (wo - 1) * p->sw >= b->w + p->pw)
		wo--;
	if (fcn_blob_reshape(l->top[0], b->n, b->c, ho, wo, 0, err) < 0)
		return fcn_layer_wrap(l, err);
	if (p->method == POOL_MAX) {
		size_t need = fcn_blob_count(l->top[0]);

		if (need > p->mask_cap) {
			int *m = malloc(need * sizeof *m);

			if (!m)
				return fcn_layer_error(l, err, "out of memory");
			free(p->mask);
			p->mask = m;
			p->mask_cap = need;
		}
	}
	return 0;
}

struct pool_job {
	struct fcn_layer *l;
};

/* An AVE window [hs, he) x [ws, we): its divisor, the part inside the
 * padded plane; then the window clipped to the plane itself. */
static int ave_clip(const struct pool *p, int H, int W, int *hs, int *ws, int *he, int *we)
{
	int size;

	*he = *he < H + p->ph ? *he : H + p->ph;
	*we = *we < W + p->pw ? *we : W + p->pw;
	size = (*he - *hs) * (*we - *ws);
	*hs = *hs > 0 ? *hs : 0;
	*ws = *ws > 0 ? *ws : 0;
	*he = *he < H ? *he : H;
	*we = *we < W ? *we : W;
	return size;
}

/* One output (oy, ox) by the general rule: the window clipped to the
 * plane (AVE: divided by its part inside the padded plane); MAX keeps the
 * first maximum in scan order and its offset. */
static void window(const struct pool *p, const float *x, int H, int W, float *y,
		   int *mask, int oy, int ox, int WO)
{
	int hs = oy * p->sh - p->ph, ws = ox * p->sw - p->pw;
	int he = hs + p->kh, we = ws + p->kw;

	if (p->method == POOL_AVE) {
		int size = ave_clip(p, H, W, &hs, &ws, &he, &we);
		float s = 0;

		for (int yy = hs; yy < he; yy++)
			for (int xx = ws; xx < we; xx++)
				s += x[yy * W + xx];
		y[oy * WO + ox] = s / (float)size;
		return;
	}
	float m = -FLT_MAX;
	int arg = -1;

	he = he < H ? he : H;
	we = we < W ? we : W;
	hs = hs > 0 ? hs : 0;
	ws = ws > 0 ? ws : 0;
	for (int yy = hs; yy < he; yy++)
		for (int xx = ws; xx < we; xx++)
			if (x[yy * W + xx] > m || arg < 0) {
				m = x[yy * W + xx];
				arg = yy * W + xx;
			}
	y[oy * WO + ox] = m;
	mask[oy * WO + ox] = arg;
}

/* MAX 2x2 stride 2 without padding, outputs [0, n) of row oy (of WO),
 * windows inside the plane: window()'s result without its bounds. */
static void max2x2_row(const float *x, int W, float *y, int *mask, int oy, int n,
		       int WO)
{
	const float *r0 = x + (size_t)2 * oy * W, *r1 = r0 + W;

	for (int ox = 0; ox < n; ox++) {
		int i = 2 * ox, arg = 2 * oy * W + i;
		float m = r0[i];

		if (r0[i + 1] > m) {
			m = r0[i + 1];
			arg = 2 * oy * W + i + 1;
		}
		if (r1[i] > m) {
			m = r1[i];
			arg = (2 * oy + 1) * W + i;
		}
		if (r1[i + 1] > m) {
			m = r1[i + 1];
			arg = (2 * oy + 1) * W + i + 1;
		}
		y[oy * WO + ox] = m;
		mask[oy * WO + ox] = arg;
	}
}

/* MAX, K x K (2 or 3), stride 2, no padding: the kernels below. */
static int max_s2(const struct pool *p)
{
	return p->method == POOL_MAX && p->kh == p->kw && (p->kh == 2 || p->kh == 3) &&
	       p->sh == 2 && p->sw == 2 && p->ph == 0 && p->pw == 0;
}

#if HAVE_X86
/* Even and odd elements of r[0..16), in order. */
__attribute__((target("avx2,fma")))
static inline void deinterleave(const float *r, __m256 *e, __m256 *o)
{
	__m256 a = _mm256_loadu_ps(r), b = _mm256_loadu_ps(r + 8);

	/* shuffle_ps pairs the 128-bit lanes: order them afterwards */
	*e = _mm256_castpd_ps(_mm256_permute4x64_pd(
		_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
	*o = _mm256_castpd_ps(_mm256_permute4x64_pd(
		_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
}

/* Rows [0, HOf) of a K x K stride-2 MAX plane (windows inside it), eight
 * outputs a step where the loads stay inside the row (16 floats from
 * column 2 ox, and for K = 3 from 2 ox + 2: 2 ox + 16 + 2 (K - 2) <= W),
 * the rest by window(): each tap compared in scan order with the
 * scalar loop's strict '>' (ties and NaN keep the earlier value), the
 * argmax carried by blends. */
__attribute__((target("avx2,fma")))
static void max_s2_avx2(const struct pool *p, const float *x, int H, int W, float *y,
			int *mask, int HOf, int WO)
{
	const int K = p->kh;
	const __m256i step = _mm256_set_epi32(14, 12, 10, 8, 6, 4, 2, 0);

	for (int oy = 0; oy < HOf; oy++) {
		int ox = 0;

		for (; 2 * ox + 16 + 2 * (K - 2) <= W; ox += 8) {
			int base = 2 * oy * W + 2 * ox;
			__m256 m = _mm256_setzero_ps();
			__m256i arg = _mm256_setzero_si256(), b0 = _mm256_add_epi32(
				_mm256_set1_epi32(base), step);

			for (int dy = 0; dy < K; dy++) {
				const float *r = x + base + (size_t)dy * W;
				__m256 v[3];

				deinterleave(r, &v[0], &v[1]);
				if (K == 3) {
					__m256 o;

					deinterleave(r + 2, &v[2], &o);
				}
				for (int dx = 0; dx < K; dx++) {
					__m256i a = _mm256_add_epi32(b0, _mm256_set1_epi32(dy * W + dx));

					if (dy == 0 && dx == 0) {
						m = v[0];
						arg = a;
						continue;
					}
					__m256 g = _mm256_cmp_ps(v[dx], m, _CMP_GT_OQ);

					m = _mm256_blendv_ps(m, v[dx], g);
					arg = _mm256_castps_si256(_mm256_blendv_ps(
						_mm256_castsi256_ps(arg), _mm256_castsi256_ps(a), g));
				}
			}
			_mm256_storeu_ps(y + (size_t)oy * WO + ox, m);
			_mm256_storeu_si256((__m256i *)(mask + (size_t)oy * WO + ox), arg);
		}
		for (; ox < WO; ox++)
			window(p, x, H, W, y, mask, oy, ox, WO);
	}
}
#endif

/* Forward of planes [lo, hi) of (N*C). */
static void pool_forward_planes(void *ctx, int lo, int hi)
{
	struct fcn_layer *l = ((struct pool_job *)ctx)->l;
	struct pool *p = l->priv;
	const struct fcn_blob *b = l->bottom[0];
	struct fcn_blob *t = l->top[0];
	int H = b->h, W = b->w, HO = t->h, WO = t->w;
	/* rows whose windows lie inside the plane (Caffe's ceil rounding
	 * clips the last ones) */
	int HOf = max_s2(p) ? (H - p->kh) / 2 + 1 : 0;

	HOf = HOf < HO ? HOf : HO;
	for (int pl = lo; pl < hi; pl++) {
		const float *x = b->data + (size_t)pl * H * W;  /* (H, W) */
		float *y = t->data + (size_t)pl * HO * WO;      /* (HO, WO) */
		int *mask = p->mask ? p->mask + (size_t)pl * HO * WO : NULL;
		int oy = 0;

#if HAVE_X86
		if (HOf > 0 && fcn_kernels_avx2()) {
			max_s2_avx2(p, x, H, W, y, mask, HOf, WO);
			oy = HOf;
		}
#endif
		if (oy == 0 && HOf > 0 && p->kh == 2) {
			int WOf = (W - 2) / 2 + 1 < WO ? (W - 2) / 2 + 1 : WO;

			for (; oy < HOf; oy++) {
				max2x2_row(x, W, y, mask, oy, WOf, WO);
				for (int ox = WOf; ox < WO; ox++)
					window(p, x, H, W, y, mask, oy, ox, WO);
			}
		}
		for (; oy < HO; oy++)
			for (int ox = 0; ox < WO; ox++)
				window(p, x, H, W, y, mask, oy, ox, WO);
	}
}

/* Planes per task: about 2^16 window reads. */
static int plane_grain(const struct pool *p, const struct fcn_blob *t)
{
	long k = 65536 / ((long)t->h * t->w * p->kh * p->kw + 1);

	return k < 1 ? 1 : (int)k;
}

static int pool_forward(struct fcn_layer *l, struct fcn_err *err)
{
	struct pool_job j = { l };

	(void)err;
	fcn_parallel_for(l->bottom[0]->n * l->bottom[0]->c,
			 plane_grain(l->priv, l->top[0]), pool_forward_planes, &j);
	return 0;
}

/* Backward of planes [lo, hi). */
static void pool_backward_planes(void *ctx, int lo, int hi)
{
	struct fcn_layer *l = ((struct pool_job *)ctx)->l;
	struct pool *p = l->priv;
	struct fcn_blob *b = l->bottom[0];
	const struct fcn_blob *t = l->top[0];
	int H = b->h, W = b->w, HO = t->h, WO = t->w, accum = l->accum[0];

	for (int pl = lo; pl < hi; pl++) {
		float *dx = b->diff + (size_t)pl * H * W;
		const float *dy = t->diff + (size_t)pl * HO * WO;

		if (!accum)
			memset(dx, 0, (size_t)H * W * sizeof *dx);
		if (p->method == POOL_MAX) {
			const int *mask = p->mask + (size_t)pl * HO * WO;

			for (int i = 0; i < HO * WO; i++)
				dx[mask[i]] += dy[i];
			continue;
		}
		for (int oy = 0; oy < HO; oy++)
			for (int ox = 0; ox < WO; ox++) {
				int hs = oy * p->sh - p->ph, ws = ox * p->sw - p->pw;
				int he = hs + p->kh, we = ws + p->kw;
				int size = ave_clip(p, H, W, &hs, &ws, &he, &we);
				float g = dy[oy * WO + ox] / (float)size;

				for (int yy = hs; yy < he; yy++)
					for (int xx = ws; xx < we; xx++)
						dx[yy * W + xx] += g;
			}
	}
}

static int pool_backward(struct fcn_layer *l, struct fcn_err *err)
{
	struct pool_job j = { l };

	(void)err;
	if (!l->need_diff[0])
		return 0;
	fcn_parallel_for(l->bottom[0]->n * l->bottom[0]->c,
			 plane_grain(l->priv, l->top[0]), pool_backward_planes, &j);
	return 0;
}

static void pool_free(struct fcn_layer *l)
{
	struct pool *p = l->priv;

	if (p)
		free(p->mask);
	free(p);
}

const struct fcn_layer_ops fcn_pool_ops = {
	.type = "Pooling", .min_bottom = 1, .max_bottom = 1,
	.min_top = 1, .max_top = 1,
	.parse = pool_parse, .reshape = pool_reshape,
	.forward = pool_forward, .backward = pool_backward, .free = pool_free,
};
