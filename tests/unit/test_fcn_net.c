/*
 * test_fcn_net.c - the net as a whole: description errors with file:line,
 * phase/stage rules on a DIGITS-style description, deploy pruning, shape
 * propagation and its errors, deterministic fillers and dropout, metrics
 * by hand, gradients through a blob with two consumers (finite
 * differences at net level), and nets/fcn-tiny.prototxt learning a
 * phantom's blood pool with plain SGD.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcn.h"
#include "layer.h"
#include "tap.h"

static void expect_error(const char *text, const char *want, const char *what)
{
	struct fcn_err err = { "" };
	struct fcn_net *net = fcn_net_parse(text, "t.prototxt", FCN_TRAIN, &err);

	CHECK(!net && strstr(err.msg, want), "%s: '%s'", what, err.msg);
	fcn_net_free(net);
}

static void test_errors(void)
{
	expect_error("layer { name: 'in' type: 'Input' top: 'data' }\n"
		     "layer { name: 'c' type: 'Convolution' bottom: 'data' top: 'c'\n"
		     "  convolution_param { num_output: 2 kernel_size: 3\n  foo: 1 } }\n",
		     "t.prototxt:4: unknown field 'foo' in convolution_param",
		     "unknown field in a param block");
	expect_error("layer { name: 'in' type: 'Input' top: 'data' }\n\n"
		     "layer { name: 'x' type: 'Bogus' bottom: 'data' top: 'x' }\n",
		     "t.prototxt:3: unknown layer type 'Bogus'", "unknown layer type");
	expect_error("layer { name: 'in' type: 'Input' top: 'data' bogus_param { } }\n",
		     "t.prototxt:1: unknown field 'bogus_param' in layer", "unknown layer field");
	expect_error("layer { name: 'in' type: 'Input' top: 'data' }\n"
		     "layer { name: 'r' type: 'ReLU' bottom: 'nope' top: 'r' }\n",
		     "t.prototxt:2: layer 'r': unknown bottom blob 'nope'", "unknown bottom");
	expect_error("layer { name: 'in' type: 'Input' top: 'data' \n",
		     "t.prototxt:2: unexpected end of text", "missing brace");
	expect_error("layer { name: 'in' type: 'Input' top: 'data' }\n"
		     "layer { name: 'p' type: 'Pooling' bottom: 'data' top: 'p'\n"
		     "  pooling_param { pool: MAXIMUM kernel_size: 2 } }\n",
		     "t.prototxt:3: pool: unknown value 'MAXIMUM'", "bad enum");
	expect_error("layer { name: 'in' type: 'Input' top: 'data' }\n"
		     "layer { name: 'c' type: 'Convolution' bottom: 'data' top: 'c'\n"
		     "  convolution_param { num_output: 2.5 kernel_size: 3 } }\n",
		     "t.prototxt:3: num_output: bad value '2.5'", "bad integer");
	expect_error("layer { name: 'c' type: 'ReLU' }\n", "needs 1..1 bottoms",
		     "bottom count");
	expect_error("name: 'x'\n", "no Input or Data layer", "no input");
	expect_error("layer { name: 'in' type: 'Input' top: 'data' }\n"
		     "layer { name: 'c' type: 'Convolution' bottom: 'data' top: 'c'\n"
		     "  convolution_param { num_output: 2 kernel_size: 3\n"
		     "  weight_filler { type: 'fancy' } } }\n",
		     "t.prototxt:4: type: unknown value 'fancy'", "unknown filler");
}

/* A DIGITS-style all-in-one description (stages train/val/deploy). */
static const char digits_net[] =
	"# DIGITS style\n"
	"layer { name: 'train_data' type: 'Data' top: 'data' include { phase: TRAIN }\n"
	"  data_param { batch_size: 1 backend: LMDB } transform_param { mirror: true } }\n"
	"layer { name: 'train_label' type: 'Data' top: 'label' include { phase: TRAIN }\n"
	"  data_param { batch_size: 1 } }\n"
	"layer { name: 'val_data' type: 'Data' top: 'data' include { phase: TEST } }\n"
	"layer { name: 'val_label' type: 'Data' top: 'label' include { phase: TEST } }\n"
	"layer { name: 'shift' type: 'Power' bottom: 'data' top: 'pre' power_param { shift: -116.0 } }\n"
	"layer { name: 'conv' type: 'Convolution' bottom: 'pre' top: 'score'\n"
	"  param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }\n"
	"  convolution_param { num_output: 2 kernel_size: 3 pad: 1 weight_filler: { type: 'xavier' } } }\n"
	"layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'score' bottom: 'label' top: 'loss'\n"
	"  loss_param { ignore_label: 255 normalize: true } exclude { stage: 'deploy' } }\n"
	"layer { name: 'accuracy' type: 'Accuracy' bottom: 'score' bottom: 'label' top: 'accuracy'\n"
	"  include { stage: 'val' } accuracy_param { ignore_label: 255 } }\n"
	"layer { name: 'dice' type: 'Python' bottom: 'score' bottom: 'label' top: 'dice'\n"
	"  python_param { module: 'digits_python_layers' layer: 'Dice' } include { stage: 'val' } }\n";

