/*
 * util.h - what every program in filters/ shares: the program name, one-line
 * diagnostics, checked allocation, range-checked number parsing, opening
 * inputs ("-" is stdin), atomic output files, and a checked close of stdout.
 *
 * Only programs use this (it may exit); the libraries never do.
 * Exit codes: 0 ok, 1 data or I/O error, 2 usage error.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "st.h"

#define EXIT_DATA 1
#define EXIT_USAGE 2

extern const char *argv0;

/* Sets argv0 from argv[0] (basename). */
void set_argv0(const char *arg);

/* "argv0: " + message; a format ending in ':' appends strerror(errno). */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message, then "Try 'argv0 --help'." on stderr; exit 2. */
_Noreturn void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

void *emalloc(size_t n);
void *ecalloc(size_t n, size_t size);
void *ereallocarray(void *p, size_t n, size_t size);
char *estrdup(const char *s);

/* Parse a whole string as a number within [lo, hi]; usage_error naming the
 * option otherwise. */
long long parse_int(const char *opt, const char *s, long long lo, long long hi);
double parse_double(const char *opt, const char *s, double lo, double hi);
/* "256x256" -> *h = 256, *w = 256 (H x W). */
void parse_size(const char *opt, const char *s, long *h, long *w);

/* Opens path for reading ("-" is stdin); dies with "argv0: path: strerror". */
FILE *open_input(const char *path);
void close_input(FILE *f);

/* Write fmt to stdout-ish report; flush and close stdout, returning 1 when a
 * write failed (reported once), else 0. */
int fshut(FILE *f, const char *name);

/* Atomic output file: data goes to "path.tmpXXXXXX" next to it; commit
 * fflushes, fsyncs, closes and renames; abort removes the temp file, and so
 * does exit() (die() included) for files neither committed nor aborted. */
struct atomic_file {
	FILE *f;
	char *path;
	char *tmp;
};
int atomic_open(struct atomic_file *af, const char *path);   /* -1, errno */
int atomic_commit(struct atomic_file *af);                   /* -1, errno */
void atomic_abort(struct atomic_file *af);

/* Reports on stdout: s as a JSON string (quoted, with the escapes RFC 8259
 * requires), or as a TSV cell (tabs and line breaks become spaces). */
void json_str(const char *s);
void tsv_str(const char *s);

/* --help: prints nothing itself; exits 0, or 1 when stdout failed. */
_Noreturn void help_exit(void);

/* The whole file at path (NUL-terminated beyond *len, so text may be used as
 * a string) in a malloc'd buffer: 0, or -1 with "PATH: what" in err (cannot
 * be opened or read, or larger than max bytes). */
int read_file(const char *path, size_t max, char **buf, size_t *len,
	      char *err, size_t errlen);

/* Stream helpers for the common read-process-write loop. */
struct st_reader *reader_open(FILE *f, const char *name); /* dies on error */
/* Writes r to f; dies "argv0: stdout: ..." on failure. */
void write_record(FILE *f, const struct st_record *r);

/*
 * The record loop every program shares: the inputs named on the command line
 * (none, or "-", is standard input), one after another, as one sequence of
 * records numbered from 1 across all of them.
 *
 *	struct walker w;
 *	struct st_record *r;
 *
 *	walk_open(&w, argv + optind, argc - optind);
 *	while (walk_next(&w, &r)) {
 *		if (!st_record_tensor(r, "image"))
 *			walk_die(&w, "no 'image' tensor");
 *		...
 *		st_record_free(r);
 *	}
 *	walk_close(&w);
 *
 * A stream error dies as "argv0: FILE: what" (or, with keep_going, warns so
 * and goes on with the next input); walk_die() says which record:
 * "argv0: FILE: record N (id): what".  Records before a bad one have been
 * handed out whole; nothing of the bad one is.
 */
struct walker {
	char **files;
	int nfiles;
	int next;                   /* index of the next file to open */
	const char *name;           /* the current file ("-" for stdin) */
	FILE *f;
	struct st_reader *rd;
	size_t index;               /* the current record, from 1 */
	char id[128];               /* the current record's id (shortened) */
	/* Set after walk_open, before the first walk_next: */
	size_t limit;               /* the readers' size limit (0: default) */
	int keep_going;             /* a stream error: warn, go on with the next
				     * input, and count it in errors */
	size_t errors;              /* stream errors so far (keep_going) */
};

void walk_open(struct walker *w, char **files, int nfiles);
/* 1 and *r (the caller frees it), or 0 after the last record of the last
 * input. */
int walk_next(struct walker *w, struct st_record **r);
void walk_close(struct walker *w);
/* "argv0: FILE: record N (id): what" and exit 1; a format ending in ':'
 * appends strerror(errno). */
_Noreturn void walk_die(const struct walker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void walk_warn(const struct walker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "FILE: record N (id)" into buf, for messages built elsewhere. */
const char *walk_where(const struct walker *w, char *buf, size_t len);

#endif
