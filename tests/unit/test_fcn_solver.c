/*
 * test_fcn_solver.c - libfcn/solver.c against hand computation and against
 * the float64 numpy reference tests/ref/numpy_solver.py (run through
 * $PYTHON, default /usr/bin/python3; skipped when it cannot run):
 * every learning-rate policy, SGD with momentum, weight decay, lr_mult /
 * decay_mult, iter_size accumulation, Adam, thread independence.
 * Run from the repository root (tests/run.sh does).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "solver.h"
#include "tap.h"

static const char *python(void)
{
	const char *p = getenv("PYTHON");

	return p && *p ? p : "/usr/bin/python3";
}

/* Runs the reference script with args (numpy_solver.py, or torch_adamw.py
 * for "update adamw ..."); reads up to max numbers into out.
 * Returns the count, or -1 when it could not run. */
static int reference(const char *args, double *out, int max)
{
	char cmd[1024];
	FILE *p;
	int n = 0, rc;

	snprintf(cmd, sizeof cmd, "%s tests/ref/%s %s 2>/dev/null", python(),
		 strncmp(args, "update adamw", 12) ? "numpy_solver.py" : "torch_adamw.py",
		 args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (n < max && fscanf(p, "%lf", &out[n]) == 1)
		n++;
	rc = pclose(p);
	return rc == 0 ? n : -1;
}

static int close_to(double got, double want, double abs_tol, double rel_tol)
{
	return fabs(got - want) <= abs_tol + rel_tol * fabs(want);
}

/* A blob on the host with room for data and diff. */
static struct fcn_blob *blob_new(int n)
{
	struct fcn_blob *b = calloc(1, sizeof *b);

	b->n = 1, b->c = 1, b->h = 1, b->w = n;
	b->data = calloc(n, sizeof(float));
	b->diff = calloc(n, sizeof(float));
	b->dev = FCN_CPU;
	b->cap = n;
	return b;
}

static void blob_free(struct fcn_blob *b)
{
	free(b->data);
	free(b->diff);
	free(b);
}

static void test_hand_sgd(void)
{
	struct fcn_solver_conf c;
	struct fcn_err err;
	struct fcn_blob *b = blob_new(1);
	struct fcn_param p = {"conv", 0, b, 1, 1}, *pp = &p;
	size_t numel = 1;
	struct fcn_solver *s;

	fcn_solver_conf_default(&c);
	c.base_lr = 0.1, c.momentum = 0.9, c.weight_decay = 0.1;
	s = fcn_solver_create(&c, &numel, 1, &err);
	b->data[0] = 1;
	b->diff[0] = 0.5f;
	fcn_solver_update(s, &pp, 1, &err);
	/* g = 0.5 + 0.1*1 = 0.6; v = 0.06; w = 0.94 */
	CHECK(close_to(b->data[0], 0.94, 1e-6, 0), "SGD step 1 by hand: w %.7f", b->data[0]);
	b->diff[0] = 0.5f;
	fcn_solver_update(s, &pp, 1, &err);
	/* g = 0.5 + 0.094 = 0.594; v = 0.054 + 0.0594 = 0.1134; w = 0.8266 */
	CHECK(close_to(b->data[0], 0.8266, 1e-6, 0), "SGD step 2 by hand: w %.7f", b->data[0]);
	CHECK(fcn_solver_iter(s) == 2, "iteration counter");
	CHECK(close_to(*fcn_solver_history(s, 0, 0, NULL), 0.1134, 1e-6, 0),
	      "history holds v");
	/* lr_mult 0 (a frozen deconvolution): the weights never move */
	p.lr_mult = 0, p.decay_mult = 1;
	b->data[0] = 2;
	fcn_solver_set_iter(s, 0);
	*fcn_solver_history(s, 0, 0, NULL) = 0;
	b->diff[0] = 3;
	fcn_solver_update(s, &pp, 1, &err);
	CHECK(b->data[0] == 2, "lr_mult 0 freezes the weights");
	fcn_solver_free(s);
	blob_free(b);
}

static void test_hand_adam(void)
{
	struct fcn_solver_conf c;
	struct fcn_err err;
	struct fcn_blob *b = blob_new(1);
	struct fcn_param p = {"fc", 1, b, 1, 0}, *pp = &p;
	size_t numel = 1;
	struct fcn_solver *s;

	fcn_solver_conf_default(&c);
	c.kind = FCN_SOLVER_ADAM;
	c.base_lr = 0.001, c.momentum = 0.9, c.momentum2 = 0.999;
	s = fcn_solver_create(&c, &numel, 1, &err);
	b->data[0] = 1;
	b->diff[0] = 4;
	fcn_solver_update(s, &pp, 1, &err);
	/* t = 1: m = 0.4, v = 0.016, corr = sqrt(0.001)/0.1; step = lr * sign(g) */
	CHECK(close_to(b->data[0], 0.999, 1e-6, 0), "Adam first step is lr: w %.7f",
	      b->data[0]);
	CHECK(fcn_solver_nhistory(s) == 2, "Adam keeps two histories");
	CHECK(close_to(*fcn_solver_history(s, 0, 1, NULL), 0.016, 1e-7, 1e-5),
	      "Adam v history");
	fcn_solver_free(s);
	blob_free(b);
}

struct policy_case {
	const char *name;
	enum fcn_lr_policy policy;
	double gamma, power;
	long stepsize, max_iter;
	const char *stepvalues;
	long warmup;
};

static void test_policies(void)
{
	static const struct policy_case cases[] = {
		{"fixed", FCN_LR_FIXED, 0, 0, 0, 0, "-", 0},
		{"step", FCN_LR_STEP, 0.1, 0, 3, 0, "-", 0},
		{"exp", FCN_LR_EXP, 0.9, 0, 0, 0, "-", 0},
		{"inv", FCN_LR_INV, 1e-2, 0.75, 0, 0, "-", 0},
		{"multistep", FCN_LR_MULTISTEP, 0.5, 0, 0, 0, "2,5,11", 0},
		{"poly", FCN_LR_POLY, 0, 0.9, 0, 20, "-", 0},
		{"sigmoid", FCN_LR_SIGMOID, -0.5, 0, 8, 0, "-", 0},
		{"poly", FCN_LR_POLY, 0, 0.9, 0, 20, "-", 5},
		{"step", FCN_LR_STEP, 0.5, 0, 3, 0, "-", 4},
		{"fixed", FCN_LR_FIXED, 0, 0, 0, 0, "-", 16},
	};
	const int N = 16;

	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		const struct policy_case *pc = &cases[k];
		struct fcn_solver_conf c;
		struct fcn_err err;
		double ref[64];
		char args[256];
		enum fcn_lr_policy parsed;
		int n, bad = 0;

		fcn_solver_conf_default(&c);
		c.policy = pc->policy;
		c.base_lr = 0.01, c.gamma = pc->gamma, c.power = pc->power;
		c.stepsize = pc->stepsize, c.max_iter = pc->max_iter;
		c.warmup = pc->warmup;
		if (pc->policy == FCN_LR_MULTISTEP) {
			c.stepvalues[0] = 2, c.stepvalues[1] = 5, c.stepvalues[2] = 11;
			c.nstepvalues = 3;
		}
		CHECK(fcn_lr_policy_parse(pc->name, &parsed) == 0 && parsed == pc->policy &&
		      !strcmp(fcn_lr_policy_name(parsed), pc->name),
		      "policy name %s round-trips", pc->name);
		CHECK(fcn_solver_conf_check(&c, &err) == 0, "%s: configuration accepted", pc->name);
		snprintf(args, sizeof args, "lr %s 0.01 %.17g %.17g %ld %ld %s %d %ld",
			 pc->name, pc->gamma, pc->power, pc->stepsize, pc->max_iter,
			 pc->stepvalues, N, pc->warmup);
		n = reference(args, ref, 64);
		if (n != N) {
			tap_skip("%s: numpy reference did not run (%s)", pc->name, python());
			continue;
		}
		for (int it = 0; it < N; it++)
			if (!close_to(fcn_lr_at(&c, it), ref[it], 1e-15, 1e-7)) {
				tap_diag("%s it %d: got %.9g want %.9g", pc->name, it,
					 fcn_lr_at(&c, it), ref[it]);
				bad++;
			}
		CHECK(bad == 0, "%s (warm-up %ld) matches numpy over %d iterations",
		      pc->name, pc->warmup, N);
	}
	/* by hand, for good measure */
	struct fcn_solver_conf c;

	fcn_solver_conf_default(&c);
	c.base_lr = 1, c.policy = FCN_LR_STEP, c.gamma = 0.1, c.stepsize = 10;
	CHECK(fcn_lr_at(&c, 9) == 1 && close_to(fcn_lr_at(&c, 10), 0.1, 1e-15, 0) &&
	      close_to(fcn_lr_at(&c, 25), 0.01, 1e-15, 0), "step by hand");
	c.policy = FCN_LR_POLY, c.power = 1, c.max_iter = 4;
	CHECK(fcn_lr_at(&c, 1) == 0.75 && fcn_lr_at(&c, 4) == 0, "poly by hand");
	c.policy = FCN_LR_SIGMOID, c.gamma = 1, c.stepsize = 3;
	CHECK(fcn_lr_at(&c, 3) == 0.5, "sigmoid is half at stepsize");
	c.policy = FCN_LR_INV, c.gamma = 1, c.power = 1;
	CHECK(fcn_lr_at(&c, 3) == 0.25, "inv by hand");
	c.policy = FCN_LR_POLY, c.power = 1, c.max_iter = 14, c.warmup = 4;
	CHECK(fcn_lr_at(&c, 0) == 0.25 && fcn_lr_at(&c, 3) == 1 && fcn_lr_at(&c, 4) == 1 &&
	      fcn_lr_at(&c, 9) == 0.5 && fcn_lr_at(&c, 14) == 0,
	      "warm-up 4 then poly to 14 by hand");
}

