/*
 * solver.c - SGD/Adam updates and learning-rate policies (see solver.h).
 * The element loops follow Caffe's BLAS calls one to one (axpby, axpy,
 * scal), in float32, so that results match Caffe's order of operations;
 * AdamW follows torch.optim.AdamW's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "solver.h"

struct fcn_solver {
	struct fcn_solver_conf conf;
	size_t nparams;
	size_t *numel;
	float **hist;  /* SGD: v; Adam: m */
	float **hist2; /* Adam: v; NULL for SGD */
	long iter;
};

static const char *const policy_names[] = {
	"fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid",
};
static const char *const kind_names[] = {"sgd", "adam", "adamw"};

static int fail(struct fcn_err *err, const char *msg, double v)
{
	if (err)
		snprintf(err->msg, sizeof err->msg, msg, v);
	return -1;
}

void fcn_solver_conf_default(struct fcn_solver_conf *c)
{
	memset(c, 0, sizeof *c);
	c->kind = FCN_SOLVER_SGD;
	c->policy = FCN_LR_FIXED;
	c->base_lr = 0.01;
	c->momentum2 = 0.999;
	c->delta = 1e-8;
	c->iter_size = 1;
}

int fcn_solver_conf_check(const struct fcn_solver_conf *c, struct fcn_err *err)
{
	if (!(c->base_lr >= 0) || !isfinite(c->base_lr))
		return fail(err, "base_lr %g must be finite and >= 0", c->base_lr);
	if (!(c->momentum >= 0 && c->momentum < 1))
		return fail(err, "momentum %g must be in [0, 1)", c->momentum);
	if (!(c->momentum2 >= 0 && c->momentum2 < 1))
		return fail(err, "momentum2 %g must be in [0, 1)", c->momentum2);
	if (!(c->delta > 0) || !isfinite(c->delta))
		return fail(err, "delta %g must be > 0", c->delta);
	if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
		return fail(err, "weight_decay %g must be >= 0", c->weight_decay);
	if (c->iter_size < 1)
		return fail(err, "iter_size %g must be >= 1", c->iter_size);
	if (c->warmup < 0)
		return fail(err, "warmup %g must be >= 0", (double)c->warmup);
	if (c->policy == FCN_LR_POLY && c->warmup > 0 && c->warmup >= c->max_iter)
		return fail(err, "warmup %g must be shorter than poly's max_iter",
			    (double)c->warmup);
	if (!isfinite(c->gamma) || !isfinite(c->power))
		return fail(err, "gamma and power must be finite (gamma %g)", c->gamma);
	switch (c->policy) {
	case FCN_LR_STEP:
		if (c->stepsize < 1)
			return fail(err, "policy step needs stepsize >= 1, not %g",
				    (double)c->stepsize);
		break;
	case FCN_LR_MULTISTEP:
		if (c->nstepvalues < 1 || c->nstepvalues > FCN_MAX_STEPVALUES)
			return fail(err, "policy multistep needs 1 to %g stepvalues",
				    FCN_MAX_STEPVALUES);
		for (int i = 1; i < c->nstepvalues; i++)
			if (c->stepvalues[i] <= c->stepvalues[i - 1])
				return fail(err, "stepvalues must increase (%g)",
					    (double)c->stepvalues[i]);
		break;
	case FCN_LR_POLY:
		if (c->max_iter < 1)
			return fail(err, "policy poly needs max_iter >= 1, not %g",
				    (double)c->max_iter);
		break;
	default:
		break;
	}
	return 0;
}

int fcn_lr_policy_parse(const char *name, enum fcn_lr_policy *p)
{
	for (size_t i = 0; i < sizeof policy_names / sizeof *policy_names; i++)
		if (!strcmp(name, policy_names[i])) {
			*p = (enum fcn_lr_policy)i;
			return 0;
		}
	return -1;
}

const char *fcn_lr_policy_name(enum fcn_lr_policy p)
{
	return (unsigned)p < sizeof policy_names / sizeof *policy_names ?
		       policy_names[p] : "?";
}

int fcn_solver_kind_parse(const char *name, enum fcn_solver_kind *k)
{
	for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
		if (!strcmp(name, kind_names[i])) {
			*k = (enum fcn_solver_kind)i;
			return 0;
		}
	return -1;
}

