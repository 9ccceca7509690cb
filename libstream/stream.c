/*
 * stream.c - records, tensors, meta, and the msgpack reader and writer
 * behind st.h.
 *
 * Reading: an incremental msgpack_unpacker fed from the FILE in chunks; each
 * complete top-level object is validated and copied into a struct st_record
 * that owns all its memory, so at most one record (and the unpacker buffer
 * holding it) is in memory.  Unknown top-level fields and all meta values are
 * kept as their msgpack bytes and written back verbatim.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "st.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libstream assumes a little-endian host"
#endif

/* Bytes read at a time; a build may choose another (the unit tests run
 * again with 61, so that records and headers straddle the reads). */
#ifndef ST_READ_CHUNK
#define ST_READ_CHUNK (64 * 1024)
#endif
#define CHUNK ST_READ_CHUNK

enum meta_kind { META_STR, META_NUM, META_NUMS, META_OTHER };

struct st_field {
	char *name;
	struct st_tensor *tensor; /* or NULL: raw value below */
	char *raw;
	size_t rawlen;
};

struct st_meta {
	char *key;
	char *raw; /* the value's msgpack bytes */
	size_t rawlen;
	enum meta_kind kind;
	char *str;    /* META_STR */
	double *nums; /* META_NUM (one) and META_NUMS */
	size_t nnums;
};

struct st_record {
	char *id;
	struct st_field *fields;
	size_t nfields, capfields;
	struct st_meta *meta;
	size_t nmeta, capmeta;
};

struct st_reader {
	FILE *f;
	char *name;
	msgpack_unpacker mp;
	msgpack_unpacked res;
	size_t limit;
	size_t count;     /* records read */
	uint64_t offset;  /* bytes of complete records */
	uint64_t fed;     /* bytes read from f */
	int eof, failed;
};

static int seterr(struct st_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int seterr(struct st_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* --- dtypes --------------------------------------------------------------- */

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[ST_U8] = { "u8", 1 },   [ST_I16] = { "i16", 2 }, [ST_U16] = { "u16", 2 },
	[ST_I32] = { "i32", 4 }, [ST_F32] = { "f32", 4 },
};

size_t st_dtype_size(enum st_dtype t)
{
	return dtypes[t].size;
}

const char *st_dtype_name(enum st_dtype t)
{
	return dtypes[t].name;
}

int st_dtype_parse(const char *name, enum st_dtype *t)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (strcmp(name, dtypes[i].name) == 0) {
			*t = (enum st_dtype)i;
			return 0;
		}
	return -1;
}

/* --- tensors -------------------------------------------------------------- */

/* Element count of a shape, or SIZE_MAX when the byte size overflows. */
static size_t shape_numel(int ndim, const int64_t *shape, size_t esize)
{
	size_t n = 1;

	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return SIZE_MAX;
		if (shape[i] && n > SIZE_MAX / esize / (size_t)shape[i])
			return SIZE_MAX;
		n *= (size_t)shape[i];
	}
	return n;
}

struct st_tensor *st_tensor_new(enum st_dtype t, int ndim, const int64_t *shape,
				struct st_err *err)
{
	struct st_tensor *x;
	size_t n;

	if (ndim < 1 || ndim > ST_MAX_DIMS) {
		seterr(err, "tensor has %d dimensions (1 to %d allowed)", ndim,
		       ST_MAX_DIMS);
		return NULL;
	}
	n = shape_numel(ndim, shape, dtypes[t].size);
	if (n == SIZE_MAX) {
		seterr(err, "tensor shape is negative or too large");
		return NULL;
	}
	x = calloc(1, sizeof *x);
	if (!x || !(x->data = calloc(n ? n : 1, dtypes[t].size))) {
		free(x);
		seterr(err, "out of memory for a %zu-element tensor", n);
		return NULL;
	}
	x->dtype = t;
	x->ndim = ndim;
	memcpy(x->shape, shape, (size_t)ndim * sizeof *shape);
	return x;
}

struct st_tensor *st_tensor_new3(enum st_dtype t, int64_t c, int64_t h,
				 int64_t w, struct st_err *err)
{
	int64_t shape[3] = { c, h, w };

	return st_tensor_new(t, 3, shape, err);
}

void st_tensor_free(struct st_tensor *t)
{
	if (t) {
		free(t->data);
		free(t);
	}
}

size_t st_tensor_numel(const struct st_tensor *t)
{
	return shape_numel(t->ndim, t->shape, 1);
}

