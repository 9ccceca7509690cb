/*
 * fcn_bench.c - engine throughput: images/s of forward (TEST phase) and
 * forward+backward (TRAIN phase) for a net description at a given size,
 * the time per layer, GFLOP/s of the convolutions, and peak RSS.
 * Usage: fcn_bench NET [N C H W [ITERS [THREADS [MODE]]]]
 * prints key=value lines on stdout and, on stderr, a line per layer (the
 * TEST net's forward ms, its GFLOP and GFLOP/s; the TRAIN net's forward and
 * backward ms).  MODE: "both" (default), "infer" or "train".
 * Weights are random (the lab's zero fill would make the work trivial);
 * BatchNorm gets mean ~0, variance ~1 and factor 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fcn.h"
#include "bench.h"

/* An int in [0, 2^20] from argv, or exit 2. */
static int arg(const char *s, const char *what)
{
	return arg_int("fcn_bench", s, what, 0, 1 << 20);
}

static const char *layer_type(const struct fcn_net *net, const char *name)
{
	for (size_t i = 0; i < fcn_net_nlayers(net); i++) {
		const char *type;

		if (!strcmp(fcn_net_layer_name(net, i, &type), name))
			return type;
	}
	return "";
}

/* Nominal GFLOP of layer i: 2 x weights x output positions for a
 * convolution, x input positions for a deconvolution (taken as top / kernel
 * area: exact when stride = kernel, as in the U-Nets). */
static double layer_gflop(struct fcn_net *net, size_t i)
{
	const char *type, *name = fcn_net_layer_name(net, i, &type);
	struct fcn_param *p = fcn_net_param_find(net, name, 0);
	struct fcn_blob *t = fcn_net_blob(net, name);

	if (!p || !t)
		return 0;
	double pos = (double)t->n * t->h * t->w;

	if (!strcmp(type, "Deconvolution"))
		pos /= (double)p->blob->h * p->blob->w;
	else if (strcmp(type, "Convolution"))
		return 0;
	return 2e-9 * (double)fcn_blob_count(p->blob) * pos;
}

static struct fcn_net *setup(const char *path, enum fcn_phase ph, int n, int c,
			     int h, int w)
{
	struct fcn_err err;
	struct fcn_net *net = fcn_net_load(path, ph, &err);

	if (!net || fcn_net_reshape(net, n, c, h, w, &err) < 0 ||
	    fcn_net_fill(net, 1, &err) < 0) {
		fprintf(stderr, "fcn_bench: %s\n", err.msg);
		exit(1);
	}
	/* random weights: the lab's zero fill would make the work trivial */
	srand(1);
	for (size_t i = 0; i < fcn_net_nparams(net); i++) {
		struct fcn_param *p = fcn_net_param(net, i);
		struct fcn_blob *b = p->blob;
		const char *type;
		float base = 0, amp = 0.02f;

		type = layer_type(net, p->layer);
		if (!strcmp(type, "BatchNorm")) {
			base = p->index == 0 ? 0 : 1;
			amp = p->index == 2 ? 0 : 0.2f;
		} else if (!strcmp(type, "Scale") && p->index == 0)
			base = 1;
		for (size_t k = 0; k < fcn_blob_count(b); k++)
			b->data[k] = base + ((float)rand() / RAND_MAX - 0.5f) * amp;
	}
	struct fcn_blob *d = fcn_net_blob(net, fcn_net_input_name(net));
	struct fcn_blob *l = fcn_net_blob(net, fcn_net_label_name(net));

	for (size_t k = 0; k < fcn_blob_count(d); k++)
		d->data[k] = (float)(rand() % 256);
	for (size_t k = 0; l && k < fcn_blob_count(l); k++)
		l->data[k] = (float)(rand() % 2);
	return net;
}