const char *fcn_solver_kind_name(enum fcn_solver_kind k)
{
	return (unsigned)k < sizeof kind_names / sizeof *kind_names ?
		       kind_names[k] : "?";
}

static double policy_at(const struct fcn_solver_conf *c, long iter,
			long max_iter);

double fcn_lr_at(const struct fcn_solver_conf *c, long iter)
{
	if (c->warmup > 0 && iter < c->warmup)
		return c->base_lr * (double)(iter + 1) / (double)c->warmup;
	return policy_at(c, iter - c->warmup, c->max_iter - c->warmup);
}

static double policy_at(const struct fcn_solver_conf *c, long iter,
			long max_iter)
{
	double it = (double)iter;
	int steps = 0;

	switch (c->policy) {
	case FCN_LR_FIXED:
		return c->base_lr;
	case FCN_LR_STEP:
		return c->base_lr * pow(c->gamma, (double)(iter / c->stepsize));
	case FCN_LR_EXP:
		return c->base_lr * pow(c->gamma, it);
	case FCN_LR_INV:
		return c->base_lr * pow(1.0 + c->gamma * it, -c->power);
	case FCN_LR_MULTISTEP:
		while (steps < c->nstepvalues && iter >= c->stepvalues[steps])
			steps++;
		return c->base_lr * pow(c->gamma, steps);
	case FCN_LR_POLY:
		return c->base_lr * pow(1.0 - it / (double)max_iter, c->power);
	case FCN_LR_SIGMOID:
		return c->base_lr *
		       (1.0 / (1.0 + exp(-c->gamma * (it - (double)c->stepsize))));
	}
	return c->base_lr;
}

struct fcn_solver *fcn_solver_create(const struct fcn_solver_conf *c,
				     const size_t *numel, size_t nparams,
				     struct fcn_err *err)
{
	struct fcn_solver *s;

	if (fcn_solver_conf_check(c, err) < 0)
		return NULL;
	s = calloc(1, sizeof *s);
	if (!s)
		goto nomem;
	s->conf = *c;
	s->nparams = nparams;
	s->numel = calloc(nparams ? nparams : 1, sizeof *s->numel);
	s->hist = calloc(nparams ? nparams : 1, sizeof *s->hist);
	if (c->kind != FCN_SOLVER_SGD)
		s->hist2 = calloc(nparams ? nparams : 1, sizeof *s->hist2);
	if (!s->numel || !s->hist || (c->kind != FCN_SOLVER_SGD && !s->hist2))
		goto nomem;
	for (size_t i = 0; i < nparams; i++) {
		s->numel[i] = numel[i];
		s->hist[i] = calloc(numel[i] ? numel[i] : 1, sizeof(float));
		if (!s->hist[i])
			goto nomem;
		if (s->hist2) {
			s->hist2[i] = calloc(numel[i] ? numel[i] : 1, sizeof(float));
			if (!s->hist2[i])
				goto nomem;
		}
	}
	return s;
nomem:
	fcn_solver_free(s);
	if (err)
		snprintf(err->msg, sizeof err->msg,
			 "solver: out of memory for %zu parameters", nparams);
	return NULL;
}

void fcn_solver_free(struct fcn_solver *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nparams; i++) {
		if (s->hist)
			free(s->hist[i]);
		if (s->hist2)
			free(s->hist2[i]);
	}
	free(s->hist);
	free(s->hist2);
	free(s->numel);
	free(s);
}

const struct fcn_solver_conf *fcn_solver_conf(const struct fcn_solver *s)
{
	return &s->conf;
}

/* g = g / iter_size; g += decay * w (Caffe's Normalize and Regularize). */
static void regularize(float *g, const float *w, size_t n, int iter_size,
		       float decay)
{
	float scale = 1.0f / (float)iter_size;

	if (iter_size > 1) {
#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < n; i++)
			g[i] *= scale;
	}
	if (decay != 0) {
#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < n; i++)
			g[i] += decay * w[i];
	}
}

static void sgd_step(float *w, float *g, float *v, size_t n, float rate,
		     float momentum)
{
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++) {
		v[i] = rate * g[i] + momentum * v[i];
		g[i] = v[i];
		w[i] -= g[i];
	}
}

