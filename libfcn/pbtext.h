/*
 * pbtext.h - a small parser for the protobuf text format as used by Caffe
 * net descriptions: fields "name: value" and messages "name { ... }" (or
 * "name: { ... }", "name < ... >"), # comments, quoted strings, numbers and
 * enum identifiers, "name: [a, b]" lists.  It builds an untyped tree; the
 * layer code reads the fields it knows and marks them used, and
 * pb_check_used reports the first field nobody read ("path:line: ...").
 *
 * Not done here: schemas, escapes beyond \" \\ \n \t, binary protobuf.
 */
#ifndef FCN_PBTEXT_H
#define FCN_PBTEXT_H

#include "fcn.h"

struct pb_node {
	char *name;
	char *value;  /* scalar text (strings unquoted), NULL for a message */
	int quoted;   /* value was a "string" */
	int line;
	int used;
	const char *path; /* owned by the root */
	struct pb_node *child, *next;
};

/* The root message (name "", children the top-level fields) or NULL. */
struct pb_node *pb_parse(const char *text, const char *path,
			 struct fcn_err *err);
void pb_free(struct pb_node *root);

/* The i-th (0-based) field called name in msg, NULL if fewer; marks it. */
struct pb_node *pb_nth(struct pb_node *msg, const char *name, int i);
int pb_count(const struct pb_node *msg, const char *name);

/* Scalar getters: 0 when absent (out unchanged) or parsed, -1 on a bad
 * value (message names path:line and the value). */
int pb_get_int(struct pb_node *msg, const char *name, long lo, long hi,
	       int *out, struct fcn_err *err);
int pb_get_float(struct pb_node *msg, const char *name, float *out,
		 struct fcn_err *err);
int pb_get_bool(struct pb_node *msg, const char *name, int *out,
		struct fcn_err *err);
int pb_get_str(struct pb_node *msg, const char *name, const char **out,
	       struct fcn_err *err);
/* names: NULL-terminated list of accepted identifiers; *out its index. */
int pb_get_enum(struct pb_node *msg, const char *name,
		const char *const *names, int *out, struct fcn_err *err);
/* Repeated ints/floats: all occurrences in order; *n their count. */
int pb_get_ints(struct pb_node *msg, const char *name, long lo, long hi,
		int *out, int max, int *n, struct fcn_err *err);
int pb_get_floats(struct pb_node *msg, const char *name, float *out, int max,
		  int *n, struct fcn_err *err);
int pb_get_bools(struct pb_node *msg, const char *name, int *out, int max,
		 int *n, struct fcn_err *err);
/* Marks every field of msg (and below) used: for ignored messages. */
void pb_mark_all(struct pb_node *msg);
/* -1 with "path:line: unknown field 'x' in what" for the first field of
 * msg that no getter read. */
int pb_check_used(const struct pb_node *msg, const char *what,
		  struct fcn_err *err);
/* Fills err with "path:line: " + printf text; returns -1. */
int pb_error(const struct pb_node *n, struct fcn_err *err, const char *fmt,
	     ...) __attribute__((format(printf, 3, 4)));

#endif
