/*
 * phantom - synthetic short-axis cine MRI in the layout of the shared
 * Sunnybrook subset, the project's built-in data:
 *
 *   DIR/link.csv                                  patient_id,original_id
 *   DIR/dicoms/<id>/<N>.dcm                       16-bit signed MONOCHROME2
 *   DIR/contourfiles/<case>/i-contours/IM-0001-NNNN-icontour-manual.txt
 *   DIR/contourfiles/<case>/o-contours/IM-0001-NNNN-ocontour-manual.txt
 *
 * Each frame shows a body with background tissue, a subcutaneous fat ring,
 * two lungs, a right ventricle, and the left ventricle: a bright blood pool
 * inside a darker myocardial ring, both changing size, shape and position
 * over the cardiac cycle and from slice to slice; edges have partial-volume
 * blur and the magnitude image Rician noise.  The i-contour is the blood
 * pool's boundary (the 0.5 level of the blur), the o-contour the
 * epicardium's; i-contours on every frame, o-contours on even phases.
 *
 * Deterministic: everything (noise, shapes, UIDs) follows from --seed, so one
 * seed gives a byte-identical tree.  The tree is built in DIR.tmpXXXXXX and
 * renamed to DIR at the end (replacing an empty DIR); a non-empty DIR is
 * refused.
 *
 * Not done here: anatomy beyond the above (no papillary muscles, no
 * through-plane motion), other layouts.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dicom.h"
#include "rng.h"
#include "util.h"

#define MAX_CASES 999
#define PIXEL_SPACING 1.367188 /* mm, as in the shared subset */
#define SLICE_THICKNESS 10.0   /* mm */

struct opts {
	const char *out;
	long cases, slices, phases;
	long h, w;
	uint64_t seed;
	double noise; /* Rician sigma */
};

/* A stream for (seed, a, b, c): the frames do not depend on each other. */
static struct rng rng_for(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	/* not rng_derive: this derivation fixes the trees phantom has always
	 * made for a seed */
	struct rng r = rng_seeded(seed ^ 0x6a09e667f3bcc909ULL);

	r.s = rng_next(&r) ^ a;
	r.s = rng_next(&r) ^ (b << 20) ^ c;
	rng_next(&r);
	return r;
}

/* The cardiac anatomy of one case (pixel units, image coordinates:
 * x = column, y = row). */
struct heart {
	double cx, cy;          /* LV centre at end-diastole, basal slice */
	double r0;              /* blood pool radius at end-diastole */
	double wall;            /* myocardial thickness at end-diastole */
	double ecc, ecc_phi;    /* elliptic shape: 1 + ecc cos 2(t - phi) */
	double lobe, lobe_phi;  /* three-lobed wobble */
	double squeeze;         /* fraction of r0 lost at end-systole */
	double drift_x, drift_y; /* centre motion over the cycle */
	double rv_dist, rv_ang, rv_rx, rv_ry;
	double body_rx, body_ry, body_cx, body_cy, fat;
	double blood, myo, tissue, fatv, lung; /* intensities */
	double heart_rate;      /* beats per minute */
};

static void heart_init(struct heart *hp, const struct opts *o, long k)
{
	struct rng r = rng_for(o->seed, (uint64_t)k, 0, 0);
	double s = (double)(o->h < o->w ? o->h : o->w) / 256.0;

	hp->r0 = s * rng_range(&r, 20, 28);
	hp->wall = s * rng_range(&r, 7, 10);
	hp->cx = o->w * rng_range(&r, 0.48, 0.58);
	hp->cy = o->h * rng_range(&r, 0.40, 0.52);
	hp->ecc = rng_range(&r, 0.04, 0.14);
	hp->ecc_phi = rng_range(&r, 0, M_PI);
	hp->lobe = rng_range(&r, 0.0, 0.05);
	hp->lobe_phi = rng_range(&r, 0, 2 * M_PI);
	hp->squeeze = rng_range(&r, 0.25, 0.4);
	hp->drift_x = s * rng_range(&r, -3, 3);
	hp->drift_y = s * rng_range(&r, -3, 3);
	hp->rv_dist = rng_range(&r, 1.15, 1.35);
	hp->rv_ang = M_PI + rng_range(&r, -0.5, 0.2);
	hp->rv_rx = s * rng_range(&r, 16, 22);
	hp->rv_ry = s * rng_range(&r, 26, 34);
	hp->body_cx = o->w * rng_range(&r, 0.47, 0.53);
	hp->body_cy = o->h * rng_range(&r, 0.47, 0.53);
	hp->body_rx = o->w * rng_range(&r, 0.40, 0.46);
	hp->body_ry = o->h * rng_range(&r, 0.32, 0.38);
	hp->fat = s * rng_range(&r, 5, 10);
	double gain = rng_range(&r, 0.8, 1.25);
	hp->blood = gain * rng_range(&r, 850, 1100);
	hp->myo = gain * rng_range(&r, 220, 320);
	hp->tissue = gain * rng_range(&r, 250, 380);
	hp->fatv = gain * rng_range(&r, 650, 900);
	hp->lung = gain * rng_range(&r, 30, 60);
	hp->heart_rate = rng_range(&r, 60, 85);
}

