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
 * fflushes, fsyncs, closes and renames; abort removes the temp file. */
struct atomic_file {
	FILE *f;
	char *path;
	char *tmp;
};
int atomic_open(struct atomic_file *af, const char *path);   /* -1, errno */
int atomic_commit(struct atomic_file *af);                   /* -1, errno */
void atomic_abort(struct atomic_file *af);

/* Stream helpers for the common read-process-write loop. */
struct st_reader *reader_open(FILE *f, const char *name); /* dies on error */
/* Writes r to f; dies "argv0: stdout: ..." on failure. */
void write_record(FILE *f, const struct st_record *r);

#endif
