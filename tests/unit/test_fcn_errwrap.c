/*
 * test_fcn_errwrap.c - errors that a layer wraps with its name keep the
 * original reason whole: the paths that used to format err->msg into itself
 * (overlapping snprintf) reached through real nets, and the prefixing helper
 * on its edge cases (long reasons, a prefix that fills the buffer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcn.h"
#include "layer.h"
#include "tap.h"

/* Parses text in phase, reshapes to (1, c, h, w) and fills; the message of
 * the first step that fails must be exactly want. */
static void expect_exact(const char *text, enum fcn_phase phase, int c, int h,
			 int w, const char *want, const char *what)
{
	struct fcn_err err = { "" };
	struct fcn_net *net = fcn_net_parse(text, "t.prototxt", phase, &err);
	int rc = -1;

	if (net)
		rc = fcn_net_reshape(net, 1, c, h, w, &err);
	if (net && rc == 0)
		rc = fcn_net_fill(net, 1, &err);
	CHECK(rc < 0 && !strcmp(err.msg, want), "%s: got '%s', want '%s'", what,
	      err.msg, want);
	fcn_net_free(net);
}

#define INPUT "layer { name: 'in' type: 'Input' top: 'data' }\n"

static void test_net_paths(void)
{
	/* conv_layer.c reshape: the top blob is too large */
	expect_exact(INPUT "layer { name: 'c1' type: 'Convolution' bottom: 'data' top: 'c1'\n"
		     "  convolution_param { num_output: 20000 kernel_size: 1 } }\n",
		     FCN_DEPLOY, 1, 1024, 1024,
		     "layer 'c1' (Convolution): blob 1x20000x1024x1024 too large",
		     "convolution top too large");
	/* deconvolution: the same call, output grown by the stride */
	expect_exact(INPUT "layer { name: 'up' type: 'Deconvolution' bottom: 'data' top: 'up'\n"
		     "  convolution_param { num_output: 1 kernel_size: 1000 stride: 1000\n"
		     "  bias_term: false } }\n",
		     FCN_DEPLOY, 1, 200, 200,
		     "layer 'up' (Deconvolution): blob 1x1x200000x200000 too large",
		     "deconvolution top too large");
	/* net.c fcn_layer_param_shape: a parameter too large */
	expect_exact(INPUT "layer { name: 'fat' type: 'Convolution' bottom: 'data' top: 'fat'\n"
		     "  convolution_param { num_output: 2097152 kernel_size: 1 } }\n",
		     FCN_TRAIN, 16384, 1, 1,
		     "layer 'fat' (Convolution): blob 2097152x16384x1x1 too large",
		     "parameter too large");
	/* conv_layer.c fill: the filler's own reason */
	expect_exact(INPUT "layer { name: 'bl' type: 'Convolution' bottom: 'data' top: 'bl'\n"
		     "  convolution_param { num_output: 1 kernel_h: 2 kernel_w: 3\n"
		     "  weight_filler { type: 'bilinear' } } }\n",
		     FCN_TRAIN, 1, 8, 8,
		     "layer 'bl' (Convolution): bilinear filler needs a square kernel, not 2x3",
		     "filler error");
}

static const struct fcn_layer_ops fake_ops = { .type = "Fake" };

static void test_helper(void)
{
	struct fcn_layer l = { .name = "x", .ops = &fake_ops };
	struct fcn_err err;
	char want[sizeof err.msg];
	size_t n;

	snprintf(err.msg, sizeof err.msg, "the reason");
	CHECK(fcn_layer_wrap(&l, &err) == -1 &&
	      !strcmp(err.msg, "layer 'x' (Fake): the reason"), "short: '%s'", err.msg);

	/* a reason that fills the buffer: prefix whole, reason's head kept */
	memset(err.msg, 'r', sizeof err.msg - 1);
	err.msg[sizeof err.msg - 1] = '\0';
	fcn_layer_wrap(&l, &err);
	n = strlen("layer 'x' (Fake): ");
	memset(want, 'r', sizeof want - 1);
	memcpy(want, "layer 'x' (Fake): ", n);
	want[sizeof want - 1] = '\0';
	CHECK(!strcmp(err.msg, want) && strlen(err.msg) == sizeof err.msg - 1,
	      "full reason: %zu bytes", strlen(err.msg));

	/* a prefix that cannot fit: the reason stays as it was */
	snprintf(err.msg, sizeof err.msg, "kept");
	memset(want, 'p', sizeof want - 1);
	want[sizeof want - 1] = '\0';
	fcn_err_prefix(&err, "%s", want);
	CHECK(!strcmp(err.msg, "kept"), "oversized prefix: '%.20s'", err.msg);

	/* fcn_layer_error given err->msg itself as an argument */
	snprintf(err.msg, sizeof err.msg, "inner");
	fcn_layer_error(&l, &err, "outer: %s", err.msg);
	CHECK(!strcmp(err.msg, "layer 'x' (Fake): outer: inner"),
	      "aliasing argument: '%s'", err.msg);

	/* nested wraps compose */
	snprintf(err.msg, sizeof err.msg, "why");
	fcn_err_prefix(&err, "b: ");
	fcn_err_prefix(&err, "a: ");
	CHECK(!strcmp(err.msg, "a: b: why"), "nested: '%s'", err.msg);
}

int main(void)
{
	test_net_paths();
	test_helper();
	return tap_done();
}