static void test_phases(void)
{
	struct fcn_err err = { "" };
	struct fcn_net *tr = fcn_net_parse(digits_net, "digits", FCN_TRAIN, &err);
	struct fcn_net *te = fcn_net_parse(digits_net, "digits", FCN_TEST, &err);
	struct fcn_net *de = fcn_net_parse(digits_net, "digits", FCN_DEPLOY, &err);
	double v;

	if (!CHECK(tr && te && de, "DIGITS description parses in all phases %s",
		   tr && te && de ? "" : err.msg))
		goto out;
	CHECK(fcn_net_nlayers(tr) == 5 && fcn_net_nlayers(te) == 7 &&
	      fcn_net_nlayers(de) == 3,
	      "layers kept: train %zu (5), val %zu (7), deploy %zu (3)",
	      fcn_net_nlayers(tr), fcn_net_nlayers(te), fcn_net_nlayers(de));
	CHECK(!strcmp(fcn_net_input_name(tr), "data") &&
	      !strcmp(fcn_net_label_name(tr), "label") && !fcn_net_label_name(de),
	      "inputs: data, label (none in deploy)");
	CHECK(!strcmp(fcn_net_output_name(tr), "score") &&
	      !strcmp(fcn_net_output_name(de), "score"), "output is score in train and deploy");
	CHECK(fcn_net_nparams(tr) == 2 && fcn_net_param(tr, 1)->lr_mult == 2 &&
	      fcn_net_param(tr, 1)->decay_mult == 0, "param { lr_mult decay_mult } read");
	CHECK(fcn_net_metric(tr, "Accuracy", &v) < 0 && fcn_net_metric(te, "Accuracy", &v) == 0,
	      "Accuracy only at TEST");
	/* deploy runs without a label */
	if (CHECK(fcn_net_reshape(de, 1, 1, 8, 8, &err) == 0 && fcn_net_fill(de, 1, &err) == 0,
		  "deploy net reshapes and fills %s", err.msg)) {
		float loss = -1;

		CHECK(fcn_net_forward(de, &loss, &err) == 0 && loss == 0,
		      "deploy forward, no loss");
		CHECK(fcn_net_blob(de, "score")->c == 2 && fcn_net_blob(de, "label") == NULL,
		      "deploy output 2 channels, no label blob");
	}
	/* the Python Dice layer answers as Dice */
	if (fcn_net_reshape(te, 1, 1, 4, 4, &err) == 0) {
		fcn_net_fill(te, 1, &err);
		for (int i = 0; i < 16; i++) {
			fcn_net_blob(te, "data")->data[i] = 100;
			fcn_net_blob(te, "label")->data[i] = 0;
		}
		CHECK(fcn_net_forward(te, NULL, &err) == 0 &&
		      fcn_net_metric(te, "Dice", &v) == 0, "Python Dice layer runs as Dice");
	}
out:
	fcn_net_free(tr);
	fcn_net_free(te);
	fcn_net_free(de);
}

