/*
 * test_fcn_caffemodel.c - the caffemodel reader and writer: Caffe's own
 * LeNet (../shared/caffe/lenet, skipped when absent) parses with the blob
 * shapes its README lists, and its deploy net and a fully convolutional
 * version with the same weights (InnerProduct onto Convolution, net
 * surgery) give the same scores; encoding a net and reading it back gives
 * the same blobs; a caffemodel truncated at every offset, a blob whose
 * shape lies about its data, lengths beyond the file, endless varints,
 * group wire types: each one line of error, never a crash.  Renames
 * (OLD=NEW) and the fine-tuning rule (absent or mismatched layers keep their
 * fill and are named in the warnings).  The Berkeley FCN descriptions
 * (../shared/caffe/berkeley, skipped when absent) as published: the deploy
 * one runs at a small size; the train/val ones are refused with a message
 * saying what to change, and build once that change is made.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caffemodel.h"
#include "fcn.h"
#include "tap.h"

#define LENET "../shared/caffe/lenet/lenet_iter_10000.caffemodel"
#define LENET_DEPLOY "../shared/caffe/lenet/lenet_deploy.prototxt"
#define LENET_FCN "tests/data/lenet-fcn-deploy.prototxt"
#define BERKELEY "../shared/caffe/berkeley/"

static const char *tiny =
	"layer { name: 'data' type: 'Input' top: 'data' }\n"
	"layer { name: 'c1' type: 'Convolution' bottom: 'data' top: 'c1'\n"
	"  convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: 'gaussian' }\n"
	"    bias_filler { type: 'gaussian' } } }\n"
	"layer { name: 'bn' type: 'BatchNorm' bottom: 'c1' top: 'c1' }\n"
	"layer { name: 'ip' type: 'InnerProduct' bottom: 'c1' top: 'ip'\n"
	"  inner_product_param { num_output: 4 weight_filler { type: 'gaussian' }\n"
	"    bias_filler { type: 'gaussian' } } }\n";

static struct fcn_net *tiny_net(uint64_t seed)
{
	struct fcn_err err;
	struct fcn_net *net = fcn_net_parse(tiny, "tiny", FCN_TEST, &err);

	if (!net || fcn_net_reshape(net, 1, 2, 5, 5, &err) < 0 ||
	    fcn_net_fill(net, seed, &err) < 0) {
		tap_diag("tiny net: %s", err.msg);
		fcn_net_free(net);
		return NULL;
	}
	return net;
}

static int same_params(struct fcn_net *a, struct fcn_net *b)
{
	for (size_t i = 0; i < fcn_net_nparams(a); i++) {
		struct fcn_blob *x = fcn_net_param(a, i)->blob, *y = fcn_net_param(b, i)->blob;

		if (fcn_blob_count(x) != fcn_blob_count(y) ||
		    memcmp(x->data, y->data, fcn_blob_count(x) * sizeof(float)))
			return 0;
	}
	return 1;
}

static void test_roundtrip(void)
{
	struct fcn_net *a = tiny_net(1), *b = tiny_net(2);
	struct fcn_caffemodel *m;
	struct fcn_err err;
	void *buf = NULL;
	size_t len = 0;
	char *warn = NULL;

	if (!CHECK(a && b, "tiny nets build"))
		goto out;
	/* BatchNorm's factor is 0 after fill; make it visible */
	fcn_net_param_find(a, "bn", 2)->blob->data[0] = 3;
	CHECK(fcn_caffemodel_encode(a, "tiny", &buf, &len, &err) == 0, "encode");
	m = fcn_caffemodel_parse(buf, len, "mem", &err);
	if (!CHECK(m, "our encoding parses: %s", m ? "" : err.msg))
		goto out;
	CHECK(m->nlayers == 3 && !strcmp(m->name, "tiny") &&
	      !strcmp(m->layers[0].type, "Convolution") && m->layers[0].blobs[0].ndim == 4 &&
	      m->layers[0].blobs[1].ndim == 1 && m->layers[0].blobs[1].dim[0] == 3 &&
	      m->layers[2].blobs[0].ndim == 2 && m->layers[2].blobs[0].dim[0] == 4 &&
	      m->layers[2].blobs[0].dim[1] == 27,
	      "Caffe's shapes: conv 4-d, bias (M), InnerProduct (M, K)");
	CHECK(!same_params(a, b), "two seeds differ");
	CHECK(fcn_caffemodel_load(m, b, NULL, &warn, &err) == 3 && !warn,
	      "all 3 layers load, no warnings");
	CHECK(same_params(a, b), "read back bit-identical");
	free(warn);
	CHECK(fcn_caffemodel_sniff(buf, len), "sniffs as a caffemodel");

	/* every truncation: an error or (at a message boundary) fewer blobs;
	 * never a crash, always one line */
	int bad = 0, errors = 0, prefixes = 0;

	for (size_t cut = 0; cut < len; cut++) {
		struct fcn_caffemodel *t = fcn_caffemodel_parse(buf, cut, "cut", &err);

		if (!t) {
			errors++;
			bad += strchr(err.msg, '\n') != NULL || strncmp(err.msg, "cut: ", 5);
		} else { /* a cut between two layers is a valid shorter file */
			prefixes++;
			bad += t->nlayers >= 3;
		}
		fcn_caffemodel_free(t);
	}
	CHECK(bad == 0 && prefixes == 2 && errors == (int)len - 2,
	      "truncated at each of %zu offsets: %d one-line errors, %d cuts between layers",
	      len, errors, prefixes);
	/* every byte set to 0xff, 0x80 or 0 in turn: parsed or one line, no crash */
	uint8_t *mut = malloc(len);
	int lines = 0;

	for (size_t at = 0; mut && at < len; at++)
		for (int v = 0; v < 3; v++) {
			memcpy(mut, buf, len);
			mut[at] = (uint8_t)(v == 0 ? 0xff : v == 1 ? 0x80 : 0);
			struct fcn_caffemodel *t = fcn_caffemodel_parse(mut, len, "mut", &err);

			lines += !t && (strchr(err.msg, '\n') || strncmp(err.msg, "mut: ", 5));
			fcn_caffemodel_free(t);
		}
	CHECK(mut && lines == 0, "each of %zu bytes mutated 3 ways: parsed or a one-line error",
	      len);
	free(mut);
	fcn_caffemodel_free(m);

	/* renames and the fine-tuning rule */
	struct fcn_net *c = tiny_net(3);
	const char *map[] = { "c1=conv1", NULL };
	const char *badmap[] = { "c1", NULL };
	char *text = malloc(strlen(tiny) + 8), *p;

	strcpy(text, tiny);
	while ((p = strstr(text, "'c1'")))
		memcpy(p, "'cX'", 4);
	/* layer c1 renamed cX in the net: absent; map c1=cX brings it back */
	struct fcn_net *d = fcn_net_parse(text, "renamed", FCN_TEST, &err);

	if (d && fcn_net_reshape(d, 1, 2, 5, 5, &err) == 0) {
		m = fcn_caffemodel_parse(buf, len, "mem", &err);
		long got = fcn_caffemodel_load(m, d, NULL, &warn, &err);

		CHECK(got == 2 && warn && strstr(warn, "cX (absent"),
		      "a renamed layer is absent: %s", warn ? warn : "(no warning)");
		free(warn);
		const char *m2[] = { "c1=cX", NULL };

		CHECK(fcn_caffemodel_load(m, d, m2, &warn, &err) == 3 && !warn,
		      "--weights-map c1=cX loads it");
		free(warn);
		CHECK(fcn_caffemodel_load(m, d, badmap, &warn, &err) == -1 &&
		      strstr(err.msg, "OLD=NEW"), "a map entry without '=': %s", err.msg);
		CHECK(fcn_caffemodel_load(m, c, map, &warn, &err) == 2 && warn &&
		      strstr(warn, "c1 (absent"), "a mapped-away layer is absent for its old name");
		free(warn);
		fcn_caffemodel_free(m);
	}
	fcn_net_free(d);
	/* a different input channel count: c1 and ip mismatch, named, keep fill */
	struct fcn_net *e = fcn_net_parse(tiny, "tiny", FCN_TEST, &err);

	if (e && fcn_net_reshape(e, 1, 3, 5, 5, &err) == 0 && fcn_net_fill(e, 9, &err) == 0) {
		float keep = fcn_net_param(e, 0)->blob->data[0];

		m = fcn_caffemodel_parse(buf, len, "mem", &err);
		long n = fcn_caffemodel_load(m, e, NULL, &warn, &err);

		CHECK(n == 2 && warn && strstr(warn, "c1 (blob 0: 3x2x3x3 in the caffemodel, 3x3x3x3 in the net)") &&
		      fcn_net_param(e, 0)->blob->data[0] == keep,
		      "shape mismatch named, fresh fill kept: %s", warn ? warn : "(no warning)");
		free(warn);
		fcn_caffemodel_free(m);
	}
	fcn_net_free(e);
	fcn_net_free(c);
	free(text);