size_t st_tensor_nbytes(const struct st_tensor *t)
{
	return st_tensor_numel(t) * dtypes[t->dtype].size;
}

struct st_tensor *st_tensor_clone(const struct st_tensor *t, struct st_err *err)
{
	struct st_tensor *c = st_tensor_new(t->dtype, t->ndim, t->shape, err);

	if (c)
		memcpy(c->data, t->data, st_tensor_nbytes(t));
	return c;
}

double st_tensor_get(const struct st_tensor *t, size_t i)
{
	switch (t->dtype) {
	case ST_U8: return ((const uint8_t *)t->data)[i];
	case ST_I16: return ((const int16_t *)t->data)[i];
	case ST_U16: return ((const uint16_t *)t->data)[i];
	case ST_I32: return ((const int32_t *)t->data)[i];
	case ST_F32: return ((const float *)t->data)[i];
	}
	return 0;
}

static double clampround(double v, double lo, double hi)
{
	if (isnan(v))
		return 0;
	v = nearbyint(v);
	return v < lo ? lo : v > hi ? hi : v;
}

void st_tensor_set(struct st_tensor *t, size_t i, double v)
{
	switch (t->dtype) {
	case ST_U8:
		((uint8_t *)t->data)[i] = (uint8_t)clampround(v, 0, UINT8_MAX);
		break;
	case ST_I16:
		((int16_t *)t->data)[i] =
			(int16_t)clampround(v, INT16_MIN, INT16_MAX);
		break;
	case ST_U16:
		((uint16_t *)t->data)[i] = (uint16_t)clampround(v, 0, UINT16_MAX);
		break;
	case ST_I32:
		((int32_t *)t->data)[i] =
			(int32_t)clampround(v, INT32_MIN, INT32_MAX);
		break;
	case ST_F32:
		((float *)t->data)[i] = (float)v;
		break;
	}
}

struct st_tensor *st_tensor_convert(const struct st_tensor *t,
				    enum st_dtype to, struct st_err *err)
{
	struct st_tensor *c = st_tensor_new(to, t->ndim, t->shape, err);
	size_t n;

	if (!c)
		return NULL;
	n = st_tensor_numel(t);
	if (t->dtype == to) {
		memcpy(c->data, t->data, st_tensor_nbytes(t));
	} else if (to == ST_F32) {
		float *d = c->data;

		for (size_t i = 0; i < n; i++)
			d[i] = (float)st_tensor_get(t, i);
	} else {
		for (size_t i = 0; i < n; i++)
			st_tensor_set(c, i, st_tensor_get(t, i));
	}
	return c;
}

