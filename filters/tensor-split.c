/*
 * tensor-split - split a stream into training and validation parts by case,
 * never putting frames of one case on both sides.
 *
 * The case of a record is its meta value under --key (default "case").  The
 * validation cases are chosen by exactly one of:
 *   --val-cases A,B       named cases;
 *   --val-fraction F      round(F * cases) cases (at least 1 when F > 0, at
 *                         most all but one when F < 1) drawn with --seed;
 *   --folds K --fold I    the cases shuffled with --seed and dealt round
 *                         robin into K folds; fold I (0-based) is validation.
 * The draw depends only on the set of case names and the seed (names are
 * sorted before shuffling with a splitmix64 generator), never on record order
 * or platform.  Records keep their order within each part.
 *
 * The input is spooled to a temporary file so that the choice can see every
 * case; both outputs are written atomically, only after the whole input was
 * read and checked: on any error neither file is created or changed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "st.h"
#include "util.h"

enum mode { MODE_NONE, MODE_CASES, MODE_FRACTION, MODE_FOLDS };

struct opts {
	enum mode mode;
	char **val_cases; /* MODE_CASES */
	size_t nval_cases;
	double fraction;  /* MODE_FRACTION */
	long folds, fold; /* MODE_FOLDS */
	uint64_t seed;
	const char *key;
	const char *train, *val;
	int verbose;
	char **inputs;
	int ninputs;
};

/* A record spooled to the temporary file. */
struct item {
	uint64_t offset;
	size_t len;
	size_t case_idx;
};

struct split {
	FILE *spool;
	struct item *items;
	size_t nitems, items_alloc;
	char **cases; /* distinct case names, in order of first appearance */
	size_t ncases;
	unsigned char *is_val; /* (ncases,) */
};