out:
	free(buf);
	fcn_net_free(a);
	fcn_net_free(b);
}

static void expect_error(const char *what, const uint8_t *b, size_t n, const char *msg)
{
	struct fcn_err err = { "" };
	struct fcn_caffemodel *m = fcn_caffemodel_parse(b, n, "bad", &err);

	CHECK(!m && strstr(err.msg, msg) && !strchr(err.msg, '\n'), "%s: %s", what, err.msg);
	fcn_caffemodel_free(m);
}

static void test_bad(void)
{
	/* layer { name "a" blobs { shape { dim 2 dim 3 } data [5 floats] } } */
	uint8_t lie[] = { 0xa2, 0x06, 33, 0x0a, 1, 'a', 0x3a, 28, 0x3a, 4, 0x0a, 2, 2, 3,
			  0x2a, 20, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f,
			  0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f };
	uint8_t huge[] = { 0xa2, 0x06, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a };
	uint8_t hugeblob[] = { 0xa2, 0x06, 8, 0x0a, 1, 'a', 0x3a, 0xff, 0xff, 0xff, 0x7f };
	uint8_t varint[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			     0xff, 0x01 };
	uint8_t group[] = { 0x0b, 0x0c };
	uint8_t odd[] = { 0xa2, 0x06, 10, 0x0a, 1, 'a', 0x3a, 5, 0x2a, 3, 0, 0, 0 };
	uint8_t dims[] = { 0xa2, 0x06, 12, 0x0a, 1, 'a', 0x3a, 7, 0x3a, 5, 0x0a, 3,
			   0xff, 0xff, 0xff };
	uint8_t legacy[] = { 0x12, 17, 0x22, 1, 'b', 0x28, 14, 0x32, 10, 0x08, 2, 0x10, 2,
			     0x18, 1, 0x20, 1, 0x2a, 0 };

	expect_error("a shape that lies about its data count", lie, sizeof lie,
		     "layer 'a' blob 0: shape 2x3 holds 6 values, the data has 5");
	expect_error("a huge layer length", huge, sizeof huge, "beyond the");
	expect_error("a huge blob length", hugeblob, sizeof hugeblob, "beyond the");
	expect_error("an 11-byte varint", varint, sizeof varint, "varint");
	expect_error("a group wire type", group, sizeof group, "wire type");
	expect_error("packed floats of 3 bytes", odd, sizeof odd, "packed float data of 3 bytes");
	expect_error("a truncated packed dim", dims, sizeof dims, "truncated varint");
	expect_error("a legacy V1 blob 2x2 without data", legacy, sizeof legacy,
		     "layer 'b' blob 0: shape 2x2x1x1 holds 4 values, the data has 0");
	expect_error("an empty file", (const uint8_t *)"", 0, "no layers");
	CHECK(!fcn_caffemodel_sniff("\x82\xa6", 2), "a msgpack map does not sniff as a caffemodel");
}