const char *st_shape_str(const struct st_tensor *t, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < t->ndim && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%lld", i ? "x" : "",
				 (long long)t->shape[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

/* --- records -------------------------------------------------------------- */

static int valid_name(const char *s, size_t n)
{
	return n > 0 && memchr(s, '\0', n) == NULL;
}

struct st_record *st_record_new(const char *id, struct st_err *err)
{
	struct st_record *r = calloc(1, sizeof *r);

	if (!r) {
		seterr(err, "out of memory");
		return NULL;
	}
	if (id && st_record_set_id(r, id, err) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void field_clear(struct st_field *f)
{
	free(f->name);
	st_tensor_free(f->tensor);
	free(f->raw);
}

static void meta_clear(struct st_meta *m)
{
	free(m->key);
	free(m->raw);
	free(m->str);
	free(m->nums);
}

void st_record_free(struct st_record *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nfields; i++)
		field_clear(&r->fields[i]);
	for (size_t i = 0; i < r->nmeta; i++)
		meta_clear(&r->meta[i]);
	free(r->fields);
	free(r->meta);
	free(r->id);
	free(r);
}

const char *st_record_id(const struct st_record *r)
{
	return r->id;
}

int st_record_set_id(struct st_record *r, const char *id, struct st_err *err)
{
	char *s;

	if (!id || !*id)
		return seterr(err, "record id is empty");
	if (!(s = strdup(id)))
		return seterr(err, "out of memory");
	free(r->id);
	r->id = s;
	return 0;
}

static struct st_field *find_field(const struct st_record *r, const char *name)
{
	for (size_t i = 0; i < r->nfields; i++)
		if (strcmp(r->fields[i].name, name) == 0)
			return &r->fields[i];
	return NULL;
}

/* A new empty field named name at the end (or the existing one, cleared). */
static struct st_field *add_field(struct st_record *r, const char *name,
				  struct st_err *err)
{
	struct st_field *f = find_field(r, name);
	char *s;

	if (!name || !*name || strcmp(name, "id") == 0 ||
	    strcmp(name, "meta") == 0) {
		seterr(err, "'%s' is not a valid field name", name ? name : "");
		return NULL;
	}
	if (f) {
		st_tensor_free(f->tensor);
		free(f->raw);
		f->tensor = NULL;
		f->raw = NULL;
		f->rawlen = 0;
		return f;
	}
	if (r->nfields == r->capfields) {
		size_t cap = r->capfields ? 2 * r->capfields : 4;
		struct st_field *p = realloc(r->fields, cap * sizeof *p);

		if (!p) {
			seterr(err, "out of memory");
			return NULL;
		}
		r->fields = p;
		r->capfields = cap;
	}
	if (!(s = strdup(name))) {
		seterr(err, "out of memory");
		return NULL;
	}
	f = &r->fields[r->nfields++];
	memset(f, 0, sizeof *f);
	f->name = s;
	return f;
}

struct st_tensor *st_record_tensor(const struct st_record *r, const char *name)
{
	struct st_field *f = find_field(r, name);

	return f ? f->tensor : NULL;
}

int st_record_set_tensor(struct st_record *r, const char *name,
			 struct st_tensor *t, struct st_err *err)
{
	struct st_field *f = add_field(r, name, err);

	if (!f)
		return -1;
	f->tensor = t;
	return 0;
}

static void remove_field(struct st_record *r, struct st_field *f)
{
	size_t i = (size_t)(f - r->fields);

	memmove(f, f + 1, (r->nfields - i - 1) * sizeof *f);
	r->nfields--;
}

struct st_tensor *st_record_take_tensor(struct st_record *r, const char *name)
{
	struct st_field *f = find_field(r, name);
	struct st_tensor *t;

	if (!f || !f->tensor)
		return NULL;
	t = f->tensor;
	f->tensor = NULL;
	field_clear(f);
	remove_field(r, f);
	return t;
}

int st_record_remove(struct st_record *r, const char *name)
{
	struct st_field *f = find_field(r, name);

	if (!f)
		return -1;
	field_clear(f);
	remove_field(r, f);
	return 0;
}

size_t st_record_nfields(const struct st_record *r)
{
	return r->nfields;
}

const char *st_record_field(const struct st_record *r, size_t i,
			    struct st_tensor **tensor)
{
	if (i >= r->nfields)
		return NULL;
	if (tensor)
		*tensor = r->fields[i].tensor;
	return r->fields[i].name;
}

/* --- meta ----------------------------------------------------------------- */

static struct st_meta *find_meta(const struct st_record *r, const char *key)
{
	for (size_t i = 0; i < r->nmeta; i++)
		if (strcmp(r->meta[i].key, key) == 0)
			return &r->meta[i];
	return NULL;
}

static int obj_number(const msgpack_object *o, double *v)
{
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

/* Fills m's decoded view (kind, str, nums) from the object o. */
static int meta_decode(struct st_meta *m, const msgpack_object *o)
{
	double v;

	m->kind = META_OTHER;
	if (o->type == MSGPACK_OBJECT_STR) {
		if (!(m->str = dupn(o->via.str.ptr, o->via.str.size)))
			return -1;
		m->kind = META_STR;
	} else if (obj_number(o, &v) == 0) {
		if (!(m->nums = malloc(sizeof *m->nums)))
			return -1;
		m->nums[0] = v;
		m->nnums = 1;
		m->kind = META_NUM;
	} else if (o->type == MSGPACK_OBJECT_ARRAY) {
		uint32_t n = o->via.array.size;

		for (uint32_t i = 0; i < n; i++)
			if (obj_number(&o->via.array.ptr[i], &v) < 0)
				return 0; /* a mixed array stays raw */
		if (!(m->nums = malloc((n ? n : 1) * sizeof *m->nums)))
			return -1;
		for (uint32_t i = 0; i < n; i++)
			obj_number(&o->via.array.ptr[i], &m->nums[i]);
		m->nnums = n;
		m->kind = META_NUMS;
	}
	return 0;
}

/* Sets meta key to the msgpack value o (serialised). */
static int meta_set_obj(struct st_record *r, const char *key,
			const msgpack_object *o, struct st_err *err)
{
	struct st_meta *m = find_meta(r, key), fresh = { 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (!key || !*key)
		return seterr(err, "meta key is empty");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (msgpack_pack_object(&pk, *o) != 0)
		goto oom;
	fresh.raw = sb.data;
	fresh.rawlen = sb.size;
	sb.data = NULL;
	if (meta_decode(&fresh, o) < 0 || !(fresh.key = strdup(key)))
		goto oom;
	if (m) {
		meta_clear(m);
		*m = fresh;
		return 0;
	}
	if (r->nmeta == r->capmeta) {
		size_t cap = r->capmeta ? 2 * r->capmeta : 8;
		struct st_meta *p = realloc(r->meta, cap * sizeof *p);

		if (!p)
			goto oom;
		r->meta = p;
		r->capmeta = cap;
	}
	r->meta[r->nmeta++] = fresh;
	return 0;
oom:
	msgpack_sbuffer_destroy(&sb);
	meta_clear(&fresh);
	return seterr(err, "out of memory");
}

int st_meta_has(const struct st_record *r, const char *key)
{
	return find_meta(r, key) != NULL;
}

int st_meta_get_str(const struct st_record *r, const char *key, const char **s)
{
	struct st_meta *m = find_meta(r, key);

	if (!m || m->kind != META_STR)
		return -1;
	*s = m->str;
	return 0;
}

int st_meta_get_num(const struct st_record *r, const char *key, double *v)
{
	struct st_meta *m = find_meta(r, key);

	if (!m || m->kind != META_NUM)
		return -1;
	*v = m->nums[0];
	return 0;
}

int st_meta_get_nums(const struct st_record *r, const char *key, double *v,
		     size_t max, size_t *n)
{
	struct st_meta *m = find_meta(r, key);

	if (!m || (m->kind != META_NUM && m->kind != META_NUMS))
		return -1;
	for (size_t i = 0; i < m->nnums && i < max; i++)
		v[i] = m->nums[i];
	*n = m->nnums;
	return 0;
}

int st_meta_set_str(struct st_record *r, const char *key, const char *s,
		    struct st_err *err)
{
	msgpack_object o = { .type = MSGPACK_OBJECT_STR };

	o.via.str.ptr = s;
	o.via.str.size = (uint32_t)strlen(s);
	return meta_set_obj(r, key, &o, err);
}

int st_meta_set_num(struct st_record *r, const char *key, double v,
		    struct st_err *err)
{
	msgpack_object o = { .type = MSGPACK_OBJECT_FLOAT64 };

	o.via.f64 = v;
	return meta_set_obj(r, key, &o, err);
}

int st_meta_set_int(struct st_record *r, const char *key, int64_t v,
		    struct st_err *err)
{
	msgpack_object o;

	if (v < 0) {
		o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o.via.i64 = v;
	} else {
		o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o.via.u64 = (uint64_t)v;
	}
	return meta_set_obj(r, key, &o, err);
}

int st_meta_set_nums(struct st_record *r, const char *key, const double *v,
		     size_t n, struct st_err *err)
{
	msgpack_object o = { .type = MSGPACK_OBJECT_ARRAY };
	msgpack_object *items;
	int rc;

	if (n > UINT32_MAX)
		return seterr(err, "meta array too long");
	if (!(items = malloc((n ? n : 1) * sizeof *items)))
		return seterr(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		items[i].type = MSGPACK_OBJECT_FLOAT64;
		items[i].via.f64 = v[i];
	}
	o.via.array.size = (uint32_t)n;
	o.via.array.ptr = items;
	rc = meta_set_obj(r, key, &o, err);
	free(items);
	return rc;
}

int st_meta_remove(struct st_record *r, const char *key)
{
	struct st_meta *m = find_meta(r, key);
	size_t i;

	if (!m)
		return -1;
	i = (size_t)(m - r->meta);
	meta_clear(m);
	memmove(m, m + 1, (r->nmeta - i - 1) * sizeof *m);
	r->nmeta--;
	return 0;
}

size_t st_meta_count(const struct st_record *r)
{
	return r->nmeta;
}

const char *st_meta_key(const struct st_record *r, size_t i)
{
	return i < r->nmeta ? r->meta[i].key : NULL;
}

const char *st_meta_text(const struct st_record *r, const char *key,
			 char *buf, size_t len)
{
	struct st_meta *m = find_meta(r, key);
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (!m)
		return buf;
	switch (m->kind) {
	case META_STR:
		snprintf(buf, len, "%s", m->str);
		break;
	case META_NUM:
	case META_NUMS:
		for (size_t i = 0; i < m->nnums && off < len; i++) {
			int n = snprintf(buf + off, len - off, "%s%.10g",
					 i ? "," : "", m->nums[i]);
			if (n < 0)
				break;
			off += (size_t)n;
		}
		break;
	case META_OTHER:
		snprintf(buf, len, "<value>");
		break;
	}
	return buf;
}

/* --- decoding one record -------------------------------------------------- */

static int keyeq(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);

	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, s, n) == 0;
}

static int is_tensor_map(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return 0;
	for (uint32_t i = 0; i < o->via.map.size; i++)
		if (keyeq(&o->via.map.ptr[i].key, "dtype"))
			return 1;
	return 0;
}

/* A tensor from its map {dtype, shape, data}; name is for messages. */
static struct st_tensor *decode_tensor(const msgpack_object *o,
				       const char *name, struct st_err *err)
{
	const msgpack_object *dt = NULL, *sh = NULL, *da = NULL;
	int64_t shape[ST_MAX_DIMS];
	enum st_dtype t;
	struct st_tensor *x;
	char tname[8];
	size_t n;

	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (keyeq(&kv->key, "dtype") && !dt)
			dt = &kv->val;
		else if (keyeq(&kv->key, "shape") && !sh)
			sh = &kv->val;
		else if (keyeq(&kv->key, "data") && !da)
			da = &kv->val;
		else {
			seterr(err, "tensor '%s': unexpected or repeated key",
			       name);
			return NULL;
		}
	}
	if (!dt || !sh || !da) {
		seterr(err, "tensor '%s': missing '%s'", name,
		       !dt ? "dtype" : !sh ? "shape" : "data");
		return NULL;
	}
	if (dt->type != MSGPACK_OBJECT_STR || dt->via.str.size >= sizeof tname) {
		seterr(err, "tensor '%s': dtype is not a known type name", name);
		return NULL;
	}
	memcpy(tname, dt->via.str.ptr, dt->via.str.size);
	tname[dt->via.str.size] = '\0';
	if (st_dtype_parse(tname, &t) < 0) {
		seterr(err, "tensor '%s': unknown dtype '%s'", name, tname);
		return NULL;
	}
	if (sh->type != MSGPACK_OBJECT_ARRAY || sh->via.array.size < 1 ||
	    sh->via.array.size > ST_MAX_DIMS) {
		seterr(err, "tensor '%s': shape must be an array of 1 to %d sizes",
		       name, ST_MAX_DIMS);
		return NULL;
	}
	for (uint32_t i = 0; i < sh->via.array.size; i++) {
		const msgpack_object *d = &sh->via.array.ptr[i];

		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    d->via.u64 > (uint64_t)INT64_MAX) {
			seterr(err, "tensor '%s': shape[%u] is not a size",
			       name, i);
			return NULL;
		}
		shape[i] = (int64_t)d->via.u64;
	}
	n = shape_numel((int)sh->via.array.size, shape, dtypes[t].size);
	if (da->type != MSGPACK_OBJECT_BIN) {
		seterr(err, "tensor '%s': data is not binary", name);
		return NULL;
	}
	if (n == SIZE_MAX || (size_t)da->via.bin.size != n * dtypes[t].size) {
		seterr(err,
		       "tensor '%s': data has %u bytes, shape needs %zu (%s x %zu)",
		       name, da->via.bin.size,
		       n == SIZE_MAX ? (size_t)0 : n * dtypes[t].size, tname, n);
		return NULL;
	}
	x = st_tensor_new(t, (int)sh->via.array.size, shape, err);
	if (x)
		memcpy(x->data, da->via.bin.ptr, da->via.bin.size);
	return x;
}

static int decode_meta(struct st_record *r, const msgpack_object *o,
		       struct st_err *err)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return seterr(err, "'meta' is not a map");
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		char *key;
		int rc;

		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    !valid_name(kv->key.via.str.ptr, kv->key.via.str.size))
			return seterr(err, "meta key is not a string");
		if (!(key = dupn(kv->key.via.str.ptr, kv->key.via.str.size)))
			return seterr(err, "out of memory");
		if (find_meta(r, key)) {
			seterr(err, "meta key '%s' repeated", key);
			free(key);
			return -1;
		}
		rc = meta_set_obj(r, key, &kv->val, err);
		free(key);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int decode_field(struct st_record *r, const char *name,
			const msgpack_object *v, struct st_err *err)
{
	struct st_field *f;

	if (find_field(r, name))
		return seterr(err, "field '%s' repeated", name);
	if (is_tensor_map(v)) {
		struct st_tensor *t = decode_tensor(v, name, err);

		if (!t)
			return -1;
		if (st_record_set_tensor(r, name, t, err) < 0) {
			st_tensor_free(t);
			return -1;
		}
		return 0;
	}
	if (!(f = add_field(r, name, err)))
		return -1;
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		if (msgpack_pack_object(&pk, *v) != 0) {
			msgpack_sbuffer_destroy(&sb);
			return seterr(err, "out of memory");
		}
		f->raw = sb.data;
		f->rawlen = sb.size;
	}
	return 0;
}

