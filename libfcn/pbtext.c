/*
 * pbtext.c - protobuf text format to an untyped tree (see pbtext.h).
 */
#include "pbtext.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lexer {
	const char *p;
	int line;
	const char *path;
	struct fcn_err *err;
};

int pb_error(const struct pb_node *n, struct fcn_err *err, const char *fmt,
	     ...)
{
	va_list ap;
	int k;

	k = snprintf(err->msg, sizeof err->msg, "%s:%d: ", n->path, n->line);
	if (k < 0 || (size_t)k >= sizeof err->msg)
		k = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg + k, sizeof err->msg - (size_t)k, fmt, ap);
	va_end(ap);
	return -1;
}

static int lex_error(struct lexer *lx, const char *what)
{
	snprintf(lx->err->msg, sizeof lx->err->msg, "%s:%d: %s", lx->path,
		 lx->line, what);
	return -1;
}

static void skip_space(struct lexer *lx)
{
	for (;;) {
		while (isspace((unsigned char)*lx->p)) {
			if (*lx->p == '\n')
				lx->line++;
			lx->p++;
		}
		if (*lx->p != '#')
			return;
		while (*lx->p && *lx->p != '\n')
			lx->p++;
	}
}

static int is_ident(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-' || c == '+';
}

static struct pb_node *node_new(struct lexer *lx, const char *name, size_t len)
{
	struct pb_node *n = calloc(1, sizeof *n);

	if (!n || !(n->name = strndup(name, len))) {
		free(n);
		lex_error(lx, "out of memory");
		return NULL;
	}
	n->line = lx->line;
	n->path = lx->path;
	return n;
}

/* A scalar: "string" (adjacent strings concatenate) or a bare token. */
static int parse_scalar(struct lexer *lx, struct pb_node *n)
{
	if (*lx->p == '"' || *lx->p == '\'') {
		size_t cap = 64, len = 0;
		char *s = malloc(cap);

		if (!s)
			return lex_error(lx, "out of memory");
		while (*lx->p == '"' || *lx->p == '\'') {
			char q = *lx->p++;

			while (*lx->p && *lx->p != q) {
				char c = *lx->p++;

				if (c == '\n') {
					free(s);
					return lex_error(lx, "newline in string");
				}
				if (c == '\\' && *lx->p) {
					c = *lx->p++;
					c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
				}
				if (len + 2 > cap) {
					char *t = realloc(s, cap *= 2);

					if (!t) {
						free(s);
						return lex_error(lx, "out of memory");
					}
					s = t;
				}
				s[len++] = c;
			}
			if (*lx->p != q) {
				free(s);
				return lex_error(lx, "unterminated string");
			}
			lx->p++;
			skip_space(lx);
		}
		s[len] = '\0';
		n->value = s;
		n->quoted = 1;
		return 0;
	}
	const char *s = lx->p;

	while (is_ident((unsigned char)*lx->p))
		lx->p++;
	if (lx->p == s)
		return lex_error(lx, "expected a value");
	n->value = strndup(s, (size_t)(lx->p - s));
	if (!n->value)
		return lex_error(lx, "out of memory");
	skip_space(lx);
	return 0;
}

/* Fields up to `close` ('}' / '>', or '\0' at top level), appended to msg. */
static int parse_fields(struct lexer *lx, struct pb_node *msg, char close,
			int depth)
{
	struct pb_node **tail = &msg->child;

	if (depth > 64)
		return lex_error(lx, "messages nested too deeply");
	for (;;) {
		skip_space(lx);
		if (*lx->p == close) {
			if (close)
				lx->p++;
			return 0;
		}
		if (!*lx->p)
			return lex_error(lx, "unexpected end of text (missing '}')");
		const char *name = lx->p;

		if (!isalpha((unsigned char)*lx->p) && *lx->p != '_')
			return lex_error(lx, "expected a field name");
		while (isalnum((unsigned char)*lx->p) || *lx->p == '_')
			lx->p++;
		size_t len = (size_t)(lx->p - name);
		int line = lx->line;

		skip_space(lx);
		int colon = *lx->p == ':';

		if (colon) {
			lx->p++;
			skip_space(lx);
		}
		if (*lx->p == '{' || *lx->p == '<') {
			char end = *lx->p == '{' ? '}' : '>';
			struct pb_node *n = node_new(lx, name, len);

			if (!n)
				return -1;
			n->line = line;
			*tail = n;
			tail = &n->next;
			lx->p++;
			if (parse_fields(lx, n, end, depth + 1) < 0)
				return -1;
		} else if (!colon) {
			return lex_error(lx, "expected ':' or '{' after a field name");
		} else if (*lx->p == '[') {
			lx->p++;
			skip_space(lx);
			while (*lx->p != ']') {
				struct pb_node *n = node_new(lx, name, len);

				if (!n)
					return -1;
				*tail = n;
				tail = &n->next;
				if (parse_scalar(lx, n) < 0)
					return -1;
				if (*lx->p == ',') {
					lx->p++;
					skip_space(lx);
				} else if (*lx->p != ']') {
					return lex_error(lx, "expected ',' or ']'");
				}
			}
			lx->p++;
		} else {
			struct pb_node *n = node_new(lx, name, len);

			if (!n)
				return -1;
			*tail = n;
			tail = &n->next;
			if (parse_scalar(lx, n) < 0)
				return -1;
		}
		skip_space(lx);
		if (*lx->p == ',' || *lx->p == ';')
			lx->p++;
	}
}

