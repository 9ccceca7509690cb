/*
 * failshim.c - failure injection for the tests, loaded with LD_PRELOAD (as
 * jq's tests do with theirs): counts the calls a program makes to read,
 * fread, write, fwrite, fsync, rename, malloc, calloc and realloc, and makes
 * exactly one of them fail.
 *
 *   FAILSHIM_CALL=write   which function (one of the above)
 *   FAILSHIM_N=3          fail its 3rd call (0 or unset: count only); the
 *                         call returns its error value with errno set (EIO
 *                         for I/O, ENOMEM for allocation, EXDEV for rename)
 *                         and sets the FILE's error flag for fread/fwrite/
 *                         fflush; a failing fclose still closes the stream
 *   FAILSHIM_REPORT=path  at exit, append "CALL COUNT" for the chosen call
 *                         (so a test can loop N = 1..COUNT)
 *   FAILSHIM_SKIP=a:b     calls made from shared objects whose path holds
 *                         one of these words are neither counted nor failed
 *                         (default libgomp:openblas:ld-linux: runtime
 *                         libraries that abort on a failed allocation by
 *                         design, outside the project's control)
 *
 * Writes, flushes and closes of fd 2 / stderr are never counted or failed: they carry the
 * message the test reads.  The counter is atomic; threads share it.
 *
 * Not done here: mmap, open, fputc/fprintf (reached through write only
 * when they flush), signal-safe reporting after _exit or a crash.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { C_READ, C_FREAD, C_WRITE, C_FWRITE, C_FFLUSH, C_FCLOSE, C_FSYNC,
       C_RENAME, C_MALLOC, C_CALLOC, C_REALLOC, C_COUNT };
static const char *const names[C_COUNT] = {
	"read", "fread", "write", "fwrite", "fflush", "fclose", "fsync",
	"rename", "malloc", "calloc", "realloc",
};

static int chosen = -1;   /* index into names, -1: none */
static long fail_at;      /* 0: never */
static atomic_long calls;
static int ready;
static char skip[256] = "libgomp:openblas:ld-linux";
static _Thread_local int inside;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

__attribute__((constructor)) static void init(void)
{
	const char *c = getenv("FAILSHIM_CALL"), *n = getenv("FAILSHIM_N");
	const char *s = getenv("FAILSHIM_SKIP");

	if (s)
		snprintf(skip, sizeof skip, "%s", s);
	for (int i = 0; c && i < C_COUNT; i++)
		if (!strcmp(c, names[i]))
			chosen = i;
	fail_at = n ? atol(n) : 0;
	ready = 1;
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("FAILSHIM_REPORT");
	char line[64];
	int fd, k;

	if (!path || chosen < 0)
		return;
	k = snprintf(line, sizeof line, "%s %ld\n", names[chosen],
		     atomic_load(&calls));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
		if (syscall(SYS_write, fd, line, (size_t)k) < 0)
			(void)0;
		close(fd);
	}
}

/* Whether the caller at return address ra lies in a skipped object. */
static int skipped(void *ra)
{
	Dl_info info;
	char words[sizeof skip], *w, *save;

	if (!*skip || !dladdr(ra, &info) || !info.dli_fname)
		return 0;
	memcpy(words, skip, sizeof words);
	for (w = strtok_r(words, ":", &save); w; w = strtok_r(NULL, ":", &save))
		if (*w && strstr(info.dli_fname, w))
			return 1;
	return 0;
}

/* 1 when this call of kind k must fail. */
static int hit(int k, void *ra)
{
	long n;
	int skip_it;

	if (!ready || k != chosen || inside)
		return 0;
	inside = 1;
	skip_it = skipped(ra);
	inside = 0;
	if (skip_it)
		return 0;
	n = atomic_fetch_add(&calls, 1) + 1;
	return fail_at > 0 && n == fail_at;
}

#define NEXT(var, name)                                                   \
	do {                                                              \
		if (!var)                                                 \
			*(void **)&var = dlsym(RTLD_NEXT, name);          \
	} while (0)

void *malloc(size_t n)
{
	if (hit(C_MALLOC, __builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	if (hit(C_CALLOC, __builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	if (hit(C_REALLOC, __builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}

ssize_t read(int fd, void *buf, size_t n)
{
	static ssize_t (*real)(int, void *, size_t);

	if (hit(C_READ, __builtin_return_address(0))) {
		errno = EIO;
		return -1;
	}
	NEXT(real, "read");
	return real(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);

	if (fd != 2 && hit(C_WRITE, __builtin_return_address(0))) {
		errno = EIO;
		return -1;
	}
	NEXT(real, "write");
	return real(fd, buf, n);
}

#define IO_ERR_SEEN 0x0020 /* glibc's FILE error flag, as ferror() reads it */

size_t fread(void *buf, size_t size, size_t n, FILE *f)
{
	static size_t (*real)(void *, size_t, size_t, FILE *);

	if (hit(C_FREAD, __builtin_return_address(0))) {
		f->_flags |= IO_ERR_SEEN;
		errno = EIO;
		return 0;
	}
	NEXT(real, "fread");
	return real(buf, size, n, f);
}

size_t fwrite(const void *buf, size_t size, size_t n, FILE *f)
{
	static size_t (*real)(const void *, size_t, size_t, FILE *);

	if (f != stderr && hit(C_FWRITE, __builtin_return_address(0))) {
		f->_flags |= IO_ERR_SEEN;
		errno = EIO;
		return 0;
	}
	NEXT(real, "fwrite");
	return real(buf, size, n, f);
}

int fsync(int fd)
{
	static int (*real)(int);

	if (hit(C_FSYNC, __builtin_return_address(0))) {
		errno = EIO;
		return -1;
	}
	NEXT(real, "fsync");
	return real(fd);
}

int rename(const char *from, const char *to)
{
	static int (*real)(const char *, const char *);

	if (hit(C_RENAME, __builtin_return_address(0))) {
		errno = EXDEV;
		return -1;
	}
	NEXT(real, "rename");
	return real(from, to);
}

int fflush(FILE *f)
{
	static int (*real)(FILE *);

	NEXT(real, "fflush");
	if (f && f != stderr && hit(C_FFLUSH, __builtin_return_address(0))) {
		f->_flags |= IO_ERR_SEEN;
		errno = EIO;
		return EOF;
	}
	return real(f);
}

int fclose(FILE *f)
{
	static int (*real)(FILE *);

	NEXT(real, "fclose");
	if (f != stderr && hit(C_FCLOSE, __builtin_return_address(0))) {
		real(f);
		errno = EIO;
		return EOF;
	}
	return real(f);
}
