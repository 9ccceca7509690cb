/*
 * test_fcn_mvn_torch.c - the MVN layer against PyTorch: for each
 * configuration of tests/ref/torch_mvn.py (normalize_variance,
 * across_channels, eps, with inputs far from zero mean and unit variance)
 * the forward output and the backward pass (Caffe's formula; and, where it
 * is the exact gradient, PyTorch's autograd) must agree elementwise within
 * 1e-5 + 1e-4 |ref|.  The reference is generated into build/ref/mvn_torch.st
 * when missing or older than the script ($PYTHON the interpreter).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fcn.h"
#include "layer.h"
#include "st.h"
#include "tap.h"

#define SCRIPT "tests/ref/torch_mvn.py"
#define REF "build/ref/mvn_torch.st"
#define ABS_TOL 1e-5
#define REL_TOL 1e-4

static int make_reference(void)
{
	struct stat ss, sr;
	const char *py = getenv("PYTHON");
	char cmd[1024];

	if (!stat(REF, &sr) && !stat(SCRIPT, &ss) && sr.st_mtime >= ss.st_mtime)
		return 0;
	snprintf(cmd, sizeof cmd, "mkdir -p build/ref && %s %s %s.tmp && mv %s.tmp %s",
		 py && *py ? py : "/usr/bin/python3", SCRIPT, REF, REF, REF);
	tap_diag("generating the reference: %s", cmd);
	return system(cmd) == 0 ? 0 : -1;
}

static const float *field(struct st_record *r, const char *name, size_t n)
{
	struct st_tensor *t = st_record_tensor(r, name);

	if (!t || t->dtype != ST_F32 || st_tensor_numel(t) != n) {
		tap_diag("%s: missing or not %zu f32 values", name, n);
		return NULL;
	}
	return t->data;
}

/* Worst |a - ref| / (ABS_TOL + REL_TOL |ref|) over n values (<= 1 passes). */
static double worst(const float *a, const float *ref, size_t n)
{
	double w = 0;

	for (size_t i = 0; i < n; i++)
		w = fmax(w, fabs((double)a[i] - ref[i]) / (ABS_TOL + REL_TOL * fabs(ref[i])));
	return w;
}

/* Runs one record's configuration through the layer kind's functions. */
static void check(struct st_record *r, int inplace)
{
	const char *id = st_record_id(r);
	int var, across;
	double eps;
	char text[256];
	struct fcn_err err;
	struct fcn_layer l = { 0 };
	struct fcn_blob *x = fcn_blob_create(), *y = inplace ? x : fcn_blob_create();
	struct fcn_net *net = fcn_net_parse("layer { name: 'in' type: 'Input' top: 'data' }",
					    "owner", FCN_TRAIN, &err);
	struct pb_node *root = NULL;
	int accum = 0, need = 1;
	size_t n = 2 * 3 * 5 * 7;
	const float *rx = field(r, "x", n), *rdy = field(r, "dy", n);
	const float *ry = field(r, "y", n), *rdx = field(r, "dx", n);
	const float *rauto = field(r, "dx_auto", n);

	if (sscanf(id, "mvn:%d:%d:%lg", &var, &across, &eps) != 3 || !rx || !rdy ||
	    !ry || !rdx || !rauto || !net) {
		CHECK(0, "%s: reference record reads", id);
		goto out;
	}
	snprintf(text, sizeof text,
		 "layer { name: 'm' type: 'MVN' mvn_param { normalize_variance: %s "
		 "across_channels: %s eps: %.9g } }",
		 var ? "true" : "false", across ? "true" : "false", eps);
	root = pb_parse(text, "test", &err);
	l.ops = fcn_layer_kind("MVN");
	l.net = net;
	l.name = "m";
	l.phase = FCN_TRAIN;
	l.nbottom = l.ntop = 1;
	l.bottom = &x;
	l.top = &y;
	l.accum = &accum;
	l.need_diff = &need;
	if (!root || !l.ops || l.ops->parse(&l, pb_nth(root, "layer", 0), &err) < 0 ||
	    fcn_blob_reshape(x, 2, 3, 5, 7, 1, &err) < 0 || l.ops->reshape(&l, &err) < 0 ||
	    fcn_blob_reshape(y, 2, 3, 5, 7, 1, &err) < 0) {
		CHECK(0, "%s: layer set up: %s", id, err.msg);
		goto out;
	}
	memcpy(x->data, rx, n * sizeof(float));
	if (!CHECK(l.ops->forward(&l, &err) == 0, "%s: forward", id))
		goto out;
	double wf = worst(y->data, ry, n);

	memcpy(y->diff, rdy, n * sizeof(float));
	l.ops->backward(&l, &err);
	double wb = worst(x->diff, rdx, n), wa = worst(x->diff, rauto, n);

	CHECK(wf <= 1, "%s%s: forward within %g + %g|ref| of PyTorch (worst %.2g of it)",
	      id, inplace ? " in place" : "", ABS_TOL, REL_TOL, wf);
	CHECK(wb <= 1, "%s%s: backward = Caffe's formula in PyTorch (worst %.2g of tolerance)",
	      id, inplace ? " in place" : "", wb);
	if (eps < 1e-6 || !var)
		CHECK(wa <= 1, "%s%s: backward = PyTorch autograd (worst %.2g of tolerance)",
		      id, inplace ? " in place" : "", wa);
	else /* eps 0.5: Caffe's backward is not the exact gradient; we follow Caffe */
		CHECK(wa > 1, "%s: with eps %g Caffe's backward differs from autograd "
		      "(worst %.2g of tolerance), and so does ours", id, eps, wa);
out:
	if (l.ops && l.ops->free)
		l.ops->free(&l);
	pb_free(root);
	fcn_net_free(net);
	fcn_blob_free(x);
	if (!inplace)
		fcn_blob_free(y);
}

int main(void)
{
	struct st_err serr;
	struct st_reader *rd = NULL;
	struct st_record *r;
	FILE *f = NULL;
	int nrec = 0;

	if (make_reference() < 0) {
		CHECK(0, "the PyTorch reference %s could be made", REF);
		return tap_done();
	}
	f = fopen(REF, "rb");
	rd = f ? st_reader_new(f, REF, &serr) : NULL;
	while (rd && st_read(rd, &r, &serr) == 1) {
		check(r, 0);
		check(r, 1);
		st_record_free(r);
		nrec++;
	}
	CHECK(nrec == 6, "6 configurations in %s", REF);
	st_reader_free(rd);
	if (f)
		fclose(f);
	return tap_done();
}