struct pb_node *pb_parse(const char *text, const char *path,
			 struct fcn_err *err)
{
	struct lexer lx = { text, 1, NULL, err };
	struct pb_node *root = calloc(1, sizeof *root);
	char *p = strdup(path ? path : "-");

	if (!root || !p || !(root->name = strdup(""))) {
		free(root);
		free(p);
		snprintf(err->msg, sizeof err->msg, "out of memory");
		return NULL;
	}
	/* The root owns the path string through its value field. */
	root->value = p;
	root->path = lx.path = p;
	if (parse_fields(&lx, root, '\0', 0) < 0) {
		pb_free(root);
		return NULL;
	}
	return root;
}

static void free_nodes(struct pb_node *n)
{
	while (n) {
		struct pb_node *next = n->next;

		free_nodes(n->child);
		free(n->name);
		free(n->value);
		free(n);
		n = next;
	}
}

void pb_free(struct pb_node *root)
{
	free_nodes(root);
}

struct pb_node *pb_nth(struct pb_node *msg, const char *name, int i)
{
	for (struct pb_node *n = msg ? msg->child : NULL; n; n = n->next)
		if (!strcmp(n->name, name) && i-- == 0) {
			n->used = 1;
			return n;
		}
	return NULL;
}

int pb_count(const struct pb_node *msg, const char *name)
{
	int k = 0;

	for (const struct pb_node *n = msg ? msg->child : NULL; n; n = n->next)
		k += !strcmp(n->name, name);
	return k;
}

static struct pb_node *last_scalar(struct pb_node *msg, const char *name,
				   struct fcn_err *err, int *rc)
{
	struct pb_node *found = NULL;

	*rc = 0;
	for (struct pb_node *n = msg ? msg->child : NULL; n; n = n->next)
		if (!strcmp(n->name, name)) {
			n->used = 1;
			found = n;
		}
	if (found && !found->value)
		*rc = pb_error(found, err, "'%s' needs a value, not a message",
			       name);
	return *rc ? NULL : found;
}

static int parse_long(const struct pb_node *n, long lo, long hi, long *v,
		      struct fcn_err *err)
{
	char *end;

	errno = 0;
	*v = strtol(n->value, &end, 10);
	if (n->quoted || errno || end == n->value || *end || *v < lo || *v > hi)
		return pb_error(n, err, "%s: bad value '%s' (an integer in %ld..%ld)",
				n->name, n->value, lo, hi);
	return 0;
}

static int parse_float(const struct pb_node *n, float *v, struct fcn_err *err)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(n->value, &end);
	if (*end == 'f' || *end == 'F')
		end++;
	if (n->quoted || errno || end == n->value || *end || !isfinite(d))
		return pb_error(n, err, "%s: bad number '%s'", n->name, n->value);
	*v = (float)d;
	return 0;
}

