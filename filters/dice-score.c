/*
 * dice-score - compare predicted masks with ground-truth labels.
 *
 * Reads records holding a label tensor and a prediction tensor of the same
 * shape (integer class values 0..255, any dtype) and reports, for every
 * foreground class c >= 1 (background is excluded from Dice):
 *   per record   Dice_c = 2|P∩L| / (|P| + |L|), and 1 when both are empty
 *                (such records are also counted as "both_empty");
 *   summary      mean, std (population, ddof 0), min and max of the
 *                per-record Dice, the global Dice over all pixels of all
 *                records, the pixel accuracy over all classes, and counts.
 * Output is TSV with a header line (or JSON with --json) on stdout.
 * It keeps a few counters per record, never the images.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st.h"
#include "util.h"

#define MAX_CLASSES 256

struct opts {
	const char *input;
	const char *label_name;
	const char *pred_name;
	int per_record;
	int json;
};

/* Per-record counts for classes 0..MAX_CLASSES-1 are too many to keep; we keep
 * them for the classes seen so far and grow as classes appear. */
struct rec_stats {
	char *id;
	int nclass;       /* counts below cover classes 0..nclass-1 */
	uint64_t *tp;     /* pixels with pred == label == c */
	uint64_t *npred;  /* pixels with pred == c */
	uint64_t *nlabel; /* pixels with label == c */
	uint64_t pixels, correct;
};

struct scores {
	struct rec_stats *recs;
	size_t n, cap;
	int nclass; /* 1 + the largest class value seen, at least 2 */
};

