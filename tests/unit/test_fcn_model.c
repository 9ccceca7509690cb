/*
 * test_fcn_model.c - libfcn/model.c: a model written from a net and a
 * solver reads back bit for bit (blobs, history, settings, log); weights
 * load strictly or by the fine-tuning rule (other shapes stay, named);
 * corrupt, truncated, foreign and trailing-garbage files are refused with a
 * message; writing is atomic and leaves no temporary file.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcn.h"
#include "model.h"
#include "solver.h"
#include "tap.h"

static const char *net_text(int nout)
{
	static char buf[1024];

	snprintf(buf, sizeof buf,
		 "name: \"t\"\n"
		 "layer { name: \"data\" type: \"Data\" top: \"data\" top: \"label\" }\n"
		 "layer { name: \"conv1\" type: \"Convolution\" bottom: \"data\" top: \"c1\"\n"
		 "  convolution_param { num_output: 3 kernel_size: 3 pad: 1\n"
		 "    weight_filler { type: \"xavier\" } bias_filler { type: \"constant\" value: 0.5 } } }\n"
		 "layer { name: \"score\" type: \"Convolution\" bottom: \"c1\" top: \"score\"\n"
		 "  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }\n"
		 "  convolution_param { num_output: %d kernel_size: 1 weight_filler { type: \"xavier\" } } }\n"
		 "layer { name: \"loss\" type: \"SoftmaxWithLoss\" bottom: \"score\" bottom: \"label\" top: \"loss\" }\n",
		 nout);
	return buf;
}

static struct fcn_net *make_net(int nout, uint64_t seed)
{
	struct fcn_err err;
	struct fcn_net *net = fcn_net_parse(net_text(nout), "t.prototxt", FCN_TRAIN, &err);

	if (!net) {
		tap_diag("parse: %s", err.msg);
		return NULL;
	}
	if (fcn_net_reshape(net, 2, 1, 5, 6, &err) < 0 || fcn_net_fill(net, seed, &err) < 0) {
		tap_diag("reshape/fill: %s", err.msg);
		fcn_net_free(net);
		return NULL;
	}
	return net;
}

static int same_params(struct fcn_net *a, struct fcn_net *b)
{
	if (fcn_net_nparams(a) != fcn_net_nparams(b))
		return 0;
	for (size_t i = 0; i < fcn_net_nparams(a); i++) {
		struct fcn_blob *x = fcn_net_param(a, i)->blob, *y = fcn_net_param(b, i)->blob;

		if (fcn_blob_count(x) != fcn_blob_count(y) ||
		    memcmp(x->data, y->data, fcn_blob_count(x) * sizeof(float)))
			return 0;
	}
	return 1;
}

static struct fcn_solver *make_solver(struct fcn_net *net, enum fcn_solver_kind kind,
				      struct fcn_param ***params)
{
	size_t n = fcn_net_nparams(net), numel[16];
	struct fcn_solver_conf c;
	struct fcn_err err;
	struct fcn_solver *s;

	*params = calloc(n, sizeof **params);
	for (size_t i = 0; i < n; i++) {
		(*params)[i] = fcn_net_param(net, i);
		numel[i] = fcn_blob_count((*params)[i]->blob);
	}
	fcn_solver_conf_default(&c);
	c.kind = kind, c.momentum = 0.9, c.weight_decay = 1e-3;
	c.policy = FCN_LR_MULTISTEP, c.gamma = 0.5, c.nstepvalues = 2;
	c.stepvalues[0] = 2, c.stepvalues[1] = 7;
	c.warmup = kind == FCN_SOLVER_ADAMW ? 2 : 0;
	s = fcn_solver_create(&c, numel, n, &err);
	if (!s)
		tap_diag("solver: %s", err.msg);
	return s;
}

/* Three updates with made-up gradients, so that history is non-zero. */
static void train_a_bit(struct fcn_net *net, struct fcn_solver *s, struct fcn_param **p)
{
	struct fcn_err err;

	for (int t = 0; t < 3; t++) {
		for (size_t i = 0; i < fcn_net_nparams(net); i++) {
			struct fcn_blob *b = p[i]->blob;

			for (size_t j = 0; j < fcn_blob_count(b); j++)
				b->diff[j] = (float)(0.01 * (int)((j * 7 + t * 3 + i) % 11) - 0.05);
		}
		fcn_solver_update(s, p, fcn_net_nparams(net), &err);
	}
}