static void adam_step(float *w, float *g, float *m, float *v, size_t n,
		      float rate, float b1, float b2, float eps)
{
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++) {
		m[i] = (1.0f - b1) * g[i] + b1 * m[i];
		v[i] = (1.0f - b2) * (g[i] * g[i]) + b2 * v[i];
		g[i] = rate * (m[i] / (powf(v[i], 0.5f) + eps));
		w[i] -= g[i];
	}
}

/* torch.optim.AdamW, single-tensor path, in float32. */
static void adamw_step(float *w, float *g, float *m, float *v, size_t n,
		       float rate, float decay, float b1, float b2, float eps,
		       float bc1, float bc2_sqrt)
{
	float keep = 1.0f - rate * decay, step = rate / bc1;

#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++) {
		float old = w[i];

		w[i] *= keep;
		m[i] = b1 * m[i] + (1.0f - b1) * g[i];
		v[i] = b2 * v[i] + (1.0f - b2) * (g[i] * g[i]);
		w[i] -= step * (m[i] / (sqrtf(v[i]) / bc2_sqrt + eps));
		g[i] = old - w[i];
	}
}

int fcn_solver_update(struct fcn_solver *s, struct fcn_param *const *params,
		      size_t n, struct fcn_err *err)
{
	const struct fcn_solver_conf *c = &s->conf;
	float rate = (float)fcn_lr_at(c, s->iter);
	float correction = 1.0f;

	if (n != s->nparams)
		return fail(err, "solver: expected %g parameters", (double)s->nparams);
	for (size_t i = 0; i < n; i++) {
		const struct fcn_blob *b = params[i]->blob;

		if (fcn_blob_count(b) != s->numel[i] || !b->data || !b->diff) {
			if (err)
				snprintf(err->msg, sizeof err->msg,
					 "solver: parameter %s[%d] has %zu elements, expected %zu",
					 params[i]->layer, params[i]->index,
					 fcn_blob_count(b), s->numel[i]);
			return -1;
		}
		if (b->dev != FCN_CPU) {
			if (err)
				snprintf(err->msg, sizeof err->msg,
					 "solver: parameter %s[%d] is not in host memory",
					 params[i]->layer, params[i]->index);
			return -1;
		}
	}
	if (c->kind == FCN_SOLVER_ADAM) {
		double t = (double)(s->iter + 1);

		correction = (float)(sqrt(1.0 - pow((float)c->momentum2, t)) /
				     (1.0 - pow((float)c->momentum, t)));
	}
	for (size_t i = 0; i < n; i++) {
		struct fcn_blob *b = params[i]->blob;
		float local_rate = rate * params[i]->lr_mult;
		float decay = (float)c->weight_decay * params[i]->decay_mult;

		if (c->kind == FCN_SOLVER_ADAMW) {
			double t = (double)(s->iter + 1);

			regularize(b->diff, b->data, s->numel[i], c->iter_size, 0);
			adamw_step(b->data, b->diff, s->hist[i], s->hist2[i], s->numel[i],
				   local_rate, decay, (float)c->momentum,
				   (float)c->momentum2, (float)c->delta,
				   (float)(1.0 - pow(c->momentum, t)),
				   (float)sqrt(1.0 - pow(c->momentum2, t)));
			continue;
		}
		regularize(b->diff, b->data, s->numel[i], c->iter_size, decay);
		if (c->kind == FCN_SOLVER_SGD)
			sgd_step(b->data, b->diff, s->hist[i], s->numel[i],
				 local_rate, (float)c->momentum);
		else
			adam_step(b->data, b->diff, s->hist[i], s->hist2[i],
				  s->numel[i], local_rate * correction,
				  (float)c->momentum, (float)c->momentum2,
				  (float)c->delta);
	}
	s->iter++;
	return 0;
}

long fcn_solver_iter(const struct fcn_solver *s)
{
	return s->iter;
}

void fcn_solver_set_iter(struct fcn_solver *s, long iter)
{
	s->iter = iter;
}

int fcn_solver_nhistory(const struct fcn_solver *s)
{
	return s->conf.kind == FCN_SOLVER_SGD ? 1 : 2;
}

float *fcn_solver_history(struct fcn_solver *s, size_t i, int which,
			  size_t *numel)
{
	if (i >= s->nparams || which < 0 || which >= fcn_solver_nhistory(s))
		return NULL;
	if (numel)
		*numel = s->numel[i];
	return which == 0 ? s->hist[i] : s->hist2[i];
}
