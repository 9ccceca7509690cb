/* util.c - see util.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

const char *argv0 = "lvseg";

void set_argv0(const char *arg)
{
	const char *slash;

	if (!arg || !*arg)
		return;
	slash = strrchr(arg, '/');
	argv0 = slash ? slash + 1 : arg;
}

static void vwarn(const char *fmt, va_list ap)
{
	int saved = errno;
	size_t n = strlen(fmt);

	fprintf(stderr, "%s: ", argv0);
	vfprintf(stderr, fmt, ap);
	if (n && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
}

void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(EXIT_DATA);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", argv0);
	exit(EXIT_USAGE);
}

void *emalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

void *ecalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *ereallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		die("out of memory (%zu x %zu bytes overflows)", n, size);
	p = realloc(p, n && size ? n * size : 1);
	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

char *estrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die("out of memory");
	return p;
}

long long parse_int(const char *opt, const char *s, long long lo, long long hi)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		usage_error("%s: '%s' is not an integer", opt, s);
	if (v < lo || v > hi)
		usage_error("%s: '%s' is out of range [%lld, %lld]", opt, s, lo,
			    hi);
	return v;
}

double parse_double(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v))
		usage_error("%s: '%s' is not a number", opt, s);
	if (v < lo || v > hi)
		usage_error("%s: '%s' is out of range [%g, %g]", opt, s, lo, hi);
	return v;
}

void parse_size(const char *opt, const char *s, long *h, long *w)
{
	char *end, *end2;
	long a, b;

	errno = 0;
	a = strtol(s, &end, 10);
	if (end == s || (*end != 'x' && *end != 'X'))
		usage_error("%s: '%s' is not a size like 256x256", opt, s);
	b = strtol(end + 1, &end2, 10);
	if (end2 == end + 1 || *end2 || errno || a < 1 || b < 1 || a > 65535 ||
	    b > 65535)
		usage_error("%s: '%s' is not a size like 256x256 (1 to 65535)",
			    opt, s);
	*h = a;
	*w = b;
}

FILE *open_input(const char *path)
{
	FILE *f;

	if (strcmp(path, "-") == 0)
		return stdin;
	if (!(f = fopen(path, "rb")))
		die("%s:", path);
	return f;
}

void close_input(FILE *f)
{
	if (f && f != stdin)
		fclose(f);
}

int fshut(FILE *f, const char *name)
{
	int bad = 0;

	if (fflush(f) != 0 || ferror(f)) {
		if (errno != EPIPE) /* a reader that stopped: end quietly */
			warn("%s: write error:", name);
		bad = 1;
	}
	if (fclose(f) != 0 && !bad) {
		if (errno != EPIPE)
			warn("%s: close error:", name);
		bad = 1;
	}
	return bad;
}

/* Temp files of atomic outputs not yet committed or aborted: removed at
 * exit, so that die() (or an allocation failure anywhere) never leaves one
 * behind. */
#define ATOMIC_MAX 16
static char *atomic_live[ATOMIC_MAX]; /* copies of the temp paths */

static void atomic_cleanup(void)
{
	for (int i = 0; i < ATOMIC_MAX; i++)
		if (atomic_live[i])
			unlink(atomic_live[i]);
}

static void atomic_track(const struct atomic_file *af, int on)
{
	static int registered;

	if (!af->tmp)
		return;
	if (on && !registered)
		registered = atexit(atomic_cleanup) == 0;
	for (int i = 0; i < ATOMIC_MAX; i++) {
		if (on && !atomic_live[i]) {
			atomic_live[i] = strdup(af->tmp); /* NULL: not tracked */
			return;
		}
		if (!on && atomic_live[i] && !strcmp(atomic_live[i], af->tmp)) {
			free(atomic_live[i]);
			atomic_live[i] = NULL;
			return;
		}
	}
}

int atomic_open(struct atomic_file *af, const char *path)
{
	size_t n = strlen(path);
	int fd;

	memset(af, 0, sizeof *af);
	af->path = estrdup(path);
	af->tmp = emalloc(n + sizeof ".tmpXXXXXX");
	memcpy(af->tmp, path, n);
	memcpy(af->tmp + n, ".tmpXXXXXX", sizeof ".tmpXXXXXX");
	if ((fd = mkstemp(af->tmp)) < 0)
		goto fail;
	{
		mode_t um = umask(0);

		umask(um);
		fchmod(fd, 0666 & ~um);
	}
	if (!(af->f = fdopen(fd, "wb"))) {
		int saved = errno;

		close(fd);
		unlink(af->tmp);
		errno = saved;
		goto fail;
	}
	atomic_track(af, 1);
	return 0;
fail:
	free(af->path);
	free(af->tmp);
	af->path = af->tmp = NULL;
	return -1;
}