static char dir[] = "/tmp/test_fcn_model.XXXXXX";

static const char *path_in(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	fwrite(data, 1, len, f);
	fclose(f);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (!f) {
		*len = 0;
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len + 1);
	if (fread(buf, 1, *len, f) != *len)
		*len = 0;
	fclose(f);
	return buf;
}

static void test_roundtrip(enum fcn_solver_kind kind)
{
	const char *kname = fcn_solver_kind_name(kind);
	struct fcn_net *net = make_net(2, 7), *net2 = make_net(2, 99);
	struct fcn_param **p, **p2;
	struct fcn_solver *s, *s2;
	struct fcn_model_info info = {0};
	struct fcn_model *m;
	struct fcn_err err;
	const struct fcn_model_info *mi;
	int ok = 1;

	/* the engine failing to build a net is a failure, not a skip */
	if (!CHECK(net && net2, "%s: the engine builds the test nets", kname)) {
		fcn_net_free(net);
		fcn_net_free(net2);
		return;
	}
	s = make_solver(net, kind, &p);
	s2 = make_solver(net2, kind, &p2);
	train_a_bit(net, s, p);
	info.channels = 1, info.scale = 0.5, info.shift = -116;
	info.epoch = 4, info.seed = 0xfedcba9876543210ULL, info.batch = 2;
	info.loss = FCN_LOSS_DICE, info.nclass_weights = 2;
	info.class_weights[0] = 0.5f, info.class_weights[1] = 13.25f;
	info.log = "epoch\tloss\n1\t0.5\n";
	if (kind == FCN_SOLVER_ADAMW) {
		static const char *const keys[] = {"to_rgb", "crop"}, *const vals[] = {"1", "4,4,24,24"};

		info.loss = FCN_LOSS_SOFTMAX_DICE, info.dice_batch = 1;
		info.height = 24, info.width = 32, info.epoch_size = 74;
		info.nmeta = 2, info.meta_key = keys, info.meta_val = vals;
	}
	CHECK(fcn_model_write(path_in("m"), &info, net, s, &err) == 0,
	      "%s: write (%s)", kname, err.msg);
	m = fcn_model_read(path_in("m"), &err);
	CHECK(m != NULL, "%s: read back (%s)", kname, m ? "" : err.msg);
	if (!m)
		goto out;
	mi = fcn_model_info(m);
	CHECK(!strcmp(mi->net_text, fcn_net_text(net)), "%s: net text kept", kname);
	CHECK(mi->channels == 1 && mi->scale == 0.5 && mi->shift == -116 &&
	      mi->epoch == 4 && mi->seed == 0xfedcba9876543210ULL && mi->batch == 2 &&
	      mi->loss == info.loss && mi->dice_batch == info.dice_batch &&
	      mi->height == info.height && mi->width == info.width &&
	      mi->epoch_size == info.epoch_size && mi->nmeta == info.nmeta &&
	      mi->solver.warmup == (kind == FCN_SOLVER_ADAMW ? 2 : 0) &&
	      (!info.nmeta || (!strcmp(mi->meta_key[1], "crop") &&
			       !strcmp(mi->meta_val[1], "4,4,24,24") &&
			       !strcmp(mi->meta_key[0], "to_rgb"))) &&
	      mi->nclass_weights == 2 &&
	      mi->class_weights[1] == 13.25f && !strcmp(mi->log, info.log),
	      "%s: settings and log kept", kname);
	CHECK(mi->has_solver && mi->iter == 3 && mi->solver.kind == kind &&
	      mi->solver.policy == FCN_LR_MULTISTEP && mi->solver.nstepvalues == 2 &&
	      mi->solver.stepvalues[1] == 7 && mi->solver.momentum == 0.9 &&
	      mi->solver.weight_decay == 1e-3, "%s: solver settings kept", kname);
	CHECK(fcn_model_load_weights(m, net2, 1, NULL, 0, &err) == (long)fcn_net_nparams(net),
	      "%s: strict load copies every blob", kname);
	CHECK(same_params(net, net2), "%s: weights bit-identical after the round trip", kname);
	CHECK(fcn_model_load_solver(m, net2, s2, &err) == 0, "%s: solver state loads (%s)",
	      kname, err.msg);
	for (size_t i = 0; i < fcn_net_nparams(net); i++)
		for (int h = 0; h < fcn_solver_nhistory(s); h++) {
			size_t n;
			const float *a = fcn_solver_history(s, i, h, &n);
			const float *b = fcn_solver_history(s2, i, h, NULL);

			ok &= !memcmp(a, b, n * sizeof(float));
		}
	CHECK(ok && fcn_solver_iter(s2) == 3, "%s: history bit-identical, iteration 3", kname);
	/* continuing both gives the same weights */
	train_a_bit(net, s, p);
	train_a_bit(net2, s2, p2);
	CHECK(same_params(net, net2), "%s: resumed updates match uninterrupted ones", kname);
	fcn_model_free(m);
out:
	fcn_solver_free(s);
	fcn_solver_free(s2);
	free(p);
	free(p2);
	fcn_net_free(net);
	fcn_net_free(net2);
}