int main(int argc, char **argv)
{
	struct fcn_err err;
	int n = 1, c = 3, h = 256, w = 256, iters = 5, threads = 2;
	int infer = 1, train = 1;
	float loss;

	if (argc < 2) {
		fprintf(stderr, "usage: fcn_bench NET [N C H W [ITERS [THREADS [MODE]]]]\n");
		return 2;
	}
	if (argc >= 6) {
		n = arg(argv[2], "N");
		c = arg(argv[3], "C");
		h = arg(argv[4], "H");
		w = arg(argv[5], "W");
	}
	if (argc >= 7)
		iters = arg(argv[6], "ITERS");
	if (argc >= 8)
		threads = arg(argv[7], "THREADS");
	if (argc >= 9) {
		infer = strcmp(argv[8], "train") != 0;
		train = strcmp(argv[8], "infer") != 0;
		if (!infer == !train && strcmp(argv[8], "both")) {
			fprintf(stderr, "fcn_bench: bad MODE '%s'\n", argv[8]);
			return 2;
		}
	}
	fcn_set_threads(threads);

	if (infer) {
		struct fcn_net *net = setup(argv[1], FCN_DEPLOY, n, c, h, w);
		size_t nl = fcn_net_nlayers(net);
		double best = 1e30, t, gflop = 0, *t0 = calloc(nl, sizeof *t0), b;

		for (int i = 0; i <= iters; i++) {
			t = now();
			if (fcn_net_forward(net, &loss, &err) < 0) {
				fprintf(stderr, "fcn_bench: %s\n", err.msg);
				return 1;
			}
			t = now() - t;
			if ((i > 0 || iters == 0) && t < best)
				best = t;
			for (size_t k = 0; i == 0 && iters > 0 && k < nl; k++)
				fcn_net_layer_time(net, k, &t0[k], &b);
		}
		/* per layer: the mean over the passes after the warm-up */
		for (size_t i = 0; i < nl; i++) {
			const char *type, *name = fcn_net_layer_name(net, i, &type);
			double f, g = layer_gflop(net, i);

			fcn_net_layer_time(net, i, &f, &b);
			f = (f - t0[i]) / (iters > 0 ? iters : 1);
			gflop += g;
			if (f < 5e-5 && g == 0)
				continue;
			fprintf(stderr, "infer %-12s %-14s %8.2f ms %7.3f GFLOP", name,
				type, 1e3 * f, g);
			if (g > 0 && f > 0)
				fprintf(stderr, " %6.1f GFLOP/s", g / f);
			fputc('\n', stderr);
		}
		printf("forward_s=%.4f\nforward_img_s=%.3f\n", best, n / best);
		printf("conv_gflop=%.2f\nforward_gflop_s=%.1f\n", gflop, gflop / best);
		free(t0);
		fcn_net_free(net);
	}
	if (train) {
		struct fcn_net *net = setup(argv[1], FCN_TRAIN, n, c, h, w);
		double bestt = 1e30;

		fcn_net_set_seed(net, 3);
		for (int i = 0; i <= iters; i++) {
			double t0 = now();

			fcn_net_zero_diffs(net);
			if (fcn_net_forward(net, &loss, &err) < 0 ||
			    fcn_net_backward(net, &err) < 0) {
				fprintf(stderr, "fcn_bench: %s\n", err.msg);
				return 1;
			}
			double t2 = now();

			if ((i > 0 || iters == 0) && t2 - t0 < bestt)
				bestt = t2 - t0;
		}
		printf("train_s=%.4f\ntrain_img_s=%.3f\n", bestt, n / bestt);
		for (size_t i = 0; i < fcn_net_nlayers(net); i++) {
			const char *type, *name = fcn_net_layer_name(net, i, &type);
			double f, b;

			fcn_net_layer_time(net, i, &f, &b);
			if ((f + b) / (iters + 1) < 5e-5)
				continue;
			fprintf(stderr, "train %-12s %-14s fwd %8.2f ms bwd %8.2f ms\n",
				name, type, 1e3 * f / (iters + 1), 1e3 * b / (iters + 1));
		}
		fcn_net_free(net);
	}

	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("peak_rss_mb=%.0f\n", ru.ru_maxrss / 1024.0);
	return 0;
}
