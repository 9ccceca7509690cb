/*
 * contour2mask - rasterize contour polygons into a label tensor.
 *
 * Filter mode: for each record of the input stream, every source named by
 * --from-meta (default: the meta key "contour") that the record's meta
 * carries is a path to a contour file; its closed polygon is painted, in the
 * order the options give, with its --class value into the u8 tensor `label`
 * (1xHxW, H and W those of the record's `image`).  A record naming none of
 * the sources (or naming it as "") passes through unchanged (--require makes
 * that an error).
 *
 * Standalone mode (--size HxW FILE...): one record per contour file, id
 * from the path (".txt" dropped), label painted with the first --class.
 *
 * A contour file holds one "x y" pair of floats per line (x = column,
 * y = row), the last point joining the first.  Rules:
 *   centre  a pixel (r, c) is set when the point (x = c, y = r) is inside
 *           or on the polygon: bit for bit scikit-image's polygon2mask /
 *           draw.polygon (O'Rourke's crossing test, vertex tolerance 1e-12).
 *   digits  the DIGITS Sunnybrook plug-in: coordinates truncated to
 *           integers, then OpenCV fillPoly (8-connected edges drawn, then
 *           scan-line fill in 16.16 fixed point).
 *
 * Not done here: anti-aliasing, holes (each file is one simple polygon).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st.h"
#include "util.h"

enum rule { RULE_CENTRE, RULE_DIGITS };

struct source {
	const char *key; /* meta key naming the contour file */
	int value;       /* value painted inside the polygon */
};

struct opts {
	struct source *src; /* painted in this order */
	size_t nsrc;
	enum rule rule;
	const char *field;   /* output tensor */
	const char *image;   /* tensor giving H and W */
	int require;
	int unknown;         /* >= 0: value of unpainted pixels when a key is missing */
	long size_h, size_w; /* standalone mode when > 0 */
	char **args;         /* streams, or contour files in standalone mode */
	int nargs;
};

/* A polygon read from a contour file; line[i] is the file line of point i. */
struct polygon {
	double *x, *y; /* (n,) column and row coordinates */
	long *line;
	size_t n;
};

