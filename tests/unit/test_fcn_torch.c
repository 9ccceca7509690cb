/*
 * test_fcn_torch.c - FCN-AlexNet (nets/fcn-alexnet.prototxt) at 256x256
 * against PyTorch: the same weights and input, then the score map, the
 * loss and every parameter gradient must agree with
 * ||ours - ref|| / ||ref|| <= 1e-4.  The reference comes from
 * tests/ref/torch_fcn_alexnet.py (float64), generated into
 * build/ref/fcn_alexnet_torch.st when missing or older than the script
 * ($FCN_TORCH_REF names another file; $PYTHON the interpreter).
 * Dropout is compared with TEST semantics (identity); the layer test checks
 * it in TRAIN.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fcn.h"
#include "st.h"
#include "tap.h"

#define SCRIPT "tests/ref/torch_fcn_alexnet.py"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double rel_err(const float *a, const float *ref, size_t n)
{
	double d = 0, r = 0;

	for (size_t i = 0; i < n; i++) {
		d += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
		r += (double)ref[i] * ref[i];
	}
	return r > 0 ? sqrt(d / r) : sqrt(d);
}

static int make_reference(const char *path)
{
	struct stat ss, sr;
	const char *py = getenv("PYTHON");
	char cmd[1024];

	if (!stat(path, &sr) && !stat(SCRIPT, &ss) && sr.st_mtime >= ss.st_mtime)
		return 0;
	snprintf(cmd, sizeof cmd, "mkdir -p build/ref && nice %s %s %s.tmp && mv %s.tmp %s",
		 py && *py ? py : "/usr/bin/python3", SCRIPT, path, path, path);
	tap_diag("generating the reference: %s", cmd);
	return system(cmd) == 0 ? 0 : -1;
}

static struct st_record *read_one(struct st_reader *rd, const char *id)
{
	struct st_err err;
	struct st_record *r = NULL;

	if (st_read(rd, &r, &err) != 1) {
		tap_diag("reading %s: %s", id, err.msg);
		return NULL;
	}
	if (strcmp(st_record_id(r), id)) {
		tap_diag("expected record %s, got %s", id, st_record_id(r));
		st_record_free(r);
		return NULL;
	}
	return r;
}

/* Copies tensor name of r into b, checking the element count. */
static int load(struct st_record *r, const char *name, float *dst, size_t n)
{
	struct st_tensor *t = st_record_tensor(r, name);

	if (!t || t->dtype != ST_F32 || st_tensor_numel(t) != n) {
		tap_diag("%s: missing or %zu elements, want %zu", name,
			 t ? st_tensor_numel(t) : 0, n);
		return -1;
	}
	memcpy(dst, t->data, n * sizeof *dst);
	return 0;
}

int main(void)
{
	const char *path = getenv("FCN_TORCH_REF");
	struct fcn_err err;
	struct st_err serr;
	struct fcn_net *net = NULL;
	struct st_reader *rd = NULL;
	struct st_record *in = NULL, *out = NULL;
	FILE *f = NULL;
	float loss = 0, *buf = NULL;

	if (!path)
		path = "build/ref/fcn_alexnet_torch.st";
	fcn_set_threads(2);
	if (make_reference(path) < 0) {
		CHECK(0, "the PyTorch reference %s could be made", path);
		goto out;
	}
	f = fopen(path, "rb");
	rd = f ? st_reader_new(f, path, &serr) : NULL;
	if (!rd || !(in = read_one(rd, "inputs")) || !(out = read_one(rd, "outputs"))) {
		CHECK(0, "the reference %s reads", path);
		goto out;
	}
	net = fcn_net_load("nets/fcn-alexnet.prototxt", FCN_TEST, &err);
	if (!CHECK(net, "nets/fcn-alexnet.prototxt parses: %s", net ? "" : err.msg))
		goto out;
	if (!CHECK(fcn_net_reshape(net, 1, 3, 256, 256, &err) == 0, "reshape 1x3x256x256 %s",
		   err.msg))
		goto out;
	int ok = 1;

	for (size_t i = 0; i < fcn_net_nparams(net); i++) {
		struct fcn_param *p = fcn_net_param(net, i);
		char name[128];

		snprintf(name, sizeof name, "param:%s:%d", p->layer, p->index);
		ok &= load(in, name, p->blob->data, fcn_blob_count(p->blob)) == 0;
	}
	struct fcn_blob *data = fcn_net_blob(net, "data");
	struct fcn_blob *label = fcn_net_blob(net, "label");

	ok &= load(in, "data", data->data, fcn_blob_count(data)) == 0;
	ok &= load(in, "label", label->data, fcn_blob_count(label)) == 0;
	if (!CHECK(ok && fcn_net_nparams(net) == 17, "all 17 parameters and the inputs load"))
		goto out;

	double t0 = now();

	if (!CHECK(fcn_net_forward(net, &loss, &err) == 0, "forward %s", err.msg))
		goto out;
	double t1 = now();

	fcn_net_zero_diffs(net);
	if (!CHECK(fcn_net_backward(net, &err) == 0, "backward %s", err.msg))
		goto out;
	double t2 = now();

	tap_diag("forward %.3f s, backward %.3f s (2 threads)", t1 - t0, t2 - t1);
	struct fcn_blob *score = fcn_net_blob(net, fcn_net_output_name(net));
	size_t n = fcn_blob_count(score);

	buf = malloc(sizeof(float) * 4096 * 9216);
	if (!buf)
		goto out;
	CHECK(!strcmp(fcn_net_output_name(net), "score") && score->h == 256 &&
	      score->c == 2, "output blob is score 1x2x256x256");
	if (load(out, "score", buf, n) == 0) {
		double e = rel_err(score->data, buf, n);

		CHECK(e <= 1e-4, "score: relative error %.2e", e);
	} else {
		CHECK(0, "score in the reference");
	}
	if (load(out, "loss", buf, 1) == 0)
		CHECK(fabs(loss - buf[0]) <= 1e-4 * fabs(buf[0]), "loss %.7f vs torch %.7f",
		      (double)loss, (double)buf[0]);
	for (size_t i = 0; i < fcn_net_nparams(net); i++) {
		struct fcn_param *p = fcn_net_param(net, i);
		size_t k = fcn_blob_count(p->blob);
		char name[128];
		double norm = 0;

		snprintf(name, sizeof name, "grad:%s:%d", p->layer, p->index);
		if (load(out, name, buf, k) < 0) {
			CHECK(0, "%s in the reference", name);
			continue;
		}
		for (size_t j = 0; j < k; j++)
			norm += (double)buf[j] * buf[j];
		double e = rel_err(p->blob->diff, buf, k);

		CHECK(e <= 1e-4 && norm > 0, "%s: relative error %.2e (|ref| %.3g)", name, e,
		      sqrt(norm));
	}
out:
	free(buf);
	fcn_net_free(net);
	st_record_free(in);
	st_record_free(out);
	st_reader_free(rd);
	if (f)
		fclose(f);
	return tap_done();
}