/* The scores of a net for one 28x28 digit given as raw values. */
static int lenet_scores(const char *deploy, const float *img, float *out)
{
	struct fcn_err err;
	struct fcn_net *net = fcn_net_load(deploy, FCN_DEPLOY, &err);
	char *warn = NULL;
	int ok = 0;

	if (!net || fcn_net_reshape(net, 1, 1, 28, 28, &err) < 0 ||
	    fcn_net_load_caffemodel(net, LENET, NULL, &warn, &err) != 4 || warn) {
		tap_diag("%s: %s %s", deploy, err.msg, warn ? warn : "");
		goto out;
	}
	memcpy(fcn_net_blob(net, "data")->data, img, 28 * 28 * sizeof(float));
	if (fcn_net_forward(net, NULL, &err) < 0)
		goto out;
	struct fcn_blob *o = fcn_net_blob(net, fcn_net_output_name(net));

	if (fcn_blob_count(o) != 10)
		goto out;
	memcpy(out, o->data, 10 * sizeof(float));
	ok = 1;
out:
	free(warn);
	fcn_net_free(net);
	return ok;
}

static void test_lenet(void)
{
	struct fcn_err err;
	struct fcn_caffemodel *m;

	if (access(LENET, R_OK)) {
		tap_skip("Caffe's LeNet not found at " LENET " (../shared absent)");
		return;
	}
	m = fcn_caffemodel_read(LENET, &err);
	if (!CHECK(m, "Caffe's LeNet parses: %s", m ? "" : err.msg))
		return;
	static const int64_t want[][4] = { { 20, 1, 5, 5 }, { 20 }, { 50, 20, 5, 5 }, { 50 },
					   { 500, 800 }, { 500 }, { 10, 500 }, { 10 } };
	static const int nd[] = { 4, 1, 4, 1, 2, 1, 2, 1 };
	int k = 0, good = 1;

	for (int i = 0; i < m->nlayers; i++)
		for (int j = 0; j < m->layers[i].nblobs; j++, k++)
			good &= k < 8 && m->layers[i].blobs[j].ndim == nd[k] &&
				!memcmp(m->layers[i].blobs[j].dim, want[k], (size_t)nd[k] * 8);
	CHECK(good && k == 8, "blobs conv1 20x1x5x5+20, conv2 50x20x5x5+50, ip1 500x800+500, "
	      "ip2 10x500+10 (%d blobs)", k);
	fcn_caffemodel_free(m);

	/* a synthetic image: the deploy and the convolutionalised net agree */
	float img[28 * 28], a[10], b[10];

	for (int i = 0; i < 28 * 28; i++)
		img[i] = (float)((i * 37) % 256);
	if (!CHECK(lenet_scores(LENET_DEPLOY, img, a) && lenet_scores(LENET_FCN, img, b),
		   "LeNet deploy and fully convolutional nets load the weights (4 layers, no warnings)"))
		return;
	double e = 0;

	for (int i = 0; i < 10; i++)
		e = fmax(e, fabs(a[i] - b[i]));
	CHECK(e < 1e-6, "InnerProduct and its convolution (net surgery) give the same scores "
	      "(max diff %.2g)", e);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	if (b)
		b[n] = 0;
	fclose(f);
	return b;
}