static void test_alexnet_shapes(void)
{
	struct fcn_err err = { "" };
	struct fcn_net *net = fcn_net_load("nets/fcn-alexnet.prototxt", FCN_DEPLOY, &err);
	static const struct {
		const char *blob;
		int c, h;
	} want[] = { { "conv1", 96, 112 }, { "pool1", 96, 56 }, { "conv2", 256, 56 },
		     { "pool2", 256, 28 }, { "conv5", 256, 28 }, { "pool5", 256, 14 },
		     { "fc6", 4096, 9 }, { "fc7", 4096, 9 }, { "score_fr", 2, 9 },
		     { "upscore", 2, 319 }, { "score", 2, 256 } };

	if (!CHECK(net, "fcn-alexnet parses as deploy %s", net ? "" : err.msg))
		return;
	if (CHECK(fcn_net_reshape(net, 1, 3, 256, 256, &err) == 0, "reshape 256 %s", err.msg)) {
		int ok = 1;

		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
			struct fcn_blob *b = fcn_net_blob(net, want[i].blob);

			if (!b || b->c != want[i].c || b->h != want[i].h || b->w != want[i].h) {
				tap_diag("%s: %dx%dx%d", want[i].blob, b ? b->c : -1,
					 b ? b->h : -1, b ? b->w : -1);
				ok = 0;
			}
		}
		CHECK(ok, "FCN-AlexNet sizes as in REFERENCE.md (112 56 28 14 9 319 256)");
	}
	CHECK(fcn_net_nparams(net) == 17 && !fcn_net_label_name(net) &&
	      fcn_net_param_find(net, "upscore", 0)->lr_mult == 0 &&
	      fcn_net_param_find(net, "score_fr", 1)->lr_mult == 2,
	      "17 parameters, upscore fixed, score_fr bias lr_mult 2");
	if (fcn_net_fill(net, 1, &err) == 0) {
		struct fcn_blob *w = fcn_net_param_find(net, "fc6", 0)->blob;
		struct fcn_blob *u = fcn_net_param_find(net, "upscore", 0)->blob;
		double s = 0;

		for (size_t i = 0; i < fcn_blob_count(w); i++)
			s += fabs(w->data[i]);
		CHECK(s == 0 && u->data[31 * 63 + 31] > 0.9f,
		      "no weight_filler: constant 0; upscore bilinear (centre %g)",
		      (double)u->data[31 * 63 + 31]);
	}
	CHECK(fcn_net_reshape(net, 1, 3, 40, 40, &err) == 0, "a 40x40 input fits too");
	CHECK(fcn_net_reshape(net, 1, 1, 256, 256, &err) < 0 && strstr(err.msg, "conv1"),
	      "changing the channels is refused: %s", err.msg);
	fcn_net_free(net);

	net = fcn_net_load("nets/fcn-tiny.prototxt", FCN_TEST, &err);
	CHECK(net && fcn_net_reshape(net, 1, 1, 2, 2, &err) < 0 && strstr(err.msg, "layer 'pool2'"),
	      "a 2x2 input does not fit fcn-tiny: %s", err.msg);
	fcn_net_free(net);
	CHECK(!fcn_net_load("nets/none.prototxt", FCN_TEST, &err) &&
	      strstr(err.msg, "nets/none.prototxt: No such file"), "missing file: %s", err.msg);
}