int pb_get_int(struct pb_node *msg, const char *name, long lo, long hi,
	       int *out, struct fcn_err *err)
{
	int rc;
	long v;
	struct pb_node *n = last_scalar(msg, name, err, &rc);

	if (rc || !n)
		return rc;
	if (parse_long(n, lo, hi, &v, err) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

int pb_get_float(struct pb_node *msg, const char *name, float *out,
		 struct fcn_err *err)
{
	int rc;
	struct pb_node *n = last_scalar(msg, name, err, &rc);

	if (rc || !n)
		return rc;
	return parse_float(n, out, err);
}

int pb_get_bool(struct pb_node *msg, const char *name, int *out,
		struct fcn_err *err)
{
	int rc;
	struct pb_node *n = last_scalar(msg, name, err, &rc);

	if (rc || !n)
		return rc;
	if (!n->quoted && (!strcmp(n->value, "true") || !strcmp(n->value, "True") ||
			   !strcmp(n->value, "1")))
		*out = 1;
	else if (!n->quoted && (!strcmp(n->value, "false") ||
				!strcmp(n->value, "False") || !strcmp(n->value, "0")))
		*out = 0;
	else
		return pb_error(n, err, "%s: bad value '%s' (true or false)",
				name, n->value);
	return 0;
}

int pb_get_str(struct pb_node *msg, const char *name, const char **out,
	       struct fcn_err *err)
{
	int rc;
	struct pb_node *n = last_scalar(msg, name, err, &rc);

	if (rc || !n)
		return rc;
	*out = n->value;
	return 0;
}

int pb_get_enum(struct pb_node *msg, const char *name,
		const char *const *names, int *out, struct fcn_err *err)
{
	int rc;
	struct pb_node *n = last_scalar(msg, name, err, &rc);

	if (rc || !n)
		return rc;
	for (int i = 0; names[i]; i++)
		if (!strcmp(n->value, names[i])) {
			*out = i;
			return 0;
		}
	char list[256] = "";

	for (int i = 0; names[i]; i++) {
		strncat(list, names[i], sizeof list - strlen(list) - 1);
		if (names[i + 1])
			strncat(list, ", ", sizeof list - strlen(list) - 1);
	}
	return pb_error(n, err, "%s: unknown value '%s' (one of %s)", name,
			n->value, list);
}

int pb_get_ints(struct pb_node *msg, const char *name, long lo, long hi,
		int *out, int max, int *n, struct fcn_err *err)
{
	long v;
	struct pb_node *f;

	*n = 0;
	for (int i = 0; (f = pb_nth(msg, name, i)); i++) {
		if (!f->value)
			return pb_error(f, err, "'%s' needs a value", name);
		if (*n >= max)
			return pb_error(f, err, "too many '%s' values (at most %d)",
					name, max);
		if (parse_long(f, lo, hi, &v, err) < 0)
			return -1;
		out[(*n)++] = (int)v;
	}
	return 0;
}

int pb_get_floats(struct pb_node *msg, const char *name, float *out, int max,
		  int *n, struct fcn_err *err)
{
	struct pb_node *f;

	*n = 0;
	for (int i = 0; (f = pb_nth(msg, name, i)); i++) {
		if (!f->value)
			return pb_error(f, err, "'%s' needs a value", name);
		if (*n >= max)
			return pb_error(f, err, "too many '%s' values (at most %d)",
					name, max);
		if (parse_float(f, &out[*n], err) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

int pb_get_bools(struct pb_node *msg, const char *name, int *out, int max,
		 int *n, struct fcn_err *err)
{
	struct pb_node *f;

	*n = 0;
	for (int i = 0; (f = pb_nth(msg, name, i)); i++) {
		const char *v = f->value;

		if (!v || f->quoted)
			return pb_error(f, err, "%s: needs true or false", name);
		if (*n >= max)
			return pb_error(f, err, "too many '%s' values (at most %d)",
					name, max);
		if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1"))
			out[(*n)++] = 1;
		else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "0"))
			out[(*n)++] = 0;
		else
			return pb_error(f, err, "%s: bad value '%s' (true or false)",
					name, v);
	}
	return 0;
}

void pb_mark_all(struct pb_node *msg)
{
	for (struct pb_node *n = msg ? msg->child : NULL; n; n = n->next) {
		n->used = 1;
		pb_mark_all(n);
	}
}

int pb_check_used(const struct pb_node *msg, const char *what,
		  struct fcn_err *err)
{
	for (const struct pb_node *n = msg ? msg->child : NULL; n; n = n->next)
		if (!n->used)
			return pb_error(n, err, "unknown field '%s' in %s", n->name,
					what);
	return 0;
}