/* The description with its first layer (the Python data layer) replaced
 * by an Input layer, as the refusal message says. */
static char *with_input(const char *text)
{
	const char *end = strstr(text, "\n}\n");
	const char *in = "layer { name: \"data\" type: \"Input\" top: \"data\" top: \"label\" }";
	char *out;

	if (!end)
		return NULL;
	out = malloc(strlen(text) + strlen(in) + 1);
	strcpy(out, in);
	strcat(out, end + 2);
	return out;
}

static void test_berkeley(void)
{
	static const char *const train[] = { "voc-fcn8s-train.prototxt",
		"voc-fcn32s-train.prototxt", "voc-fcn-alexnet-train.prototxt",
		"voc-fcn-alexnet-val.prototxt" };
	struct fcn_err err;
	struct fcn_net *net;

	if (access(BERKELEY "voc-fcn8s-deploy.prototxt", R_OK)) {
		tap_skip("the Berkeley FCN descriptions not found at " BERKELEY
			 " (../shared absent)");
		return;
	}
	net = fcn_net_load(BERKELEY "voc-fcn8s-deploy.prototxt", FCN_DEPLOY, &err);
	if (CHECK(net, "voc-fcn8s-deploy parses: %s", net ? "" : err.msg) &&
	    CHECK(fcn_net_reshape(net, 1, 3, 64, 64, &err) == 0 &&
		  fcn_net_fill(net, 1, &err) == 0, "reshape to 1x3x64x64: %s", err.msg)) {
		struct fcn_blob *o = fcn_net_blob(net, fcn_net_output_name(net));

		for (size_t i = 0; i < fcn_blob_count(fcn_net_blob(net, "data")); i++)
			fcn_net_blob(net, "data")->data[i] = (float)(i % 255);
		CHECK(fcn_net_forward(net, NULL, &err) == 0 && o->n == 1 && o->c == 21 &&
		      o->h == 64 && o->w == 64 && !strcmp(fcn_net_output_name(net), "score"),
		      "voc-fcn8s-deploy forward: score %dx%dx%dx%d (want 1x21x64x64) %s",
		      o->n, o->c, o->h, o->w, err.msg);
	}
	fcn_net_free(net);
	for (size_t i = 0; i < sizeof train / sizeof *train; i++) {
		char path[256], *text, *fixed;

		snprintf(path, sizeof path, BERKELEY "%s", train[i]);
		net = fcn_net_load(path, FCN_TRAIN, &err);
		CHECK(!net && strstr(err.msg, ":6: layer 'data': Python data layer voc_layers.") &&
		      strstr(err.msg, "replace it with layer { name: \"data\" type: \"Input\""),
		      "%s refused, saying what to change: %s", train[i], net ? "(built)" : err.msg);
		fcn_net_free(net);
		text = slurp(path);
		fixed = text ? with_input(text) : NULL;
		net = fixed ? fcn_net_parse(fixed, path, FCN_TRAIN, &err) : NULL;
		/* the VGG nets' parameters and gradients take 1.5 GB: shapes of
		 * AlexNet only */
		int small = strstr(train[i], "alexnet") != NULL;

		err.msg[0] = 0;
		CHECK(net && fcn_net_label_name(net) &&
		      (!small || (fcn_net_reshape(net, 1, 3, 64, 64, &err) == 0 &&
				  fcn_net_blob(net, fcn_net_output_name(net))->h == 64)),
		      "%s with the Input layer: builds%s %s", train[i],
		      small ? ", 64x64 scores for the loss" : " with a label input", err.msg);
		fcn_net_free(net);
		free(text);
		free(fixed);
	}
}

int main(void)
{
	fcn_set_threads(1);
	test_roundtrip();
	test_bad();
	test_lenet();
	test_berkeley();
	return tap_done();
}