static void usage(void)
{
	printf("Usage: %s --train FILE --val FILE MODE [OPTION]... [STREAM]...\n"
	       "Split a tensor stream (stdin when no STREAM or STREAM is -) by case into a\n"
	       "training and a validation stream; a case is never on both sides.\n"
	       "\n"
	       "Mode (exactly one):\n"
	       "      --val-cases A,B     these cases are validation\n"
	       "      --val-fraction F    round(F x cases) cases drawn with --seed\n"
	       "                          (at least 1 if F > 0, all but 1 if F < 1)\n"
	       "      --folds K           K folds of cases drawn with --seed, and\n"
	       "      --fold I            fold I (0..K-1) is validation\n"
	       "Options:\n"
	       "  -t, --train FILE        training records (required; - is stdout)\n"
	       "  -v, --val FILE          validation records (required; - is stdout)\n"
	       "  -s, --seed S            seed for --val-fraction and --folds (default 0)\n"
	       "  -k, --key KEY           meta key naming the case (default case)\n"
	       "  -V, --verbose           the cases of each side on stderr\n"
	       "  -h, --help              show this help and exit\n"
	       "\n"
	       "Outputs are written atomically, and not at all on an error.\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

static void parse_val_cases(struct opts *o, char *list)
{
	char *save = NULL;

	for (char *tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		o->val_cases = ereallocarray(o->val_cases, o->nval_cases + 1,
					     sizeof(*o->val_cases));
		o->val_cases[o->nval_cases++] = tok;
	}
	if (!o->nval_cases)
		usage_error("--val-cases: no case named");
}

static void set_mode(struct opts *o, enum mode m)
{
	if (o->mode != MODE_NONE && o->mode != m)
		usage_error("give only one of --val-cases, --val-fraction, --folds");
	o->mode = m;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	enum { OPT_CASES = 256, OPT_FRACTION, OPT_FOLDS, OPT_FOLD };
	static const struct option longopts[] = {
		{"val-cases", required_argument, NULL, OPT_CASES},
		{"val-fraction", required_argument, NULL, OPT_FRACTION},
		{"folds", required_argument, NULL, OPT_FOLDS},
		{"fold", required_argument, NULL, OPT_FOLD},
		{"train", required_argument, NULL, 't'},
		{"val", required_argument, NULL, 'v'},
		{"seed", required_argument, NULL, 's'},
		{"key", required_argument, NULL, 'k'},
		{"verbose", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.key = "case", .folds = -1, .fold = -1};
	while ((c = getopt_long(argc, argv, "t:v:s:k:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CASES:
			set_mode(o, MODE_CASES);
			parse_val_cases(o, optarg);
			break;
		case OPT_FRACTION:
			set_mode(o, MODE_FRACTION);
			o->fraction = parse_double("--val-fraction", optarg, 0, 1);
			break;
		case OPT_FOLDS:
			set_mode(o, MODE_FOLDS);
			o->folds = (long)parse_int("--folds", optarg, 2, 1000000);
			break;
		case OPT_FOLD:
			set_mode(o, MODE_FOLDS);
			o->fold = (long)parse_int("--fold", optarg, 0, 999999);
			break;
		case 't':
			o->train = optarg;
			break;
		case 'v':
			o->val = optarg;
			break;
		case 's':
			o->seed = (uint64_t)parse_int("--seed", optarg, 0, INT64_MAX);
			break;
		case 'k':
			if (!*optarg)
				usage_error("--key: empty key");
			o->key = optarg;
			break;
		case 'V':
			o->verbose = 1;
			break;
		case 'h':
			usage();
			help_exit();
		default:
			usage_error("unknown option");
		}
	}
	if (o->mode == MODE_NONE)
		usage_error("give one of --val-cases, --val-fraction, --folds");
	if (o->mode == MODE_FOLDS && (o->folds < 0 || o->fold < 0))
		usage_error("--folds K needs --fold I and the other way round");
	if (o->mode == MODE_FOLDS && o->fold >= o->folds)
		usage_error("--fold: %ld is out of range [0, %ld]", o->fold,
			    o->folds - 1);
	if (!o->train || !o->val)
		usage_error("both --train FILE and --val FILE are required");
	if (!strcmp(o->train, "-") && !strcmp(o->val, "-"))
		usage_error("--train and --val cannot both be stdout");
	if (strcmp(o->train, "-") && !strcmp(o->train, o->val))
		usage_error("--train and --val name the same file '%s'", o->train);
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

/* --- the random draw ---------------------------------------------------------- */

/* Uniform in [0, n), without modulo bias (rejection, then modulo: not
 * rng_below, so that a seed keeps the split it always gave). */
static uint64_t uniform_below(struct rng *r, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
	do
		v = rng_next(r);
	while (v >= limit);
	return v % n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Indices of the cases sorted by name, then Fisher-Yates shuffled. */
static size_t *shuffled_cases(const struct split *sp, uint64_t seed)
{
	char **names = emalloc((sp->ncases ? sp->ncases : 1) * sizeof(*names));
	size_t *order = emalloc((sp->ncases ? sp->ncases : 1) * sizeof(*order));
	struct rng state = rng_seeded(seed);

	for (size_t i = 0; i < sp->ncases; i++)
		names[i] = sp->cases[i];
	qsort(names, sp->ncases, sizeof(*names), cmp_str);
	for (size_t i = 0; i < sp->ncases; i++)
		for (size_t j = 0; j < sp->ncases; j++)
			if (sp->cases[j] == names[i])
				order[i] = j;
	for (size_t i = sp->ncases; i > 1; i--) {
		size_t j = (size_t)uniform_below(&state, i), t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	free(names);
	return order;
}

/* Fills sp->is_val; dies when --val-cases names a case not in the input or
 * there are fewer cases than folds. */
static void choose(const struct opts *o, struct split *sp)
{
	size_t *order;

	sp->is_val = ecalloc(sp->ncases ? sp->ncases : 1, 1);
	switch (o->mode) {
	case MODE_CASES:
		for (size_t i = 0; i < o->nval_cases; i++) {
			size_t j = 0;
			while (j < sp->ncases && strcmp(sp->cases[j], o->val_cases[i]))
				j++;
			if (j == sp->ncases)
				die("--val-cases: case '%s' is not in the input",
				    o->val_cases[i]);
			sp->is_val[j] = 1;
		}
		break;
	case MODE_FRACTION: {
		size_t n = sp->ncases;
		size_t nval = (size_t)llround(o->fraction * (double)n);
		if (o->fraction > 0 && nval == 0 && n > 0)
			nval = 1;
		if (o->fraction < 1 && nval == n && n > 1)
			nval = n - 1;
		order = shuffled_cases(sp, o->seed);
		for (size_t i = 0; i < nval; i++)
			sp->is_val[order[i]] = 1;
		free(order);
		break;
	}
	case MODE_FOLDS:
		if (sp->ncases < (size_t)o->folds)
			die("--folds: %ld folds but only %zu cases in the input",
			    o->folds, sp->ncases);
		order = shuffled_cases(sp, o->seed);
		for (size_t i = 0; i < sp->ncases; i++)
			sp->is_val[order[i]] = (long)(i % (size_t)o->folds) == o->fold;
		free(order);
		break;
	case MODE_NONE:
		break;
	}
}

/* --- reading and writing ---------------------------------------------------- */

static size_t case_index(struct split *sp, const char *name)
{
	for (size_t i = 0; i < sp->ncases; i++)
		if (!strcmp(sp->cases[i], name))
			return i;
	sp->cases = ereallocarray(sp->cases, sp->ncases + 1, sizeof(*sp->cases));
	sp->cases[sp->ncases] = estrdup(name);
	return sp->ncases++;
}

/* Spools one record, noting its case; dies when it has none. */
static void spool(const struct opts *o, struct split *sp,
		  const struct walker *w, const struct st_record *r)
{
	struct st_err err;
	char buf[512];
	const char *name;
	void *data;
	size_t len;
	off_t off;

	if (!st_meta_has(r, o->key))
		walk_die(w, "no meta '%s'", o->key);
	name = st_meta_text(r, o->key, buf, sizeof(buf));
	if (!name || !*name)
		walk_die(w, "meta '%s' is empty", o->key);
	if (st_serialize(r, &data, &len, &err))
		walk_die(w, "%s", err.msg);
	if ((off = ftello(sp->spool)) < 0 || fwrite(data, 1, len, sp->spool) != len)
		die("temporary file:");
	free(data);
	if (sp->nitems == sp->items_alloc) {
		sp->items_alloc = sp->items_alloc ? 2 * sp->items_alloc : 64;
		sp->items = ereallocarray(sp->items, sp->items_alloc,
					  sizeof(*sp->items));
	}
	sp->items[sp->nitems++] = (struct item){(uint64_t)off, len,
						case_index(sp, name)};
}

/* Copies the spooled records of one side to f: 0, or -1 with errno. */
static int copy_side(struct split *sp, FILE *f, int val)
{
	char *buf = NULL;
	size_t cap = 0;
	int rc = 0;

	for (size_t i = 0; i < sp->nitems && !rc; i++) {
		const struct item *it = &sp->items[i];
		if (sp->is_val[it->case_idx] != val)
			continue;
		if (it->len > cap) {
			cap = it->len;
			buf = ereallocarray(buf, cap, 1);
		}
		if (fseeko(sp->spool, (off_t)it->offset, SEEK_SET) ||
		    fread(buf, 1, it->len, sp->spool) != it->len ||
		    fwrite(buf, 1, it->len, f) != it->len)
			rc = -1;
	}
	free(buf);
	return rc;
}

/* Opens path for an atomic write ("-": stdout). */
static int out_open(struct atomic_file *af, const char *path)
{
	if (!strcmp(path, "-")) {
		*af = (struct atomic_file){.f = stdout};
		return 0;
	}
	return atomic_open(af, path);
}

/* Commits a file, or flushes stdout and checks it: 0, or -1 with errno. */
static int out_commit(struct atomic_file *af)
{
	if (af->path)
		return atomic_commit(af);
	return fflush(af->f) || ferror(af->f) ? -1 : 0;
}

static void out_abort(struct atomic_file *af)
{
	if (af->path)
		atomic_abort(af);
}

static void write_outputs(const struct opts *o, struct split *sp)
{
	struct atomic_file train = {0}, val = {0};
	const char *failed = NULL;

	if (out_open(&train, o->train))
		die("%s:", o->train);
	if (out_open(&val, o->val)) {
		int e = errno;
		out_abort(&train);
		errno = e;
		die("%s:", o->val);
	}
	/* stdout (no path) is committed first: a failed write there must
	 * leave the other file unwritten */
	struct atomic_file *first = val.path ? &train : &val;
	struct atomic_file *second = first == &train ? &val : &train;

	if (copy_side(sp, train.f, 0))
		failed = o->train;
	else if (copy_side(sp, val.f, 1))
		failed = o->val;
	else if (out_commit(first))
		failed = first == &train ? o->train : o->val;
	else if (out_commit(second))
		failed = second == &train ? o->train : o->val;
	if (failed) {
		int e = errno;
		out_abort(&train);
		out_abort(&val);
		errno = e;
		die("%s:", strcmp(failed, "-") ? failed : "stdout");
	}
}

static void report(const struct split *sp)
{
	for (int side = 0; side < 2; side++) {
		size_t ncases = 0, nrec = 0;
		for (size_t i = 0; i < sp->nitems; i++)
			nrec += sp->is_val[sp->items[i].case_idx] == side;
		for (size_t i = 0; i < sp->ncases; i++)
			ncases += sp->is_val[i] == side;
		fprintf(stderr, "%s: %s: %zu case%s, %zu record%s:", argv0,
			side ? "val" : "train", ncases, ncases == 1 ? "" : "s",
			nrec, nrec == 1 ? "" : "s");
		for (size_t i = 0; i < sp->ncases; i++)
			if (sp->is_val[i] == side)
				fprintf(stderr, " %s", sp->cases[i]);
		fputc('\n', stderr);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	struct split sp = {0};
	struct st_record *r;
	struct walker w;
	int status;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	if (!(sp.spool = tmpfile()))
		die("temporary file:");
	walk_open(&w, o.inputs, o.ninputs);
	while (walk_next(&w, &r)) {
		spool(&o, &sp, &w, r);
		st_record_free(r);
	}
	walk_close(&w);
	if (fflush(sp.spool))
		die("temporary file:");
	choose(&o, &sp);
	write_outputs(&o, &sp);
	if (o.verbose)
		report(&sp);
	status = fshut(stdout, "stdout");
	fclose(sp.spool);
	for (size_t i = 0; i < sp.ncases; i++)
		free(sp.cases[i]);
	free(sp.cases);
	free(sp.items);
	free(sp.is_val);
	free(o.val_cases);
	return status;
}