static struct st_record *decode_record(const msgpack_object *o,
				       struct st_err *err)
{
	struct st_record *r;
	int seen_meta = 0;

	if (o->type != MSGPACK_OBJECT_MAP) {
		seterr(err, "record is not a msgpack map");
		return NULL;
	}
	if (!(r = st_record_new(NULL, err)))
		return NULL;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		char *name;
		int rc = 0;

		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    !valid_name(kv->key.via.str.ptr, kv->key.via.str.size)) {
			seterr(err, "record key is not a non-empty string");
			goto fail;
		}
		if (!(name = dupn(kv->key.via.str.ptr, kv->key.via.str.size))) {
			seterr(err, "out of memory");
			goto fail;
		}
		if (strcmp(name, "id") == 0) {
			if (r->id)
				rc = seterr(err, "'id' repeated");
			else if (kv->val.type != MSGPACK_OBJECT_STR ||
				 !valid_name(kv->val.via.str.ptr,
					     kv->val.via.str.size))
				rc = seterr(err, "'id' is not a non-empty string");
			else if (!(r->id = dupn(kv->val.via.str.ptr,
						kv->val.via.str.size)))
				rc = seterr(err, "out of memory");
		} else if (strcmp(name, "meta") == 0) {
			rc = seen_meta++ ? seterr(err, "'meta' repeated")
					 : decode_meta(r, &kv->val, err);
		} else {
			rc = decode_field(r, name, &kv->val, err);
		}
		free(name);
		if (rc < 0)
			goto fail;
	}
	if (!r->id) {
		seterr(err, "record has no 'id'");
		goto fail;
	}
	return r;