static void test_finetune(void)
{
	struct fcn_net *net = make_net(2, 7), *other = make_net(3, 5);
	struct fcn_model_info info = {.channels = 1, .scale = 1, .batch = 1};
	struct fcn_model *m;
	struct fcn_err err;
	char skipped[512];
	long n;
	struct fcn_solver *sgd;
	struct fcn_param **p;

	if (!CHECK(net && other, "fine-tuning: the engine builds the test nets")) {
		fcn_net_free(net);
		fcn_net_free(other);
		return;
	}
	CHECK(fcn_model_write(path_in("w"), &info, net, NULL, &err) == 0,
	      "write without solver state");
	m = fcn_model_read(path_in("w"), &err);
	CHECK(m && !fcn_model_info(m)->has_solver, "a model without solver state reads");
	if (!m)
		goto out;
	float before = fcn_net_param_find(other, "score", 0)->blob->data[0];
	n = fcn_model_load_weights(m, other, 0, skipped, sizeof skipped, &err);
	CHECK(n == 2, "fine-tuning copies conv1's two blobs (%ld)", n);
	CHECK(strstr(skipped, "score[0] (model 2x3x1x1, net 3x3x1x1)") &&
	      strstr(skipped, "score[1]"), "the skipped blobs are named: %s", skipped);
	CHECK(fcn_net_param_find(other, "score", 0)->blob->data[0] == before,
	      "skipped blobs keep their fresh values");
	CHECK(!memcmp(fcn_net_param_find(other, "conv1", 0)->blob->data,
		      fcn_net_param_find(net, "conv1", 0)->blob->data, 27 * sizeof(float)),
	      "matching blobs are copied");
	CHECK(fcn_model_load_weights(m, other, 1, NULL, 0, &err) < 0 &&
	      strstr(err.msg, "score"), "strict loading refuses a shape mismatch: %s", err.msg);
	sgd = make_solver(net, FCN_SOLVER_SGD, &p);
	CHECK(fcn_model_load_solver(m, net, sgd, &err) < 0 && strstr(err.msg, "solver"),
	      "no solver state to resume: %s", err.msg);
	fcn_solver_free(sgd);
	free(p);
	fcn_model_free(m);
out:
	fcn_net_free(net);
	fcn_net_free(other);
}

