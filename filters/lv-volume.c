/*
 * lv-volume - left-ventricular volumes, ejection fraction and mass from the
 * masks of a cine short-axis stack.
 *
 * Each record is one slice at one cardiac phase.  Per case (meta `case`, or
 * the id up to its last '/'):
 *   slice   the position along the slice normal: image_position projected
 *           on image_orientation's row x column vector (else
 *           slice_location), in mm;
 *   phase   (instance_number - 1) mod cardiac_number_of_images;
 *   height  the distance between neighbouring slices (the median step of
 *           the sorted slice positions: slice thickness + gap), or
 *           slice_thickness (--height thickness), or a number;
 *   volume  per phase, sum over its slices of blood pixels x row spacing x
 *           column spacing x height (Simpson's rule as the 2009 challenge's
 *           evaluation sums slices), in ml;
 *   ED, ES  the phases of largest and smallest non-zero volume; EDV and
 *           ESV over the slices with blood at both; EF = (EDV-ESV)/EDV;
 *   mass    myocardium pixels (the --myo classes) summed the same way at
 *           ED on the slices with blood, x 1.05 g/ml (as the challenge's
 *           compare_contours.m pairs slices).
 * Output: a TSV per case (--json: JSON), --per-phase adds the curve; --plot
 * DIR writes DIR/<case>.png, the volume over the cycle (our own plot).
 *
 * Not done here: basal-slice corrections, papillary muscles, interpolation
 * of slices missing at a phase (the slices counted are reported).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "st.h"
#include "util.h"

#define MYO_DENSITY 1.05 /* g/ml */
#define MAX_PHASES 1000

struct opts {
	const char *field, *case_key, *plot_dir;
	uint8_t blood[256], myo[256];
	int height_mode; /* 0 auto, 1 thickness, 2 given */
	double height;
	int json, per_phase;
	char **inputs;
	int ninputs;
};

struct slice_rec {
	double pos, thick, area_mm2; /* pixel area row x col spacing */
	long phase;
	double trigger;              /* NaN when absent */
	uint64_t blood, myo;
};

struct lv_case {
	char *name;
	struct slice_rec *r;
	size_t n, cap;
};

struct phase_vol {
	long phase;
	size_t slices;
	double blood_ml, myo_ml, trigger;
};