/* Where the LV is in one frame. */
struct frame_geom {
	double cx, cy, r_endo, r_epi, rv_cx, rv_cy, rv_rx, rv_ry;
};

static void frame_geom(const struct heart *hp, const struct opts *o, long s,
		       long p, struct frame_geom *g)
{
	double c = 0.5 * (1 - cos(2 * M_PI * (double)p / (double)o->phases));
	double taper = 1 - 0.18 * (double)s; /* towards the apex */
	double area;

	if (taper < 0.4)
		taper = 0.4;
	g->cx = hp->cx + c * hp->drift_x + 1.5 * (double)s;
	g->cy = hp->cy + c * hp->drift_y + 1.0 * (double)s;
	g->r_endo = hp->r0 * taper * (1 - hp->squeeze * c);
	/* the wall keeps its area: it thickens as the pool shrinks */
	area = (hp->r0 + hp->wall) * (hp->r0 + hp->wall) - hp->r0 * hp->r0;
	g->r_epi = sqrt(g->r_endo * g->r_endo + area * taper * taper);
	g->rv_cx = g->cx + hp->rv_dist * g->r_epi * cos(hp->rv_ang) -
		   0.3 * hp->rv_rx;
	g->rv_cy = g->cy + hp->rv_dist * g->r_epi * sin(hp->rv_ang);
	g->rv_rx = hp->rv_rx * taper * (1 - 0.3 * c);
	g->rv_ry = hp->rv_ry * taper * (1 - 0.15 * c);
}

/* Radius factor of the blood pool (outline = r * shape) and, smoother, of
 * the epicardium. */
static double endo_shape(const struct heart *hp, double t)
{
	return 1 + hp->ecc * cos(2 * (t - hp->ecc_phi)) +
	       hp->lobe * cos(3 * t + hp->lobe_phi);
}

static double epi_shape(const struct heart *hp, double t)
{
	return 1 + 0.5 * hp->ecc * cos(2 * (t - hp->ecc_phi));
}

/* Partial-volume weight of a pixel at signed distance d inside an edge. */
static double edge(double d)
{
	return d >= 0.5 ? 1 : d <= -0.5 ? 0 : d + 0.5;
}

/* Inside-ness of an axis-aligned ellipse, about one pixel of blur. */
static double ellipse_w(double x, double y, double cx, double cy, double rx,
			double ry)
{
	double dx = (x - cx) / rx, dy = (y - cy) / ry;
	double q = sqrt(dx * dx + dy * dy);
	double rmin = rx < ry ? rx : ry;
	return edge((1 - q) * rmin);
}

static double blend(double v, double w, double to)
{
	return v + w * (to - v);
}

