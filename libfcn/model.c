/*
 * model.c - the model file (see model.h), written and read with msgpack-c.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "st.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model.c stores floats in host order and needs a little-endian host"
#endif

struct fcn_model {
	char *buf; /* the whole file, mapped; bin data points into it */
	size_t len;
	int mapped; /* buf is an mmap (else malloc'd) */
	msgpack_unpacked unpacked;
	const msgpack_object *layers;  /* map layer -> [tensor...] */
	const msgpack_object *history; /* map layer -> [[tensor...]...] or NULL */
	struct fcn_model_info info;
	char *net_text, *log;
	char **meta_key, **meta_val;
};

static int fail(struct fcn_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct fcn_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* --- writing --------------------------------------------------------------- */

static int write_cb(void *data, const char *buf, size_t len)
{
	return len == 0 || fwrite(buf, len, 1, (FILE *)data) == 1 ? 0 : -1;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void pack_tensor(msgpack_packer *pk, const struct fcn_blob *b,
			const float *data)
{
	size_t bytes = fcn_blob_count(b) * sizeof(float);

	msgpack_pack_map(pk, 3);
	pack_str(pk, "dtype");
	pack_str(pk, "f32");
	pack_str(pk, "shape");
	msgpack_pack_array(pk, 4);
	msgpack_pack_int(pk, b->n);
	msgpack_pack_int(pk, b->c);
	msgpack_pack_int(pk, b->h);
	msgpack_pack_int(pk, b->w);
	pack_str(pk, "data");
	msgpack_pack_bin(pk, bytes);
	msgpack_pack_bin_body(pk, data, bytes);
}

/* Distinct layer names of net's parameters in order, with blob counts;
 * -1 when a layer's blob indices are not 0..k-1. */
static long param_layers(struct fcn_net *net, const char ***names, int **counts,
			 struct fcn_err *err)
{
	size_t np = fcn_net_nparams(net);
	long nl = 0;

	*names = calloc(np ? np : 1, sizeof **names);
	*counts = calloc(np ? np : 1, sizeof **counts);
	if (!*names || !*counts)
		return fail(err, "model: out of memory");
	for (size_t i = 0; i < np; i++) {
		const struct fcn_param *p = fcn_net_param(net, i);
		long j;

		for (j = 0; j < nl; j++)
			if (!strcmp((*names)[j], p->layer))
				break;
		if (j == nl)
			(*names)[nl++] = p->layer;
		(*counts)[j]++;
	}
	for (long j = 0; j < nl; j++)
		for (int k = 0; k < (*counts)[j]; k++)
			if (!fcn_net_param_find(net, (*names)[j], k))
				return fail(err, "model: layer '%s' has no blob %d",
					    (*names)[j], k);
	return nl;
}

/* Index of the parameter (layer, k) in fcn_net_param order. */
static size_t param_index(struct fcn_net *net, const struct fcn_param *p)
{
	size_t np = fcn_net_nparams(net);

	for (size_t i = 0; i < np; i++)
		if (fcn_net_param(net, i) == p)
			return i;
	return np;
}

static void pack_solver(msgpack_packer *pk, struct fcn_net *net,
			struct fcn_solver *solver, const char **names,
			const int *counts, long nl)
{
	const struct fcn_solver_conf *c = fcn_solver_conf(solver);
	int nh = fcn_solver_nhistory(solver);

	msgpack_pack_map(pk, 16);
	pack_str(pk, "kind");
	pack_str(pk, fcn_solver_kind_name(c->kind));
	pack_str(pk, "policy");
	pack_str(pk, fcn_lr_policy_name(c->policy));
	pack_str(pk, "base_lr");
	msgpack_pack_double(pk, c->base_lr);
	pack_str(pk, "gamma");
	msgpack_pack_double(pk, c->gamma);
	pack_str(pk, "power");
	msgpack_pack_double(pk, c->power);
	pack_str(pk, "stepsize");
	msgpack_pack_int64(pk, c->stepsize);
	pack_str(pk, "stepvalues");
	msgpack_pack_array(pk, c->nstepvalues);
	for (int i = 0; i < c->nstepvalues; i++)
		msgpack_pack_int64(pk, c->stepvalues[i]);
	pack_str(pk, "max_iter");
	msgpack_pack_int64(pk, c->max_iter);
	pack_str(pk, "momentum");
	msgpack_pack_double(pk, c->momentum);
	pack_str(pk, "momentum2");
	msgpack_pack_double(pk, c->momentum2);
	pack_str(pk, "delta");
	msgpack_pack_double(pk, c->delta);
	pack_str(pk, "weight_decay");
	msgpack_pack_double(pk, c->weight_decay);
	pack_str(pk, "iter_size");
	msgpack_pack_int(pk, c->iter_size);
	pack_str(pk, "warmup");
	msgpack_pack_int64(pk, c->warmup);
	pack_str(pk, "iter");
	msgpack_pack_int64(pk, fcn_solver_iter(solver));
	pack_str(pk, "history");
	msgpack_pack_map(pk, nl);
	for (long j = 0; j < nl; j++) {
		pack_str(pk, names[j]);
		msgpack_pack_array(pk, counts[j]);
		for (int k = 0; k < counts[j]; k++) {
			struct fcn_param *p = fcn_net_param_find(net, names[j], k);
			size_t i = param_index(net, p);

			msgpack_pack_array(pk, nh);
			for (int h = 0; h < nh; h++)
				pack_tensor(pk, p->blob,
					    fcn_solver_history(solver, i, h, NULL));
		}
	}
}

static void pack_model(msgpack_packer *pk, const struct fcn_model_info *info,
		       struct fcn_net *net, struct fcn_solver *solver,
		       const char **names, const int *counts, long nl)
{
	msgpack_pack_map(pk, solver ? 8 : 7);
	pack_str(pk, "format");
	pack_str(pk, FCN_MODEL_FORMAT);
	pack_str(pk, "version");
	msgpack_pack_int(pk, FCN_MODEL_VERSION);
	pack_str(pk, "net");
	pack_str(pk, fcn_net_text(net));
	pack_str(pk, "input");
	msgpack_pack_map(pk, 5);
	pack_str(pk, "channels");
	msgpack_pack_int(pk, info->channels);
	pack_str(pk, "scale");
	msgpack_pack_double(pk, info->scale);
	pack_str(pk, "shift");
	msgpack_pack_double(pk, info->shift);
	pack_str(pk, "size");
	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, info->height);
	msgpack_pack_int(pk, info->width);
	pack_str(pk, "meta");
	msgpack_pack_map(pk, info->nmeta);
	for (int i = 0; i < info->nmeta; i++) {
		pack_str(pk, info->meta_key[i]);
		pack_str(pk, info->meta_val[i]);
	}
	pack_str(pk, "layers");
	msgpack_pack_map(pk, nl);
	for (long j = 0; j < nl; j++) {
		pack_str(pk, names[j]);
		msgpack_pack_array(pk, counts[j]);
		for (int k = 0; k < counts[j]; k++) {
			struct fcn_param *p = fcn_net_param_find(net, names[j], k);

			pack_tensor(pk, p->blob, p->blob->data);
		}
	}
	pack_str(pk, "train");
	msgpack_pack_map(pk, 8);
	pack_str(pk, "epoch");
	msgpack_pack_int64(pk, info->epoch);
	pack_str(pk, "seed");
	msgpack_pack_uint64(pk, info->seed);
	pack_str(pk, "batch");
	msgpack_pack_int(pk, info->batch);
	pack_str(pk, "epoch_size");
	msgpack_pack_int64(pk, info->epoch_size);
	pack_str(pk, "loss");
	pack_str(pk, fcn_loss_name(info->loss));
	pack_str(pk, "dice_over");
	pack_str(pk, info->dice_batch ? "batch" : "image");
	pack_str(pk, "dice_classes");
	pack_str(pk, info->dice_each ? "each" : "union");
	pack_str(pk, "class_weights");
	if (info->nclass_weights > 0) {
		msgpack_pack_array(pk, info->nclass_weights);
		for (int i = 0; i < info->nclass_weights; i++)
			msgpack_pack_float(pk, info->class_weights[i]);
	} else {
		msgpack_pack_nil(pk);
	}
	if (solver) {
		pack_str(pk, "solver");
		pack_solver(pk, net, solver, names, counts, nl);
	}
	pack_str(pk, "log");
	pack_str(pk, info->log ? info->log : "");
}

int fcn_model_write(const char *path, const struct fcn_model_info *info,
		    struct fcn_net *net, struct fcn_solver *solver,
		    struct fcn_err *err)
{
	const char **names = NULL;
	int *counts = NULL, fd = -1, rc = -1;
	char *tmp = NULL;
	FILE *f = NULL;
	msgpack_packer pk;
	long nl;

	for (size_t i = 0; i < fcn_net_nparams(net); i++)
		if (fcn_net_param(net, i)->blob->dev != FCN_CPU) {
			fail(err, "%s: parameter %s is not in host memory", path,
			     fcn_net_param(net, i)->layer);
			goto out;
		}
	nl = param_layers(net, &names, &counts, err);
	if (nl < 0)
		goto out;
	tmp = malloc(strlen(path) + 16);
	if (!tmp) {
		fail(err, "%s: out of memory", path);
		goto out;
	}
	sprintf(tmp, "%s.tmpXXXXXX", path);
	fd = mkstemp(tmp);
	if (fd >= 0) {
		mode_t mask = umask(0);

		umask(mask);
		if (fchmod(fd, 0666 & ~mask) != 0) {
			fail(err, "%s: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if (fd < 0 || !(f = fdopen(fd, "wb"))) {
		fail(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	msgpack_packer_init(&pk, f, write_cb);
	pack_model(&pk, info, net, solver, names, counts, nl);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
		fail(err, "%s: %s", tmp, strerror(errno ? errno : EIO));
		goto out;
	}
	rc = fclose(f);
	f = NULL;
	if (rc != 0) {
		fail(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = -1;
	if (rename(tmp, path) != 0) {
		fail(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(names);
	free(counts);
	return rc;
}

/* --- reading --------------------------------------------------------------- */

static int key_is(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);

	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       !memcmp(k->via.str.ptr, s, n);
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (key_is(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

static int as_num(const msgpack_object *o, double *v)
{
	if (!o)
		return -1;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*v = (double)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = (double)o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*v = o->via.f64;
		return 0;
	default:
		return -1;
	}
}

/* A malloc'd NUL-terminated copy of a str object, NULL if not a str. */
static char *dup_str(const msgpack_object *o)
{
	char *s;

	if (!o || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	s = malloc(o->via.str.size + 1);
	if (s) {
		memcpy(s, o->via.str.ptr, o->via.str.size);
		s[o->via.str.size] = 0;
	}
	return s;
}

static int str_eq(const msgpack_object *o, const char *s)
{
	return o && key_is(o, s);
}

/* Checks a tensor map: f32, 4 non-negative dims, data of the right size. */
static int check_tensor(const msgpack_object *t, int shape[4], const void **data,
			size_t *count, const char **why)
{
	const msgpack_object *sh = get(t, "shape"), *d = get(t, "data");
	size_t n = 1;

	if (t->type != MSGPACK_OBJECT_MAP || !str_eq(get(t, "dtype"), "f32") ||
	    !sh || !d) {
		*why = "not an f32 tensor map";
		return -1;
	}
	if (sh->type != MSGPACK_OBJECT_ARRAY || sh->via.array.size != 4) {
		*why = "shape is not [N, C, H, W]";
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		const msgpack_object *x = &sh->via.array.ptr[i];

		if (x->type != MSGPACK_OBJECT_POSITIVE_INTEGER || x->via.u64 > 1u << 30) {
			*why = "bad dimension in shape";
			return -1;
		}
		shape[i] = (int)x->via.u64;
		n *= x->via.u64;
		if (n > (size_t)1 << 34) {
			*why = "tensor too large";
			return -1;
		}
	}
	if (d->type != MSGPACK_OBJECT_BIN || d->via.bin.size != n * sizeof(float)) {
		*why = "data size does not match the shape";
		return -1;
	}
	*data = d->via.bin.ptr;
	*count = n;
	return 0;
}

/* Checks "layers" (depth 1) or "history" (depth 2: arrays of arrays). */
static int check_blob_map(const msgpack_object *map, int depth, const char *what,
			  const char *path, struct fcn_err *err)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return fail(err, "%s: '%s' is not a map", path, what);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		const msgpack_object *v = &map->via.map.ptr[i].val;
		int ks = k->type == MSGPACK_OBJECT_STR ? (int)k->via.str.size : 1;
		const char *kp = k->type == MSGPACK_OBJECT_STR ? k->via.str.ptr : "?";

		if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_ARRAY)
			return fail(err, "%s: %s: entry '%.*s' is not a named array",
				    path, what, ks, kp);
		for (uint32_t j = 0; j < v->via.array.size; j++) {
			const msgpack_object *t = &v->via.array.ptr[j];
			uint32_t nt = 1;

			if (depth == 2) {
				if (t->type != MSGPACK_OBJECT_ARRAY)
					return fail(err, "%s: %s: layer '%.*s' blob %u: not an array",
						    path, what, ks, kp, j);
				nt = t->via.array.size;
			}
			for (uint32_t h = 0; h < nt; h++) {
				const msgpack_object *x = depth == 2 ? &t->via.array.ptr[h] : t;
				int shape[4];
				const void *data;
				size_t count;
				const char *why;

				if (check_tensor(x, shape, &data, &count, &why) < 0)
					return fail(err, "%s: %s: layer '%.*s' blob %u: %s",
						    path, what, ks, kp, j, why);
			}
		}
	}
	return 0;
}

/* Maps the file read-only: bin data (weights, history) stays on disk until
 * touched, so a predictor never pages in the solver history.  An empty file
 * gets a 1-byte heap buffer (mmap cannot map 0 bytes). */
static int map_file(struct fcn_model *m, const char *path, struct fcn_err *err)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	void *p;

	if (fd < 0)
		return fail(err, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, "%s: not a regular file", path);
	}
	m->len = (size_t)st.st_size;
	if (m->len == 0) {
		close(fd);
		m->buf = calloc(1, 1);
		return m->buf ? 0 : fail(err, "%s: out of memory", path);
	}
	p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return fail(err, "%s: %s", path, strerror(errno));
	m->buf = p;
	m->mapped = 1;
	return 0;
}

static int read_solver(struct fcn_model *m, const msgpack_object *s,
		       const char *path, struct fcn_err *err)
{
	struct fcn_solver_conf *c = &m->info.solver;
	const msgpack_object *sv = get(s, "stepvalues");
	char name[32];
	double v[11];
	static const char *const keys[] = {
		"base_lr", "gamma", "power", "stepsize", "max_iter", "momentum",
		"momentum2", "delta", "weight_decay", "iter_size", "iter",
	};
	const msgpack_object *kind = get(s, "kind"), *policy = get(s, "policy");

	fcn_solver_conf_default(c);
	for (int i = 0; i < 11; i++)
		if (as_num(get(s, keys[i]), &v[i]) < 0)
			return fail(err, "%s: solver: '%s' missing or not a number",
				    path, keys[i]);
	c->base_lr = v[0], c->gamma = v[1], c->power = v[2];
	c->stepsize = (long)v[3], c->max_iter = (long)v[4], c->momentum = v[5];
	c->momentum2 = v[6], c->delta = v[7], c->weight_decay = v[8];
	c->iter_size = v[9] >= 1 && v[9] <= 1 << 20 ? (int)v[9] : 0;
	m->info.iter = (long)v[10];
	if (get(s, "warmup")) {
		double w;

		if (as_num(get(s, "warmup"), &w) < 0 || w < 0 || w > 1e12)
			return fail(err, "%s: solver: bad 'warmup'", path);
		c->warmup = (long)w;
	}
	if (!kind || kind->type != MSGPACK_OBJECT_STR || kind->via.str.size >= sizeof name)
		return fail(err, "%s: solver: bad 'kind'", path);
	snprintf(name, sizeof name, "%.*s", (int)kind->via.str.size, kind->via.str.ptr);
	if (fcn_solver_kind_parse(name, &c->kind) < 0)
		return fail(err, "%s: solver: unknown kind '%s'", path, name);
	if (!policy || policy->type != MSGPACK_OBJECT_STR ||
	    policy->via.str.size >= sizeof name)
		return fail(err, "%s: solver: bad 'policy'", path);
	snprintf(name, sizeof name, "%.*s", (int)policy->via.str.size, policy->via.str.ptr);
	if (fcn_lr_policy_parse(name, &c->policy) < 0)
		return fail(err, "%s: solver: unknown policy '%s'", path, name);
	if (!sv || sv->type != MSGPACK_OBJECT_ARRAY || sv->via.array.size > FCN_MAX_STEPVALUES)
		return fail(err, "%s: solver: bad 'stepvalues'", path);
	c->nstepvalues = (int)sv->via.array.size;
	for (int i = 0; i < c->nstepvalues; i++) {
		double x;

		if (as_num(&sv->via.array.ptr[i], &x) < 0)
			return fail(err, "%s: solver: bad 'stepvalues'", path);
		c->stepvalues[i] = (long)x;
	}
	if (fcn_solver_conf_check(c, err) < 0) {
		struct fcn_err e = *err;

		return fail(err, "%s: solver: %s", path, e.msg);
	}
	m->history = get(s, "history");
	if (!m->history)
		return fail(err, "%s: solver: no 'history'", path);
	m->info.has_solver = 1;
	return check_blob_map(m->history, 2, "solver history", path, err);
}

static int read_train(struct fcn_model *m, const msgpack_object *t,
		      const char *path, struct fcn_err *err)
{
	const msgpack_object *cw = get(t, "class_weights");
	double epoch, seed, batch;
	const msgpack_object *so = get(t, "seed");

	if (as_num(get(t, "epoch"), &epoch) < 0 || epoch < 0 ||
	    !so || so->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    as_num(get(t, "batch"), &batch) < 0 || batch < 1 || batch > 1 << 20)
		return fail(err, "%s: 'train' needs epoch, seed and batch", path);
	(void)seed;
	m->info.epoch = (long)epoch;
	m->info.seed = so->via.u64;
	m->info.batch = (int)batch;
	if (str_eq(get(t, "loss"), "dice"))
		m->info.loss = FCN_LOSS_DICE;
	else if (str_eq(get(t, "loss"), "softmax"))
		m->info.loss = FCN_LOSS_SOFTMAX;
	else if (str_eq(get(t, "loss"), "softmax+dice"))
		m->info.loss = FCN_LOSS_SOFTMAX_DICE;
	else
		return fail(err, "%s: train: 'loss' is not softmax, dice or softmax+dice",
			    path);
	if (get(t, "dice_over") && !str_eq(get(t, "dice_over"), "image") &&
	    !str_eq(get(t, "dice_over"), "batch"))
		return fail(err, "%s: train: 'dice_over' is neither image nor batch", path);
	m->info.dice_batch = str_eq(get(t, "dice_over"), "batch");
	if (get(t, "dice_classes") && !str_eq(get(t, "dice_classes"), "union") &&
	    !str_eq(get(t, "dice_classes"), "each"))
		return fail(err, "%s: train: 'dice_classes' is neither union nor each", path);
	m->info.dice_each = str_eq(get(t, "dice_classes"), "each");
	if (get(t, "epoch_size")) {
		double es;

		if (as_num(get(t, "epoch_size"), &es) < 0 || es < 0 || es > 1e12)
			return fail(err, "%s: train: bad 'epoch_size'", path);
		m->info.epoch_size = (long)es;
	}
	if (cw && cw->type == MSGPACK_OBJECT_ARRAY) {
		if (cw->via.array.size > FCN_MAX_CLASSES)
			return fail(err, "%s: train: too many class weights", path);
		m->info.nclass_weights = (int)cw->via.array.size;
		for (uint32_t i = 0; i < cw->via.array.size; i++) {
			double x;

			if (as_num(&cw->via.array.ptr[i], &x) < 0)
				return fail(err, "%s: train: bad class weight", path);
			m->info.class_weights[i] = (float)x;
		}
	} else if (cw && cw->type != MSGPACK_OBJECT_NIL) {
		return fail(err, "%s: train: bad 'class_weights'", path);
	}
	return 0;
}

/* "size" and "meta" of "input", both optional. */
static int read_input_extra(struct fcn_model *m, const msgpack_object *in,
			    const char *path, struct fcn_err *err)
{
	const msgpack_object *sz = get(in, "size"), *me = get(in, "meta");

	if (sz) {
		double h, w;

		if (sz->type != MSGPACK_OBJECT_ARRAY || sz->via.array.size != 2 ||
		    as_num(&sz->via.array.ptr[0], &h) < 0 ||
		    as_num(&sz->via.array.ptr[1], &w) < 0 || h < 0 || w < 0 ||
		    h > 65535 || w > 65535)
			return fail(err, "%s: input: 'size' is not [H, W]", path);
		m->info.height = (int)h;
		m->info.width = (int)w;
	}
	if (!me)
		return 0;
	if (me->type != MSGPACK_OBJECT_MAP)
		return fail(err, "%s: input: 'meta' is not a map", path);
	m->meta_key = calloc(me->via.map.size + 1, sizeof *m->meta_key);
	m->meta_val = calloc(me->via.map.size + 1, sizeof *m->meta_val);
	if (!m->meta_key || !m->meta_val)
		return fail(err, "%s: out of memory", path);
	for (uint32_t i = 0; i < me->via.map.size; i++) {
		m->meta_key[i] = dup_str(&me->via.map.ptr[i].key);
		m->meta_val[i] = dup_str(&me->via.map.ptr[i].val);
		m->info.nmeta = (int)i + 1;
		if (!m->meta_key[i] || !m->meta_val[i])
			return fail(err, "%s: input: 'meta' entry %u is not a string pair",
				    path, i);
	}
	m->info.meta_key = (const char *const *)m->meta_key;
	m->info.meta_val = (const char *const *)m->meta_val;
	return 0;
}

struct fcn_model *fcn_model_read(const char *path, struct fcn_err *err)
{
	struct fcn_model *m = calloc(1, sizeof *m);
	const msgpack_object *root, *o, *in, *tr, *so;
	size_t off = 0;
	double v, ch;
	msgpack_unpack_return ret;

	if (!m) {
		fail(err, "%s: out of memory", path);
		return NULL;
	}
	msgpack_unpacked_init(&m->unpacked);
	if (map_file(m, path, err) < 0)
		goto bad;
	/* declared counts must be backed by bytes before msgpack allocates */
	switch (st_msgpack_check(m->buf, m->len, SIZE_MAX, &off)) {
	case 0:
		fail(err, "%s: truncated model file (%zu bytes)", path, m->len);
		goto bad;
	case -1:
		fail(err, "%s: not a model file (malformed msgpack)", path);
		goto bad;
	}
	off = 0;
	ret = msgpack_unpack_next(&m->unpacked, m->buf, m->len, &off);
	if (ret == MSGPACK_UNPACK_CONTINUE) {
		fail(err, "%s: truncated model file (%zu bytes)", path, m->len);
		goto bad;
	}
	if (ret != MSGPACK_UNPACK_SUCCESS) {
		fail(err, "%s: not a model file (malformed msgpack)", path);
		goto bad;
	}
	root = &m->unpacked.data;
	if (!str_eq(get(root, "format"), FCN_MODEL_FORMAT)) {
		fail(err, "%s: not a model file (no format \"%s\")", path, FCN_MODEL_FORMAT);
		goto bad;
	}
	if (off != m->len) {
		fail(err, "%s: %zu bytes of garbage after the model", path, m->len - off);
		goto bad;
	}
	if (as_num(get(root, "version"), &v) < 0 || v != FCN_MODEL_VERSION) {
		fail(err, "%s: unsupported model version (this program reads %d)",
		     path, FCN_MODEL_VERSION);
		goto bad;
	}
	m->net_text = dup_str(get(root, "net"));
	m->info.net_text = m->net_text;
	if (!m->net_text) {
		fail(err, "%s: no net description", path);
		goto bad;
	}
	in = get(root, "input");
	if (!in || as_num(get(in, "channels"), &ch) < 0 || ch < 1 || ch > 4096 ||
	    as_num(get(in, "scale"), &m->info.scale) < 0 ||
	    as_num(get(in, "shift"), &m->info.shift) < 0 ||
	    !isfinite(m->info.scale) || !isfinite(m->info.shift)) {
		fail(err, "%s: 'input' needs channels, scale and shift", path);
		goto bad;
	}
	m->info.channels = (int)ch;
	if (read_input_extra(m, in, path, err) < 0)
		goto bad;
	m->layers = get(root, "layers");
	if (!m->layers) {
		fail(err, "%s: no 'layers'", path);
		goto bad;
	}
	if (check_blob_map(m->layers, 1, "layers", path, err) < 0)
		goto bad;
	tr = get(root, "train");
	if (!tr || read_train(m, tr, path, err) < 0) {
		if (!tr)
			fail(err, "%s: no 'train'", path);
		goto bad;
	}
	so = get(root, "solver");
	if (so && read_solver(m, so, path, err) < 0)
		goto bad;
	o = get(root, "log");
	if (o) {
		m->log = dup_str(o);
		if (!m->log) {
			fail(err, "%s: 'log' is not a string", path);
			goto bad;
		}
		m->info.log = m->log;
	}
	return m;
bad:
	fcn_model_free(m);
	return NULL;
}

void fcn_model_free(struct fcn_model *m)
{
	if (!m)
		return;
	msgpack_unpacked_destroy(&m->unpacked);
	if (m->mapped)
		munmap(m->buf, m->len);
	else
		free(m->buf);
	free(m->net_text);
	free(m->log);
	for (int i = 0; i < m->info.nmeta; i++) {
		free(m->meta_key[i]);
		free(m->meta_val[i]);
	}
	free(m->meta_key);
	free(m->meta_val);
	free(m);
}

const struct fcn_model_info *fcn_model_info(const struct fcn_model *m)
{
	return &m->info;
}

/* The array stored under layer in map, NULL if none. */
static const msgpack_object *layer_entry(const msgpack_object *map, const char *layer)
{
	return map ? get(map, layer) : NULL;
}

const void *fcn_model_blob(const struct fcn_model *m, const char *layer,
			   int index, int shape[4], size_t *count)
{
	const msgpack_object *a = layer_entry(m->layers, layer);
	const void *data;
	const char *why;
	int sh[4];
	size_t n;

	if (!a || index < 0 || (uint32_t)index >= a->via.array.size)
		return NULL;
	if (check_tensor(&a->via.array.ptr[index], sh, &data, &n, &why) < 0)
		return NULL;
	if (shape)
		memcpy(shape, sh, sizeof sh);
	if (count)
		*count = n;
	return data;
}

static int same_shape(const int shape[4], const struct fcn_blob *b)
{
	return shape[0] == b->n && shape[1] == b->c && shape[2] == b->h &&
	       shape[3] == b->w;
}

static void append(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (!buf || !len)
		return;
	used = strlen(buf);
	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

long fcn_model_load_weights(const struct fcn_model *m, struct fcn_net *net,
			    int strict, char *skipped, size_t skipped_len,
			    struct fcn_err *err)
{
	size_t np = fcn_net_nparams(net);
	long copied = 0;

	if (skipped && skipped_len)
		skipped[0] = 0;
	for (size_t i = 0; i < np; i++) {
		struct fcn_param *p = fcn_net_param(net, i);
		struct fcn_blob *b = p->blob;
		int shape[4];
		size_t n;
		const void *data = fcn_model_blob(m, p->layer, p->index, shape, &n);
		char why[96];

		if (b->dev != FCN_CPU)
			return fail(err, "parameter %s is not in host memory", p->layer);
		if (data && same_shape(shape, b)) {
			memcpy(b->data, data, n * sizeof(float));
			copied++;
			continue;
		}
		if (!data)
			snprintf(why, sizeof why, "not in the model");
		else
			snprintf(why, sizeof why, "model %dx%dx%dx%d, net %dx%dx%dx%d",
				 shape[0], shape[1], shape[2], shape[3], b->n, b->c,
				 b->h, b->w);
		if (strict)
			return fail(err, "layer '%s' blob %d: %s", p->layer, p->index, why);
		append(skipped, skipped_len, "%s%s[%d] (%s)",
		       skipped && skipped[0] ? ", " : "", p->layer, p->index, why);
	}
	return copied;
}

int fcn_model_load_solver(const struct fcn_model *m, struct fcn_net *net,
			  struct fcn_solver *solver, struct fcn_err *err)
{
	size_t np = fcn_net_nparams(net);
	int nh = fcn_solver_nhistory(solver);

	if (!m->info.has_solver)
		return fail(err, "the model holds no solver state");
	if (m->info.solver.kind != fcn_solver_conf(solver)->kind)
		return fail(err, "the model's solver is %s, not %s",
			    fcn_solver_kind_name(m->info.solver.kind),
			    fcn_solver_kind_name(fcn_solver_conf(solver)->kind));
	for (size_t i = 0; i < np; i++) {
		struct fcn_param *p = fcn_net_param(net, i);
		const msgpack_object *a = layer_entry(m->history, p->layer), *hs;

		if (!a || (uint32_t)p->index >= a->via.array.size)
			return fail(err, "solver history: no layer '%s' blob %d",
				    p->layer, p->index);
		hs = &a->via.array.ptr[p->index];
		if (hs->via.array.size != (uint32_t)nh)
			return fail(err, "solver history: layer '%s' blob %d has %u arrays, not %d",
				    p->layer, p->index, hs->via.array.size, nh);
		for (int h = 0; h < nh; h++) {
			int shape[4];
			const void *data;
			size_t n, want;
			const char *why;
			float *dst = fcn_solver_history(solver, i, h, &want);

			if (check_tensor(&hs->via.array.ptr[h], shape, &data, &n, &why) < 0 ||
			    !dst || n != want || !same_shape(shape, p->blob))
				return fail(err, "solver history: layer '%s' blob %d: shape differs from the net",
					    p->layer, p->index);
			memcpy(dst, data, n * sizeof(float));
		}
	}
	fcn_solver_set_iter(solver, m->info.iter);
	return 0;
}