/* A hand-made map with a bad tensor; returns the model's error. */
static void test_corrupt(void)
{
	struct fcn_err err;
	size_t len;
	char *good = slurp(path_in("w"), &len);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct stat st;

	if (!CHECK(good && len > 100, "the model from the last test exists (%zu bytes)",
		   len)) {
		free(good);
		return;
	}
	write_bytes(path_in("trunc"), good, len / 2);
	CHECK(!fcn_model_read(path_in("trunc"), &err) && strstr(err.msg, "truncated"),
	      "truncated: %s", err.msg);
	write_bytes(path_in("trunc1"), good, len - 1);
	CHECK(!fcn_model_read(path_in("trunc1"), &err) && strstr(err.msg, "truncated"),
	      "one byte short: %s", err.msg);
	write_bytes(path_in("garbage"), "\xc1\xc1\xc1 hello", 9);
	CHECK(!fcn_model_read(path_in("garbage"), &err) && strstr(err.msg, "malformed"),
	      "garbage: %s", err.msg);
	good = realloc(good, len + 3);
	memcpy(good + len, "\x01\x02\x03", 3);
	write_bytes(path_in("trailing"), good, len + 3);
	CHECK(!fcn_model_read(path_in("trailing"), &err) && strstr(err.msg, "after the model"),
	      "trailing bytes: %s", err.msg);
	write_bytes(path_in("empty"), "", 0);
	CHECK(!fcn_model_read(path_in("empty"), &err), "empty file: %s", err.msg);
	CHECK(!fcn_model_read(path_in("absent"), &err) && strstr(err.msg, "No such file"),
	      "missing file: %s", err.msg);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "format", 6);
	msgpack_pack_str_with_body(&pk, "something-else", 14);
	msgpack_pack_str_with_body(&pk, "version", 7);
	msgpack_pack_int(&pk, 1);
	write_bytes(path_in("foreign"), sb.data, sb.size);
	CHECK(!fcn_model_read(path_in("foreign"), &err) && strstr(err.msg, "not a model"),
	      "another format: %s", err.msg);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 6);
	msgpack_pack_str_with_body(&pk, "format", 6);
	msgpack_pack_str_with_body(&pk, FCN_MODEL_FORMAT, strlen(FCN_MODEL_FORMAT));
	msgpack_pack_str_with_body(&pk, "version", 7);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "net", 3);
	msgpack_pack_str_with_body(&pk, "x", 1);
	msgpack_pack_str_with_body(&pk, "input", 5);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "channels", 8);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "scale", 5);
	msgpack_pack_double(&pk, 1);
	msgpack_pack_str_with_body(&pk, "shift", 5);
	msgpack_pack_double(&pk, 0);
	msgpack_pack_str_with_body(&pk, "train", 5);
	msgpack_pack_map(&pk, 4);
	msgpack_pack_str_with_body(&pk, "epoch", 5);
	msgpack_pack_int(&pk, 0);
	msgpack_pack_str_with_body(&pk, "seed", 4);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "batch", 5);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "loss", 4);
	msgpack_pack_str_with_body(&pk, "softmax", 7);
	msgpack_pack_str_with_body(&pk, "layers", 6);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "conv1", 5);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "dtype", 5);
	msgpack_pack_str_with_body(&pk, "f32", 3);
	msgpack_pack_str_with_body(&pk, "shape", 5);
	msgpack_pack_array(&pk, 4);
	for (int i = 0; i < 4; i++)
		msgpack_pack_int(&pk, 2);
	msgpack_pack_str_with_body(&pk, "data", 4);
	msgpack_pack_bin_with_body(&pk, "12345678", 8);
	write_bytes(path_in("badtensor"), sb.data, sb.size);
	CHECK(!fcn_model_read(path_in("badtensor"), &err) &&
	      strstr(err.msg, "layer 'conv1' blob 0: data size does not match the shape"),
	      "a tensor of the wrong size is named: %s", err.msg);
	msgpack_sbuffer_destroy(&sb);
	free(good);

	memset(&st, 0, sizeof st);
	stat(path_in("w"), &st);
	CHECK((st.st_mode & 0777) == 0644, "the model file's mode follows the umask (%o)",
	      (unsigned)(st.st_mode & 0777));
}

static void test_atomic(void)
{
	struct fcn_net *net = make_net(2, 7);
	struct fcn_model_info info = {.channels = 1, .scale = 1, .batch = 1};
	struct fcn_err err;
	char cmd[512];
	int rc;

	if (!CHECK(net, "atomic: the engine builds the test net"))
		return;
	CHECK(fcn_model_write("/nonexistent-dir/m", &info, net, NULL, &err) < 0 &&
	      strstr(err.msg, "/nonexistent-dir/m"), "unwritable place: %s", err.msg);
	snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", dir);
	rc = system(cmd);
	CHECK(rc != 0, "no temporary file is left behind");
	fcn_net_free(net);
}

int main(void)
{
	umask(022);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_roundtrip(FCN_SOLVER_SGD);
	test_roundtrip(FCN_SOLVER_ADAM);
	test_roundtrip(FCN_SOLVER_ADAMW);
	test_finetune();
	test_corrupt();
	test_atomic();
	char cmd[300];

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