/* img (H, W) for slice s, phase p of case k. */
static void render(const struct heart *hp, const struct frame_geom *g,
		   const struct opts *o, long k, long s, long p, int16_t *img)
{
	struct rng r = rng_for(o->seed, (uint64_t)k, (uint64_t)s + 1,
			       (uint64_t)p + 1);

	for (long y = 0; y < o->h; y++)
		for (long x = 0; x < o->w; x++) {
			double X = (double)x, Y = (double)y, v = 0;
			double body = ellipse_w(X, Y, hp->body_cx, hp->body_cy,
						hp->body_rx, hp->body_ry);
			double inner = ellipse_w(X, Y, hp->body_cx, hp->body_cy,
						 hp->body_rx - hp->fat,
						 hp->body_ry - hp->fat);
			/* tissue with a slow texture, fat under the skin */
			double tex = 1 + 0.12 * sin(X / 13.0 + 0.7 * (double)k) *
						 cos(Y / 17.0);
			v = blend(v, body, hp->fatv);
			v = blend(v, inner, hp->tissue * tex);
			for (int side = -1; side <= 1; side += 2) {
				double lx = hp->body_cx + side * 0.5 * hp->body_rx;
				double lw = ellipse_w(X, Y, lx, hp->body_cy - 0.1 * hp->body_ry,
						      0.33 * hp->body_rx,
						      0.6 * hp->body_ry);
				v = blend(v, lw * inner, hp->lung);
			}
			v = blend(v, ellipse_w(X, Y, g->rv_cx, g->rv_cy, g->rv_rx,
					       g->rv_ry),
				  0.92 * hp->blood);
			double dx = X - g->cx, dy = Y - g->cy;
			double d = sqrt(dx * dx + dy * dy);
			double t = atan2(dy, dx);
			v = blend(v, edge(g->r_epi * epi_shape(hp, t) - d),
				  hp->myo);
			double grad = 1 - 0.08 * dy / (g->r_endo + 1);
			v = blend(v, edge(g->r_endo * endo_shape(hp, t) - d),
				  hp->blood * grad);
			/* magnitude of a complex signal with Gaussian noise */
			double re = v + o->noise * rng_normal(&r);
			double im = o->noise * rng_normal(&r);
			double m = sqrt(re * re + im * im);
			img[y * o->w + x] = (int16_t)(m > 32767 ? 32767 : lround(m));
		}
}

/* --- output tree ------------------------------------------------------- */

struct tree {
	char *tmp;   /* DIR.tmpXXXXXX while building */
	char *final; /* DIR */
};

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/* Removes the half-built tree, then dies with the message. */
static _Noreturn void tree_fail(struct tree *t, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (t->tmp)
		nftw(t->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	errno = saved;
	die("%s", msg);
}

static char *xasprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	return s;
}

static void tree_mkdir(struct tree *t, const char *rel)
{
	char *p = xasprintf("%s/%s", t->tmp, rel);
	if (mkdir(p, 0777) < 0)
		tree_fail(t, "%s: %s", p, strerror(errno));
	free(p);
}

/* Refuses a non-empty DIR, makes DIR.tmpXXXXXX. */
static void tree_open(struct tree *t, const char *dir)
{
	struct stat st;

	t->tmp = NULL;
	t->final = estrdup(dir);
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			die("%s: exists and is not a directory", dir);
		DIR *d = opendir(dir);
		struct dirent *e;
		if (!d)
			die("%s:", dir);
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				closedir(d);
				die("%s: exists and is not empty", dir);
			}
		closedir(d);
		/* rename() below replaces an empty directory */
	} else if (errno != ENOENT) {
		die("%s:", dir);
	}
	t->tmp = xasprintf("%s.tmpXXXXXX", dir);
	if (!mkdtemp(t->tmp))
		die("%s:", t->tmp);
	{ /* mkdtemp makes it 0700; a tree should look like mkdir's */
		mode_t um = umask(0);
		umask(um);
		chmod(t->tmp, 0777 & ~um);
	}
}

static void tree_commit(struct tree *t)
{
	if (rename(t->tmp, t->final) < 0)
		tree_fail(t, "%s: %s", t->final, strerror(errno));
	free(t->tmp);
	free(t->final);
	t->tmp = t->final = NULL;
}

static void write_text(struct tree *t, const char *rel, const char *text)
{
	char *p = xasprintf("%s/%s", t->tmp, rel);
	FILE *f = fopen(p, "w");
	if (!f)
		tree_fail(t, "%s: %s", p, strerror(errno));
	fputs(text, f);
	if (fclose(f) != 0)
		tree_fail(t, "%s: write error: %s", p, strerror(errno));
	free(p);
}

/* The closed outline r * shape(t) around (cx, cy), one "x y" per line,
 * points about half a pixel apart. */
static void write_contour(struct tree *t, const char *rel, double cx,
			  double cy, double r, const struct heart *hp, int epi)
{
	int n = (int)ceil(4 * M_PI * r);
	size_t len = 0;

	if (n < 16)
		n = 16;
	char *buf = ereallocarray(NULL, (size_t)n, 48);
	for (int i = 0; i < n; i++) {
		double a = 2 * M_PI * i / n;
		double rr = r * (epi ? epi_shape(hp, a) : endo_shape(hp, a));
		len += (size_t)sprintf(buf + len, "%.2f %.2f\n",
				       cx + rr * cos(a), cy + rr * sin(a));
	}
	write_text(t, rel, buf);
	free(buf);
}

