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
 * With --metrics also, per record and per case, the contour metrics of the
 * 2009 Sunnybrook LV segmentation challenge (Radau et al.): average
 * perpendicular distance (APD) of the predicted outline to the expert's,
 * "good contours" (APD < 5 mm), Dice over good contours, and the symmetric
 * Hausdorff distance and its 95th percentile over boundary pixels, in mm
 * from the record's pixel spacing (outlines and distances: lib/contour.h).
 * Output is TSV with a header line (or JSON with --json) on stdout.
 * It keeps a few numbers per record, never the images.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contour.h"
#include "st.h"
#include "util.h"

#define MAX_CLASSES 256
#define GOOD_APD_MM 5.0 /* the challenge's threshold for a good contour */

struct opts {
	char **inputs;
	int ninputs;
	const char *label_name;
	const char *pred_name;
	const char *case_key;
	double spacing; /* mm, overrides meta pixel_spacing when > 0 */
	int per_record;
	int json;
	int metrics;
};

/* Contour metrics of one record and class (--metrics). */
struct rec_metric {
	double apd, hd, hd95; /* mm; NaN unless both contours exist */
	uint8_t has_label, has_pred;
};

/* Per-record counts for classes 0..MAX_CLASSES-1 are too many to keep; we keep
 * them for the classes seen so far and grow as classes appear. */
