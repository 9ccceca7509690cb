/*
 * net.c - a net: layers in description order over named blobs.  Parses the
 * description (phase/stage include rules, in-place layers, deploy pruning),
 * propagates shapes, and runs the forward and backward loops.
 *
 * Stages follow DIGITS: FCN_TRAIN has stage "train", FCN_TEST "val",
 * FCN_DEPLOY (phase TEST) "deploy".
 */
#include <cblas.h>
#include <errno.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "layer.h"
#include "threads.h"

struct named_blob {
	char *name;
	struct fcn_blob *blob;
	int need_diff; /* some layer must compute its gradient */
	int written;   /* backward: diff holds a value already */
};

struct fcn_net {
	char *text;
	char *name;
	enum fcn_phase phase;
	struct fcn_layer **layers;
	size_t nlayers;
	struct named_blob *blobs;
	size_t nblobs;
	struct fcn_param **params;
	size_t nparams;
	char *input_name, *label_name, *output_name;
	int shaped;
	float *work;
	size_t work_cap;
	struct fcn_rng rng;
	float *class_weights;
	int nclass_weights;
	enum fcn_loss loss_kind;
	int dice_batch;
	int dice_each;
};

static int net_error(struct fcn_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int net_error(struct fcn_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* The text goes to a temporary first: an argument may point into err->msg. */
int fcn_layer_error(const struct fcn_layer *l, struct fcn_err *err,
		    const char *fmt, ...)
{
	char body[sizeof err->msg];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	memcpy(err->msg, body, sizeof body);
	return fcn_layer_wrap(l, err);
}

int fcn_err_prefix(struct fcn_err *err, const char *fmt, ...)
{
	char pre[sizeof err->msg];
	size_t k, n;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	if (rc <= 0)
		return -1;
	k = strlen(pre);
	if (k >= sizeof err->msg - 1) /* no room for the reason: keep it alone */
		return -1;
	n = strnlen(err->msg, sizeof err->msg - 1);
	if (k + n > sizeof err->msg - 1) /* the reason's tail gives way */
		n = sizeof err->msg - 1 - k;
	memmove(err->msg + k, err->msg, n);
	memcpy(err->msg, pre, k);
	err->msg[k + n] = '\0';
	return -1;
}

int fcn_layer_wrap(const struct fcn_layer *l, struct fcn_err *err)
{
	return fcn_err_prefix(err, "layer '%s' (%s): ", l->name, l->ops->type);
}

/* --- settings -------------------------------------------------------------- */
void fcn_set_threads(int n)
{
	if (n <= 0)
		n = omp_get_num_procs();
	omp_set_num_threads(n); /* for OpenMP code around the engine */
	/* the engine's own pool splits GEMMs over threads; BLAS stays serial */
	openblas_set_num_threads(1);
	fcn_pool_resize(n);
}

int fcn_get_threads(void)
{
	return fcn_pool_threads();
}

/* --- blobs by name ----------------------------------------------------------- */
static struct named_blob *find_blob(const struct fcn_net *net, const char *name)
{
	for (size_t i = 0; i < net->nblobs; i++)
		if (!strcmp(net->blobs[i].name, name))
			return &net->blobs[i];
	return NULL;
}

static struct named_blob *add_blob(struct fcn_net *net, const char *name,
				   struct fcn_err *err)
{
	struct named_blob *nb = realloc(net->blobs, (net->nblobs + 1) * sizeof *nb);

	if (!nb)
		goto nomem;
	net->blobs = nb;
	nb = &net->blobs[net->nblobs];
	memset(nb, 0, sizeof *nb);
	nb->name = strdup(name);
	nb->blob = fcn_blob_create();
	if (!nb->name || !nb->blob) {
		free(nb->name);
		fcn_blob_free(nb->blob);
		goto nomem;
	}
	net->nblobs++;
	return nb;
nomem:
	net_error(err, "out of memory");
	return NULL;
}

struct fcn_blob *fcn_net_blob(struct fcn_net *net, const char *name)
{
	struct named_blob *nb = name ? find_blob(net, name) : NULL;

	return nb ? nb->blob : NULL;
}

size_t fcn_net_nblobs(const struct fcn_net *net)
{
	return net->nblobs;
}

struct fcn_blob *fcn_net_blob_at(struct fcn_net *net, size_t i,
				 const char **name)
{
	if (i >= net->nblobs)
		return NULL;
	if (name)
		*name = net->blobs[i].name;
	return net->blobs[i].blob;
}

/* --- layer rules --------------------------------------------------------------- */
static const char *phase_stage(enum fcn_phase p)
{
	return p == FCN_TRAIN ? "train" : p == FCN_TEST ? "val" : "deploy";
}

/* 1 when the NetStateRule msg matches the net's state, 0 if not, -1 error. */
static int rule_matches(struct pb_node *rule, enum fcn_phase phase,
			struct fcn_err *err)
{
	static const char *const phases[] = { "TRAIN", "TEST", NULL };
	int ph = -1, lvl = 0, match = 1;
	const char *stage = phase_stage(phase);
	struct pb_node *s;

	if (pb_get_enum(rule, "phase", phases, &ph, err) < 0)
		return -1;
	if (ph >= 0 && ph != (phase == FCN_TRAIN ? 0 : 1))
		match = 0;
	for (int i = 0; (s = pb_nth(rule, "stage", i)); i++)
		if (!s->value || strcmp(s->value, stage))
			match = 0;
	for (int i = 0; (s = pb_nth(rule, "not_stage", i)); i++)
		if (s->value && !strcmp(s->value, stage))
			match = 0;
	lvl = 0;
	if (pb_get_int(rule, "min_level", -1000000, 1000000, &lvl, err) < 0)
		return -1;
	if (lvl > 0)
		match = 0;
	lvl = 0;
	if (pb_get_int(rule, "max_level", -1000000, 1000000, &lvl, err) < 0)
		return -1;
	if (lvl < 0)
		match = 0;
	if (pb_check_used(rule, "a net state rule", err) < 0)
		return -1;
	return match;
}

static int layer_included(struct pb_node *node, enum fcn_phase phase,
			  struct fcn_err *err)
{
	int ninc = pb_count(node, "include"), any = 0, m;
	struct pb_node *r;

	for (int i = 0; (r = pb_nth(node, "include", i)); i++) {
		if ((m = rule_matches(r, phase, err)) < 0)
			return -1;
		any |= m;
	}
	if (ninc && !any)
		return 0;
	for (int i = 0; (r = pb_nth(node, "exclude", i)); i++) {
		if ((m = rule_matches(r, phase, err)) < 0)
			return -1;
		if (m)
			return 0;
	}
	return 1;
}

static int is_input_kind(const struct fcn_layer_ops *ops)
{
	return ops == &fcn_input_ops || ops == &fcn_data_ops;
}

static void layer_free(struct fcn_layer *l)
{
	if (!l)
		return;
	if (l->ops && l->ops->free)
		l->ops->free(l);
	else
		free(l->priv);
	for (int i = 0; i < l->nparam; i++) {
		fcn_blob_free(l->param[i].blob);
	}
	free(l->name);
	free(l->bottom);
	free(l->top);
	free(l->accum);
	free(l->need_diff);
	free(l);
}

/* Reads the layer fields common to all kinds, then the kind's own. */
static struct fcn_layer *layer_parse(struct fcn_net *net, struct pb_node *node,
				     struct fcn_err *err)
{
	struct fcn_layer *l = calloc(1, sizeof *l);
	const char *name = NULL, *type = NULL;
	struct pb_node *p;
	int nlw;
	float lw[4];

	if (!l) {
		net_error(err, "out of memory");
		return NULL;
	}
	l->net = net;
	l->line = node->line;
	l->phase = net->phase;
	if (pb_get_str(node, "name", &name, err) < 0 ||
	    pb_get_str(node, "type", &type, err) < 0)
		goto fail;
	if (!type) {
		pb_error(node, err, "layer '%s' has no type", name ? name : "");
		goto fail;
	}
	l->ops = fcn_layer_kind(type);
	if (!l->ops) {
		pb_error(pb_nth(node, "type", 0), err, "unknown layer type '%s'",
			 type);
		goto fail;
	}
	l->name = strdup(name ? name : type);
	if (!l->name) {
		net_error(err, "out of memory");
		goto fail;
	}
	for (int i = 0; i < FCN_MAX_PARAMS; i++) {
		l->param[i].layer = l->name;
		l->param[i].index = i;
		l->param[i].lr_mult = 1;
		l->param[i].decay_mult = 1;
	}
	for (int i = 0; (p = pb_nth(node, "param", i)); i++) {
		const char *share = NULL;

		if (i >= FCN_MAX_PARAMS) {
			pb_error(p, err, "too many param blocks");
			goto fail;
		}
		if (pb_get_float(p, "lr_mult", &l->param[i].lr_mult, err) < 0 ||
		    pb_get_float(p, "decay_mult", &l->param[i].decay_mult, err) < 0 ||
		    pb_get_str(p, "name", &share, err) < 0)
			goto fail;
		if (share) {
			pb_error(p, err, "shared parameters ('%s') are not supported",
				 share);
			goto fail;
		}
		if (pb_check_used(p, "param", err) < 0)
			goto fail;
	}
	l->loss_weight = l->ops == &fcn_softmax_loss_ops ? 1.0f : 0.0f;
	if (pb_get_floats(node, "loss_weight", lw, 4, &nlw, err) < 0)
		goto fail;
	if (nlw > 0)
		l->loss_weight = lw[0];
	/* propagate_down: false means no gradient into that bottom */
	if (pb_get_bools(node, "propagate_down", l->prop_down, 16, &l->nprop_down,
			 err) < 0)
		goto fail;
	if (l->ops->parse && l->ops->parse(l, node, err) < 0)
		goto fail;
	return l;
fail:
	layer_free(l);
	return NULL;
}

static int push_layer(struct fcn_net *net, struct fcn_layer *l,
		      struct fcn_err *err)
{
	struct fcn_layer **ls = realloc(net->layers, (net->nlayers + 1) * sizeof *ls);

	if (!ls)
		return net_error(err, "out of memory");
	net->layers = ls;
	ls[net->nlayers++] = l;
	return 0;
}

/* Connects l's bottoms and tops to blobs; *dropped = 1 when in a deploy net
 * a bottom is missing (the layer is then not added). */
static int layer_connect(struct fcn_net *net, struct fcn_layer *l,
			 struct pb_node *node, int *dropped, struct fcn_err *err)
{
	int nb = pb_count(node, "bottom"), nt = pb_count(node, "top");
	struct pb_node *f;

	*dropped = 0;
	if (nb < l->ops->min_bottom || nb > l->ops->max_bottom)
		return pb_error(node, err, "layer '%s' (%s) needs %d..%d bottoms, not %d",
				l->name, l->ops->type, l->ops->min_bottom,
				l->ops->max_bottom, nb);
	if (is_input_kind(l->ops) && net->phase == FCN_DEPLOY) {
		/* deploy: only the image input survives */
		for (int i = 0; i < nt; i++)
			pb_nth(node, "top", i);
		if (net->input_name) {
			*dropped = 1;
			return 0;
		}
		nt = nt > 1 ? 1 : nt;
	}
	if (nt < l->ops->min_top || nt > l->ops->max_top)
		return pb_error(node, err, "layer '%s' (%s) needs %d..%d tops, not %d",
				l->name, l->ops->type, l->ops->min_top,
				l->ops->max_top, nt);
	l->bottom = calloc((size_t)nb + 1, sizeof *l->bottom);
	l->top = calloc((size_t)nt + 1, sizeof *l->top);
	l->accum = calloc((size_t)nb + 1, sizeof *l->accum);
	l->need_diff = calloc((size_t)nb + 1, sizeof *l->need_diff);
	if (!l->bottom || !l->top || !l->accum || !l->need_diff)
		return net_error(err, "out of memory");
	for (int i = 0; i < nb; i++) {
		struct named_blob *b;

		f = pb_nth(node, "bottom", i);
		b = f->value ? find_blob(net, f->value) : NULL;
		if (!b) {
			if (net->phase == FCN_DEPLOY) {
				*dropped = 1;
				return 0;
			}
			return pb_error(f, err, "layer '%s': unknown bottom blob '%s'",
					l->name, f->value ? f->value : "");
		}
		l->bottom[i] = b->blob;
	}
	l->nbottom = nb;
	for (int i = 0; i < nt; i++) {
		struct named_blob *b;
		int inplace = 0;

		f = pb_nth(node, "top", i);
		if (!f->value)
			return pb_error(f, err, "top needs a blob name");
		b = find_blob(net, f->value);
		for (int j = 0; j < nb; j++)
			if (b && l->bottom[j] == b->blob)
				inplace = 1;
		if (b && !inplace)
			return pb_error(f, err, "blob '%s' is made by two layers",
					f->value);
		if (!b && !(b = add_blob(net, f->value, err)))
			return -1;
		l->top[i] = b->blob;
	}
	l->ntop = nt;
	if (is_input_kind(l->ops)) {
		for (int i = 0; i < nt; i++) {
			f = pb_nth(node, "top", i);
			char **slot = !net->input_name ? &net->input_name :
				      !net->label_name ? &net->label_name : NULL;

			if (!slot)
				return pb_error(f, err, "a third input blob '%s' (only data and label are fed)",
						f->value);
			if (!(*slot = strdup(f->value)))
				return net_error(err, "out of memory");
		}
	}
	return 0;
}

/* Which blobs need gradients, and which layers need a backward pass. */
static void mark_backward(struct fcn_net *net)
{
	for (size_t i = 0; i < net->nlayers; i++) {
		struct fcn_layer *l = net->layers[i];
		int need = l->nparam > 0;

		for (int j = 0; j < l->nbottom; j++) {
			struct named_blob *nb = NULL;

			for (size_t k = 0; k < net->nblobs; k++)
				if (net->blobs[k].blob == l->bottom[j])
					nb = &net->blobs[k];
			l->need_diff[j] = nb && nb->need_diff &&
					  (j >= l->nprop_down || l->prop_down[j]);
			need |= l->need_diff[j];
		}
		l->need_backward = need && l->ops->backward;
		for (int j = 0; j < l->ntop; j++)
			for (size_t k = 0; k < net->nblobs; k++)
				if (net->blobs[k].blob == l->top[j] && l->need_backward)
					net->blobs[k].need_diff = 1;
	}
}

static int collect_params(struct fcn_net *net, struct fcn_err *err)
{
	size_t n = 0;

	for (size_t i = 0; i < net->nlayers; i++)
		n += (size_t)net->layers[i]->nparam;
	net->params = calloc(n + 1, sizeof *net->params);
	if (!net->params)
		return net_error(err, "out of memory");
	for (size_t i = 0; i < net->nlayers; i++)
		for (int j = 0; j < net->layers[i]->nparam; j++) {
			struct fcn_param *p = &net->layers[i]->param[j];

			if (!p->blob && !(p->blob = fcn_blob_create()))
				return net_error(err, "out of memory");
			net->params[net->nparams++] = p;
		}
	return 0;
}

struct fcn_net *fcn_net_parse(const char *text, const char *path,
			      enum fcn_phase phase, struct fcn_err *err)
{
	struct fcn_net *net = calloc(1, sizeof *net);
	struct pb_node *root = NULL, *node;
	const char *name = "", *loss_bottom = NULL;
	char *loss_bottom_copy = NULL;
	int flag = 0; /* force_backward, debug_info: accepted, no effect */

	if (!net || !(net->text = strdup(text))) {
		net_error(err, "out of memory");
		goto fail;
	}
	net->phase = phase;
	net->rng.s = 1;
	if (!(root = pb_parse(text, path, err)))
		goto fail;
	if (pb_get_str(root, "name", &name, err) < 0 ||
	    pb_get_bool(root, "force_backward", &flag, err) < 0 ||
	    pb_get_bool(root, "debug_info", &flag, err) < 0)
		goto fail;
	if (!(net->name = strdup(name))) {
		net_error(err, "out of memory");
		goto fail;
	}
	if ((node = pb_nth(root, "layer", FCN_MAX_LAYERS))) {
		pb_error(node, err, "more than %d layers", FCN_MAX_LAYERS);
		goto fail;
	}
	for (int i = 0; (node = pb_nth(root, "layer", i)); i++) {
		struct fcn_layer *l;
		int inc, dropped;

		if (!node->child && node->value) {
			pb_error(node, err, "'layer' must be a message");
			goto fail;
		}
		if ((inc = layer_included(node, phase, err)) < 0)
			goto fail;
		if (!inc) {
			pb_mark_all(node);
			continue;
		}
		if (!(l = layer_parse(net, node, err)))
			goto fail;
		if (l->ops == &fcn_softmax_loss_ops && !loss_bottom) {
			struct pb_node *b = pb_nth(node, "bottom", 0);

			loss_bottom = b ? b->value : NULL;
			if (loss_bottom && !(loss_bottom_copy = strdup(loss_bottom))) {
				layer_free(l);
				net_error(err, "out of memory");
				goto fail;
			}
		}
		if (layer_connect(net, l, node, &dropped, err) < 0) {
			layer_free(l);
			goto fail;
		}
		if (dropped) { /* deploy: fields were checked by the parse */
			pb_mark_all(node);
			layer_free(l);
			continue;
		}
		if (pb_check_used(node, "layer", err) < 0) {
			layer_free(l);
			goto fail;
		}
		if (push_layer(net, l, err) < 0) {
			layer_free(l);
			goto fail;
		}
	}
	if (pb_check_used(root, "the net", err) < 0)
		goto fail;
	if (!net->nlayers || !net->input_name) {
		net_error(err, "%s: the net has no Input or Data layer", path);
		goto fail;
	}
	if (loss_bottom_copy && find_blob(net, loss_bottom_copy)) {
		net->output_name = loss_bottom_copy;
		loss_bottom_copy = NULL;
	} else {
		struct fcn_layer *last = net->layers[net->nlayers - 1];
		const char *out = NULL;

		for (size_t k = 0; k < net->nblobs; k++)
			if (last->ntop && net->blobs[k].blob == last->top[0])
				out = net->blobs[k].name;
		if (out && !(net->output_name = strdup(out))) {
			net_error(err, "out of memory");
			goto fail;
		}
	}
	mark_backward(net);
	if (collect_params(net, err) < 0)
		goto fail;
	free(loss_bottom_copy);
	pb_free(root);
	return net;
fail:
	free(loss_bottom_copy);
	pb_free(root);
	fcn_net_free(net);
	return NULL;
}

struct fcn_net *fcn_net_load(const char *path, enum fcn_phase phase,
			     struct fcn_err *err)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len = 0, cap = 0;
	struct fcn_net *net = NULL;

	if (!f) {
		net_error(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *t = realloc(text, cap = 2 * cap + 8192);

			if (!t) {
				net_error(err, "%s: out of memory", path);
				goto out;
			}
			text = t;
		}
		size_t k = fread(text + len, 1, cap - len - 1, f);

		len += k;
		if (k == 0)
			break;
	}
	if (ferror(f)) {
		net_error(err, "%s: read error", path);
		goto out;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		net_error(err, "%s: a NUL byte in a text file", path);
		goto out;
	}
	net = fcn_net_parse(text, path, phase, err);
out:
	free(text);
	fclose(f);
	return net;
}

void fcn_net_free(struct fcn_net *net)
{
	if (!net)
		return;
	for (size_t i = 0; i < net->nlayers; i++)
		layer_free(net->layers[i]);
	for (size_t i = 0; i < net->nblobs; i++) {
		free(net->blobs[i].name);
		fcn_blob_free(net->blobs[i].blob);
	}
	free(net->layers);
	free(net->blobs);
	free(net->params);
	free(net->text);
	free(net->name);
	free(net->input_name);
	free(net->label_name);
	free(net->output_name);
	free(net->work);
	free(net->class_weights);
	free(net);
}

/* --- shapes ------------------------------------------------------------------ */
int fcn_layer_param_shape(struct fcn_layer *l, int i, int n, int c, int h,
			  int w, struct fcn_err *err)
{
	struct fcn_blob *b = l->param[i].blob;
	char s1[64], s2[64];

	if (!b)
		return fcn_layer_error(l, err, "parameter %d missing", i);
	if (b->data) {
		if (b->n == n && b->c == c && b->h == h && b->w == w)
			return 0;
		struct fcn_blob want = { .n = n, .c = c, .h = h, .w = w };

		return fcn_layer_error(l, err, "parameter %d would change shape from %s to %s (input channels changed?)",
				       i, fcn_blob_shape_str(b, s1, sizeof s1),
				       fcn_blob_shape_str(&want, s2, sizeof s2));
	}
	if (fcn_blob_reshape(b, n, c, h, w, l->phase == FCN_TRAIN, err) < 0)
		return fcn_layer_wrap(l, err);
	return 0;
}

int fcn_net_reshape(struct fcn_net *net, int n, int c, int h, int w,
		    struct fcn_err *err)
{
	int with_diff = net->phase == FCN_TRAIN;

	if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
		return net_error(err, "bad input shape %dx%dx%dx%d", n, c, h, w);
	for (size_t i = 0; i < net->nblobs; i++) {
		struct named_blob *nb = &net->blobs[i];
		int isin = !strcmp(nb->name, net->input_name);
		int islab = net->label_name && !strcmp(nb->name, net->label_name);

		if ((isin || islab) &&
		    fcn_blob_reshape(nb->blob, n, isin ? c : 1, h, w, 0, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < net->nlayers; i++) {
		struct fcn_layer *l = net->layers[i];

		if (l->ops->reshape && l->ops->reshape(l, err) < 0)
			return -1;
		for (int j = 0; j < l->ntop; j++) {
			struct fcn_blob *t = l->top[j];

			if (with_diff && !is_input_kind(l->ops) &&
			    fcn_blob_reshape(t, t->n, t->c, t->h, t->w, 1, err) < 0)
				return fcn_layer_wrap(l, err);
		}
	}
	if (net->phase != FCN_TRAIN)
		fcn_fuse_layers(net->layers, net->nlayers);
	else
		fcn_fuse_train(net->layers, net->nlayers);
	net->shaped = 1;
	return 0;
}

int fcn_net_fill(struct fcn_net *net, uint64_t seed, struct fcn_err *err)
{
	if (!net->shaped)
		return net_error(err, "fcn_net_fill: call fcn_net_reshape first");
	for (size_t i = 0; i < net->nlayers; i++) {
		struct fcn_layer *l = net->layers[i];
		/* each layer its own stream: adding a layer does not shift others */
		uint64_t s = seed * 0x9e3779b97f4a7c15ULL + i * 0x2545f4914f6cdd1dULL;

		if (l->ops->fill && l->ops->fill(l, s, err) < 0)
			return -1;
	}
	return 0;
}

/* --- running ------------------------------------------------------------------- */
int fcn_net_forward(struct fcn_net *net, float *loss, struct fcn_err *err)
{
	double sum = 0;

	if (!net->shaped)
		return net_error(err, "fcn_net_forward: call fcn_net_reshape first");
	for (size_t i = 0; i < net->nlayers; i++) {
		struct fcn_layer *l = net->layers[i];

		double t0 = omp_get_wtime();

		if (l->fused)
			continue;
		if (l->ops->forward && l->ops->forward(l, err) < 0)
			return -1;
		l->time_fwd += omp_get_wtime() - t0;
		if (l->loss_weight != 0)
			sum += l->loss_weight * l->value;
	}
	if (loss)
		*loss = (float)sum;
	return 0;
}

static struct named_blob *blob_entry(struct fcn_net *net, struct fcn_blob *b)
{
	for (size_t k = 0; k < net->nblobs; k++)
		if (net->blobs[k].blob == b)
			return &net->blobs[k];
	return NULL;
}

static int ensure_diff(struct fcn_blob *b, struct fcn_err *err)
{
	if (b->diff)
		return 0;
	return fcn_blob_reshape(b, b->n, b->c, b->h, b->w, 1, err);
}

int fcn_net_backward(struct fcn_net *net, struct fcn_err *err)
{
	if (!net->shaped)
		return net_error(err, "fcn_net_backward: call fcn_net_reshape first");
	for (size_t k = 0; k < net->nblobs; k++)
		net->blobs[k].written = 0;
	for (size_t i = net->nlayers; i-- > 0;) {
		struct fcn_layer *l = net->layers[i];

		if (!l->need_backward)
			continue;
		if (l->fused == 2)
			return fcn_layer_error(l, err, "backward through a layer folded into a convolution (run with FCN_KERNELS=reference)");
		for (int j = 0; j < l->nparam; j++)
			if (ensure_diff(l->param[j].blob, err) < 0)
				return -1;
		if (l->fused == 3) /* done by the earlier layer it is folded into */
			continue;
		for (int j = 0; j < l->ntop; j++) {
			struct named_blob *t = blob_entry(net, l->top[j]);

			if (ensure_diff(t->blob, err) < 0)
				return -1;
			if (!t->written && l->loss_weight == 0) {
				memset(t->blob->diff, 0,
				       fcn_blob_count(t->blob) * sizeof(float));
				t->written = 1;
			}
		}
		for (int j = 0; j < l->nbottom; j++) {
			struct named_blob *b = blob_entry(net, l->bottom[j]);
			int inplace = 0;

			if (!l->need_diff[j])
				continue;
			if (ensure_diff(b->blob, err) < 0)
				return -1;
			for (int t = 0; t < l->ntop; t++)
				inplace |= l->top[t] == l->bottom[j];
			l->accum[j] = inplace ? 0 : b->written;
			b->written = 1;
		}
		double t0 = omp_get_wtime();

		if (l->ops->backward(l, err) < 0)
			return -1;
		l->time_bwd += omp_get_wtime() - t0;
	}
	return 0;
}

void fcn_net_zero_diffs(struct fcn_net *net)
{
	for (size_t i = 0; i < net->nparams; i++) {
		struct fcn_blob *b = net->params[i]->blob;

		if (b->diff)
			memset(b->diff, 0, fcn_blob_count(b) * sizeof(float));
	}
}

float *fcn_net_workspace(struct fcn_net *net, size_t nfloats,
			 struct fcn_err *err)
{
	if (nfloats > net->work_cap || !net->work) {
		float *w = fcn_alloc_floats(nfloats);

		if (!w) {
			net_error(err, "out of memory for a %zu-float workspace",
				  nfloats);
			return NULL;
		}
		free(net->work);
		net->work = w;
		net->work_cap = nfloats;
	}
	return net->work;
}

struct fcn_rng *fcn_net_rng(struct fcn_net *net)
{
	return &net->rng;
}

/* --- accessors ------------------------------------------------------------------ */
size_t fcn_net_nparams(const struct fcn_net *net)
{
	return net->nparams;
}

struct fcn_param *fcn_net_param(struct fcn_net *net, size_t i)
{
	return i < net->nparams ? net->params[i] : NULL;
}

struct fcn_param *fcn_net_param_find(struct fcn_net *net, const char *layer,
				     int index)
{
	for (size_t i = 0; i < net->nparams; i++)
		if (!strcmp(net->params[i]->layer, layer) &&
		    net->params[i]->index == index)
			return net->params[i];
	return NULL;
}

const char *fcn_net_input_name(const struct fcn_net *net)
{
	return net->input_name;
}

const char *fcn_net_label_name(const struct fcn_net *net)
{
	return net->label_name;
}

const char *fcn_net_output_name(const struct fcn_net *net)
{
	return net->output_name;
}

const char *fcn_net_name(const struct fcn_net *net)
{
	return net->name;
}

const char *fcn_net_text(const struct fcn_net *net)
{
	return net->text;
}

enum fcn_phase fcn_net_phase(const struct fcn_net *net)
{
	return net->phase;
}

size_t fcn_net_nlayers(const struct fcn_net *net)
{
	return net->nlayers;
}

const char *fcn_net_layer_name(const struct fcn_net *net, size_t i,
			       const char **type)
{
	if (i >= net->nlayers)
		return NULL;
	if (type)
		*type = net->layers[i]->ops->type;
	return net->layers[i]->name;
}

int fcn_net_layer_time(const struct fcn_net *net, size_t i, double *fwd_s,
		       double *bwd_s)
{
	if (i >= net->nlayers)
		return -1;
	*fwd_s = net->layers[i]->time_fwd;
	*bwd_s = net->layers[i]->time_bwd;
	return 0;
}

int fcn_net_metric(const struct fcn_net *net, const char *layer_type,
		   double *value)
{
	for (size_t i = 0; i < net->nlayers; i++)
		if (!strcmp(net->layers[i]->ops->type, layer_type) ||
		    (net->layers[i]->ops == &fcn_python_ops &&
		     !strcmp(layer_type, "Dice"))) {
			*value = net->layers[i]->value;
			return 0;
		}
	return -1;
}

int fcn_net_set_class_weights(struct fcn_net *net, const float *w, int k,
			      struct fcn_err *err)
{
	float *c = NULL;

	if (w) {
		if (k <= 0 || k > 1 << 16)
			return net_error(err, "bad number of class weights %d", k);
		for (int i = 0; i < k; i++)
			if (!(w[i] >= 0))
				return net_error(err, "class weight %d is %g (must be >= 0)",
						 i, (double)w[i]);
		if (!(c = malloc((size_t)k * sizeof *c)))
			return net_error(err, "out of memory");
		memcpy(c, w, (size_t)k * sizeof *c);
	}
	free(net->class_weights);
	net->class_weights = c;
	net->nclass_weights = w ? k : 0;
	return 0;
}

const float *fcn_net_class_weights(const struct fcn_net *net, int *k)
{
	*k = net->nclass_weights;
	return net->class_weights;
}

int fcn_net_set_loss(struct fcn_net *net, enum fcn_loss kind,
		     struct fcn_err *err)
{
	int found = 0;

	for (size_t i = 0; i < net->nlayers; i++)
		found |= net->layers[i]->ops == &fcn_softmax_loss_ops;
	if (!found)
		return net_error(err, "the net has no SoftmaxWithLoss layer");
	if (kind != FCN_LOSS_SOFTMAX && kind != FCN_LOSS_DICE &&
	    kind != FCN_LOSS_SOFTMAX_DICE)
		return net_error(err, "unknown loss kind %d", (int)kind);
	net->loss_kind = kind;
	return 0;
}

enum fcn_loss fcn_net_loss_kind(const struct fcn_net *net)
{
	return net->loss_kind;
}

static const char *const loss_names[] = {"softmax", "dice", "softmax+dice"};

int fcn_loss_parse(const char *name, enum fcn_loss *kind)
{
	for (size_t i = 0; i < sizeof loss_names / sizeof *loss_names; i++)
		if (!strcmp(name, loss_names[i])) {
			*kind = (enum fcn_loss)i;
			return 0;
		}
	return -1;
}

const char *fcn_loss_name(enum fcn_loss kind)
{
	return (unsigned)kind < sizeof loss_names / sizeof *loss_names ?
		       loss_names[kind] : "?";
}

void fcn_net_set_dice_batch(struct fcn_net *net, int batch)
{
	net->dice_batch = batch != 0;
}

int fcn_net_dice_batch(const struct fcn_net *net)
{
	return net->dice_batch;
}

void fcn_net_set_dice_each(struct fcn_net *net, int each)
{
	net->dice_each = each != 0;
}

int fcn_net_dice_each(const struct fcn_net *net)
{
	return net->dice_each;
}

void fcn_net_set_seed(struct fcn_net *net, uint64_t seed)
{
	net->rng.s = seed;
}