static void usage(void)
{
	printf("Usage: %s [OPTION]... [STREAM]...\n"
	       "       %s --size HxW [OPTION]... CONTOUR.txt...\n"
	       "Rasterize the contour polygons a record's meta names into the u8 tensor\n"
	       "'label' (1xHxW of the record's image).  Streams are read in order ('-' or\n"
	       "none: stdin); records without any contour pass through unchanged.\n"
	       "\n"
	       "  -m, --from-meta KEY  meta key holding a contour file path; repeat to paint\n"
	       "                       several contours in order (default: contour)\n"
	       "  -c, --class N        value (0-255) painted by the preceding --from-meta\n"
	       "                       (before any --from-meta: by 'contour'; default 1)\n"
	       "  -r, --rule RULE      centre: pixel centre inside or on the polygon, as\n"
	       "                       scikit-image polygon2mask; digits: coordinates\n"
	       "                       truncated, OpenCV fillPoly as the DIGITS plug-in\n"
	       "                       (default centre)\n"
	       "  -f, --field NAME     output tensor (default label; replaced if present)\n"
	       "  -i, --image NAME     tensor whose last two dimensions give HxW\n"
	       "                       (default image)\n"
	       "      --require        a record naming no contour is an error\n"
	       "  -u, --unknown V      a record that names some of the --from-meta\n"
	       "                       contours but not all: pixels no contour covers\n"
	       "                       get V (0-255; e.g. 255, an ignore_label), not 0,\n"
	       "                       since what they are is not known (default: 0)\n"
	       "  -s, --size HxW       standalone: make one record per contour file\n"
	       "                       (id: the path without .txt; meta contour: the path)\n"
	       "  -h, --help           show this help and exit\n"
	       "\n"
	       "Example: o-contour as class 2, then i-contour as class 1 over it:\n"
	       "  %s -m ocontour -c 2 -m contour -c 1 < in.ts > out.ts\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0, argv0, argv0);
}

static void add_source(struct opts *o, const char *key)
{
	o->src = ereallocarray(o->src, o->nsrc + 1, sizeof(*o->src));
	o->src[o->nsrc].key = key;
	o->src[o->nsrc].value = 1;
	o->nsrc++;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"from-meta", required_argument, NULL, 'm'},
		{"class", required_argument, NULL, 'c'},
		{"rule", required_argument, NULL, 'r'},
		{"field", required_argument, NULL, 'f'},
		{"image", required_argument, NULL, 'i'},
		{"require", no_argument, NULL, 'R'},
		{"unknown", required_argument, NULL, 'u'},
		{"size", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, from_meta = 0;

	*o = (struct opts){.rule = RULE_CENTRE, .field = "label",
			   .image = "image", .unknown = -1};
	while ((c = getopt_long(argc, argv, "m:c:r:f:i:s:u:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!*optarg)
				usage_error("--from-meta: empty key");
			if (!from_meta) /* the first --from-meta replaces the default */
				o->nsrc = 0;
			from_meta = 1;
			add_source(o, optarg);
			break;
		case 'c':
			if (o->nsrc == 0)
				add_source(o, "contour");
			o->src[o->nsrc - 1].value =
				(int)parse_int("--class", optarg, 0, 255);
			break;
		case 'r':
			if (!strcmp(optarg, "centre") || !strcmp(optarg, "center"))
				o->rule = RULE_CENTRE;
			else if (!strcmp(optarg, "digits"))
				o->rule = RULE_DIGITS;
			else
				usage_error("--rule: '%s' is not centre or digits", optarg);
			break;
		case 'f':
			if (!*optarg)
				usage_error("--field: empty name");
			o->field = optarg;
			break;
		case 'i':
			if (!*optarg)
				usage_error("--image: empty name");
			o->image = optarg;
			break;
		case 'R':
			o->require = 1;
			break;
		case 'u':
			o->unknown = (int)parse_int("--unknown", optarg, 0, 255);
			break;
		case 's':
			parse_size("--size", optarg, &o->size_h, &o->size_w);
			if (o->size_h < 1 || o->size_w < 1 || o->size_h > 65536 ||
			    o->size_w > 65536)
				usage_error("--size: '%s' out of range 1x1..65536x65536",
					    optarg);
			break;
		case 'h':
			usage();
			help_exit();
		default:
			usage_error("unknown option");
		}
	}
	if (o->nsrc == 0)
		add_source(o, "contour");
	o->args = argv + optind;
	o->nargs = argc - optind;
	if (o->size_h > 0) {
		if (from_meta)
			usage_error("--from-meta makes no sense with --size");
		if (o->require)
			usage_error("--require makes no sense with --size");
		if (o->unknown >= 0)
			usage_error("--unknown makes no sense with --size");
		if (o->nargs == 0)
			usage_error("--size needs at least one contour file");
	}
}

static void polygon_free(struct polygon *p)
{
	free(p->x);
	free(p->y);
	free(p->line);
	*p = (struct polygon){0};
}

/* Up to 60 characters of s for a message, non-printable bytes as '?'. */
static const char *printable(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s[i] && i < 60 && i + 1 < len; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

#define CONTOUR_MAX_BYTES ((size_t)16 << 20)
/* Painting costs points x bounding-box pixels: a cap keeps it bounded
 * (Sunnybrook's contours have a few hundred). */
#define CONTOUR_MAX_POINTS 65536

/* The whole file at path, NUL-terminated, in *text (caller frees): 0, or -1
 * with the message in err (unreadable, over 16 MiB, or holding a NUL). */
static int slurp(const char *path, char **text, char *err, size_t errlen)
{
	const char *nul;
	size_t n, lineno = 1;
	char *buf;

	if (read_file(path, CONTOUR_MAX_BYTES, &buf, &n, err, errlen))
		return -1;
	if ((nul = memchr(buf, '\0', n))) {
		for (const char *c = buf; c < nul; c++)
			lineno += *c == '\n';
		snprintf(err, errlen, "%s:%zu: a NUL byte, not a text file", path,
			 lineno);
		free(buf);
		return -1;
	}
	*text = buf;
	return 0;
}

/* Reads the contour file at path into p.  0, or -1 with "PATH:LINE: what"
 * (or "PATH: what") in err. */
static int polygon_load(const char *path, struct polygon *p, char *err,
			size_t errlen)
{
	char *text, *line, *next, shown[64];
	size_t alloc = 0;
	long lineno = 0;

	*p = (struct polygon){0};
	if (slurp(path, &text, err, errlen))
		return -1;
	for (line = text; *line; line = next) {
		char *s, *end, *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		double x, y;

		next = nl ? nl + 1 : line + len;
		line[len] = '\0';
		lineno++;
		while (len > 0 && strchr(" \t\r", line[len - 1]))
			line[--len] = '\0';
		s = line + strspn(line, " \t");
		if (!*s)
			continue;
		x = strtod(s, &end);
		if (end == s || !strchr(" \t", *end) || !*end)
			goto bad_line;
		s = end;
		y = strtod(s, &end);
		if (end == s || *(end + strspn(end, " \t")) || !isfinite(x) ||
		    !isfinite(y))
			goto bad_line;
		if (p->n == CONTOUR_MAX_POINTS) {
			snprintf(err, errlen, "%s:%ld: more than %d points, not a contour",
				 path, lineno, CONTOUR_MAX_POINTS);
			goto fail;
		}
		if (p->n == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			p->x = ereallocarray(p->x, alloc, sizeof(*p->x));
			p->y = ereallocarray(p->y, alloc, sizeof(*p->y));
			p->line = ereallocarray(p->line, alloc, sizeof(*p->line));
		}
		p->x[p->n] = x;
		p->y[p->n] = y;
		p->line[p->n] = lineno;
		p->n++;
		continue;
bad_line:
		snprintf(err, errlen,
			 "%s:%ld: expected 'x y' (two finite numbers), got '%s'", path,
			 lineno, printable(line + strspn(line, " \t"), shown, sizeof(shown)));
		goto fail;
	}
	if (p->n < 3) {
		if (lineno)
			snprintf(err, errlen, "%s:%ld: %zu point%s, a polygon needs at least 3",
				 path, lineno, p->n, p->n == 1 ? "" : "s");
		else
			snprintf(err, errlen, "%s: empty, a polygon needs at least 3 points",
				 path);
		goto fail;
	}
	free(text);
	return 0;
fail:
	free(text);
	polygon_free(p);
	return -1;
}

/* Refuses a polygon that cannot be meant for an HxW image: a vertex more
 * than max(H, W) pixels beyond a border, or no vertex within half a pixel of
 * the image (bounding box outside it). */
static int polygon_check(const struct polygon *p, const char *path, long H,
			 long W, char *err, size_t errlen)
{
	double margin = H > W ? (double)H : (double)W;
	double x0 = p->x[0], x1 = p->x[0], y0 = p->y[0], y1 = p->y[0];

	for (size_t i = 0; i < p->n; i++) {
		if (p->x[i] < -margin || p->x[i] > W - 1 + margin ||
		    p->y[i] < -margin || p->y[i] > H - 1 + margin) {
			snprintf(err, errlen,
				 "%s:%ld: point (%g, %g) is far outside the %ldx%ld image",
				 path, p->line[i], p->x[i], p->y[i], H, W);
			return -1;
		}
		x0 = fmin(x0, p->x[i]);
		x1 = fmax(x1, p->x[i]);
		y0 = fmin(y0, p->y[i]);
		y1 = fmax(y1, p->y[i]);
	}
	if (x1 < -0.5 || y1 < -0.5 || x0 > W - 0.5 || y0 > H - 0.5) {
		snprintf(err, errlen,
			 "%s: polygon (x %g..%g, y %g..%g) lies outside the %ldx%ld image",
			 path, x0, x1, y0, y1, H, W);
		return -1;
	}
	return 0;
}

/* (x0 y1 - x1 y0) / (y1 - y0) rounded as scikit-image's build computes it:
 * each product rounded on its own (volatile keeps a compiler from fusing
 * them into an FMA under -march=native or clang's default contraction). */
static double crossing(double x0, double y0, double x1, double y1)
{
	volatile double a = x0 * y1, b = x1 * y0;
	return (a - b) / (y1 - y0);
}

/* scikit-image's point_in_polygon (skimage/_shared/geometry.pyx), term for
 * term so that rounding agrees: nonzero when (x, y) is inside, a vertex or
 * on an edge. */
static int point_in_polygon(const double *xp, const double *yp, size_t n,
			    double x, double y)
{
	const double eps = 1e-12;
	double x0, y0, x1 = xp[n - 1] - x, y1 = yp[n - 1] - y;
	unsigned l_cross = 0, r_cross = 0;

	for (size_t i = 0; i < n; i++) {
		x0 = xp[i] - x;
		y0 = yp[i] - y;
		if (-eps < x0 && x0 < eps && -eps < y0 && y0 < eps)
			return 1; /* vertex */
		if ((y0 > 0) != (y1 > 0) && crossing(x0, y0, x1, y1) > 0)
			r_cross++;
		if ((y0 < 0) != (y1 < 0) && crossing(x0, y0, x1, y1) < 0)
			l_cross++;
		x1 = x0;
		y1 = y0;
	}
	return (r_cross & 1) != (l_cross & 1) || (r_cross & 1);
}

/* mask (H, W): pixels whose centre (c, r) is inside or on p set to value. */
static void raster_centre(const struct polygon *p, uint8_t *mask, long H,
			  long W, uint8_t value)
{
	double xmin = p->x[0], xmax = p->x[0], ymin = p->y[0], ymax = p->y[0];

	for (size_t i = 1; i < p->n; i++) {
		xmin = fmin(xmin, p->x[i]);
		xmax = fmax(xmax, p->x[i]);
		ymin = fmin(ymin, p->y[i]);
		ymax = fmax(ymax, p->y[i]);
	}
	long r0 = ymin > 0 ? (long)floor(ymin) : 0;
	long r1 = (long)fmin(ceil(ymax), (double)(H - 1));
	long c0 = xmin > 0 ? (long)floor(xmin) : 0;
	long c1 = (long)fmin(ceil(xmax), (double)(W - 1));
	for (long r = r0; r <= r1; r++)
		for (long c = c0; c <= c1; c++)
			if (point_in_polygon(p->x, p->y, p->n, (double)c, (double)r))
				mask[r * W + c] = value;
}

/* OpenCV's clipLine: clips the segment to [0, W-1] x [0, H-1] in place, with
 * its integer arithmetic; 0 when the segment misses the image. */
static int clip_line(long W, long H, int64_t *x1, int64_t *y1, int64_t *x2,
		     int64_t *y2)
{
	int64_t right = W - 1, bottom = H - 1, a;
	int c1 = (*x1 < 0) + (*x1 > right) * 2 + (*y1 < 0) * 4 + (*y1 > bottom) * 8;
	int c2 = (*x2 < 0) + (*x2 > right) * 2 + (*y2 < 0) * 4 + (*y2 > bottom) * 8;

	if ((c1 & c2) == 0 && (c1 | c2) != 0) {
		if (c1 & 12) {
			a = c1 < 8 ? 0 : bottom;
			*x1 += (int64_t)((double)(a - *y1) * (double)(*x2 - *x1) /
					 (double)(*y2 - *y1));
			*y1 = a;
			c1 = (*x1 < 0) + (*x1 > right) * 2;
		}
		if (c2 & 12) {
			a = c2 < 8 ? 0 : bottom;
			*x2 += (int64_t)((double)(a - *y2) * (double)(*x2 - *x1) /
					 (double)(*y2 - *y1));
			*y2 = a;
			c2 = (*x2 < 0) + (*x2 > right) * 2;
		}
		if ((c1 & c2) == 0 && (c1 | c2) != 0) {
			if (c1) {
				a = c1 == 1 ? 0 : right;
				*y1 += (int64_t)((double)(a - *x1) *
						 (double)(*y2 - *y1) /
						 (double)(*x2 - *x1));
				*x1 = a;
				c1 = 0;
			}
			if (c2) {
				a = c2 == 1 ? 0 : right;
				*y2 += (int64_t)((double)(a - *x2) *
						 (double)(*y2 - *y1) /
						 (double)(*x2 - *x1));
				*x2 = a;
				c2 = 0;
			}
		}
	}
	return (c1 | c2) == 0;
}

static int outside(long W, long H, int64_t x, int64_t y)
{
	return x < 0 || x >= W || y < 0 || y >= H;
}

/* OpenCV's 8-connected Line: the segment clipped to the image first, then
 * Bresenham (LineIterator) from its left end. */
static void line8(uint8_t *mask, long H, long W, int64_t x0, int64_t y0,
		  int64_t x1, int64_t y1, uint8_t value)
{
	if ((outside(W, H, x0, y0) || outside(W, H, x1, y1)) &&
	    !clip_line(W, H, &x0, &y0, &x1, &y1))
		return;
	if (x1 < x0) { /* draw left to right */
		int64_t t = x0; x0 = x1; x1 = t;
		t = y0; y0 = y1; y1 = t;
	}
	int64_t dx = x1 - x0, dy = y1 - y0, sy = dy < 0 ? -1 : 1;
	dy = dy < 0 ? -dy : dy;
	int steep = dy > dx;
	int64_t major = steep ? dy : dx, minor = steep ? dx : dy;
	int64_t err = major - 2 * minor, x = x0, y = y0;

	for (int64_t i = 0; i <= major; i++) {
		if (!outside(W, H, x, y))
			mask[y * W + x] = value;
		int step_minor = err < 0;
		err += -2 * minor + (step_minor ? 2 * major : 0);
		if (steep) {
			y += sy;
			x += step_minor;
		} else {
			x++;
			y += step_minor ? sy : 0;
		}
	}
}

struct edge {
	int64_t y0, y1; /* rows y0 <= y < y1 */
	int64_t x, dx;  /* 16.16 fixed point x at row y0, per-row step */
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t u = *(const int64_t *)a, v = *(const int64_t *)b;
	return (u > v) - (u < v);
}

#define XY_ONE 65536 /* OpenCV's fixed point: 16 fraction bits */

/* OpenCV fillPoly (CollectPolyEdges + FillEdgeCollection as in Debian 12's
 * OpenCV 4.6, line type 8, shift 0) of p's vertices truncated to integers,
 * as the DIGITS plug-in does with cv2.fillPoly(label, [ctrs.astype(int)], 1):
 * each edge drawn as a clipped 8-connected line, then the spans between
 * sorted edge crossings filled from ceil(left) to floor(right). */
static void raster_digits(const struct polygon *p, uint8_t *mask, long H,
			  long W, uint8_t value)
{
	size_t n = p->n, ne = 0;
	int64_t *vx = emalloc(n * sizeof(*vx)), *vy = emalloc(n * sizeof(*vy));
	struct edge *e = emalloc(n * sizeof(*e));
	int64_t *xs = emalloc(n * sizeof(*xs));
	int64_t ymin = 0, ymax = 0;

	for (size_t i = 0; i < n; i++) {
		vx[i] = (int64_t)p->x[i]; /* truncation toward zero, as astype(int) */
		vy[i] = (int64_t)p->y[i];
	}
	for (size_t i = 0, j = n - 1; i < n; j = i++) {
		line8(mask, H, W, vx[j], vy[j], vx[i], vy[i], value);
		if (vy[j] == vy[i])
			continue;
		size_t top = vy[j] < vy[i] ? j : i, bot = top == j ? i : j;
		e[ne].y0 = vy[top];
		e[ne].y1 = vy[bot];
		e[ne].x = vx[top] * XY_ONE;
		e[ne].dx = (vx[i] - vx[j]) * XY_ONE / (vy[i] - vy[j]);
		if (ne == 0 || e[ne].y0 < ymin)
			ymin = e[ne].y0;
		if (ne == 0 || e[ne].y1 > ymax)
			ymax = e[ne].y1;
		ne++;
	}
	if (ne >= 2) { /* spans are clipped to the image one by one */
		for (int64_t y = ymin < 0 ? 0 : ymin; y < ymax && y < H; y++) {
			size_t k = 0;
			for (size_t i = 0; i < ne; i++)
				if (e[i].y0 <= y && y < e[i].y1)
					xs[k++] = e[i].x + (y - e[i].y0) * e[i].dx;
			qsort(xs, k, sizeof(*xs), cmp_i64);
			for (size_t i = 0; i + 1 < k; i += 2) {
				/* arithmetic shifts: floor division by 65536 */
				int64_t a = (xs[i] + XY_ONE - 1) >> 16;
				int64_t b = xs[i + 1] >> 16;
				if (a >= W || b < 0)
					continue;
				if (a < 0)
					a = 0;
				if (b >= W)
					b = W - 1;
				for (int64_t x = a; x <= b; x++)
					mask[y * W + x] = value;
			}
		}
	}
	free(vx);
	free(vy);
	free(e);
	free(xs);
}

/* Loads, checks and paints the contour file at path into mask (H, W); dies
 * with the file's message on error. */
static int paint(const struct opts *o, const char *path, uint8_t *mask,
		 long H, long W, int value, char *err, size_t errlen)
{
	struct polygon p;

	if (polygon_load(path, &p, err, errlen) ||
	    polygon_check(&p, path, H, W, err, errlen)) {
		polygon_free(&p);
		return -1;
	}
	if (o->rule == RULE_DIGITS)
		raster_digits(&p, mask, H, W, (uint8_t)value);
	else
		raster_centre(&p, mask, H, W, (uint8_t)value);
	polygon_free(&p);
	return 0;
}

/* Adds the label to one record, or leaves it alone when it names no
 * contour. */
static void process(const struct opts *o, const struct walker *w,
		    struct st_record *r)
{
	struct st_tensor *img, *label = NULL;
	struct st_err err;
	char msg[512];
	const char **path = ecalloc(o->nsrc, sizeof(*path));
	size_t named = 0;
	long H = 0, W = 0;

	for (size_t i = 0; i < o->nsrc; i++) {
		if (!st_meta_has(r, o->src[i].key))
			continue;
		if (st_meta_get_str(r, o->src[i].key, &path[i]))
			walk_die(w, "meta '%s' is not a string", o->src[i].key);
		if (!*path[i]) /* an empty cell of an index: no contour */
			path[i] = NULL;
		named += path[i] != NULL;
	}
	if (named) {
		img = st_record_tensor(r, o->image);
		if (!img || img->ndim < 2)
			walk_die(w, "no %s tensor of at least 2 dimensions", o->image);
		H = (long)img->shape[img->ndim - 2];
		W = (long)img->shape[img->ndim - 1];
		if (!(label = st_tensor_new3(ST_U8, 1, H, W, &err)))
			walk_die(w, "%s", err.msg);
		if (named < o->nsrc && o->unknown >= 0)
			memset(label->data, o->unknown, (size_t)H * (size_t)W);
	}
	for (size_t i = 0; i < o->nsrc; i++)
		if (path[i] && paint(o, path[i], label->data, H, W, o->src[i].value, msg,
				     sizeof(msg)))
			walk_die(w, "%s", msg);
	free(path);
	if (!label) {
		if (o->require)
			walk_die(w, "meta names no contour (%s%s)", o->src[0].key,
				 o->nsrc > 1 ? ", ..." : "");
		return;
	}
	if (st_record_set_tensor(r, o->field, label, &err))
		walk_die(w, "%s", err.msg);
}

/* Standalone mode: one record per contour file. */
static void make_record(const struct opts *o, const char *path)
{
	struct st_err err;
	struct st_record *r;
	struct st_tensor *label;
	size_t len = strlen(path);
	char *id = estrdup(path), msg[512];

	if (len > 4 && !strcmp(id + len - 4, ".txt"))
		id[len - 4] = '\0';
	if (!(r = st_record_new(id, &err)) ||
	    !(label = st_tensor_new3(ST_U8, 1, o->size_h, o->size_w, &err)))
		die("%s: %s", path, err.msg);
	if (paint(o, path, label->data, o->size_h, o->size_w, o->src[0].value,
		  msg, sizeof(msg)))
		die("%s", msg);
	if (st_record_set_tensor(r, o->field, label, &err) ||
	    st_meta_set_str(r, "contour", path, &err))
		die("%s: %s", path, err.msg);
	write_record(stdout, r);
	st_record_free(r);
	free(id);
}

int main(int argc, char **argv)
{
	struct opts o;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	if (o.size_h > 0) {
		for (int i = 0; i < o.nargs; i++)
			make_record(&o, o.args[i]);
	} else {
		struct st_record *r;
		struct walker w;

		walk_open(&w, o.args, o.nargs);
		while (walk_next(&w, &r)) {
			process(&o, &w, r);
			write_record(stdout, r);
			st_record_free(r);
		}
		walk_close(&w);
	}
	free(o.src);
	return fshut(stdout, "stdout");
}