static void help(void)
{
	printf("Usage: %s [OPTION]... [STREAM]...\n"
	       "LV blood volume per cardiac phase, end-diastole (largest) and\n"
	       "end-systole (smallest), ejection fraction and, with myocardium in\n"
	       "the masks, LV mass at ED (x 1.05 g/ml), per case, from masks of\n"
	       "every slice and phase.  Reads tensor streams (stdin when none or\n"
	       "'-'); one record = one slice at one phase, with meta pixel_spacing,\n"
	       "instance_number, cardiac_number_of_images, image_position and\n"
	       "image_orientation (or slice_location) and slice_thickness.\n"
	       "\n"
	       "  -f, --field NAME     mask tensor (default: pred)\n"
	       "  -b, --blood LIST     class values of the blood pool (default: 1)\n"
	       "  -m, --myo LIST       class values of the myocardium (default: 2)\n"
	       "  -H, --height H       slice height: auto (the spacing of the slice\n"
	       "                       positions, thickness + gap), thickness\n"
	       "                       (slice_thickness), or a number of mm\n"
	       "                       (default: auto)\n"
	       "  -p, --per-phase      also the volume of every phase (a table\n"
	       "                       before the summary; in JSON \"phases\")\n"
	       "  -j, --json           JSON instead of TSV (default: TSV)\n"
	       "  -P, --plot DIR       write DIR/CASE.png, the volume curve over the\n"
	       "                       cycle (ED red, ES green) (default: none)\n"
	       "      --case-key KEY   meta key naming the case (default: case; else\n"
	       "                       the id up to its last '/')\n"
	       "  -h, --help           show this help and exit\n"
	       "\n"
	       "Columns: case phases slices edv_ml esv_ml sv_ml ef_pct ed_phase\n"
	       "es_phase mass_g ef_slices (EDV, ESV over the slices with blood at\n"
	       "both ED and ES; mass nan when ED has no myocardium).\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

static void parse_classes(const char *opt, const char *s, uint8_t *set)
{
	char *copy = estrdup(s), *save = NULL;
	int any = 0;

	memset(set, 0, 256);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		set[parse_int(opt, t, 1, 255)] = 1;
		any = 1;
	}
	free(copy);
	if (!any)
		usage_error("%s: no class in '%s'", opt, s);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"field", required_argument, NULL, 'f'},
		{"blood", required_argument, NULL, 'b'},
		{"myo", required_argument, NULL, 'm'},
		{"height", required_argument, NULL, 'H'},
		{"per-phase", no_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"plot", required_argument, NULL, 'P'},
		{"case-key", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.field = "pred", .case_key = "case"};
	o->blood[1] = 1;
	o->myo[2] = 1;
	while ((c = getopt_long(argc, argv, "f:b:m:H:pjP:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o->field = optarg; break;
		case 'b': parse_classes("--blood", optarg, o->blood); break;
		case 'm': parse_classes("--myo", optarg, o->myo); break;
		case 'H':
			if (!strcmp(optarg, "auto"))
				o->height_mode = 0;
			else if (!strcmp(optarg, "thickness"))
				o->height_mode = 1;
			else {
				o->height_mode = 2;
				o->height = parse_double("--height", optarg, 1e-3, 1e4);
			}
			break;
		case 'p': o->per_phase = 1; break;
		case 'j': o->json = 1; break;
		case 'P': o->plot_dir = optarg; break;
		case 'K': o->case_key = optarg; break;
		case 'h': help(); help_exit();
		default: usage_error("invalid option");
		}
	}
	for (int k = 1; k < 256; k++)
		if (o->blood[k] && o->myo[k])
			usage_error("class %d is both --blood and --myo", k);
	if (!*o->field || !*o->case_key || (o->plot_dir && !*o->plot_dir))
		usage_error("the field, the case key and the plot folder must not be empty");
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

static double meta_num(const struct walker *w, const struct st_record *r,
		       const char *key)
{
	double v;

	if (st_meta_get_num(r, key, &v) < 0 || !isfinite(v))
		walk_die(w, "no numeric '%s' meta", key);
	return v;
}

/* Position along the slice normal, mm. */
static double slice_pos(const struct walker *w, const struct st_record *r)
{
	double ip[3], io[6];
	size_t n1 = 0, n2 = 0;

	if (st_meta_get_nums(r, "image_position", ip, 3, &n1) == 0 && n1 == 3 &&
	    st_meta_get_nums(r, "image_orientation", io, 6, &n2) == 0 && n2 == 6) {
		double nx = io[1] * io[5] - io[2] * io[4];
		double ny = io[2] * io[3] - io[0] * io[5];
		double nz = io[0] * io[4] - io[1] * io[3];

		return nx * ip[0] + ny * ip[1] + nz * ip[2];
	}
	if (st_meta_has(r, "slice_location"))
		return meta_num(w, r, "slice_location");
	walk_die(w, "no image_position/image_orientation or slice_location meta");
}

static struct lv_case *find_case(struct lv_case **cs, size_t *nc,
				 const char *name)
{
	for (size_t i = 0; i < *nc; i++)
		if (!strcmp((*cs)[i].name, name))
			return &(*cs)[i];
	*cs = ereallocarray(*cs, *nc + 1, sizeof **cs);
	(*cs)[*nc] = (struct lv_case){.name = estrdup(name)};
	return &(*cs)[(*nc)++];
}

static void process(const struct walker *w, const struct st_record *r,
		    const struct opts *o, struct lv_case **cs, size_t *nc)
{
	const struct st_tensor *t = st_record_tensor(r, o->field);
	struct slice_rec s = {0};
	char buf[256], shape[64];
	double ps[2], inst, nphase, tt;
	size_t n = 0;

	if (!t)
		walk_die(w, "no '%s' tensor", o->field);
	if (t->ndim < 2 || st_tensor_numel(t) !=
	    (size_t)t->shape[t->ndim - 2] * (size_t)t->shape[t->ndim - 1])
		walk_die(w, "%s %s is not one H x W mask", o->field,
			 st_shape_str(t, shape, sizeof shape));
	if (st_meta_get_nums(r, "pixel_spacing", ps, 2, &n) < 0 || n < 1 || n > 2)
		walk_die(w, "no numeric 'pixel_spacing' meta");
	if (n == 1)
		ps[1] = ps[0];
	if (!(ps[0] > 0 && ps[1] > 0 && isfinite(ps[0] * ps[1])))
		walk_die(w, "pixel_spacing %g, %g is not positive", ps[0], ps[1]);
	inst = meta_num(w, r, "instance_number");
	nphase = meta_num(w, r, "cardiac_number_of_images");
	if (!(nphase >= 1 && nphase <= MAX_PHASES && nphase == floor(nphase)) ||
	    !(inst >= 1 && inst == floor(inst) && inst < 1e12))
		walk_die(w, "instance_number %g / cardiac_number_of_images %g do not give a phase",
			 inst, nphase);
	s.phase = (long)fmod(inst - 1, nphase);
	s.pos = slice_pos(w, r);
	s.thick = NAN;
	if (st_meta_has(r, "slice_thickness")) {
		s.thick = meta_num(w, r, "slice_thickness");
		if (!(s.thick > 0))
			walk_die(w, "slice_thickness %g is not positive", s.thick);
	} else if (o->height_mode == 1)
		walk_die(w, "no numeric 'slice_thickness' meta");
	s.trigger = st_meta_get_num(r, "trigger_time", &tt) == 0 ? tt : NAN;
	s.area_mm2 = ps[0] * ps[1];
	for (size_t i = 0; i < st_tensor_numel(t); i++) {
		double v = st_tensor_get(t, i);

		if (!(v >= 0 && v < 256 && v == floor(v)))
			walk_die(w, "%s value %g at element %zu is not a class in 0..255",
				 o->field, v, i);
		s.blood += o->blood[(int)v];
		s.myo += o->myo[(int)v];
	}
	const char *id = st_record_id(r), *slash = strrchr(id, '/');
	char *name;
	if (st_meta_has(r, o->case_key))
		name = estrdup(st_meta_text(r, o->case_key, buf, sizeof buf));
	else {
		name = estrdup(id);
		if (slash)
			name[slash - id] = '\0';
	}
	struct lv_case *c = find_case(cs, nc, name);
	free(name);
	for (size_t i = 0; i < c->n; i++)
		if (c->r[i].phase == s.phase && fabs(c->r[i].pos - s.pos) < 1e-3)
			walk_die(w, "a second record for slice %.3f mm, phase %ld of case '%s'",
				 s.pos, s.phase, c->name);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->r = ereallocarray(c->r, c->cap, sizeof *c->r);
	}
	c->r[c->n++] = s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Slice height of case c in mm; *nslices its distinct slice positions. */
static double case_height(const struct lv_case *c, const struct opts *o,
			  size_t *nslices)
{
	double *p = ereallocarray(NULL, c->n, sizeof *p), h;
	size_t k = 0;

	for (size_t i = 0; i < c->n; i++)
		p[i] = c->r[i].pos;
	qsort(p, c->n, sizeof *p, cmp_double);
	for (size_t i = 0; i < c->n; i++)
		if (!k || p[i] - p[k - 1] > 1e-3)
			p[k++] = p[i];
	*nslices = k;
	if (o->height_mode == 2) {
		h = o->height;
	} else if (o->height_mode == 1 || k < 2) {
		h = c->r[0].thick;
		if (!isfinite(h)) {
			free(p);
			die("%s: one slice position and no slice_thickness: give --height MM",
			    c->name);
		}
	} else {
		for (size_t i = 0; i + 1 < k; i++)
			p[i] = p[i + 1] - p[i];
		qsort(p, k - 1, sizeof *p, cmp_double);
		h = (k - 1) % 2 ? p[(k - 1) / 2] : 0.5 * (p[k / 2 - 1] + p[k / 2]);
	}
	free(p);
	return h;
}

/* Volumes of the phases present in c, in phase order; returns how many. */
static size_t case_phases(const struct lv_case *c, double h,
			  struct phase_vol **out)
{
	struct phase_vol *v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct slice_rec *s = &c->r[i];
		size_t j;

		for (j = 0; j < n && v[j].phase != s->phase; j++)
			;
		if (j == n) {
			v = ereallocarray(v, n + 1, sizeof *v);
			v[n++] = (struct phase_vol){.phase = s->phase};
		}
		v[j].slices++;
		v[j].blood_ml += (double)s->blood * s->area_mm2 * h / 1000.0;
		v[j].myo_ml += (double)s->myo * s->area_mm2 * h / 1000.0;
		v[j].trigger += s->trigger; /* mean below */
	}
	for (size_t i = 1; i < n; i++) /* insertion sort by phase */
		for (size_t j = i; j > 0 && v[j - 1].phase > v[j].phase; j--) {
			struct phase_vol t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++)
		v[i].trigger /= (double)v[i].slices;
	*out = v;
	return n;
}

/* EDV and ESV over the slices with blood at both ED and ES, and the
 * myocardium at ED over the slices with both blood and myocardium there,
 * as the challenge's evaluation pairs them. */
struct paired {
	double edv, esv, myo_ml;
	size_t slices;
};

static struct paired paired_sums(const struct lv_case *c, double h, long ed,
				 long es)
{
	struct paired p = {0};

	for (size_t i = 0; i < c->n; i++) {
		const struct slice_rec *a = &c->r[i], *b = NULL;

		if (a->phase != ed)
			continue;
		for (size_t j = 0; j < c->n; j++)
			if (c->r[j].phase == es && fabs(c->r[j].pos - a->pos) < 1e-3)
				b = &c->r[j];
		if (a->blood && a->myo)
			p.myo_ml += (double)a->myo * a->area_mm2 * h / 1000.0;
		if (!a->blood || !b || !b->blood)
			continue;
		p.edv += (double)a->blood * a->area_mm2 * h / 1000.0;
		p.esv += (double)b->blood * b->area_mm2 * h / 1000.0;
		p.slices++;
	}
	return p;
}

static void num(double v, int json)
{
	if (isfinite(v))
		printf("%.6f", v);
	else
		printf(json ? "null" : "nan");
}


/* --- the plot ------------------------------------------------------------- */
#define PW 400
#define PH 240
#define MARGIN 24

struct canvas {
	uint8_t pix[PH][PW][3];
};

static void dot(struct canvas *cv, long x, long y, const uint8_t *rgb)
{
	if (x >= 0 && x < PW && y >= 0 && y < PH)
		memcpy(cv->pix[y][x], rgb, 3);
}

static void line(struct canvas *cv, long x0, long y0, long x1, long y1,
		 const uint8_t *rgb)
{
	long dx = labs(x1 - x0), dy = -labs(y1 - y0), e = dx + dy;
	int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;

	for (;;) { /* Bresenham */
		dot(cv, x0, y0, rgb);
		if (x0 == x1 && y0 == y1)
			return;
		long e2 = 2 * e;
		if (e2 >= dy) {
			e += dy;
			x0 += sx;
		}
		if (e2 <= dx) {
			e += dx;
			y0 += sy;
		}
	}
}

static void png_error_fn(png_structp png, png_const_charp msg)
{
	snprintf(png_get_error_ptr(png), 256, "%s", msg);
	png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static int png_put(FILE *f, const struct canvas *cv, char *err)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err,
						  png_error_fn, png_warning_fn);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	int rc = -1;

	if (!png || !info) {
		snprintf(err, 256, "out of memory");
		goto out;
	}
	if (setjmp(png_jmpbuf(png)))
		goto out;
	png_init_io(png, f);
	png_set_IHDR(png, info, PW, PH, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < PH; y++)
		png_write_row(png, (png_const_bytep)cv->pix[y]);
	png_write_end(png, NULL);
	rc = 0;
out:
	png_destroy_write_struct(&png, &info);
	return rc;
}

