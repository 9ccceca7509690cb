/*
 * caffemodel.c - Caffe's .caffemodel: a bounded protobuf wire-format reader
 * (our own: varints, length-delimited fields, fixed32/64; see caffemodel.h
 * for the bounds), loading into a net, and the encoder for export.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caffemodel.h"

/* --- the wire format ---------------------------------------------------- */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct rd {
	const uint8_t *base, *p, *end;
	const char *path;
	struct fcn_err *err;
};

static int rd_error(struct rd *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int rd_error(struct rd *r, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(r->err->msg, sizeof r->err->msg, "%s: offset %zu: %s", r->path,
		 (size_t)(r->p - r->base), what);
	return -1;
}

static int rd_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (int i = 0; i < 10; i++) {
		if (r->p >= r->end)
			return rd_error(r, "truncated varint");
		uint8_t b = *r->p++;

		if (i == 9 && b > 1)
			return rd_error(r, "varint longer than 64 bits");
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return rd_error(r, "varint longer than 10 bytes");
}

/* Next key: field number and wire type; 0 at the end, -1 on error. */
static int rd_key(struct rd *r, uint32_t *field, int *wt)
{
	uint64_t k;

	if (r->p == r->end)
		return 0;
	if (rd_varint(r, &k) < 0)
		return -1;
	*field = (uint32_t)(k >> 3);
	*wt = (int)(k & 7);
	if (k >> 3 == 0 || k >> 3 > 536870911u)
		return rd_error(r, "bad field number %llu", (unsigned long long)(k >> 3));
	return 1;
}

/* A length-delimited payload as a sub-reader; the length must fit. */
static int rd_sub(struct rd *r, struct rd *sub)
{
	uint64_t n;

	if (rd_varint(r, &n) < 0)
		return -1;
	if (n > (uint64_t)(r->end - r->p))
		return rd_error(r, "length %llu beyond the %zu bytes left",
				(unsigned long long)n, (size_t)(r->end - r->p));
	*sub = *r;
	sub->end = r->p + n;
	r->p += n;
	return 0;
}

static int rd_skip(struct rd *r, int wt)
{
	uint64_t v;
	struct rd s;

	switch (wt) {
	case WT_VARINT: return rd_varint(r, &v);
	case WT_LEN: return rd_sub(r, &s);
	case WT_I64:
	case WT_I32: {
		size_t n = wt == WT_I64 ? 8 : 4;

		if ((size_t)(r->end - r->p) < n)
			return rd_error(r, "truncated fixed%zu", 8 * n);
		r->p += n;
		return 0;
	}
	default:
		return rd_error(r, "unsupported wire type %d", wt);
	}
}

static int rd_string(struct rd *r, char **out)
{
	struct rd s;
	char *c;

	if (rd_sub(r, &s) < 0)
		return -1;
	if (!(c = malloc((size_t)(s.end - s.p) + 1)))
		return rd_error(r, "out of memory");
	memcpy(c, s.p, (size_t)(s.end - s.p));
	c[s.end - s.p] = 0;
	free(*out);
	*out = c;
	return 0;
}

/* --- messages ----------------------------------------------------------- */
/* A growing float array for repeated float/double fields. */
struct floats {
	float *v;
	size_t n, cap;
};

static int floats_push(struct rd *r, struct floats *f, size_t more)
{
	if (f->n + more > f->cap) {
		size_t cap = f->cap ? f->cap : 16;

		while (cap < f->n + more)
			cap *= 2;
		float *v = realloc(f->v, cap * sizeof *v);

		if (!v)
			return rd_error(r, "out of memory");
		f->v = v;
		f->cap = cap;
	}
	return 0;
}

static float le_float(const uint8_t *p)
{
	uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static double le_double(const uint8_t *p)
{
	uint64_t u = 0;
	double d;

	for (int i = 7; i >= 0; i--)
		u = u << 8 | p[i];
	memcpy(&d, &u, sizeof d);
	return d;
}

/* Repeated float (size 4) or double (size 8), packed or one value. */
static int read_reals(struct rd *r, int wt, int size, struct floats *f)
{
	struct rd s;

	if (wt == (size == 4 ? WT_I32 : WT_I64)) {
		if ((size_t)(r->end - r->p) < (size_t)size)
			return rd_error(r, "truncated %s", size == 4 ? "float" : "double");
		if (floats_push(r, f, 1) < 0)
			return -1;
		f->v[f->n++] = size == 4 ? le_float(r->p) : (float)le_double(r->p);
		r->p += size;
		return 0;
	}
	if (wt != WT_LEN)
		return rd_error(r, "blob values with wire type %d", wt);
	if (rd_sub(r, &s) < 0)
		return -1;
	size_t bytes = (size_t)(s.end - s.p);

	if (bytes % (size_t)size)
		return rd_error(r, "packed %s data of %zu bytes", size == 4 ? "float" : "double",
				bytes);
	if (floats_push(r, f, bytes / (size_t)size) < 0)
		return -1;
	for (const uint8_t *p = s.p; p < s.end; p += size)
		f->v[f->n++] = size == 4 ? le_float(p) : (float)le_double(p);
	return 0;
}

static int push_dim(struct rd *r, struct fcn_caffe_blob *b, uint64_t d)
{
	if (b->ndim == FCN_CAFFE_MAX_DIMS)
		return rd_error(r, "blob shape with more than %d axes", FCN_CAFFE_MAX_DIMS);
	if (d > (uint64_t)1 << 31)
		return rd_error(r, "blob axis of %llu", (unsigned long long)d);
	b->dim[b->ndim++] = (int64_t)d;
	return 0;
}

static int read_shape(struct rd *r, struct fcn_caffe_blob *b)
{
	uint32_t field;
	int wt, k;

	while ((k = rd_key(r, &field, &wt)) > 0) {
		uint64_t v;
		struct rd s;

		if (field != 1) {
			if (rd_skip(r, wt) < 0)
				return -1;
		} else if (wt == WT_VARINT) {
			if (rd_varint(r, &v) < 0 || push_dim(r, b, v) < 0)
				return -1;
		} else if (wt == WT_LEN) {
			if (rd_sub(r, &s) < 0)
				return -1;
			while (s.p < s.end)
				if (rd_varint(&s, &v) < 0 || push_dim(&s, b, v) < 0)
					return -1;
		} else {
			return rd_error(r, "shape dim with wire type %d", wt);
		}
	}
	return k;
}

static int read_blob(struct rd *r, struct fcn_caffe_blob *b, const char *layer,
		     int index)
{
	struct floats f = { 0 }, fd = { 0 };
	int64_t legacy[4] = { 0, 0, 0, 0 };
	int has_shape = 0, has_legacy = 0, wt, k;
	uint32_t field;

	while ((k = rd_key(r, &field, &wt)) > 0) {
		uint64_t v;
		struct rd s;

		if (field == 7 && wt == WT_LEN) {
			b->ndim = 0;
			has_shape = 1;
			if (rd_sub(r, &s) < 0 || read_shape(&s, b) < 0)
				goto fail;
		} else if (field >= 1 && field <= 4 && wt == WT_VARINT) {
			if (rd_varint(r, &v) < 0)
				goto fail;
			if (v > (uint64_t)1 << 31) {
				rd_error(r, "legacy blob size %llu", (unsigned long long)v);
				goto fail;
			}
			legacy[field - 1] = (int64_t)v;
			has_legacy = 1;
		} else if (field == 5) {
			if (read_reals(r, wt, 4, &f) < 0)
				goto fail;
		} else if (field == 8) {
			if (read_reals(r, wt, 8, &fd) < 0)
				goto fail;
		} else if (rd_skip(r, wt) < 0) {
			goto fail;
		}
	}
	if (k < 0)
		goto fail;
	if (!has_shape) {
		b->ndim = 0;
		if (has_legacy)
			for (int i = 0; i < 4; i++)
				b->dim[b->ndim++] = legacy[i];
	}
	size_t count = 1;

	for (int i = 0; i < b->ndim; i++) {
		if (b->dim[i] && count > ((size_t)1 << 34) / (size_t)b->dim[i]) {
			snprintf(r->err->msg, sizeof r->err->msg,
				 "%s: layer '%s' blob %d: shape too large", r->path, layer, index);
			goto fail;
		}
		count *= (size_t)b->dim[i];
	}
	if (f.n && fd.n) {
		snprintf(r->err->msg, sizeof r->err->msg,
			 "%s: layer '%s' blob %d: both data and double_data", r->path, layer,
			 index);
		goto fail;
	}
	if (fd.n) {
		free(f.v);
		f = fd;
		fd = (struct floats){ 0 };
	}
	if (f.n != count) {
		char s[160] = "";
		size_t o = 0;

		for (int i = 0; i < b->ndim && o < sizeof s - 24; i++)
			o += (size_t)snprintf(s + o, sizeof s - o, "%s%lld", i ? "x" : "",
					      (long long)b->dim[i]);
		snprintf(r->err->msg, sizeof r->err->msg,
			 "%s: layer '%s' blob %d: shape %s holds %zu values, the data has %zu",
			 r->path, layer, index, b->ndim ? s : "(none)", count, f.n);
		goto fail;
	}
	b->count = count;
	b->data = f.v;
	return 0;
fail:
	free(f.v);
	free(fd.v);
	return -1;
}

/* V1LayerParameter.LayerType values and their V2 names. */
static const struct {
	int v;
	const char *name;
} v1_types[] = {
	{ 35, "AbsVal" }, { 1, "Accuracy" }, { 30, "ArgMax" }, { 2, "BNLL" },
	{ 3, "Concat" }, { 37, "ContrastiveLoss" }, { 4, "Convolution" },
	{ 5, "Data" }, { 39, "Deconvolution" }, { 6, "Dropout" }, { 32, "DummyData" },
	{ 7, "EuclideanLoss" }, { 25, "Eltwise" }, { 38, "Exp" }, { 8, "Flatten" },
	{ 9, "HDF5Data" }, { 10, "HDF5Output" }, { 28, "HingeLoss" }, { 11, "Im2col" },
	{ 12, "ImageData" }, { 13, "InfogainLoss" }, { 14, "InnerProduct" },
	{ 15, "LRN" }, { 29, "MemoryData" }, { 16, "MultinomialLogisticLoss" },
	{ 34, "MVN" }, { 17, "Pooling" }, { 26, "Power" }, { 18, "ReLU" },
	{ 19, "Sigmoid" }, { 27, "SigmoidCrossEntropyLoss" }, { 36, "Silence" },
	{ 20, "Softmax" }, { 21, "SoftmaxWithLoss" }, { 22, "Split" }, { 33, "Slice" },
	{ 23, "TanH" }, { 24, "WindowData" }, { 31, "Threshold" },
};

static int read_layer(struct rd *r, struct fcn_caffe_layer *l, int v1)
{
	uint32_t field;
	int wt, k, v1type = -1;
	uint32_t f_name = v1 ? 4 : 1, f_type = v1 ? 5 : 2, f_blobs = v1 ? 6 : 7;
	const uint8_t *start = r->p;

	l->v1 = v1;
	/* the name first: blob messages name their layer */
	while ((k = rd_key(r, &field, &wt)) > 0) {
		if (field == f_name && wt == WT_LEN) {
			if (rd_string(r, &l->name) < 0)
				return -1;
		} else if (field == f_type && wt == (v1 ? WT_VARINT : WT_LEN)) {
			uint64_t v;

			if (v1) {
				if (rd_varint(r, &v) < 0)
					return -1;
				v1type = (int)(v & 0x7fffffff);
			} else if (rd_string(r, &l->type) < 0) {
				return -1;
			}
		} else if (rd_skip(r, wt) < 0) {
			return -1;
		}
	}
	if (k < 0)
		return -1;
	if (!l->name && !(l->name = calloc(1, 1)))
		return rd_error(r, "out of memory");
	if (v1) {
		const char *t = "";

		for (size_t i = 0; i < sizeof v1_types / sizeof v1_types[0]; i++)
			if (v1_types[i].v == v1type)
				t = v1_types[i].name;
		if (!(l->type = strdup(t)))
			return rd_error(r, "out of memory");
	} else if (!l->type && !(l->type = calloc(1, 1))) {
		return rd_error(r, "out of memory");
	}
	r->p = start;
	while ((k = rd_key(r, &field, &wt)) > 0) {
		struct rd s;

		if (field != f_blobs || wt != WT_LEN) {
			if (rd_skip(r, wt) < 0)
				return -1;
			continue;
		}
		struct fcn_caffe_blob *nb = realloc(l->blobs, (size_t)(l->nblobs + 1) *
							      sizeof *nb);

		if (!nb)
			return rd_error(r, "out of memory");
		l->blobs = nb;
		memset(&nb[l->nblobs], 0, sizeof *nb);
		if (rd_sub(r, &s) < 0 || read_blob(&s, &nb[l->nblobs], l->name, l->nblobs) < 0)
			return -1;
		l->nblobs++;
	}
	return k;
}

void fcn_caffemodel_free(struct fcn_caffemodel *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nlayers; i++) {
		struct fcn_caffe_layer *l = &m->layers[i];

		for (int j = 0; j < l->nblobs; j++)
			free(l->blobs[j].data);
		free(l->blobs);
		free(l->name);
		free(l->type);
	}
	free(m->layers);
	free(m->name);
	free(m);
}

struct fcn_caffemodel *fcn_caffemodel_parse(const void *buf, size_t len,
					    const char *path,
					    struct fcn_err *err)
{
	struct rd r = { buf, buf, (const uint8_t *)buf + len, path, err };
	struct fcn_caffemodel *m = calloc(1, sizeof *m);
	uint32_t field;
	int wt, k;

	if (!m) {
		snprintf(err->msg, sizeof err->msg, "%s: out of memory", path);
		return NULL;
	}
	while ((k = rd_key(&r, &field, &wt)) > 0) {
		struct rd s;

		if (field == 1 && wt == WT_LEN) {
			if (rd_string(&r, &m->name) < 0)
				goto fail;
			continue;
		}
		if ((field != 100 && field != 2) || wt != WT_LEN) {
			if (rd_skip(&r, wt) < 0)
				goto fail;
			continue;
		}
		struct fcn_caffe_layer *nl = realloc(m->layers, (size_t)(m->nlayers + 1) *
								sizeof *nl);

		if (!nl) {
			rd_error(&r, "out of memory");
			goto fail;
		}
		m->layers = nl;
		memset(&nl[m->nlayers], 0, sizeof *nl);
		m->nlayers++;
		if (rd_sub(&r, &s) < 0 || read_layer(&s, &nl[m->nlayers - 1], field == 2) < 0)
			goto fail;
	}
	if (k < 0)
		goto fail;
	if (!m->nlayers) {
		snprintf(err->msg, sizeof err->msg, "%s: no layers (not a caffemodel?)", path);
		goto fail;
	}
	return m;
fail:
	fcn_caffemodel_free(m);
	return NULL;
}

int fcn_caffemodel_sniff(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	/* NetParameter starts with name (0x0a), V1 layers (0x12) or layer
	 * (0xa2 0x06); a msgpack model file with a map (0x80-0x8f, 0xde, 0xdf) */
	return len >= 2 && (p[0] == 0x0a || p[0] == 0x12 || (p[0] == 0xa2 && p[1] == 0x06));
}

int fcn_caffemodel_is_file(const char *path)
{
	size_t n = strlen(path);
	uint8_t b[2];
	FILE *f;
	int is;

	if (n >= 11 && !strcmp(path + n - 11, ".caffemodel"))
		return 1;
	if (!(f = fopen(path, "rb")))
		return 0;
	is = fread(b, 1, 2, f) == 2 && fcn_caffemodel_sniff(b, 2);
	fclose(f);
	return is;
}

struct fcn_caffemodel *fcn_caffemodel_read(const char *path, struct fcn_err *err)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, got;
	struct fcn_caffemodel *m;

	if (!f) {
		snprintf(err->msg, sizeof err->msg, "%s: %s", path, strerror(errno));
		return NULL;
	}
	do {
		if (len == cap) {
			uint8_t *nb;

			cap = cap ? 2 * cap : 1 << 16;
			if (!(nb = realloc(buf, cap))) {
				free(buf);
				fclose(f);
				snprintf(err->msg, sizeof err->msg, "%s: out of memory", path);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
	} while (got > 0);
	if (ferror(f)) {
		snprintf(err->msg, sizeof err->msg, "%s: read error", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	m = fcn_caffemodel_parse(buf, len, path, err);
	free(buf);
	return m;
}

/* --- loading into a net ------------------------------------------------- */
struct wbuf {
	char *s;
	size_t n, cap;
};

static void wbuf_add(struct wbuf *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void wbuf_add(struct wbuf *w, const char *fmt, ...)
{
	va_list ap;
	int need;

	va_start(ap, fmt);
	need = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (need < 0)
		return;
	if (w->n + (size_t)need + 3 > w->cap) {
		size_t cap = (w->n + (size_t)need + 3) * 2;
		char *s = realloc(w->s, cap);

		if (!s)
			return;
		w->s = s;
		w->cap = cap;
	}
	if (w->n) {
		memcpy(w->s + w->n, "; ", 2);
		w->n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(w->s + w->n, w->cap - w->n, fmt, ap);
	va_end(ap);
	w->n += (size_t)need;
}

/* Shape without its 1-sized axes, as "AxB" ("1" when nothing is left). */
static const char *squeezed(const int64_t *d, int nd, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (int i = 0; i < nd && o + 24 < len; i++)
		if (d[i] != 1)
			o += (size_t)snprintf(buf + o, len - o, "%s%lld", o ? "x" : "",
					      (long long)d[i]);
	if (!o)
		snprintf(buf, len, "1");
	return buf;
}

static const char *net_layer_type(const struct fcn_net *net, const char *name)
{
	const char *type, *n;

	for (size_t i = 0; (n = fcn_net_layer_name(net, i, &type)); i++)
		if (!strcmp(n, name))
			return type;
	return "";
}

/* The model layer for net layer `name` (see fcn_caffemodel_load). */
static const struct fcn_caffe_layer *source_layer(const struct fcn_caffemodel *m,
						  const char *const *map,
						  const char *name)
{
	for (int k = 0; map && map[k]; k++) {
		const char *eq = strchr(map[k], '=');

		if (strcmp(eq + 1, name))
			continue;
		for (int i = 0; i < m->nlayers; i++)
			if (strlen(m->layers[i].name) == (size_t)(eq - map[k]) &&
			    !strncmp(m->layers[i].name, map[k], (size_t)(eq - map[k])))
				return &m->layers[i];
	}
	for (int i = 0; i < m->nlayers; i++) {
		int renamed = 0;

		if (strcmp(m->layers[i].name, name))
			continue;
		for (int k = 0; map && map[k]; k++)
			renamed |= !strncmp(map[k], name, strlen(name)) &&
				   map[k][strlen(name)] == '=';
		if (!renamed)
			return &m->layers[i];
	}
	return NULL;
}

long fcn_caffemodel_load(const struct fcn_caffemodel *m, struct fcn_net *net,
			 const char *const *map, char **warnings,
			 struct fcn_err *err)
{
	struct wbuf w = { 0 };
	size_t np = fcn_net_nparams(net);
	long loaded = 0;

	*warnings = NULL;
	for (int k = 0; map && map[k]; k++) {
		const char *eq = strchr(map[k], '=');

		if (!eq || eq == map[k] || !eq[1]) {
			snprintf(err->msg, sizeof err->msg,
				 "bad weights map '%.200s' (want OLD=NEW)", map[k]);
			return -1;
		}
	}
	for (size_t i = 0; i < np;) {
		struct fcn_param *p0 = fcn_net_param(net, i);
		const char *name = p0->layer, *type = net_layer_type(net, name);
		const struct fcn_caffe_layer *src = source_layer(m, map, name);
		size_t n = 0;
		int ok = 1;

		while (i + n < np && !strcmp(fcn_net_param(net, i + n)->layer, name))
			n++;
		if (!src) {
			wbuf_add(&w, "%s (absent from the caffemodel)", name);
			ok = 0;
		} else if ((size_t)src->nblobs != n) {
			wbuf_add(&w, "%s (%d blobs in the caffemodel, the net has %zu)", name,
				 src->nblobs, n);
			ok = 0;
		}
		for (size_t j = 0; ok && j < n; j++) {
			const struct fcn_blob *b = fcn_net_param(net, i + j)->blob;
			const struct fcn_caffe_blob *s = &src->blobs[j];
			int64_t d[4] = { b->n, b->c, b->h, b->w };
			char s1[128], s2[128];

			squeezed(s->dim, s->ndim, s1, sizeof s1);
			squeezed(d, 4, s2, sizeof s2);
			if (!strcmp(s1, s2) && s->count == fcn_blob_count(b))
				continue;
			/* net surgery: InnerProduct (M, K) onto Convolution (M, C, KH, KW) */
			if (j == 0 && !strcmp(type, "Convolution") && s->ndim >= 2 &&
			    (s->ndim == 2 || !strcmp(src->type, "InnerProduct")) &&
			    s->count == fcn_blob_count(b) && s->dim[s->ndim - 2] == b->n)
				continue;
			wbuf_add(&w, "%s (blob %zu: %s in the caffemodel, %s in the net)", name,
				 j, s1, s2);
			ok = 0;
		}
		for (size_t j = 0; ok && j < n; j++) {
			struct fcn_blob *b = fcn_net_param(net, i + j)->blob;

			memcpy(b->data, src->blobs[j].data, fcn_blob_count(b) * sizeof(float));
		}
		loaded += ok;
		i += n;
	}
	*warnings = w.s;
	return loaded;
}

long fcn_net_load_caffemodel(struct fcn_net *net, const char *path,
			     const char *const *map, char **warnings,
			     struct fcn_err *err)
{
	struct fcn_caffemodel *m = fcn_caffemodel_read(path, err);
	long n;

	*warnings = NULL;
	if (!m)
		return -1;
	n = fcn_caffemodel_load(m, net, map, warnings, err);
	fcn_caffemodel_free(m);
	return n;
}

/* --- encoding ----------------------------------------------------------- */
struct wr {
	uint8_t *b;
	size_t n, cap;
	int oom;
};

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (w->n + n > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		uint8_t *b;

		while (cap < w->n + n)
			cap *= 2;
		if (!(b = realloc(w->b, cap))) {
			w->oom = 1;
			return;
		}
		w->b = b;
		w->cap = cap;
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void wr_varint(struct wr *w, uint64_t v)
{
	uint8_t b[10];
	int n = 0;

	do {
		b[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	wr_bytes(w, b, (size_t)n);
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void wr_len_key(struct wr *w, uint32_t field, size_t len)
{
	wr_varint(w, (uint64_t)field << 3 | WT_LEN);
	wr_varint(w, len);
}

static void wr_string(struct wr *w, uint32_t field, const char *s)
{
	wr_len_key(w, field, strlen(s));
	wr_bytes(w, s, strlen(s));
}

/* BlobProto { shape { dim (packed) } data (packed) } */
static void wr_blob(struct wr *w, const int64_t *dim, int nd, const float *data,
		    size_t count)
{
	size_t dims = 0, shape, blob;

	for (int i = 0; i < nd; i++)
		dims += varint_len((uint64_t)dim[i]);
	shape = 1 + varint_len(dims) + dims;
	blob = 1 + varint_len(shape) + shape + 1 + varint_len(count * 4) + count * 4;
	wr_len_key(w, 7, blob);
	wr_len_key(w, 7, shape);
	wr_len_key(w, 1, dims);
	for (int i = 0; i < nd; i++)
		wr_varint(w, (uint64_t)dim[i]);
	wr_len_key(w, 5, count * 4);
	for (size_t i = 0; i < count; i++) {
		uint32_t u;
		uint8_t b[4];

		memcpy(&u, &data[i], 4);
		b[0] = (uint8_t)u, b[1] = (uint8_t)(u >> 8), b[2] = (uint8_t)(u >> 16),
		b[3] = (uint8_t)(u >> 24);
		wr_bytes(w, b, 4);
	}
}

/* Caffe's shape of parameter j of a layer of this type. */
static int caffe_shape(const char *type, int j, const struct fcn_blob *b,
		       int64_t *d)
{
	if (j == 0 && (!strcmp(type, "Convolution") || !strcmp(type, "Deconvolution"))) {
		d[0] = b->n, d[1] = b->c, d[2] = b->h, d[3] = b->w;
		return 4;
	}
	if (j == 0 && !strcmp(type, "InnerProduct")) {
		d[0] = b->n, d[1] = (int64_t)b->c * b->h * b->w;
		return 2;
	}
	d[0] = (int64_t)fcn_blob_count(b);
	return 1;
}

int fcn_caffemodel_encode(struct fcn_net *net, const char *name, void **buf,
			  size_t *len, struct fcn_err *err)
{
	struct wr w = { 0 };
	size_t np = fcn_net_nparams(net);

	wr_string(&w, 1, name);
	for (size_t i = 0; i < np;) {
		const char *layer = fcn_net_param(net, i)->layer;
		const char *type = net_layer_type(net, layer);
		size_t n = 0, body;

		while (i + n < np && !strcmp(fcn_net_param(net, i + n)->layer, layer))
			n++;
		body = 1 + varint_len(strlen(layer)) + strlen(layer) + 1 +
		       varint_len(strlen(type)) + strlen(type);
		for (size_t j = 0; j < n; j++) {
			const struct fcn_blob *b = fcn_net_param(net, i + j)->blob;
			int64_t d[4];
			int nd = caffe_shape(type, (int)j, b, d);
			size_t dims = 0, shape, blob, count = fcn_blob_count(b);

			for (int k = 0; k < nd; k++)
				dims += varint_len((uint64_t)d[k]);
			shape = 1 + varint_len(dims) + dims;
			blob = 1 + varint_len(shape) + shape + 1 + varint_len(count * 4) +
			       count * 4;
			body += 1 + varint_len(blob) + blob;
		}
		wr_len_key(&w, 100, body);
		wr_string(&w, 1, layer);
		wr_string(&w, 2, type);
		for (size_t j = 0; j < n; j++) {
			const struct fcn_blob *b = fcn_net_param(net, i + j)->blob;
			int64_t d[4];
			int nd = caffe_shape(type, (int)j, b, d);

			wr_blob(&w, d, nd, b->data, fcn_blob_count(b));
		}
		i += n;
	}
	if (w.oom) {
		free(w.b);
		snprintf(err->msg, sizeof err->msg, "out of memory");
		return -1;
	}
	*buf = w.b;
	*len = w.n;
	return 0;
}