fail:
	st_record_free(r);
	return NULL;
}

/* --- reader --------------------------------------------------------------- */

struct st_reader *st_reader_new(FILE *f, const char *name, struct st_err *err)
{
	struct st_reader *rd = calloc(1, sizeof *rd);

	if (!rd || !(rd->name = strdup(name ? name : "-"))) {
		free(rd);
		seterr(err, "out of memory");
		return NULL;
	}
	if (!msgpack_unpacker_init(&rd->mp, CHUNK)) {
		free(rd->name);
		free(rd);
		seterr(err, "out of memory");
		return NULL;
	}
	msgpack_unpacked_init(&rd->res);
	rd->f = f;
	rd->limit = ST_DEFAULT_LIMIT;
	return rd;
}

void st_reader_free(struct st_reader *rd)
{
	if (!rd)
		return;
	msgpack_unpacked_destroy(&rd->res);
	msgpack_unpacker_destroy(&rd->mp);
	free(rd->name);
	free(rd);
}

void st_reader_set_limit(struct st_reader *rd, size_t max_record_bytes)
{
	rd->limit = max_record_bytes;
}

size_t st_reader_count(const struct st_reader *rd)
{
	return rd->count;
}

uint64_t st_reader_offset(const struct st_reader *rd)
{
	return rd->offset;
}