/* Volume (y, from 0 to the largest, 5 ticks) against phase (x, 0 .. last
 * phase present), a dark line with a dot per phase, ED red, ES green. */
static void plot_case(const struct opts *o, const struct lv_case *c,
		      const struct phase_vol *v, size_t n, size_t ed, size_t es)
{
	static const uint8_t ink[3] = {40, 40, 40}, grid[3] = {220, 220, 220},
			     curve[3] = {30, 70, 200}, red[3] = {220, 30, 30},
			     green[3] = {20, 160, 40};
	struct canvas *cv = emalloc(sizeof *cv);
	struct atomic_file af;
	char err[256];
	double top = v[ed].blood_ml > 0 ? v[ed].blood_ml * 1.1 : 1;
	long last = v[n - 1].phase > 0 ? v[n - 1].phase : 1;
	size_t len = strlen(o->plot_dir) + strlen(c->name) + 8;
	char *path = emalloc(len);
	long px[MAX_PHASES], py[MAX_PHASES];

	memset(cv, 255, sizeof *cv);
	for (int k = 1; k <= 4; k++) {
		long y = PH - MARGIN - k * (PH - 2 * MARGIN) / 5;
		line(cv, MARGIN, y, PW - MARGIN, y, grid);
	}
	line(cv, MARGIN, MARGIN, MARGIN, PH - MARGIN, ink);
	line(cv, MARGIN, PH - MARGIN, PW - MARGIN, PH - MARGIN, ink);
	for (long p = 0; p <= last; p++) {
		long x = MARGIN + p * (PW - 2 * MARGIN) / last;
		line(cv, x, PH - MARGIN, x, PH - MARGIN + 4, ink);
	}
	for (size_t i = 0; i < n; i++) {
		px[i] = MARGIN + v[i].phase * (PW - 2 * MARGIN) / last;
		py[i] = PH - MARGIN - lround(v[i].blood_ml / top * (PH - 2 * MARGIN));
		if (i)
			line(cv, px[i - 1], py[i - 1], px[i], py[i], curve);
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *col = i == ed ? red : i == es ? green : curve;
		int r = i == ed || i == es ? 4 : 2;

		for (int dy = -r; dy <= r; dy++)
			for (int dx = -r; dx <= r; dx++)
				if (dx * dx + dy * dy <= r * r)
					dot(cv, px[i] + dx, py[i] + dy, col);
	}
	snprintf(path, len, "%s/%s.png", o->plot_dir, c->name);
	if (atomic_open(&af, path) < 0)
		die("%s:", path);
	if (png_put(af.f, cv, err) < 0) {
		atomic_abort(&af);
		die("%s: %s", path, err);
	}
	if (atomic_commit(&af) < 0)
		die("%s:", path);
	free(path);
	free(cv);
}