static void test_fcn8s_shapes(void)
{
	struct fcn_err err = { "" };
	struct fcn_net *net = fcn_net_load("nets/fcn-8s.prototxt", FCN_DEPLOY, &err);
	static const struct {
		const char *blob;
		int h;
	} want[] = { { "conv1_1", 454 }, { "pool1", 227 }, { "pool2", 114 },
		     { "pool3", 57 }, { "pool4", 29 }, { "pool5", 15 }, { "fc7", 9 },
		     { "upscore2", 20 }, { "score_pool4c", 20 }, { "upscore_pool4", 42 },
		     { "score_pool3c", 42 }, { "upscore8", 344 }, { "score", 256 } };
	int ok = 1;

	if (!CHECK(net && fcn_net_reshape(net, 1, 3, 256, 256, &err) == 0,
		   "fcn-8s parses and takes 256x256 %s", err.msg))
		goto out;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct fcn_blob *b = fcn_net_blob(net, want[i].blob);

		if (!b || b->h != want[i].h || b->w != want[i].h) {
			tap_diag("%s: %d", want[i].blob, b ? b->h : -1);
			ok = 0;
		}
	}
	CHECK(ok, "FCN-8s sizes as in REFERENCE.md (454 227 114 57 29 15 9 20 42 344 256)");
	CHECK(fcn_net_nparams(net) == 2 * 18 + 3 && fcn_net_blob(net, "score")->c == 2,
	      "FCN-8s: %zu parameters (15 convs + 3 scorers with bias, 3 deconvs without)",
	      fcn_net_nparams(net));
out:
	fcn_net_free(net);
}

static void test_determinism(void)
{
	struct fcn_err err = { "" };
	struct fcn_net *a = fcn_net_load("nets/fcn-tiny.prototxt", FCN_TRAIN, &err);
	struct fcn_net *b = fcn_net_load("nets/fcn-tiny.prototxt", FCN_TRAIN, &err);
	int same = 1, differ = 0;

	if (!a || !b || fcn_net_reshape(a, 2, 1, 32, 32, &err) < 0 ||
	    fcn_net_reshape(b, 2, 1, 32, 32, &err) < 0) {
		CHECK(0, "fcn-tiny loads %s", err.msg);
		goto out;
	}
	fcn_net_fill(a, 5, &err);
	fcn_net_fill(b, 5, &err);
	for (size_t i = 0; i < fcn_net_nparams(a); i++) {
		struct fcn_blob *x = fcn_net_param(a, i)->blob, *y = fcn_net_param(b, i)->blob;

		same &= !memcmp(x->data, y->data, fcn_blob_count(x) * sizeof(float));
	}
	CHECK(same, "same seed, same weights");
	fcn_net_fill(b, 6, &err);
	differ = memcmp(fcn_net_param(a, 0)->blob->data, fcn_net_param(b, 0)->blob->data,
			fcn_blob_count(fcn_net_param(a, 0)->blob) * sizeof(float)) != 0;
	CHECK(differ, "another seed, other weights");
	/* the msra filler's spread: std sqrt(2/fan_in), fan_in 1*3*3 */
	{
		struct fcn_blob *w = fcn_net_param_find(a, "conv1", 0)->blob;
		double s2 = 0;

		for (size_t i = 0; i < fcn_blob_count(w); i++)
			s2 += (double)w->data[i] * w->data[i];
		s2 /= fcn_blob_count(w);
		CHECK(fabs(sqrt(s2) - sqrt(2.0 / 9)) < 0.2 * sqrt(2.0 / 9),
		      "msra std %.3f ~ %.3f", sqrt(s2), sqrt(2.0 / 9));
	}
out:
	fcn_net_free(a);
	fcn_net_free(b);
}