/* "2.25." + a 128-bit number, a version-4 UUID made from the seed: unique
 * for each (seed, case, kind, index) and the same on every run. */
static void make_uid(char *out, size_t len, uint64_t seed, long k, int kind,
		     long idx)
{
	struct rng r = rng_for(seed ^ 0x5bd1e995ULL * (uint64_t)(kind + 1),
			       (uint64_t)k, (uint64_t)kind + 7,
			       (uint64_t)idx);
	uint64_t hi = rng_next(&r), lo = rng_next(&r);
	hi = (hi & ~0xf000ULL) | 0x4000ULL;               /* version 4 */
	lo = (lo & ~(3ULL << 62)) | (2ULL << 62);          /* variant 10 */
	unsigned __int128 v = ((unsigned __int128)hi << 64) | lo;
	char digits[48];
	int n = 0;
	do {
		digits[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	size_t o = (size_t)snprintf(out, len, "2.25.");
	while (n > 0 && o + 1 < len)
		out[o++] = digits[--n];
	out[o] = '\0';
}

static void write_case(struct tree *t, const struct opts *o, long k,
		       int16_t *img)
{
	struct heart hp;
	char id[32], case_name[32], study[72], series[72], frame_ref[72];
	char sop[72], err[DCM_ERR_LEN];

	heart_init(&hp, o, k);
	snprintf(id, sizeof id, "PHM%05ld01", k);
	snprintf(case_name, sizeof case_name, "PH-%ld", k);
	make_uid(study, sizeof study, o->seed, k, 1, 0);
	make_uid(series, sizeof series, o->seed, k, 2, 0);
	make_uid(frame_ref, sizeof frame_ref, o->seed, k, 3, 0);
	char *rel = xasprintf("dicoms/%s", id);
	tree_mkdir(t, rel);
	free(rel);
	rel = xasprintf("contourfiles/%s", case_name);
	tree_mkdir(t, rel);
	free(rel);
	rel = xasprintf("contourfiles/%s/i-contours", case_name);
	tree_mkdir(t, rel);
	free(rel);
	rel = xasprintf("contourfiles/%s/o-contours", case_name);
	tree_mkdir(t, rel);
	free(rel);

	double rr = 60000.0 / hp.heart_rate; /* ms per beat */
	for (long s = 0; s < o->slices; s++)
		for (long p = 0; p < o->phases; p++) {
			long n = s * o->phases + p + 1;
			struct frame_geom g;
			frame_geom(&hp, o, s, p, &g);
			render(&hp, &g, o, k, s, p, img);
			int16_t mx = 0;
			for (long i = 0; i < o->h * o->w; i++)
				if (img[i] > mx)
					mx = img[i];
			make_uid(sop, sizeof sop, o->seed, k, 4, n);
			double loc = -10.0 - SLICE_THICKNESS * (double)s;
			struct dcm_mr_spec spec = {
				.rows = (int)o->h,
				.cols = (int)o->w,
				.pixels = img,
				.patient_id = id,
				.study_uid = study,
				.series_uid = series,
				.sop_instance_uid = sop,
				.frame_of_ref_uid = frame_ref,
				.series_number = 300,
				.instance_number = (int)n,
				.pixel_spacing = {PIXEL_SPACING, PIXEL_SPACING},
				.slice_thickness = SLICE_THICKNESS,
				.slice_location = loc,
				.position = {-PIXEL_SPACING * (double)o->w / 2,
					     -PIXEL_SPACING * (double)o->h / 2,
					     loc},
				.orientation = {1, 0, 0, 0, 1, 0},
				.trigger_time = rr * (double)p / (double)o->phases,
				.cardiac_number_of_images = (int)o->phases,
				.window_center = floor(mx / 2.0),
				.window_width = (double)mx,
			};
			rel = xasprintf("%s/dicoms/%s/%ld.dcm", t->tmp, id, n);
			if (dcm_write_mr(rel, &spec, err, sizeof err) < 0)
				tree_fail(t, "%s: %s", rel, err);
			free(rel);
			rel = xasprintf("contourfiles/%s/i-contours/"
					"IM-0001-%04ld-icontour-manual.txt",
					case_name, n);
			write_contour(t, rel, g.cx, g.cy, g.r_endo, &hp, 0);
			free(rel);
			if (p % 2 == 0) {
				rel = xasprintf("contourfiles/%s/o-contours/"
						"IM-0001-%04ld-ocontour-manual.txt",
						case_name, n);
				write_contour(t, rel, g.cx, g.cy, g.r_epi, &hp, 1);
				free(rel);
			}
		}
}

static void usage(void)
{
	printf("Usage: %s [OPTION]... -o DIR\n"
	       "Write a synthetic short-axis cine MRI tree to DIR, in the layout of the\n"
	       "shared Sunnybrook subset: link.csv, dicoms/<id>/<N>.dcm (16-bit signed\n"
	       "MONOCHROME2, Explicit VR Little Endian), contourfiles/<case>/i-contours\n"
	       "(every frame) and o-contours (even phases).  The same seed gives a\n"
	       "byte-identical tree.  DIR must not exist or be empty.\n"
	       "\n"
	       "  -o, --output DIR    where to write the tree (required)\n"
	       "  -n, --cases N       number of cases, 1 to %d (default 2)\n"
	       "  -s, --seed S        seed of everything random, 0 to 2^64-1 (default 1)\n"
	       "      --size HxW      image size, 32x32 to 1024x1024 (default 256x256)\n"
	       "      --slices K      slices per case, 1 to 20 (default 2)\n"
	       "      --phases P      cardiac phases per slice, 2 to 60 (default 10)\n"
	       "      --noise SIGMA   Rician noise level, 0 to 500 (default 25)\n"
	       "  -h, --help          show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0, MAX_CASES);
}

static uint64_t parse_seed(const char *s)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		usage_error("--seed: '%s' is not a number from 0 to 2^64-1", s);
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno)
		usage_error("--seed: '%s' is not a number from 0 to 2^64-1", s);
	return (uint64_t)v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	enum { OPT_SIZE = 256, OPT_SLICES, OPT_PHASES, OPT_NOISE };
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"cases", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 's'},
		{"size", required_argument, NULL, OPT_SIZE},
		{"slices", required_argument, NULL, OPT_SLICES},
		{"phases", required_argument, NULL, OPT_PHASES},
		{"noise", required_argument, NULL, OPT_NOISE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.cases = 2, .slices = 2, .phases = 10, .h = 256,
			   .w = 256, .seed = 1, .noise = 25};
	while ((c = getopt_long(argc, argv, "o:n:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!*optarg)
				usage_error("--output: empty path");
			o->out = optarg;
			break;
		case 'n':
			o->cases = parse_int("--cases", optarg, 1, MAX_CASES);
			break;
		case 's':
			o->seed = parse_seed(optarg);
			break;
		case OPT_SIZE:
			parse_size("--size", optarg, &o->h, &o->w);
			if (o->h < 32 || o->w < 32 || o->h > 1024 || o->w > 1024)
				usage_error("--size: '%s' is outside 32x32 to "
					    "1024x1024", optarg);
			break;
		case OPT_SLICES:
			o->slices = parse_int("--slices", optarg, 1, 20);
			break;
		case OPT_PHASES:
			o->phases = parse_int("--phases", optarg, 2, 60);
			break;
		case OPT_NOISE:
			o->noise = parse_double("--noise", optarg, 0, 500);
			break;
		case 'h':
			usage();
			help_exit();
		default:
			usage_error("unknown option");
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->out)
		usage_error("missing -o DIR");
}

int main(int argc, char **argv)
{
	struct opts o;
	struct tree t;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	tree_open(&t, o.out);
	tree_mkdir(&t, "dicoms");
	tree_mkdir(&t, "contourfiles");

	int16_t *img = ecalloc((size_t)(o.h * o.w), sizeof *img);
	size_t cap = 64 + (size_t)o.cases * 32, len;
	char *link = emalloc(cap);
	len = (size_t)sprintf(link, "patient_id,original_id\n");
	for (long k = 1; k <= o.cases; k++) {
		write_case(&t, &o, k, img);
		len += (size_t)sprintf(link + len, "PHM%05ld01,PH-%ld\n", k, k);
	}
	write_text(&t, "link.csv", link);
	tree_commit(&t);
	free(link);
	free(img);
	return fshut(stdout, "stdout") ? EXIT_DATA : 0;
}
