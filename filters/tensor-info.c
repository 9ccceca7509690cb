/*
 * tensor-info - describe a tensor stream: one line per record (id; each
 * tensor's name, dtype, shape, min, max, mean; other fields; meta keys) and a
 * closing summary, or JSON Lines with --json.  What pnmfile is to Netpbm.
 *
 * Reads each record and forgets it, so memory is bounded by one record.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "st.h"
#include "util.h"

struct opts {
	int json;
	int quiet; /* summary only */
	size_t limit;
	char **files;
	int nfiles;
};

/* Per tensor name, across the stream. */
struct tally {
	char *name;
	size_t count;
	char dtype[8];
	char shape[64]; /* "mixed" once two records differ */
};

struct summary {
	size_t records;
	struct tally *t;
	size_t nt;
};

static void usage(void)
{
	printf("Usage: %s [OPTION]... [FILE]...\n"
	       "Describe the records of tensor streams (stdin when no FILE or FILE is -).\n"
	       "\n"
	       "One line per record: id, then for each tensor name=dtype:shape\n"
	       "min/max/mean, other fields, and meta keys; then a summary line.\n"
	       "\n"
	       "  -j, --json          JSON Lines: one object per record, then {\"summary\": ...}\n"
	       "  -s, --summary       print only the summary\n"
	       "  -l, --limit=BYTES   largest record accepted (default 1073741824)\n"
	       "  -h, --help          show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 a stream is truncated, malformed or unreadable,\n"
	       "2 usage error.\n",
	       argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "summary", no_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->limit = ST_DEFAULT_LIMIT;
	while ((c = getopt_long(argc, argv, "jsl:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = 1; break;
		case 's': o->quiet = 1; break;
		case 'l':
			o->limit = (size_t)parse_int("--limit", optarg, 1,
						     (long long)1 << 40);
			break;
		case 'h': usage(); help_exit();
		default: usage_error("unknown or incomplete option");
		}
	}
	o->files = argv + optind;
	o->nfiles = argc - optind;
}

static void json_num(double v)
{
	if (isfinite(v))
		printf("%.9g", v);
	else
		printf("null");
}

static void stats(const struct st_tensor *t, double *mn, double *mx,
		  double *mean)
{
	size_t n = st_tensor_numel(t);
	double lo = INFINITY, hi = -INFINITY, sum = 0;

	for (size_t i = 0; i < n; i++) {
		double v = st_tensor_get(t, i);

		if (v < lo)
			lo = v;
		if (v > hi)
			hi = v;
		sum += v;
	}
	*mn = n ? lo : NAN;
	*mx = n ? hi : NAN;
	*mean = n ? sum / (double)n : NAN;
}

static void tally(struct summary *s, const char *name, const struct st_tensor *t)
{
	char shape[64];
	struct tally *y = NULL;

	st_shape_str(t, shape, sizeof shape);
	for (size_t i = 0; i < s->nt; i++)
		if (strcmp(s->t[i].name, name) == 0)
			y = &s->t[i];
	if (!y) {
		s->t = ereallocarray(s->t, s->nt + 1, sizeof *s->t);
		y = &s->t[s->nt++];
		memset(y, 0, sizeof *y);
		y->name = estrdup(name);
		snprintf(y->dtype, sizeof y->dtype, "%s", st_dtype_name(t->dtype));
		snprintf(y->shape, sizeof y->shape, "%s", shape);
	}
	y->count++;
	if (strcmp(y->dtype, st_dtype_name(t->dtype)) != 0)
		snprintf(y->dtype, sizeof y->dtype, "mixed");
	if (strcmp(y->shape, shape) != 0)
		snprintf(y->shape, sizeof y->shape, "mixed");
}

static void describe_text(const struct st_record *r)
{
	struct st_tensor *t;
	const char *name;
	char shape[64];
	size_t nm;

	fputs(st_record_id(r), stdout);
	for (size_t i = 0; (name = st_record_field(r, i, &t)); i++) {
		double mn, mx, mean;

		if (!t) {
			printf("\t%s=(other)", name);
			continue;
		}
		stats(t, &mn, &mx, &mean);
		printf("\t%s=%s:%s min=%.6g max=%.6g mean=%.6g", name,
		       st_dtype_name(t->dtype), st_shape_str(t, shape, sizeof shape),
		       mn, mx, mean);
	}
	nm = st_meta_count(r);
	printf("\tmeta=");
	for (size_t i = 0; i < nm; i++)
		printf("%s%s", i ? "," : "", st_meta_key(r, i));
	putchar('\n');
}

static void describe_json(const struct st_record *r)
{
	struct st_tensor *t;
	const char *name;
	int first = 1;

	printf("{\"id\":");
	json_str(st_record_id(r));
	printf(",\"tensors\":[");
	for (size_t i = 0; (name = st_record_field(r, i, &t)); i++) {
		double mn, mx, mean;

		if (!t)
			continue;
		stats(t, &mn, &mx, &mean);
		printf("%s{\"name\":", first ? "" : ",");
		json_str(name);
		printf(",\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->dtype));
		for (int d = 0; d < t->ndim; d++)
			printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
		printf("],\"min\":");
		json_num(mn);
		printf(",\"max\":");
		json_num(mx);
		printf(",\"mean\":");
		json_num(mean);
		putchar('}');
		first = 0;
	}
	printf("],\"other\":[");
	first = 1;
	for (size_t i = 0; (name = st_record_field(r, i, &t)); i++) {
		if (t)
			continue;
		if (!first)
			putchar(',');
		json_str(name);
		first = 0;
	}
	printf("],\"meta\":[");
	for (size_t i = 0; i < st_meta_count(r); i++) {
		if (i)
			putchar(',');
		json_str(st_meta_key(r, i));
	}
	printf("]}\n");
}

static void print_summary(const struct summary *s, int json, size_t errors)
{
	if (json) {
		printf("{\"summary\":{\"records\":%zu,\"errors\":%zu,\"tensors\":[",
		       s->records, errors);
		for (size_t i = 0; i < s->nt; i++) {
			printf("%s{\"name\":", i ? "," : "");
			json_str(s->t[i].name);
			printf(",\"count\":%zu,\"dtype\":\"%s\",\"shape\":\"%s\"}",
			       s->t[i].count, s->t[i].dtype, s->t[i].shape);
		}
		printf("]}}\n");
		return;
	}
	printf("# %zu record%s, %zu error%s", s->records,
	       s->records == 1 ? "" : "s", errors, errors == 1 ? "" : "s");
	for (size_t i = 0; i < s->nt; i++)
		printf("%s %s=%s:%s (%zu)", i ? "," : ";", s->t[i].name,
		       s->t[i].dtype, s->t[i].shape, s->t[i].count);
	putchar('\n');
}

int main(int argc, char **argv)
{
	struct summary s = { 0 };
	struct st_record *r;
	struct walker w;
	struct opts o;
	int status;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	walk_open(&w, o.files, o.nfiles);
	w.limit = o.limit;
	w.keep_going = 1; /* a bad stream is reported and counted; on to the next */
	while (walk_next(&w, &r)) {
		struct st_tensor *t;
		const char *name;

		s.records++;
		for (size_t i = 0; (name = st_record_field(r, i, &t)); i++)
			if (t)
				tally(&s, name, t);
		if (!o.quiet)
			(o.json ? describe_json : describe_text)(r);
		st_record_free(r);
	}
	walk_close(&w);
	print_summary(&s, o.json, w.errors);
	status = w.errors ? EXIT_DATA : 0;
	if (fshut(stdout, "stdout"))
		status = EXIT_DATA;
	for (size_t i = 0; i < s.nt; i++)
		free(s.t[i].name);
	free(s.t);
	return status;
}