static void test_dropout(void)
{
	struct fcn_err err = { "" };
	const char *text =
		"layer { name: 'in' type: 'Input' top: 'data' }\n"
		"layer { name: 'd' type: 'Dropout' bottom: 'data' top: 'out' dropout_param { dropout_ratio: 0.3 } }\n";
	struct fcn_net *net = fcn_net_parse(text, "d", FCN_TRAIN, &err);
	struct fcn_net *test = fcn_net_parse(text, "d", FCN_TEST, &err);
	int n = 100000, zeros = 0, scaled = 1;
	float *first = malloc((size_t)n * sizeof *first);

	fcn_net_reshape(net, 1, 1, 1, n, &err);
	fcn_net_reshape(test, 1, 1, 1, n, &err);
	for (int i = 0; i < n; i++)
		fcn_net_blob(net, "data")->data[i] = fcn_net_blob(test, "data")->data[i] = 1;
	fcn_net_set_seed(net, 42);
	struct fcn_rng seq = *fcn_net_rng(net);
	uint64_t thresh = (uint64_t)(0.3f * 18446744073709551616.0);
	int same = 1;

	fcn_net_forward(net, NULL, &err);
	for (int i = 0; i < n; i++) {
		float v = fcn_net_blob(net, "out")->data[i];

		zeros += v == 0;
		scaled &= v == 0 || fabsf(v - 1 / 0.7f) < 1e-6f;
		same &= (v != 0) == (fcn_rng_next(&seq) >= thresh);
	}
	CHECK(fabs(zeros / (double)n - 0.3) < 0.01 && scaled,
	      "TRAIN dropout: %.3f dropped (0.3), kept units scaled by 1/0.7", zeros / (double)n);
	/* drawn in parallel chunks: the sequence fcn_rng_next gives, in order,
	 * and the net's generator left where that sequence ends */
	CHECK(same && seq.s == fcn_net_rng(net)->s,
	      "TRAIN dropout: unit i kept when draw i of the net's generator is >= the ratio");
	memcpy(first, fcn_net_blob(net, "out")->data, (size_t)n * sizeof *first);
	fcn_net_set_seed(net, 42);
	fcn_net_forward(net, NULL, &err);
	CHECK(!memcmp(first, fcn_net_blob(net, "out")->data, (size_t)n * sizeof *first),
	      "same seed, same dropout mask");
	fcn_net_forward(net, NULL, &err);
	CHECK(memcmp(first, fcn_net_blob(net, "out")->data, (size_t)n * sizeof *first),
	      "the next pass draws a new mask");
	fcn_net_forward(test, NULL, &err);
	CHECK(!memcmp(fcn_net_blob(test, "out")->data, fcn_net_blob(test, "data")->data,
		      (size_t)n * sizeof(float)), "TEST dropout is the identity");
	free(first);
	fcn_net_free(net);
	fcn_net_free(test);
}

static void test_metrics(void)
{
	struct fcn_err err = { "" };
	struct fcn_net *net = fcn_net_parse(
		"layer { name: 'in' type: 'Input' top: 'data' top: 'label' }\n"
		"layer { name: 'a' type: 'Accuracy' bottom: 'data' bottom: 'label' top: 'a'\n"
		"  accuracy_param { ignore_label: 255 } }\n"
		"layer { name: 'd' type: 'Dice' bottom: 'data' bottom: 'label' top: 'd' }\n",
		"m", FCN_TEST, &err);
	/* 2 images of 4 pixels; class-1 score wins where s1 > s0 */
	static const float s0[8] = { 1, 1, 0, 0, 1, 1, 1, 1 };
	static const float s1[8] = { 0, 2, 3, 0, 0, 0, 0, 0 };
	static const float lab[8] = { 0, 1, 1, 255, 0, 1, 0, 0 };
	double acc, dice;

	fcn_net_reshape(net, 2, 2, 1, 4, &err);
	for (int n = 0; n < 2; n++)
		for (int i = 0; i < 4; i++) {
			fcn_net_blob(net, "data")->data[n * 8 + i] = s0[n * 4 + i];
			fcn_net_blob(net, "data")->data[n * 8 + 4 + i] = s1[n * 4 + i];
			fcn_net_blob(net, "label")->data[n * 4 + i] = lab[n * 4 + i];
		}
	fcn_net_forward(net, NULL, &err);
	fcn_net_metric(net, "Accuracy", &acc);
	fcn_net_metric(net, "Dice", &dice);
	/* accuracy: image 0: 3 of 3 valid right; image 1: 3 of 4 -> 6/7 */
	CHECK(fabs(acc - 6.0 / 7) < 1e-9, "accuracy %.4f = 6/7", acc);
	/* dice: image 0: pred {1,2}, label {1,2} -> 1; image 1: pred {}, label {1} -> 0 */
	CHECK(fabs(dice - 0.5) < 1e-9, "dice %.4f = (1 + 0)/2", dice);
	fcn_net_free(net);
}

