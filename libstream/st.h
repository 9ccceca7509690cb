/*
 * st.h - the tensor stream: records of named tensors and meta data, as a
 * concatenation of msgpack maps (no header), read from and written to any
 * FILE * (pipes included).
 *
 * A record is { "id": str, <name>: tensor..., "meta": map, <other>: any }.
 * A tensor is { "dtype": "u8"|"i16"|"u16"|"i32"|"f32", "shape": [d0, d1, ...],
 * "data": bin } with little-endian, row-major data of exactly
 * prod(shape) * element size bytes.  Top-level keys and meta values the
 * library does not interpret are kept as raw msgpack and written back
 * untouched, so every filter passes unknown fields through.
 *
 * Contract: no function here prints or exits.  Functions that can fail return
 * a negative value (or NULL) and fill a caller-supplied struct st_err.
 * Memory: reading holds one record (plus the msgpack buffer holding it).
 *
 * Not done here: compression, random access, schema beyond the above.
 */
#ifndef ST_H
#define ST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ST_MAX_DIMS 8
#define ST_DEFAULT_LIMIT ((size_t)1 << 30) /* 1 GiB per record */

struct st_err {
	char msg[512];
};

enum st_dtype { ST_U8, ST_I16, ST_U16, ST_I32, ST_F32 };

struct st_tensor {
	enum st_dtype dtype;
	int ndim;
	int64_t shape[ST_MAX_DIMS]; /* conventionally (C, H, W) */
	void *data; /* host memory from malloc(), little-endian, row-major;
		     * st_tensor_free() calls free() on it, so a caller may
		     * hand over its own malloc'd buffer of the right size */
};

struct st_record;
struct st_reader;

/* --- dtypes --------------------------------------------------------------- */
size_t st_dtype_size(enum st_dtype t);
const char *st_dtype_name(enum st_dtype t);
/* Returns 0 and sets *t, or -1 when name is not one of the five dtypes. */
int st_dtype_parse(const char *name, enum st_dtype *t);

/* --- tensors -------------------------------------------------------------- */
/* A new zero-filled tensor; NULL (with err) on a bad shape or no memory. */
struct st_tensor *st_tensor_new(enum st_dtype t, int ndim, const int64_t *shape,
				struct st_err *err);
struct st_tensor *st_tensor_new3(enum st_dtype t, int64_t c, int64_t h,
				 int64_t w, struct st_err *err);
void st_tensor_free(struct st_tensor *t);
struct st_tensor *st_tensor_clone(const struct st_tensor *t, struct st_err *err);
size_t st_tensor_numel(const struct st_tensor *t);
size_t st_tensor_nbytes(const struct st_tensor *t);
/* Element i as a double, and element i set from a double (rounded to nearest
 * and saturated to the range for integer dtypes; NaN becomes 0). */
double st_tensor_get(const struct st_tensor *t, size_t i);
void st_tensor_set(struct st_tensor *t, size_t i, double v);
/* A copy converted to dtype `to` with st_tensor_set's rounding rules. */
struct st_tensor *st_tensor_convert(const struct st_tensor *t,
				    enum st_dtype to, struct st_err *err);
/* Shape as "1x256x256" into buf. */
const char *st_shape_str(const struct st_tensor *t, char *buf, size_t len);

/* --- records -------------------------------------------------------------- */
struct st_record *st_record_new(const char *id, struct st_err *err);
void st_record_free(struct st_record *r);
const char *st_record_id(const struct st_record *r);
int st_record_set_id(struct st_record *r, const char *id, struct st_err *err);

/* Tensors by name: get (NULL when absent or not a tensor), set (takes
 * ownership of t, replacing a field of that name), take (removes and returns
 * it, caller frees), remove (0 when removed, -1 when absent). */
struct st_tensor *st_record_tensor(const struct st_record *r, const char *name);
int st_record_set_tensor(struct st_record *r, const char *name,
			 struct st_tensor *t, struct st_err *err);
struct st_tensor *st_record_take_tensor(struct st_record *r, const char *name);
int st_record_remove(struct st_record *r, const char *name);
/* Fields other than id and meta, in stream order; is_tensor tells tensors
 * from raw values.  Returns the name, NULL past the end. */
size_t st_record_nfields(const struct st_record *r);
const char *st_record_field(const struct st_record *r, size_t i,
			    struct st_tensor **tensor);

/* Meta entries.  Values are strings, numbers (int or float), arrays of
 * numbers, or anything else msgpack holds (kept raw).  get_* return 0 on
 * success, -1 when absent or of another type.  *_str results point into the
 * record and live until it changes. */
int st_meta_has(const struct st_record *r, const char *key);
int st_meta_get_str(const struct st_record *r, const char *key, const char **s);
int st_meta_get_num(const struct st_record *r, const char *key, double *v);
/* Copies up to max numbers of an array (or one scalar) into v, sets *n to
 * the array's length. */
int st_meta_get_nums(const struct st_record *r, const char *key, double *v,
		     size_t max, size_t *n);
int st_meta_set_str(struct st_record *r, const char *key, const char *s,
		    struct st_err *err);
int st_meta_set_num(struct st_record *r, const char *key, double v,
		    struct st_err *err);
int st_meta_set_int(struct st_record *r, const char *key, int64_t v,
		    struct st_err *err);
int st_meta_set_nums(struct st_record *r, const char *key, const double *v,
		     size_t n, struct st_err *err);
int st_meta_remove(struct st_record *r, const char *key);
size_t st_meta_count(const struct st_record *r);
const char *st_meta_key(const struct st_record *r, size_t i);
/* A meta value as text: strings as they are, numbers with %.10g, arrays as
 * "a,b,c", anything else as "<map>" and the like. */
const char *st_meta_text(const struct st_record *r, const char *key,
			 char *buf, size_t len);

/* --- reading -------------------------------------------------------------- */
/* name is used in messages ("-" or a path).  f is not closed by the reader. */
struct st_reader *st_reader_new(FILE *f, const char *name, struct st_err *err);
void st_reader_free(struct st_reader *rd);
void st_reader_set_limit(struct st_reader *rd, size_t max_record_bytes);
/* 1: *out holds the next record (caller frees); 0: clean end of stream;
 * -1: error in err ("truncated record ...", "malformed msgpack ...",
 * "record N: ..."); the stream cannot continue after an error. */
int st_read(struct st_reader *rd, struct st_record **out, struct st_err *err);
/* Records read so far (so the 1-based number of the last one, as in the
 * "record N" of messages), and the bytes of those records. */
size_t st_reader_count(const struct st_reader *rd);
uint64_t st_reader_offset(const struct st_reader *rd);

/* Walks the msgpack object at p[0..n) without decoding it (msgpack-c
 * allocates a container's items as soon as it reads the header, so hand it
 * only what this accepts): 1 and *len its size when it is whole, every
 * declared count backed by bytes and no more than limit bytes declared;
 * 0 when it is cut short (*len: at least that many bytes needed); -1 when
 * malformed or declaring more than limit. */
int st_msgpack_check(const void *p, size_t n, size_t limit, size_t *len);

/* --- writing -------------------------------------------------------------- */
/* Serialises the whole record, then writes it with one fwrite.  -1 on an
 * invalid record (no id) or a write error (errno kept). */
int st_write(FILE *f, const struct st_record *r, struct st_err *err);
/* The record serialised into a malloc'd buffer (caller frees). */
int st_serialize(const struct st_record *r, void **buf, size_t *len,
		 struct st_err *err);

#endif