/* Bytes read past the last complete record. */
static size_t pending(const struct st_reader *rd)
{
	return (size_t)(rd->fed - rd->offset);
}

static int fail(struct st_reader *rd, struct st_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct st_reader *rd, struct st_err *err, const char *fmt, ...)
{
	va_list ap;

	rd->failed = 1;
	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

enum scan { SCAN_MORE, SCAN_WHOLE, SCAN_BAD, SCAN_BIG };

/*
 * Walks the msgpack object at p[0..n) without decoding it.  SCAN_WHOLE: it
 * is complete and *len bytes long.  SCAN_MORE: at least *len bytes are
 * needed.  SCAN_BAD: a byte msgpack never uses.  SCAN_BIG: it declares more
 * than limit bytes.  msgpack-c allocates a container's items as soon as it
 * sees the header, so only whole records, whose declared counts are backed
 * by bytes, are handed to it.
 */
static enum scan scan_object(const unsigned char *p, size_t n, size_t limit,
			     size_t *len)
{
	uint64_t todo = 1, off = 0;

	while (todo > 0) {
		uint64_t head = 1, body = 0, items = 0;
		unsigned b;

		if (off >= n)
			goto more;
		b = p[off];
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			;
		} else if (b <= 0x8f) {
			items = 2 * (uint64_t)(b & 0x0f);
		} else if (b <= 0x9f) {
			items = b & 0x0f;
		} else if (b <= 0xbf) {
			body = b & 0x1f;
		} else if (b == 0xc1) {
			return SCAN_BAD;
		} else {
			static const unsigned char lenbytes[] = {
				[0xc4 - 0xc4] = 1, 2, 4,      /* bin 8/16/32 */
				[0xc7 - 0xc4] = 1, 2, 4,      /* ext 8/16/32 */
				[0xd9 - 0xc4] = 1, 2, 4,      /* str 8/16/32 */
				[0xdc - 0xc4] = 2, 4, 2, 4,   /* array, map 16/32 */
			};
			static const unsigned char fixed[] = {
				[0xca - 0xc4] = 4, 8,         /* float 32/64 */
				1, 2, 4, 8, 1, 2, 4, 8,       /* uint, int 8..64 */
				2, 3, 5, 9, 17,               /* fixext 1..16 */
			};
			unsigned k = b - 0xc4, nl = lenbytes[k];

			if (nl == 0) {
				body = fixed[k];
			} else {
				uint64_t v;

				if (off + 1 + nl > n) { /* its length is not here yet */
					off += nl; /* more: at least off + 1 + nl + todo - 1 */
					goto more;
				}
				v = be(p + off + 1, (int)nl);
				head = 1 + nl;
				if (b >= 0xdc)
					items = b >= 0xde ? 2 * v : v;
				else
					body = v + (b >= 0xc7 && b <= 0xc9);
			}
		}
		if (body > limit || items > limit)
			return SCAN_BIG;
		off += head + body;
		todo += items - 1;
		/* every pending item takes at least one byte */
		if (off + todo > limit)
			return SCAN_BIG;
	}
	if (off > n) {
	more:
		*len = off + (todo ? todo : 0);
		return SCAN_MORE;
	}
	*len = off;
	return SCAN_WHOLE;
}