/* A blob read by two layers: gradients must add up (net-level check). */
static void test_fanout_gradient(void)
{
	struct fcn_err err = { "" };
	struct fcn_net *net = fcn_net_parse(
		"layer { name: 'in' type: 'Input' top: 'data' top: 'label' }\n"
		"layer { name: 'c0' type: 'Convolution' bottom: 'data' top: 'c0'\n"
		"  convolution_param { num_output: 3 kernel_size: 3 pad: 1 weight_filler { type: 'gaussian' std: 0.5 } } }\n"
		"layer { name: 'a' type: 'Convolution' bottom: 'c0' top: 'a'\n"
		"  convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: 'gaussian' std: 0.5 } } }\n"
		"layer { name: 'b' type: 'Convolution' bottom: 'c0' top: 'b'\n"
		"  convolution_param { num_output: 2 kernel_size: 3 pad: 1 weight_filler { type: 'gaussian' std: 0.5 } } }\n"
		"layer { name: 'sum' type: 'Eltwise' bottom: 'a' bottom: 'b' top: 'score' }\n"
		"layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'score' bottom: 'label' }\n",
		"fan", FCN_TRAIN, &err);
	struct fcn_blob *w;
	float l0, lp, lm;
	int bad = 0;

	if (!CHECK(net && fcn_net_reshape(net, 1, 2, 5, 5, &err) == 0 &&
		   fcn_net_fill(net, 3, &err) == 0, "fan-out net builds %s", err.msg))
		goto out;
	for (int i = 0; i < 50; i++) {
		fcn_net_blob(net, "data")->data[i] = (float)sin(i * 1.3);
		if (i < 25)
			fcn_net_blob(net, "label")->data[i] = (float)(i % 3 == 0);
	}
	fcn_net_zero_diffs(net);
	fcn_net_forward(net, &l0, &err);
	fcn_net_backward(net, &err);
	w = fcn_net_param_find(net, "c0", 0)->blob;
	for (size_t k = 0; k < fcn_blob_count(w); k += 3) {
		float keep = w->data[k], eps = 1e-2f;
		double num, ana = w->diff[k];

		w->data[k] = keep + eps;
		fcn_net_forward(net, &lp, &err);
		w->data[k] = keep - eps;
		fcn_net_forward(net, &lm, &err);
		w->data[k] = keep;
		num = ((double)lp - lm) / (2 * eps);
		bad += fabs(num - ana) > 1e-3 + 2e-2 * fabs(num);
	}
	CHECK(bad == 0, "gradient through a blob with two consumers matches finite differences");
	fcn_net_free(net);
	/* propagate_down: false on the sum's second bottom stops b's share */
	net = fcn_net_parse(
		"layer { name: 'in' type: 'Input' top: 'data' top: 'label' }\n"
		"layer { name: 'c0' type: 'Convolution' bottom: 'data' top: 'c0'\n"
		"  convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: 'gaussian' std: 0.5 } } }\n"
		"layer { name: 'b' type: 'Convolution' bottom: 'c0' top: 'b'\n"
		"  convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: 'gaussian' std: 0.5 } } }\n"
		"layer { name: 'sum' type: 'Eltwise' bottom: 'c0' bottom: 'b' top: 'score'\n"
		"  propagate_down: true propagate_down: false }\n"
		"layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'score' bottom: 'label' }\n",
		"pd", FCN_TRAIN, &err);
	if (CHECK(net && fcn_net_reshape(net, 1, 2, 3, 3, &err) == 0 &&
		  fcn_net_fill(net, 3, &err) == 0, "propagate_down net builds %s", err.msg)) {
		double s = 0;

		for (int i = 0; i < 18; i++)
			fcn_net_blob(net, "data")->data[i] = (float)cos(i);
		fcn_net_zero_diffs(net);
		fcn_net_forward(net, &l0, &err);
		fcn_net_backward(net, &err);
		w = fcn_net_param_find(net, "b", 0)->blob;
		for (size_t k = 0; k < fcn_blob_count(w); k++)
			s += fabs(w->diff[k]);
		CHECK(s == 0 && fabs(fcn_net_param_find(net, "c0", 0)->blob->diff[0]) > 0,
		      "propagate_down: false leaves b without gradient, c0 still gets one");
	}
out:
	fcn_net_free(net);
}