struct rec_stats {
	char *id;
	char *case_name;  /* with --metrics */
	int nclass;       /* counts below cover classes 0..nclass-1 */
	struct rec_metric *m; /* with --metrics: classes 1..nmetric */
	int nmetric;
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
	printf("Usage: %s [OPTION]... [FILE]...\n"
	       "Score predicted masks against labels: Dice per foreground class\n"
	       "(background excluded), pixel accuracy, counts.  Reads tensor\n"
	       "streams from the FILEs in order or, when none or '-', standard input.\n"
	       "A record whose label and prediction are both empty for a class has\n"
	       "Dice 1 for that class and is also counted in 'both_empty'.\n"
	       "\n"
	       "  -r, --per-record   also list every record's Dice (before the\n"
	       "                     summary, separated by an empty line; in JSON\n"
	       "                     a \"per_record\" array); default: summary only\n"
	       "  -j, --json         JSON instead of TSV (default: TSV, header line)\n"
	       "  -l, --label NAME   ground-truth tensor name (default: label)\n"
	       "  -p, --pred NAME    prediction tensor name (default: pred)\n"
	       "  -m, --metrics      also the Sunnybrook challenge's contour metrics,\n"
	       "                     per record and per case: APD (mm), good\n"
	       "                     contours (APD < 5 mm, %% of the expert's), Dice\n"
	       "                     over all expert contours and over good ones,\n"
	       "                     Hausdorff distance and HD95 (mm); default: off\n"
	       "  -c, --case-key KEY meta key naming a record's case (default: case;\n"
	       "                     without it, the id up to its last '/')\n"
	       "  -s, --spacing MM   pixel spacing in mm for --metrics (default: the\n"
	       "                     record's meta pixel_spacing [row, column])\n"
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
		{"metrics", no_argument, NULL, 'm'},
		{"case-key", required_argument, NULL, 'c'},
		{"spacing", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.label_name = "label", .pred_name = "pred",
			   .case_key = "case"};
	while ((c = getopt_long(argc, argv, "rjl:p:mc:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->per_record = 1; break;
		case 'j': o->json = 1; break;
		case 'l': o->label_name = optarg; break;
		case 'p': o->pred_name = optarg; break;
		case 'm': o->metrics = 1; break;
		case 'c': o->case_key = optarg; break;
		case 's': o->spacing = parse_double("--spacing", optarg, 1e-6, 1e6); break;
		case 'h': help(); help_exit();
		default: usage_error("invalid option");
		}
	}
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	if (!*o->label_name || !*o->pred_name || !*o->case_key)
		usage_error("tensor names and the case key must not be empty");
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

/* The record's case: meta key (string or number), else its id up to the
 * last '/', else the whole id. */
static char *case_of(const struct st_record *r, const char *key)
{
	char buf[256];
	const char *id = st_record_id(r), *slash;

	if (st_meta_has(r, key))
		return estrdup(st_meta_text(r, key, buf, sizeof buf));
	slash = strrchr(id, '/');
	if (!slash)
		return estrdup(id);
	char *c = estrdup(id);
	c[slash - id] = '\0';
	return c;
}

/* Pixel spacing (sy = row, sx = column) in mm from --spacing or meta. */
static void spacing_of(const struct walker *w, const struct st_record *r,
		       const struct opts *o, double *sy, double *sx)
{
	double v[2];
	size_t n = 0;

	if (o->spacing > 0) {
		*sy = *sx = o->spacing;
		return;
	}
	if (st_meta_get_nums(r, "pixel_spacing", v, 2, &n) < 0 || n < 1 || n > 2)
		walk_die(w, "no numeric 'pixel_spacing' meta for --metrics (give --spacing MM)");
	*sy = v[0];
	*sx = n == 2 ? v[1] : v[0];
	if (!(*sy > 0 && *sx > 0 && isfinite(*sy) && isfinite(*sx)))
		walk_die(w, "pixel_spacing %g, %g is not positive", *sy, *sx);
}

/* Contour metrics of class c: lab and pred are the binary masks H x W. */
static void metric_of(const struct walker *w, const uint8_t *lab,
		      const uint8_t *pred, long h, long wd, double sy, double sx,
		      struct rec_metric *m)
{
	double *ol = NULL, *op = NULL, *dab, *dba;
	long *bl = NULL, *bp = NULL;
	size_t nol, nop, nbl, nbp;

	m->apd = m->hd = m->hd95 = NAN;
	nol = mask_outline(lab, h, wd, &ol);
	nop = mask_outline(pred, h, wd, &op);
	nbl = mask_boundary(lab, h, wd, &bl);
	nbp = mask_boundary(pred, h, wd, &bp);
	if (nol == (size_t)-1 || nop == (size_t)-1 || nbl == (size_t)-1 ||
	    nbp == (size_t)-1)
		walk_die(w, "out of memory");
	m->has_label = nbl > 0;
	m->has_pred = nbp > 0;
	if (nbl && nbp) {
		m->apd = outline_apd(op, nop, ol, nol, sx, sy);
		dab = ereallocarray(NULL, nbp, sizeof *dab);
		dba = ereallocarray(NULL, nbl, sizeof *dba);
		boundary_dists(bp, nbp, bl, nbl, sx, sy, dab);
		boundary_dists(bl, nbl, bp, nbp, sx, sy, dba);
		m->hd = fmax(dab[nbp - 1], dba[nbl - 1]);
		m->hd95 = fmax(percentile_sorted(dab, nbp, 95),
			       percentile_sorted(dba, nbl, 95));
		free(dab);
		free(dba);
	}
	free(ol);
	free(op);
	free(bl);
	free(bp);
}

/* Counts the current record of w; dies naming it on bad data. */
static void process(struct scores *sc, const struct walker *w,
		    const struct st_record *r, const struct opts *o)
{
	const struct st_tensor *lab = st_record_tensor(r, o->label_name);
	const struct st_tensor *pred = st_record_tensor(r, o->pred_name);
	char b1[64], b2[64];
	struct rec_stats s = {0};
	uint8_t *lv = NULL, *pv = NULL;
	size_t n;

	if (!lab)
		walk_die(w, "no '%s' tensor", o->label_name);
	if (!pred)
		walk_die(w, "no '%s' tensor", o->pred_name);
	n = st_tensor_numel(lab);
	if (lab->ndim != pred->ndim || n != st_tensor_numel(pred) ||
	    memcmp(lab->shape, pred->shape, lab->ndim * sizeof lab->shape[0]))
		walk_die(w, "%s %s and %s %s differ in shape", o->label_name,
			 st_shape_str(lab, b1, sizeof b1), o->pred_name,
			 st_shape_str(pred, b2, sizeof b2));
	s.id = estrdup(st_record_id(r));
	grow_classes(&s, sc->nclass);
	if (o->metrics) {
		lv = emalloc(n ? n : 1);
		pv = emalloc(n ? n : 1);
	}
	for (size_t i = 0; i < n; i++) {
		int l = class_at(lab, i), p = class_at(pred, i);

		if (l < 0 || p < 0)
			walk_die(w, "%s value %g at element %zu is not a class in 0..%d",
				 l < 0 ? o->label_name : o->pred_name,
				 st_tensor_get(l < 0 ? lab : pred, i), i, MAX_CLASSES - 1);
		if (l >= s.nclass || p >= s.nclass)
			grow_classes(&s, (l > p ? l : p) + 1);
		s.nlabel[l]++;
		s.npred[p]++;
		if (l == p) {
			s.tp[l]++;
			s.correct++;
		}
		if (lv) {
			lv[i] = (uint8_t)l;
			pv[i] = (uint8_t)p;
		}
	}
	s.pixels = n;
	if (o->metrics) {
		long h = lab->ndim >= 2 ? (long)lab->shape[lab->ndim - 2] : 1;
		long wd = lab->ndim >= 1 ? (long)lab->shape[lab->ndim - 1] : 1;
		double sy, sx;
		uint8_t *bl = emalloc(n ? n : 1), *bp = emalloc(n ? n : 1);

		if (lab->ndim < 2 || (size_t)(h * wd) != n)
			walk_die(w, "%s %s is not one H x W mask (for --metrics)",
				 o->label_name, st_shape_str(lab, b1, sizeof b1));
		spacing_of(w, r, o, &sy, &sx);
		s.case_name = case_of(r, o->case_key);
		s.nmetric = s.nclass - 1;
		s.m = ereallocarray(NULL, s.nmetric ? s.nmetric : 1, sizeof *s.m);
		for (int c = 1; c < s.nclass; c++) {
			for (size_t i = 0; i < n; i++) {
				bl[i] = lv[i] == c;
				bp[i] = pv[i] == c;
			}
			metric_of(w, bl, bp, h, wd, sy, sx, &s.m[c - 1]);
		}
		free(bl);
		free(bp);
	}
	free(lv);
	free(pv);
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

/* Metrics of record s for class c (classes it never saw: both empty). */
static struct rec_metric metric_at(const struct rec_stats *s, int c)
{
	if (c <= s->nmetric)
		return s->m[c - 1];
	return (struct rec_metric){.apd = NAN, .hd = NAN, .hd95 = NAN};
}

/* A number, or "nan" (TSV) / null (JSON) when it is not finite. */
static void num(double v, int json)
{
	if (isfinite(v))
		printf("%.6f", v);
	else
		printf(json ? "null" : "nan");
}

/* What the challenge reports, for one case (or all) and one class. */
struct agg {
	size_t records, contours, good, both, missed, false_pos;
	double dice_all, dice_good, apd_both, apd_good, hd_both, hd95_both;
};

static void agg_add(struct agg *g, const struct rec_stats *s, int c)
{
	struct rec_metric m = metric_at(s, c);
	int e;
	double d = rec_dice(s, c, &e);
	int good = m.has_label && m.has_pred && m.apd < GOOD_APD_MM;

	g->records++;
	g->contours += m.has_label;
	g->missed += m.has_label && !m.has_pred;
	g->false_pos += !m.has_label && m.has_pred;
	if (m.has_label)
		g->dice_all += d;
	if (m.has_label && m.has_pred) {
		g->both++;
		g->apd_both += m.apd;
		g->hd_both += m.hd;
		g->hd95_both += m.hd95;
	}
	if (good) {
		g->good++;
		g->dice_good += d;
		g->apd_good += m.apd;
	}
}

static double ratio(double a, size_t n)
{
	return n ? a / (double)n : NAN;
}

static void agg_print(const char *name, int c, const struct agg *g, int json,
		      int first)
{
	double v[] = {ratio(100.0 * (double)g->good, g->contours),
		      ratio(g->dice_all, g->contours), ratio(g->dice_good, g->good),
		      ratio(g->apd_both, g->both), ratio(g->apd_good, g->good),
		      ratio(g->hd_both, g->both), ratio(g->hd95_both, g->both)};
	static const char *keys[] = {"good_pct", "dice_mean", "dice_good",
				     "apd_mm", "apd_good_mm", "hd_mm", "hd95_mm"};

	if (json) {
		printf("%s{\"case\":", first ? "" : ",");
		json_str(name);
		printf(",\"class\":%d,\"records\":%zu,\"contours\":%zu,\"good\":%zu",
		       c, g->records, g->contours, g->good);
		for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
			printf(",\"%s\":", keys[k]);
			num(v[k], 1);
		}
		printf(",\"missed\":%zu,\"false_pos\":%zu}", g->missed, g->false_pos);
		return;
	}
	tsv_str(name);
	printf("\t%d\t%zu\t%zu\t%zu", c, g->records, g->contours, g->good);
	for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
		putchar('\t');
		num(v[k], 0);
	}
	printf("\t%zu\t%zu\n", g->missed, g->false_pos);
}

/* --metrics: the per-record table, then the per-case table ending with the
 * case "all" (every record). */
static void report_metrics(const struct scores *sc, int json)
{
	if (json)
		printf(",\"metrics\":{\"per_record\":[");
	else
		printf("\nid\tcase\tclass\tdice\tapd_mm\thd_mm\thd95_mm\tlabel_contour\tpred_contour\tgood\n");
	for (size_t i = 0; i < sc->n; i++) {
		const struct rec_stats *s = &sc->recs[i];

		for (int c = 1; c < sc->nclass; c++) {
			struct rec_metric m = metric_at(s, c);
			int e, good = m.has_label && m.has_pred && m.apd < GOOD_APD_MM;
			double d = rec_dice(s, c, &e);

			if (json) {
				printf("%s{\"id\":", i || c > 1 ? "," : "");
				json_str(s->id);
				printf(",\"case\":");
				json_str(s->case_name);
				printf(",\"class\":%d,\"dice\":%.6f,\"apd_mm\":", c, d);
				num(m.apd, 1);
				printf(",\"hd_mm\":");
				num(m.hd, 1);
				printf(",\"hd95_mm\":");
				num(m.hd95, 1);
				printf(",\"label_contour\":%s,\"pred_contour\":%s,\"good\":%s}",
				       m.has_label ? "true" : "false",
				       m.has_pred ? "true" : "false", good ? "true" : "false");
			} else {
				tsv_str(s->id);
				putchar('\t');
				tsv_str(s->case_name);
				printf("\t%d\t%.6f\t", c, d);
				num(m.apd, 0);
				putchar('\t');
				num(m.hd, 0);
				putchar('\t');
				num(m.hd95, 0);
				printf("\t%d\t%d\t%d\n", m.has_label, m.has_pred, good);
			}
		}
	}
	if (json)
		printf("],\"per_case\":[");
	else
		printf("\ncase\tclass\trecords\tcontours\tgood\tgood_pct\tdice_mean\tdice_good\tapd_mm\tapd_good_mm\thd_mm\thd95_mm\tmissed\tfalse_pos\n");
	/* cases in order of first appearance */
	int first = 1;
	for (size_t i = 0; i < sc->n; i++) {
		const char *name = sc->recs[i].case_name;
		size_t j;

		for (j = 0; j < i && strcmp(sc->recs[j].case_name, name); j++)
			;
		if (j < i)
			continue;
		for (int c = 1; c < sc->nclass; c++) {
			struct agg g = {0};

			for (size_t k = i; k < sc->n; k++)
				if (!strcmp(sc->recs[k].case_name, name))
					agg_add(&g, &sc->recs[k], c);
			agg_print(name, c, &g, json, first);
			first = 0;
		}
	}
	for (int c = 1; c < sc->nclass; c++) {
		struct agg g = {0};

		for (size_t k = 0; k < sc->n; k++)
			agg_add(&g, &sc->recs[k], c);
		agg_print("all", c, &g, json, 0);
	}
	if (json)
		printf("]}");
}

int main(int argc, char **argv)
{
	struct opts o;
	struct scores sc = {.nclass = 2};
	struct walker w;
	struct st_record *r;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	walk_open(&w, o.inputs, o.ninputs);
	while (walk_next(&w, &r)) {
		process(&sc, &w, r, &o);
		st_record_free(r);
	}
	if (sc.n == 0)
		die("%s: no records to score", w.name);
	walk_close(&w);

	if (o.json)
		printf("{");
	if (o.per_record)
		report_records(&sc, o.json);
	report_summary(&sc, o.json);
	if (o.metrics)
		report_metrics(&sc, o.json);
	if (o.json)
		printf("}\n");
	for (size_t i = 0; i < sc.n; i++) {
		free(sc.recs[i].id);
		free(sc.recs[i].case_name);
		free(sc.recs[i].m);
		free(sc.recs[i].tp);
		free(sc.recs[i].npred);
		free(sc.recs[i].nlabel);
	}
	free(sc.recs);
	return fshut(stdout, "stdout");
}