int st_msgpack_check(const void *p, size_t n, size_t limit, size_t *len)
{
	switch (scan_object(p, n, limit, len)) {
	case SCAN_WHOLE:
		return 1;
	case SCAN_MORE:
		return 0;
	default:
		return -1;
	}
}

int st_read(struct st_reader *rd, struct st_record **out, struct st_err *err)
{
	*out = NULL;
	if (rd->failed)
		return seterr(err, "stream already failed");
	for (;;) {
		size_t size = 0, need = 0, got, want;
		msgpack_unpack_return ur;
		struct st_record *r;
		enum scan sc;

		sc = scan_object((const unsigned char *)rd->mp.buffer + rd->mp.off,
				 pending(rd), rd->limit, &need);
		if (sc == SCAN_BAD)
			return fail(rd, err,
				    "record %zu at byte %llu: malformed msgpack",
				    rd->count + 1, (unsigned long long)rd->offset);
		if (sc == SCAN_BIG)
			return fail(rd, err,
				    "record %zu at byte %llu: declares more than the limit of %zu bytes",
				    rd->count + 1, (unsigned long long)rd->offset,
				    rd->limit);
		if (sc == SCAN_MORE) {
			if (rd->eof) {
				if (pending(rd) == 0)
					return 0;
				return fail(rd, err,
					    "truncated record %zu at byte %llu: stream ends after %zu of its bytes",
					    rd->count + 1,
					    (unsigned long long)rd->offset,
					    pending(rd));
			}
			if (need <= pending(rd)) /* the scanner's lower bound is past it */
				return fail(rd, err, "record %zu at byte %llu: internal error: "
					    "scanned %zu of %zu bytes", rd->count + 1,
					    (unsigned long long)rd->offset, need, pending(rd));
			want = need - pending(rd);
			if (want < CHUNK)
				want = CHUNK;
			if (!msgpack_unpacker_reserve_buffer(&rd->mp, want))
				return fail(rd, err,
					    "out of memory reading record %zu",
					    rd->count + 1);
			got = fread(msgpack_unpacker_buffer(&rd->mp), 1, want,
				    rd->f);
			msgpack_unpacker_buffer_consumed(&rd->mp, got);
			rd->fed += got;
			if (got < want) {
				if (ferror(rd->f))
					return fail(rd, err, "read error: %s",
						    strerror(errno));
				rd->eof = 1;
			}
			continue;
		}
		msgpack_unpacked_destroy(&rd->res);
		ur = msgpack_unpacker_next_with_size(&rd->mp, &rd->res, &size);
		if (ur != MSGPACK_UNPACK_SUCCESS || size != need)
			return fail(rd, err,
				    "record %zu at byte %llu: malformed msgpack%s",
				    rd->count + 1, (unsigned long long)rd->offset,
				    ur == MSGPACK_UNPACK_NOMEM_ERROR
					    ? " (out of memory)" : "");
		r = decode_record(&rd->res.data, err);
		msgpack_unpacked_destroy(&rd->res);
		if (!r) {
			char msg[sizeof err->msg];

			snprintf(msg, sizeof msg, "%s",
				 err ? err->msg : "invalid record");
			return fail(rd, err, "record %zu at byte %llu: %s",
				    rd->count + 1,
				    (unsigned long long)rd->offset, msg);
		}
		rd->count++;
		rd->offset += size;
		*out = r;
		return 1;
	}
}

