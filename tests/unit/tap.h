/*
 * tap.h - a tiny TAP producer for the C unit tests: each check prints
 * "ok N - name" or "not ok N - name" with the failing expression, file and
 * line; tap_done() prints the plan and returns the exit status.
 */
#ifndef TAP_H
#define TAP_H

int tap_check(int cond, const char *file, int line, const char *expr,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a diagnostic line ("# ...") without counting a test. */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tap_done(void);

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

#endif