int atomic_commit(struct atomic_file *af)
{
	int rc = 0, saved;

	atomic_track(af, 0);
	if (fflush(af->f) != 0 || ferror(af->f) || fsync(fileno(af->f)) != 0)
		rc = -1;
	saved = errno;
	if (fclose(af->f) != 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	af->f = NULL;
	if (rc == 0 && rename(af->tmp, af->path) != 0) {
		rc = -1;
		saved = errno;
	}
	if (rc != 0)
		unlink(af->tmp);
	free(af->path);
	free(af->tmp);
	af->path = af->tmp = NULL;
	errno = saved;
	return rc;
}

void atomic_abort(struct atomic_file *af)
{
	atomic_track(af, 0);
	if (af->f)
		fclose(af->f);
	if (af->tmp)
		unlink(af->tmp);
	free(af->path);
	free(af->tmp);
	memset(af, 0, sizeof *af);
}

struct st_reader *reader_open(FILE *f, const char *name)
{
	struct st_err err;
	struct st_reader *rd = st_reader_new(f, name, &err);

	if (!rd)
		die("%s: %s", name, err.msg);
	return rd;
}

void write_record(FILE *f, const struct st_record *r)
{
	struct st_err err;

	if (st_write(f, r, &err) < 0) {
		if (errno == EPIPE) /* the reader stopped (SIGPIPE ignored) */
			exit(EXIT_DATA);
		die("stdout: %s", err.msg);
	}
}

void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

void tsv_str(const char *s)
{
	for (; *s; s++)
		putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

void help_exit(void)
{
	exit(fshut(stdout, "stdout"));
}

int read_file(const char *path, size_t max, char **buf, size_t *len,
	      char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, cap = 4096;
	char *b;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	b = emalloc(cap + 1);
	for (;;) {
		n += fread(b + n, 1, cap - n, f);
		if (n < cap || n > max)
			break;
		cap *= 2;
		b = ereallocarray(b, cap + 1, 1);
	}
	if (ferror(f))
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (n > max)
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
	else {
		fclose(f);
		b[n] = '\0';
		*buf = b;
		*len = n;
		return 0;
	}
	fclose(f);
	free(b);
	return -1;
}

static char *stdin_only[] = {"-"};

void walk_open(struct walker *w, char **files, int nfiles)
{
	*w = (struct walker){.files = files, .nfiles = nfiles};
	if (nfiles <= 0) {
		w->files = stdin_only;
		w->nfiles = 1;
	}
	w->name = w->files[0];
}

int walk_next(struct walker *w, struct st_record **r)
{
	struct st_err err;
	int rc;

	for (;;) {
		if (!w->rd) {
			if (w->next >= w->nfiles)
				return 0;
			w->name = w->files[w->next++];
			w->f = open_input(w->name);
			w->rd = reader_open(w->f, w->name);
			if (w->limit)
				st_reader_set_limit(w->rd, w->limit);
		}
		rc = st_read(w->rd, r, &err);
		if (rc < 0 && !w->keep_going)
			die("%s: %s", w->name, err.msg);
		if (rc < 0) {
			warn("%s: %s", w->name, err.msg);
			w->errors++;
		}
		if (rc == 1) {
			w->index++;
			snprintf(w->id, sizeof w->id, "%s", st_record_id(*r));
			return 1;
		}
		st_reader_free(w->rd);
		close_input(w->f);
		w->rd = NULL;
		w->f = NULL;
	}
}

void walk_close(struct walker *w)
{
	if (w->rd) {
		st_reader_free(w->rd);
		close_input(w->f);
	}
	w->rd = NULL;
	w->f = NULL;
}

const char *walk_where(const struct walker *w, char *buf, size_t len)
{
	if (w->index)
		snprintf(buf, len, "%s: record %zu (%s)", w->name, w->index, w->id);
	else
		snprintf(buf, len, "%s", w->name);
	return buf;
}

static void walk_vwarn(const struct walker *w, const char *fmt, va_list ap)
{
	char where[512], msg[1024];
	int saved = errno;
	size_t n = strlen(fmt);

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (n && fmt[n - 1] == ':')
		warn("%s: %s %s", walk_where(w, where, sizeof where), msg,
		     strerror(saved));
	else
		warn("%s: %s", walk_where(w, where, sizeof where), msg);
}

void walk_die(const struct walker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vwarn(w, fmt, ap);
	va_end(ap);
	exit(EXIT_DATA);
}

void walk_warn(const struct walker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vwarn(w, fmt, ap);
	va_end(ap);
}