/* The scenario of numpy_solver.py's "update" command; returns failures. */
static int run_update(enum fcn_solver_kind kind, int iters, double base,
		      double mom, double mom2, double delta, double decay,
		      int iter_size, float lr_mult, float decay_mult, int n)
{
	struct fcn_solver_conf c;
	struct fcn_err err;
	struct fcn_blob *b = blob_new(n);
	struct fcn_param p = {"conv", 0, b, lr_mult, decay_mult}, *pp = &p;
	size_t numel = n;
	struct fcn_solver *s;
	double *ref = malloc(3 * n * sizeof *ref);
	char args[512];
	int got, bad = 0, nh;

	fcn_solver_conf_default(&c);
	c.kind = kind, c.base_lr = base, c.momentum = mom, c.momentum2 = mom2;
	c.delta = delta, c.weight_decay = decay, c.iter_size = iter_size;
	c.policy = FCN_LR_STEP, c.gamma = 0.5, c.stepsize = 2;
	s = fcn_solver_create(&c, &numel, 1, &err);
	for (int i = 0; i < n; i++)
		b->data[i] = (float)sin(0.37 * i + 0.2);
	for (int t = 0; t < iters; t++) {
		memset(b->diff, 0, n * sizeof(float));
		for (int k = 0; k < iter_size; k++)
			for (int i = 0; i < n; i++)
				b->diff[i] += (float)cos(0.11 * i + 0.7 * t + 1.3 * k);
		if (fcn_solver_update(s, &pp, 1, &err) < 0)
			bad++;
	}
	nh = fcn_solver_nhistory(s);
	snprintf(args, sizeof args, "update %s %d %.17g %.17g %.17g %.17g %.17g %d %.9g %.9g %d",
		 fcn_solver_kind_name(kind), iters, base, mom, mom2, delta, decay,
		 iter_size, lr_mult, decay_mult, n);
	got = reference(args, ref, 3 * n);
	if (got != (1 + nh) * n) {
		tap_skip("%s: numpy reference did not run", args);
		bad = -1;
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (!close_to(b->data[i], ref[i], 1e-5, 1e-4)) {
			if (bad < 3)
				tap_diag("w[%d]: got %.9g want %.9g", i, b->data[i], ref[i]);
			bad++;
		}
	for (int h = 0; h < nh; h++) {
		const float *hist = fcn_solver_history(s, 0, h, NULL);

		for (int i = 0; i < n; i++)
			if (!close_to(hist[i], ref[(1 + h) * n + i], 1e-6, 1e-4)) {
				if (bad < 3)
					tap_diag("history %d [%d]: got %.9g want %.9g", h,
						 i, hist[i], ref[(1 + h) * n + i]);
				bad++;
			}
	}
out:
	fcn_solver_free(s);
	blob_free(b);
	free(ref);
	return bad;
}

static void test_updates(void)
{
	int bad;

	if ((bad = run_update(FCN_SOLVER_SGD, 7, 0.1, 0.9, 0.999, 1e-8, 5e-4, 1, 1, 1, 50)) >= 0)
		CHECK(bad == 0, "SGD momentum 0.9, decay 5e-4, step policy: 7 updates match numpy");
	if ((bad = run_update(FCN_SOLVER_SGD, 5, 0.05, 0.5, 0.999, 1e-8, 0.01, 3, 2, 0, 40)) >= 0)
		CHECK(bad == 0, "SGD iter_size 3, lr_mult 2, decay_mult 0 matches numpy");
	if ((bad = run_update(FCN_SOLVER_SGD, 4, 0.05, 0, 0.999, 1e-8, 0.1, 2, 1, 1, 40)) >= 0)
		CHECK(bad == 0, "plain SGD (momentum 0) with decay and iter_size 2 matches numpy");
	if ((bad = run_update(FCN_SOLVER_ADAM, 7, 0.01, 0.9, 0.999, 1e-8, 5e-4, 1, 1, 1, 50)) >= 0)
		CHECK(bad == 0, "Adam with decay: 7 updates match numpy");
	if ((bad = run_update(FCN_SOLVER_ADAM, 5, 0.02, 0.8, 0.99, 1e-4, 0, 2, 0.5, 1, 40)) >= 0)
		CHECK(bad == 0, "Adam iter_size 2, lr_mult 0.5, delta 1e-4 matches numpy");
	if ((bad = run_update(FCN_SOLVER_ADAMW, 7, 0.01, 0.9, 0.999, 1e-8, 0.05, 1, 1, 1, 50)) >= 0)
		CHECK(bad == 0, "AdamW decay 0.05: 7 updates match torch.optim.AdamW");
	if ((bad = run_update(FCN_SOLVER_ADAMW, 6, 0.02, 0.8, 0.99, 1e-4, 0.3, 3, 0.5, 2, 40)) >= 0)
		CHECK(bad == 0, "AdamW iter_size 3, lr_mult 0.5, decay_mult 2, eps 1e-4 "
		      "matches torch.optim.AdamW");
	if ((bad = run_update(FCN_SOLVER_ADAMW, 4, 0.01, 0.9, 0.999, 1e-8, 0.1, 1, 1, 0, 30)) >= 0)
		CHECK(bad == 0, "AdamW decay_mult 0 (no decay) matches torch.optim.AdamW");
}

/* Same inputs with 1 and 2 threads: bit-identical weights. */
static void test_threads(void)
{
	enum { N = 100000 };
	float *out[2];

	for (int run = 0; run < 2; run++) {
		struct fcn_solver_conf c;
		struct fcn_err err;
		struct fcn_blob *b = blob_new(N);
		struct fcn_param p = {"x", 0, b, 1, 1}, *pp = &p;
		size_t numel = N;
		struct fcn_solver *s;

		omp_set_num_threads(run + 1);
		fcn_solver_conf_default(&c);
		c.kind = FCN_SOLVER_SGD;
		c.momentum = 0.9, c.weight_decay = 1e-3;
		s = fcn_solver_create(&c, &numel, 1, &err);
		for (int t = 0; t < 3; t++) {
			for (int i = 0; i < N; i++)
				b->diff[i] = (float)sin(i * 0.001 + t);
			fcn_solver_update(s, &pp, 1, &err);
		}
		out[run] = malloc(N * sizeof(float));
		memcpy(out[run], b->data, N * sizeof(float));
		fcn_solver_free(s);
		blob_free(b);
	}
	CHECK(!memcmp(out[0], out[1], N * sizeof(float)),
	      "1 and 2 threads give bit-identical weights");
	free(out[0]);
	free(out[1]);
}

static void test_errors(void)
{
	struct fcn_solver_conf c;
	struct fcn_err err;
	struct fcn_blob *b = blob_new(4);
	struct fcn_param p = {"conv1", 0, b, 1, 1}, *pp = &p;
	size_t numel = 5;
	struct fcn_solver *s;
	enum fcn_lr_policy pol;

	fcn_solver_conf_default(&c);
	c.policy = FCN_LR_STEP;
	CHECK(fcn_solver_conf_check(&c, &err) < 0 && strstr(err.msg, "stepsize"),
	      "step without stepsize is refused: %s", err.msg);
	c.policy = FCN_LR_MULTISTEP, c.nstepvalues = 2;
	c.stepvalues[0] = 5, c.stepvalues[1] = 5;
	CHECK(fcn_solver_conf_check(&c, &err) < 0, "non-increasing stepvalues refused");
	c.policy = FCN_LR_POLY;
	CHECK(fcn_solver_conf_check(&c, &err) < 0, "poly without max_iter refused");
	c.policy = FCN_LR_FIXED, c.momentum = 1;
	CHECK(fcn_solver_conf_check(&c, &err) < 0, "momentum 1 refused");
	c.momentum = 0, c.iter_size = 0;
	CHECK(fcn_solver_create(&c, &numel, 1, &err) == NULL, "iter_size 0 refused");
	CHECK(fcn_lr_policy_parse("cosine", &pol) < 0, "unknown policy refused");
	c.policy = FCN_LR_POLY, c.max_iter = 10, c.warmup = 10, c.iter_size = 1;
	CHECK(fcn_solver_conf_check(&c, &err) < 0 && strstr(err.msg, "warmup"),
	      "a warm-up as long as poly's horizon is refused: %s", err.msg);
	c.policy = FCN_LR_FIXED, c.warmup = -1;
	CHECK(fcn_solver_conf_check(&c, &err) < 0, "a negative warm-up is refused");
	c.warmup = 0;
	c.iter_size = 1;
	s = fcn_solver_create(&c, &numel, 1, &err);
	CHECK(fcn_solver_update(s, &pp, 1, &err) < 0 && strstr(err.msg, "conv1"),
	      "size mismatch names the parameter: %s", err.msg);
	CHECK(fcn_solver_update(s, &pp, 2, &err) < 0, "parameter count mismatch refused");
	fcn_solver_free(s);
	blob_free(b);
}

int main(void)
{
	test_hand_sgd();
	test_hand_adam();
	test_policies();
	test_updates();
	test_threads();
	test_errors();
	return tap_done();
}