static int safe_name(const char *s)
{
	return *s && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/');
}

static void report(const struct opts *o, struct lv_case *cs, size_t nc)
{
	if (o->plot_dir) {
		struct stat st;

		if (mkdir(o->plot_dir, 0777) < 0 &&
		    !(errno == EEXIST && stat(o->plot_dir, &st) == 0 &&
		      S_ISDIR(st.st_mode)))
			die("%s:", o->plot_dir);
	}
	if (o->json)
		printf("{\"cases\":[");
	else if (o->per_phase)
		printf("case\tphase\tslices\ttrigger_ms\tblood_ml\tmyo_ml\tmass_g\n");
	for (int pass = o->per_phase && !o->json ? 0 : 1; pass < 2; pass++) {
		if (pass == 1 && !o->json) {
			if (o->per_phase)
				printf("\n");
			printf("case\tphases\tslices\tedv_ml\tesv_ml\tsv_ml\tef_pct\ted_phase\tes_phase\tmass_g\tef_slices\n");
		}
		for (size_t i = 0; i < nc; i++) {
			struct lv_case *c = &cs[i];
			struct phase_vol *v;
			size_t nsl, ed = 0, es = 0;
			double h = case_height(c, o, &nsl);
			size_t n = case_phases(c, h, &v);

			for (size_t k = 1; k < n; k++)
				if (v[k].blood_ml > v[ed].blood_ml)
					ed = k;
			es = ed;
			for (size_t k = 0; k < n; k++) /* smallest non-zero */
				if (v[k].blood_ml > 0 && v[k].blood_ml < v[es].blood_ml)
					es = k;
			struct paired pr = paired_sums(c, h, v[ed].phase, v[es].phase);
			double edv = pr.edv, esv = pr.esv;
			double ef = edv > 0 ? 100.0 * (edv - esv) / edv : NAN;
			double mass = pr.myo_ml > 0 ? MYO_DENSITY * pr.myo_ml : NAN;

			if (pass == 0) {
				for (size_t k = 0; k < n; k++) {
					tsv_str(c->name);
					printf("\t%ld\t%zu\t", v[k].phase, v[k].slices);
					num(v[k].trigger, 0);
					printf("\t%.6f\t%.6f\t%.6f\n", v[k].blood_ml,
					       v[k].myo_ml, MYO_DENSITY * v[k].myo_ml);
				}
				free(v);
				continue;
			}
			if (o->plot_dir) {
				if (!safe_name(c->name)) {
					free(v);
					die("%s: case name is not a file name", c->name);
				}
				plot_case(o, c, v, n, ed, es);
			}
			if (o->json) {
				printf("%s{\"case\":", i ? "," : "");
				json_str(c->name);
				printf(",\"phases\":%zu,\"slices\":%zu,\"height_mm\":%.6f,"
				       "\"edv_ml\":%.6f,\"esv_ml\":%.6f,\"sv_ml\":%.6f,\"ef_pct\":",
				       n, nsl, h, edv, esv, edv - esv);
				num(ef, 1);
				printf(",\"ed_phase\":%ld,\"es_phase\":%ld,\"mass_g\":",
				       v[ed].phase, v[es].phase);
				num(mass, 1);
				printf(",\"ef_slices\":%zu", pr.slices);
				if (o->per_phase) {
					printf(",\"per_phase\":[");
					for (size_t k = 0; k < n; k++) {
						printf("%s{\"phase\":%ld,\"slices\":%zu,\"trigger_ms\":",
						       k ? "," : "", v[k].phase, v[k].slices);
						num(v[k].trigger, 1);
						printf(",\"blood_ml\":%.6f,\"myo_ml\":%.6f,\"mass_g\":%.6f}",
						       v[k].blood_ml, v[k].myo_ml,
						       MYO_DENSITY * v[k].myo_ml);
					}
					printf("]");
				}
				printf("}");
			} else {
				tsv_str(c->name);
				printf("\t%zu\t%zu\t%.6f\t%.6f\t%.6f\t", n, nsl, edv, esv,
				       edv - esv);
				num(ef, 0);
				printf("\t%ld\t%ld\t", v[ed].phase, v[es].phase);
				num(mass, 0);
				printf("\t%zu\n", pr.slices);
			}
			free(v);
		}
	}
	if (o->json)
		printf("]}\n");
}

int main(int argc, char **argv)
{
	struct opts o;
	struct walker w;
	struct st_record *r;
	struct lv_case *cs = NULL;
	size_t nc = 0;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	walk_open(&w, o.inputs, o.ninputs);
	while (walk_next(&w, &r)) {
		process(&w, r, &o, &cs, &nc);
		st_record_free(r);
	}
	if (nc == 0)
		die("%s: no records", w.name);
	walk_close(&w);
	report(&o, cs, nc);
	for (size_t i = 0; i < nc; i++) {
		free(cs[i].name);
		free(cs[i].r);
	}
	free(cs);
	return fshut(stdout, "stdout");
}