/* Phantom: a bright disc (the blood pool) in a darker ring, noise, raw
 * 16-bit-like values.  label 1 inside the disc. */
static void phantom(float *img, float *lab, int h, int w, unsigned seed)
{
	double cy = h / 2.0 + (seed * 7 % 9) - 4, cx = w / 2.0 + (seed * 5 % 9) - 4;
	double r = h / 8.0 + seed % 4;
	unsigned s = seed * 2654435761u + 1;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			double d = hypot(y - cy, x - cx), v;

			s = s * 1103515245u + 12345u;
			v = d < r ? 1400 : d < 1.6 * r ? 500 : 250 + 100 * sin(x * 0.3);
			img[y * w + x] = (float)(v + ((s >> 16) % 200) - 100.0);
			lab[y * w + x] = d < r ? 1.0f : 0.0f;
		}
}

/* Ten SGD steps of fcn-tiny with dropout-free TRAIN: the loss sequence
 * and final weights for a seed. */
static int train_steps(uint64_t seed, float *losses, float *w0)
{
	struct fcn_err err;
	struct fcn_net *net = fcn_net_load("nets/fcn-tiny.prototxt", FCN_TRAIN, &err);
	int rc = -1;

	/* 128x128: conv3's GEMMs are large enough to be split over threads */
	if (!net || fcn_net_reshape(net, 2, 1, 128, 128, &err) < 0 ||
	    fcn_net_fill(net, seed, &err) < 0)
		goto out;
	for (int it = 0; it < 10; it++) {
		for (int i = 0; i < 2 * 128 * 128; i++) {
			fcn_net_blob(net, "data")->data[i] = (float)((i * 7919 + it * 31) % 2000);
			fcn_net_blob(net, "label")->data[i] = (float)(((i / 128) % 128 - 64) * ((i % 128) - 64) > 0);
		}
		fcn_net_zero_diffs(net);
		if (fcn_net_forward(net, &losses[it], &err) < 0 || fcn_net_backward(net, &err) < 0)
			goto out;
		for (size_t i = 0; i < fcn_net_nparams(net); i++) {
			struct fcn_blob *b = fcn_net_param(net, i)->blob;

			for (size_t k = 0; k < fcn_blob_count(b); k++)
				b->data[k] -= 0.01f * b->diff[k];
		}
	}
	memcpy(w0, fcn_net_param(net, 0)->blob->data, 16 * 9 * sizeof *w0);
	rc = 0;
out:
	fcn_net_free(net);
	return rc;
}

static void test_training_determinism(void)
{
	float l1[10], l2[10], l3[10], w1[144], w2[144], w3[144];

	if (!CHECK(train_steps(7, l1, w1) == 0 && train_steps(7, l2, w2) == 0 &&
		   train_steps(8, l3, w3) == 0, "ten training steps run"))
		return;
	CHECK(!memcmp(l1, l2, sizeof l1) && !memcmp(w1, w2, sizeof w1),
	      "same seed: bit-identical losses and weights (loss %.6f -> %.6f)",
	      (double)l1[0], (double)l1[9]);
	CHECK(memcmp(w1, w3, sizeof w1), "another seed: other weights");
	fcn_set_threads(1);
	CHECK(train_steps(7, l2, w2) == 0 && !memcmp(l1, l2, sizeof l1) &&
	      !memcmp(w1, w2, sizeof w1), "1 thread gives the same bits as 2");
	fcn_set_threads(2);
}