static void help(void)
{
	printf("Usage: %s [OPTION]... [FILE]\n"
	       "Score predicted masks against labels: Dice per foreground class\n"
	       "(background excluded), pixel accuracy, counts.  Reads a tensor\n"
	       "stream from FILE or, when FILE is absent or '-', standard input.\n"
	       "A record whose label and prediction are both empty for a class has\n"
	       "Dice 1 for that class and is also counted in 'both_empty'.\n"
	       "\n"
	       "  -r, --per-record   also list every record's Dice (before the\n"
	       "                     summary, separated by an empty line; in JSON\n"
	       "                     a \"per_record\" array); default: summary only\n"
	       "  -j, --json         JSON instead of TSV (default: TSV, header line)\n"
	       "  -l, --label NAME   ground-truth tensor name (default: label)\n"
	       "  -p, --pred NAME    prediction tensor name (default: pred)\n"
	       "  -h, --help         show this help and exit\n"
	       "\n"
	       "Summary columns: class records mean std min max global_dice\n"
	       "both_empty pixels pixel_accuracy (std is the population std;\n"
	       "pixel_accuracy is over all classes, the same on every row).\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"per-record", no_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"label", required_argument, NULL, 'l'},
		{"pred", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.input = "-", .label_name = "label", .pred_name = "pred"};
	while ((c = getopt_long(argc, argv, "rjl:p:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->per_record = 1; break;
		case 'j': o->json = 1; break;
		case 'l': o->label_name = optarg; break;
		case 'p': o->pred_name = optarg; break;
		case 'h': help(); exit(fshut(stdout, "stdout"));
		default: usage_error("invalid option");
		}
	}
	if (argc - optind > 1)
		usage_error("too many arguments: '%s'", argv[optind + 1]);
	if (optind < argc)
		o->input = argv[optind];
	if (!*o->label_name || !*o->pred_name)
		usage_error("tensor names must not be empty");
}

/* Class value of element i, or -1 when it is not an integer in 0..255. */
static int class_at(const struct st_tensor *t, size_t i)
{
	double v = st_tensor_get(t, i);

	if (!(v >= 0 && v < MAX_CLASSES) || v != floor(v))
		return -1;
	return (int)v;
}

static void grow_classes(struct rec_stats *s, int nclass)
{
	if (nclass <= s->nclass)
		return;
	s->tp = ereallocarray(s->tp, nclass, sizeof *s->tp);
	s->npred = ereallocarray(s->npred, nclass, sizeof *s->npred);
	s->nlabel = ereallocarray(s->nlabel, nclass, sizeof *s->nlabel);
	for (int c = s->nclass; c < nclass; c++)
		s->tp[c] = s->npred[c] = s->nlabel[c] = 0;
	s->nclass = nclass;
}

/* Counts record number index (1-based); dies naming it on bad data. */
static void process(struct scores *sc, const struct st_record *r, size_t index,
		    const struct opts *o)
{
	const char *id = st_record_id(r);
	const struct st_tensor *lab = st_record_tensor(r, o->label_name);
	const struct st_tensor *pred = st_record_tensor(r, o->pred_name);
	char b1[64], b2[64];
	struct rec_stats s = {0};
	size_t n;

	if (!lab)
		die("%s: record %zu (%s): no '%s' tensor", o->input, index, id,
		    o->label_name);
	if (!pred)
		die("%s: record %zu (%s): no '%s' tensor", o->input, index, id,
		    o->pred_name);
	n = st_tensor_numel(lab);
	if (lab->ndim != pred->ndim || n != st_tensor_numel(pred) ||
	    memcmp(lab->shape, pred->shape, lab->ndim * sizeof lab->shape[0]))
		die("%s: record %zu (%s): %s %s and %s %s differ in shape",
		    o->input, index, id, o->label_name,
		    st_shape_str(lab, b1, sizeof b1), o->pred_name,
		    st_shape_str(pred, b2, sizeof b2));
	s.id = estrdup(id);
	grow_classes(&s, sc->nclass);
	for (size_t i = 0; i < n; i++) {
		int l = class_at(lab, i), p = class_at(pred, i);

		if (l < 0 || p < 0)
			die("%s: record %zu (%s): %s value %g at element %zu is not a class in 0..%d",
			    o->input, index, id, l < 0 ? o->label_name : o->pred_name,
			    st_tensor_get(l < 0 ? lab : pred, i), i, MAX_CLASSES - 1);
		if (l >= s.nclass || p >= s.nclass)
			grow_classes(&s, (l > p ? l : p) + 1);
		s.nlabel[l]++;
		s.npred[p]++;
		if (l == p) {
			s.tp[l]++;
			s.correct++;
		}
	}
	s.pixels = n;
	if (s.nclass > sc->nclass)
		sc->nclass = s.nclass;
	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? 2 * sc->cap : 64;
		sc->recs = ereallocarray(sc->recs, sc->cap, sizeof *sc->recs);
	}
	sc->recs[sc->n++] = s;
}

static uint64_t count_of(const uint64_t *a, const struct rec_stats *s, int c)
{
	return c < s->nclass ? a[c] : 0;
}

/* Dice of class c in record s; *both_empty set when |P| + |L| = 0. */
static double rec_dice(const struct rec_stats *s, int c, int *both_empty)
{
	uint64_t tp = count_of(s->tp, s, c);
	uint64_t sum = count_of(s->npred, s, c) + count_of(s->nlabel, s, c);

	*both_empty = sum == 0;
	return sum == 0 ? 1.0 : 2.0 * (double)tp / (double)sum;
}

/* JSON string with the escapes RFC 8259 requires. */
static void json_str(const char *s)
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

/* TSV ids: tabs and newlines would break the table, so they become spaces. */
static void tsv_str(const char *s)
{
	for (; *s; s++)
		putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

static void report_records(const struct scores *sc, int json)
{
	if (json)
		printf("\"per_record\":[");
	else
		printf("id\tclass\tdice\tlabel_pixels\tpred_pixels\tboth_empty\n");
	for (size_t i = 0; i < sc->n; i++) {
		const struct rec_stats *s = &sc->recs[i];

		for (int c = 1; c < sc->nclass; c++) {
			int empty;
			double d = rec_dice(s, c, &empty);
			unsigned long long nl = count_of(s->nlabel, s, c);
			unsigned long long np = count_of(s->npred, s, c);

			if (json) {
				printf("%s{\"id\":", i || c > 1 ? "," : "");
				json_str(s->id);
				printf(",\"class\":%d,\"dice\":%.6f,\"label_pixels\":%llu,"
				       "\"pred_pixels\":%llu,\"both_empty\":%s}",
				       c, d, nl, np, empty ? "true" : "false");
			} else {
				tsv_str(s->id);
				printf("\t%d\t%.6f\t%llu\t%llu\t%d\n", c, d, nl, np, empty);
			}
		}
	}
	printf(json ? "]," : "\n");
}

static void report_summary(const struct scores *sc, int json)
{
	uint64_t pixels = 0, correct = 0;
	double acc;

	for (size_t i = 0; i < sc->n; i++) {
		pixels += sc->recs[i].pixels;
		correct += sc->recs[i].correct;
	}
	acc = pixels ? (double)correct / (double)pixels : 0;
	if (json)
		printf("\"records\":%zu,\"pixels\":%llu,\"pixel_accuracy\":%.6f,\"classes\":[",
		       sc->n, (unsigned long long)pixels, acc);
	else
		printf("class\trecords\tmean\tstd\tmin\tmax\tglobal_dice\tboth_empty\tpixels\tpixel_accuracy\n");
	for (int c = 1; c < sc->nclass; c++) {
		double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY, mean, sd;
		uint64_t tp = 0, np = 0, nl = 0;
		size_t empty = 0;

		for (size_t i = 0; i < sc->n; i++) {
			const struct rec_stats *s = &sc->recs[i];
			int e;
			double d = rec_dice(s, c, &e);

			sum += d;
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			empty += e;
			tp += count_of(s->tp, s, c);
			np += count_of(s->npred, s, c);
			nl += count_of(s->nlabel, s, c);
		}
		mean = sum / sc->n;
		for (size_t i = 0; i < sc->n; i++) {
			int e;
			double d = rec_dice(&sc->recs[i], c, &e) - mean;

			sq += d * d;
		}
		sd = sqrt(sq / sc->n);
		double global = np + nl ? 2.0 * tp / (double)(np + nl) : 1.0;
		if (json)
			printf("%s{\"class\":%d,\"mean\":%.6f,\"std\":%.6f,\"min\":%.6f,"
			       "\"max\":%.6f,\"global_dice\":%.6f,\"both_empty\":%zu}",
			       c > 1 ? "," : "", c, mean, sd, lo, hi, global, empty);
		else
			printf("%d\t%zu\t%.6f\t%.6f\t%.6f\t%.6f\t%.6f\t%zu\t%llu\t%.6f\n",
			       c, sc->n, mean, sd, lo, hi, global, empty,
			       (unsigned long long)pixels, acc);
	}
	if (json)
		printf("]");
}

int main(int argc, char **argv)
{
	struct opts o;
	struct scores sc = {.nclass = 2};
	struct st_reader *rd;
	struct st_record *r;
	struct st_err err;
	FILE *in;
	size_t nread = 0;
	int rc;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	in = open_input(o.input);
	rd = reader_open(in, o.input);
	while ((rc = st_read(rd, &r, &err)) == 1) {
		process(&sc, r, ++nread, &o);
		st_record_free(r);
	}
	if (rc < 0)
		die("%s: %s", o.input, err.msg);
	if (sc.n == 0)
		die("%s: no records to score", o.input);
	st_reader_free(rd);
	close_input(in);

	if (o.json)
		printf("{");
	if (o.per_record)
		report_records(&sc, o.json);
	report_summary(&sc, o.json);
	if (o.json)
		printf("}\n");
	for (size_t i = 0; i < sc.n; i++) {
		free(sc.recs[i].id);
		free(sc.recs[i].tp);
		free(sc.recs[i].npred);
		free(sc.recs[i].nlabel);
	}
	free(sc.recs);
	return fshut(stdout, "stdout");
}
