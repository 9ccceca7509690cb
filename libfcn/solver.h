/*
 * solver.h - Caffe's solvers for a set of learnable blobs: SGD with momentum
 * and Adam, L2 weight decay, gradient accumulation over iter_size passes,
 * and Caffe's learning-rate policies, computed as Caffe computes them.
 *
 * One update (fcn_solver_update), for each parameter with gradient g in its
 * diff, weights w, lr = fcn_lr_at(conf, iter) (as float), and the
 * parameter's lr_mult / decay_mult:
 *   g  = g / iter_size                           (when iter_size > 1)
 *   g += weight_decay * decay_mult * w
 *   SGD:  v = momentum * v + lr * lr_mult * g;  w -= v
 *         (Caffe's sign convention for the history; REFERENCE.md's
 *          v' = mu v' - lr g, w += v' is the same update with v' = -v)
 *   Adam: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  t = iter + 1;
 *         w -= lr * lr_mult * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + delta)
 *         (b1 = momentum, b2 = momentum2)
 *   AdamW (torch.optim.AdamW's arithmetic; no L2 term in g, the decay is
 *         decoupled): w *= 1 - lr * lr_mult * weight_decay * decay_mult;
 *         m, v as Adam; w -= lr * lr_mult / (1 - b1^t) * m /
 *         (sqrt(v) / sqrt(1 - b2^t) + delta)
 * then iter += 1.  The diffs are left holding the applied step, as in Caffe;
 * the caller zeroes them before the next accumulation.
 *
 * The solver owns its history (one array per parameter for SGD, two for
 * Adam), so that a model file can store and restore it for --resume.
 * Arithmetic is float32 element by element (OpenMP over elements): the
 * result does not depend on the thread count.
 *
 * Contract: no printing, no exit; errors fill struct fcn_err.
 * Not done here: the forward/backward passes (the caller runs them),
 * gradient clipping, L1 regularisation, Caffe's Nesterov/AdaGrad/RMSProp.
 */
#ifndef FCN_SOLVER_H
#define FCN_SOLVER_H

#include <stddef.h>

#include "fcn.h"

#define FCN_MAX_STEPVALUES 32

enum fcn_solver_kind { FCN_SOLVER_SGD, FCN_SOLVER_ADAM, FCN_SOLVER_ADAMW };

enum fcn_lr_policy {
	FCN_LR_FIXED,     /* base_lr */
	FCN_LR_STEP,      /* base_lr * gamma^floor(iter / stepsize) */
	FCN_LR_EXP,       /* base_lr * gamma^iter */
	FCN_LR_INV,       /* base_lr * (1 + gamma * iter)^-power */
	FCN_LR_MULTISTEP, /* base_lr * gamma^(number of stepvalues <= iter) */
	FCN_LR_POLY,      /* base_lr * (1 - iter / max_iter)^power */
	FCN_LR_SIGMOID,   /* base_lr / (1 + exp(-gamma * (iter - stepsize))) */
};

struct fcn_solver_conf {
	enum fcn_solver_kind kind;
	enum fcn_lr_policy policy;
	double base_lr;
	double gamma;
	double power;
	long stepsize;
	long stepvalues[FCN_MAX_STEPVALUES]; /* increasing */
	int nstepvalues;
	long max_iter;       /* poly */
	double momentum;     /* SGD momentum; Adam beta1 */
	double momentum2;    /* Adam beta2 */
	double delta;        /* Adam epsilon */
	double weight_decay; /* L2 */
	int iter_size;       /* forward/backward passes per update */
	long warmup;         /* linear warm-up iterations (0: none) */
};

/* Caffe's defaults where it has them (momentum 0, weight_decay 0, momentum2
 * 0.999, delta 1e-8, iter_size 1, policy fixed), base_lr 0.01, SGD. */
void fcn_solver_conf_default(struct fcn_solver_conf *c);
/* 0 when the configuration is usable, else -1 naming the bad field. */
int fcn_solver_conf_check(const struct fcn_solver_conf *c, struct fcn_err *err);

/* Names "fixed", "step", ... and back; parse returns -1 on an unknown name. */
int fcn_lr_policy_parse(const char *name, enum fcn_lr_policy *p);
const char *fcn_lr_policy_name(enum fcn_lr_policy p);
int fcn_solver_kind_parse(const char *name, enum fcn_solver_kind *k);
const char *fcn_solver_kind_name(enum fcn_solver_kind k);

/* The learning rate at iteration iter (0-based), in double precision.
 * With warmup W > 0: base_lr * (iter + 1) / W for iter < W, then the policy
 * at iter - W (poly's horizon becomes max_iter - W, so it still ends at
 * max_iter). */
double fcn_lr_at(const struct fcn_solver_conf *c, long iter);

struct fcn_solver;

/* A solver for nparams parameters of the given element counts (the blobs
 * the updates will be given, in that order), history zero, iter 0. */
struct fcn_solver *fcn_solver_create(const struct fcn_solver_conf *c,
				     const size_t *numel, size_t nparams,
				     struct fcn_err *err);
void fcn_solver_free(struct fcn_solver *s);
const struct fcn_solver_conf *fcn_solver_conf(const struct fcn_solver *s);

/* One update of params[0..n-1] (see the top of this file); -1 when n or a
 * blob's size differs from what the solver was created for, or a blob is
 * not on the host. */
int fcn_solver_update(struct fcn_solver *s, struct fcn_param *const *params,
		      size_t n, struct fcn_err *err);

long fcn_solver_iter(const struct fcn_solver *s);
void fcn_solver_set_iter(struct fcn_solver *s, long iter);
/* History arrays per parameter: 1 for SGD, 2 for Adam (m, v). */
int fcn_solver_nhistory(const struct fcn_solver *s);
/* History array `which` of parameter i (numel floats), NULL when out of
 * range; writable so that a model loader can restore it. */
float *fcn_solver_history(struct fcn_solver *s, size_t i, int which,
			  size_t *numel);

#endif