static void test_tiny_learns(void)
{
	struct fcn_err err = { "" };
	struct fcn_net *net = fcn_net_load("nets/fcn-tiny.prototxt", FCN_TRAIN, &err);
	struct fcn_net *val = fcn_net_load("nets/fcn-tiny.prototxt", FCN_TEST, &err);
	const int N = 4, H = 64, W = 64, iters = 150;
	float **mom = NULL, loss = 0, first = 0;
	double dice = 0, acc = 0;
	size_t np;

	if (!CHECK(net && val && fcn_net_reshape(net, N, 1, H, W, &err) == 0 &&
		   fcn_net_reshape(val, N, 1, H, W, &err) == 0 && fcn_net_fill(net, 1, &err) == 0,
		   "fcn-tiny builds %s", err.msg))
		goto out;
	np = fcn_net_nparams(net);
	mom = calloc(np, sizeof *mom);
	for (size_t i = 0; i < np; i++)
		mom[i] = calloc(fcn_blob_count(fcn_net_param(net, i)->blob), sizeof(float));
	for (int it = 0; it < iters; it++) {
		for (int n = 0; n < N; n++)
			phantom(fcn_net_blob(net, "data")->data + n * H * W,
				fcn_net_blob(net, "label")->data + n * H * W, H, W,
				(unsigned)(it * N + n) % 40);
		fcn_net_zero_diffs(net);
		if (fcn_net_forward(net, &loss, &err) < 0 || fcn_net_backward(net, &err) < 0)
			break;
		if (it == 0)
			first = loss;
		for (size_t i = 0; i < np; i++) { /* SGD, momentum 0.9, lr 0.05 */
			struct fcn_param *p = fcn_net_param(net, i);

			for (size_t k = 0; k < fcn_blob_count(p->blob); k++) {
				mom[i][k] = 0.9f * mom[i][k] - 0.05f * p->lr_mult * p->blob->diff[k];
				p->blob->data[k] += mom[i][k];
			}
		}
	}
	tap_diag("fcn-tiny: loss %.4f -> %.4f after %d iterations", (double)first,
		 (double)loss, iters);
	for (size_t i = 0; i < np; i++) {
		struct fcn_blob *s = fcn_net_param(net, i)->blob;
		struct fcn_blob *d = fcn_net_param(val, i)->blob;

		memcpy(d->data, s->data, fcn_blob_count(s) * sizeof(float));
	}
	for (int n = 0; n < N; n++) /* unseen phantoms */
		phantom(fcn_net_blob(val, "data")->data + n * H * W,
			fcn_net_blob(val, "label")->data + n * H * W, H, W, (unsigned)(100 + n));
	fcn_net_forward(val, NULL, &err);
	fcn_net_metric(val, "Dice", &dice);
	fcn_net_metric(val, "Accuracy", &acc);
	CHECK(loss < 0.5 * first && dice > 0.8,
	      "fcn-tiny learns the blood pool: loss %.3f -> %.3f, held-out Dice %.3f, accuracy %.3f",
	      (double)first, (double)loss, dice, acc);
out:
	if (mom)
		for (size_t i = 0; i < np; i++)
			free(mom[i]);
	free(mom);
	fcn_net_free(net);
	fcn_net_free(val);
}

int main(void)
{
	fcn_set_threads(2);
	test_errors();
	test_phases();
	test_alexnet_shapes();
	test_fcn8s_shapes();
	test_determinism();
	test_dropout();
	test_metrics();
	test_fanout_gradient();
	test_training_determinism();
	test_tiny_learns();
	return tap_done();
}