/* --- writer --------------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void pack_tensor(msgpack_packer *pk, const struct st_tensor *t)
{
	size_t nb = st_tensor_nbytes(t);

	msgpack_pack_map(pk, 3);
	pack_str(pk, "dtype");
	pack_str(pk, st_dtype_name(t->dtype));
	pack_str(pk, "shape");
	msgpack_pack_array(pk, (size_t)t->ndim);
	for (int i = 0; i < t->ndim; i++)
		msgpack_pack_uint64(pk, (uint64_t)t->shape[i]);
	pack_str(pk, "data");
	msgpack_pack_bin(pk, nb);
	msgpack_pack_bin_body(pk, t->data, nb);
}

/* An sbuffer that remembers a failed write (msgpack's packer ignores it). */
struct wbuf {
	msgpack_sbuffer sb;
	int failed;
};

static int wbuf_write(void *data, const char *buf, size_t len)
{
	struct wbuf *w = data;

	if (!w->failed && msgpack_sbuffer_write(&w->sb, buf, len) != 0)
		w->failed = 1;
	return 0;
}

int st_serialize(const struct st_record *r, void **buf, size_t *len,
		 struct st_err *err)
{
	struct wbuf wb = { 0 };
	msgpack_packer pk;

	*buf = NULL;
	*len = 0;
	if (!r->id || !*r->id)
		return seterr(err, "record has no id");
	for (size_t i = 0; i < r->nfields; i++)
		if (r->fields[i].tensor &&
		    st_tensor_nbytes(r->fields[i].tensor) > UINT32_MAX)
			return seterr(err, "tensor '%s' over 4 GiB",
				      r->fields[i].name);
	msgpack_sbuffer_init(&wb.sb);
	msgpack_packer_init(&pk, &wb, wbuf_write);
	msgpack_pack_map(&pk, 1 + r->nfields + (r->nmeta ? 1 : 0));
	pack_str(&pk, "id");
	pack_str(&pk, r->id);
	for (size_t i = 0; i < r->nfields; i++) {
		const struct st_field *f = &r->fields[i];

		pack_str(&pk, f->name);
		if (f->tensor)
			pack_tensor(&pk, f->tensor);
		else
			wbuf_write(&wb, f->raw, f->rawlen);
	}
	if (r->nmeta) {
		pack_str(&pk, "meta");
		msgpack_pack_map(&pk, r->nmeta);
		for (size_t i = 0; i < r->nmeta; i++) {
			pack_str(&pk, r->meta[i].key);
			wbuf_write(&wb, r->meta[i].raw, r->meta[i].rawlen);
		}
	}
	if (wb.failed || !wb.sb.data) {
		msgpack_sbuffer_destroy(&wb.sb);
		return seterr(err, "out of memory");
	}
	*buf = wb.sb.data;
	*len = wb.sb.size;
	return 0;
}

int st_write(FILE *f, const struct st_record *r, struct st_err *err)
{
	void *buf;
	size_t len;
	int rc = 0;

	if (st_serialize(r, &buf, &len, err) < 0)
		return -1;
	if (fwrite(buf, 1, len, f) != len)
		rc = seterr(err, "write error: %s", strerror(errno));
	free(buf);
	return rc;
}
