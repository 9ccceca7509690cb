/*
 * tensor2png - one PNG picture per record of a tensor stream.
 *
 * Overlay mode (default): the image (channel 0 of a CxHxW or HxW tensor)
 * windowed to 8 bits, as 8-bit RGB, with the outline of `label` drawn in
 * green and of `pred` in red (red over green where both) when the record
 * has them.  Window: the DICOM window from meta window_center/window_width
 * (first values when arrays), else the 1st..99th percentile of the image.
 * An outline pixel is a nonzero mask pixel with a 4-neighbour of another
 * value or on the image border.  A mask with C > 1 channels is the argmax
 * over channels (scores); a float mask of one channel is thresholded at 0.5.
 *
 * Field mode (--field NAME): that tensor's values (times --scale, rounded)
 * as a plain grayscale PNG of --depth 8 or 16 bits; a value that does not
 * fit is an error, never clipped silently.
 *
 * File names: the record id with '/' replaced by '_' plus ".png" in DIR, or
 * with --subdirs the id's folders as subdirectories.  Each file is written
 * atomically; its path is printed on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "st.h"
#include "util.h"

enum window_mode { WINDOW_META, WINDOW_PERCENTILE, WINDOW_FIXED };

struct opts {
	const char *dir;
	int subdirs;
	const char *image, *label, *pred;
	enum window_mode window;
	double center, width; /* WINDOW_FIXED */
	const char *field;    /* field mode when set */
	int depth;            /* 0: 8 for u8, else 16 */
	double scale;
	char **inputs;
	int ninputs;
};

/* A picture ready to be written: 8-bit gray/RGB or 16-bit gray rows. */
struct picture {
	long H, W;
	int channels; /* 1 or 3 */
	int depth;    /* 8 or 16 */
	uint8_t *pix; /* (H, W, channels) bytes, 16-bit big-endian */
};

static void usage(void)
{
	printf("Usage: %s -o DIR [OPTION]... [STREAM]...\n"
	       "Write one PNG per record of the tensor streams (stdin when none or -):\n"
	       "the image windowed to 8-bit RGB with the label outlined in green and\n"
	       "the prediction in red, or one tensor as a plain grayscale PNG.  Prints\n"
	       "each file's path.\n"
	       "\n"
	       "  -o, --output DIR    folder for the PNGs (required; created if missing)\n"
	       "      --subdirs       id folders become subdirectories (default: '/' in\n"
	       "                      the id becomes '_': SC-1/IM-0001-0048 ->\n"
	       "                      SC-1_IM-0001-0048.png)\n"
	       "  -i, --image NAME    image tensor (default image)\n"
	       "  -l, --label NAME    mask outlined in green (default label)\n"
	       "  -p, --pred NAME     mask outlined in red (default pred)\n"
	       "  -w, --window SPEC   meta: meta window_center/window_width, else the\n"
	       "                      1st..99th percentile; percentile; or C,W\n"
	       "                      (default meta)\n"
	       "  -f, --field NAME    write tensor NAME as plain grayscale instead\n"
	       "  -d, --depth BITS    8 or 16 bits for --field (default 8 for u8\n"
	       "                      tensors, 16 otherwise)\n"
	       "  -s, --scale K       multiply --field values by K (default 1)\n"
	       "  -h, --help          show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	enum { OPT_SUBDIRS = 256 };
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"subdirs", no_argument, NULL, OPT_SUBDIRS},
		{"image", required_argument, NULL, 'i'},
		{"label", required_argument, NULL, 'l'},
		{"pred", required_argument, NULL, 'p'},
		{"window", required_argument, NULL, 'w'},
		{"field", required_argument, NULL, 'f'},
		{"depth", required_argument, NULL, 'd'},
		{"scale", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	char *comma;

	*o = (struct opts){.image = "image", .label = "label", .pred = "pred",
			   .window = WINDOW_META, .scale = 1};
	while ((c = getopt_long(argc, argv, "o:i:l:p:w:f:d:s:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!*optarg)
				usage_error("--output: empty folder name");
			o->dir = optarg;
			break;
		case OPT_SUBDIRS:
			o->subdirs = 1;
			break;
		case 'i':
			o->image = optarg;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'p':
			o->pred = optarg;
			break;
		case 'w':
			if (!strcmp(optarg, "meta")) {
				o->window = WINDOW_META;
			} else if (!strcmp(optarg, "percentile")) {
				o->window = WINDOW_PERCENTILE;
			} else if ((comma = strchr(optarg, ','))) {
				*comma = '\0';
				o->window = WINDOW_FIXED;
				o->center = parse_double("--window", optarg, -1e9, 1e9);
				o->width = parse_double("--window", comma + 1, 1e-9, 1e9);
			} else {
				usage_error("--window: '%s' is not meta, percentile or C,W",
					    optarg);
			}
			break;
		case 'f':
			if (!*optarg)
				usage_error("--field: empty name");
			o->field = optarg;
			break;
		case 'd':
			o->depth = (int)parse_int("--depth", optarg, 8, 16);
			if (o->depth != 8 && o->depth != 16)
				usage_error("--depth: '%s' is not 8 or 16", optarg);
			break;
		case 's':
			o->scale = parse_double("--scale", optarg, -1e12, 1e12);
			break;
		case 'h':
			usage();
			help_exit();
		default:
			usage_error("unknown option");
		}
	}
	if (!o->dir)
		usage_error("-o DIR is required");
	if (!o->field && (o->depth || o->scale != 1))
		usage_error("--depth and --scale go with --field");
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

/* --- pictures ------------------------------------------------------------------ */

/* The (H, W) plane of t: its last two dimensions, channel 0; -1 when t has
 * fewer than two dimensions. */
static int plane_of(const struct st_tensor *t, long *H, long *W)
{
	if (t->ndim < 2)
		return -1;
	*H = (long)t->shape[t->ndim - 2];
	*W = (long)t->shape[t->ndim - 1];
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double u = *(const double *)a, v = *(const double *)b;
	return (u > v) - (u < v);
}

/* Window [lo, hi] of the image plane: DICOM's linear function maps
 * x <= c - 0.5 - (w-1)/2 to 0 and x > c - 0.5 + (w-1)/2 to 255. */
static void window_of(const struct opts *o, const struct st_record *r,
		      const struct st_tensor *img, size_t n, double *c,
		      double *w)
{
	double cv, wv;
	size_t k;

	if (o->window == WINDOW_FIXED) {
		*c = o->center;
		*w = o->width;
		return;
	}
	if (o->window == WINDOW_META &&
	    !st_meta_get_nums(r, "window_center", &cv, 1, &k) && k >= 1 &&
	    !st_meta_get_nums(r, "window_width", &wv, 1, &k) && k >= 1 &&
	    isfinite(cv) && isfinite(wv) && wv >= 1) {
		*c = cv;
		*w = wv;
		return;
	}
	/* 1st and 99th percentiles (nearest rank on the sorted plane) as the
	 * window's ends */
	double *v = emalloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = st_tensor_get(img, i);
	qsort(v, n, sizeof(*v), cmp_double);
	double lo = v[(size_t)llround(0.01 * (double)(n - 1))];
	double hi = v[(size_t)llround(0.99 * (double)(n - 1))];
	free(v);
	/* choose c, w so that the DICOM function maps lo to 0 and hi to 255 */
	*w = hi - lo + 1;
	*c = lo + 0.5 + (*w - 1) / 2;
}

static uint8_t window_apply(double x, double c, double w)
{
	if (w <= 1)
		return x <= c - 0.5 ? 0 : 255;
	if (x <= c - 0.5 - (w - 1) / 2)
		return 0;
	if (x > c - 0.5 + (w - 1) / 2)
		return 255;
	return (uint8_t)lround(((x - (c - 0.5)) / (w - 1) + 0.5) * 255);
}

/* The class map (H, W) of a mask tensor (1xHxW, HxW, or CxHxW scores);
 * NULL with a message in err when its plane is not H x W. */
static uint8_t *mask_classes(const struct st_tensor *t, long H, long W,
			     char *err, size_t errlen)
{
	long h, w;
	size_t n = (size_t)H * (size_t)W;
	size_t C;
	char shape[64];

	if (plane_of(t, &h, &w) || h != H || w != W) {
		snprintf(err, errlen, "shape %s does not match the %ldx%ld image",
			 st_shape_str(t, shape, sizeof(shape)), H, W);
		return NULL;
	}
	C = st_tensor_numel(t) / n;
	uint8_t *m = emalloc(n);
	for (size_t i = 0; i < n; i++) {
		if (C > 1) { /* argmax over channels */
			size_t best = 0;
			double bv = st_tensor_get(t, i);
			for (size_t ch = 1; ch < C; ch++) {
				double v = st_tensor_get(t, ch * n + i);
				if (v > bv)
					bv = v, best = ch;
			}
			m[i] = (uint8_t)(best > 255 ? 255 : best);
		} else if (t->dtype == ST_F32) {
			m[i] = st_tensor_get(t, i) > 0.5;
		} else {
			double v = st_tensor_get(t, i);
			m[i] = (uint8_t)(v < 0 ? 1 : v > 255 ? 255 : v);
		}
	}
	return m;
}

static void outline(struct picture *p, const uint8_t *m, const uint8_t rgb[3])
{
	long H = p->H, W = p->W;

	for (long y = 0; y < H; y++)
		for (long x = 0; x < W; x++) {
			uint8_t v = m[y * W + x];
			if (!v)
				continue;
			if (y == 0 || x == 0 || y == H - 1 || x == W - 1 ||
			    m[(y - 1) * W + x] != v || m[(y + 1) * W + x] != v ||
			    m[y * W + x - 1] != v || m[y * W + x + 1] != v)
				memcpy(p->pix + 3 * (y * W + x), rgb, 3);
		}
}

/* The overlay picture of a record; dies on a record it cannot draw. */
static void overlay_picture(const struct opts *o, const struct walker *wk,
			    const struct st_record *r, struct picture *p)
{
	static const uint8_t green[3] = {0, 255, 0}, red[3] = {255, 0, 0};
	const struct st_tensor *img = st_record_tensor(r, o->image);
	const char *names[2] = {o->label, o->pred};
	const uint8_t *colours[2] = {green, red};
	double c, w;
	size_t n;

	if (!img || plane_of(img, &p->H, &p->W) || p->H < 1 || p->W < 1)
		walk_die(wk, "no %s tensor of at least 2 dimensions", o->image);
	n = (size_t)p->H * (size_t)p->W;
	p->channels = 3;
	p->depth = 8;
	p->pix = emalloc(3 * n);
	window_of(o, r, img, n, &c, &w);
	for (size_t i = 0; i < n; i++)
		memset(p->pix + 3 * i, window_apply(st_tensor_get(img, i), c, w), 3);
	for (int k = 0; k < 2; k++) {
		const struct st_tensor *t = st_record_tensor(r, names[k]);
		char err[256];
		uint8_t *m;

		if (!t)
			continue;
		if (!(m = mask_classes(t, p->H, p->W, err, sizeof(err))))
			walk_die(wk, "%s: %s", names[k], err);
		outline(p, m, colours[k]);
		free(m);
	}
}

/* The plain grayscale picture of tensor --field; dies when a value does not
 * fit the depth. */
static void field_picture(const struct opts *o, const struct walker *wk,
			  const struct st_record *r, struct picture *p)
{
	const struct st_tensor *t = st_record_tensor(r, o->field);
	char shape[64];
	size_t n;
	double max;

	if (!t || plane_of(t, &p->H, &p->W))
		walk_die(wk, "no %s tensor of at least 2 dimensions", o->field);
	n = (size_t)p->H * (size_t)p->W;
	if (st_tensor_numel(t) != n)
		walk_die(wk, "%s: shape %s has more than one channel", o->field,
			 st_shape_str(t, shape, sizeof(shape)));
	p->channels = 1;
	p->depth = o->depth ? o->depth : t->dtype == ST_U8 ? 8 : 16;
	max = p->depth == 8 ? 255 : 65535;
	p->pix = emalloc(n * (size_t)(p->depth / 8));
	for (size_t i = 0; i < n; i++) {
		double v = round(st_tensor_get(t, i) * o->scale);
		if (!(v >= 0 && v <= max))
			walk_die(wk, "%s: value %g at %zu does not fit %d bits "
				 "(see --scale, --depth)", o->field,
				 st_tensor_get(t, i), i, p->depth);
		if (p->depth == 8) {
			p->pix[i] = (uint8_t)v;
		} else {
			p->pix[2 * i] = (uint8_t)((unsigned)v >> 8);
			p->pix[2 * i + 1] = (uint8_t)((unsigned)v & 0xff);
		}
	}
}

/* --- files --------------------------------------------------------------------- */

static void png_error_fn(png_structp png, png_const_charp msg)
{
	char *buf = png_get_error_ptr(png);
	snprintf(buf, 256, "%s", msg);
	png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* Encodes p into f: 0, or -1 with a message in err (256 bytes). */
static int png_write(FILE *f, const struct picture *p, char *err)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err,
						  png_error_fn, png_warning_fn);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	size_t stride = (size_t)p->W * (size_t)p->channels * (size_t)(p->depth / 8);
	int rc = -1;

	if (!png || !info) {
		snprintf(err, 256, "out of memory");
		goto out;
	}
	if (setjmp(png_jmpbuf(png)))
		goto out;
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)p->W, (png_uint_32)p->H, p->depth,
		     p->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (long y = 0; y < p->H; y++)
		png_write_row(png, p->pix + (size_t)y * stride);
	png_write_end(png, NULL);
	rc = 0;
out:
	png_destroy_write_struct(&png, &info);
	return rc;
}

/* mkdir that accepts an existing folder; wk: the record it is for, or
 * NULL. */
static void ensure_dir(const struct walker *wk, const char *path)
{
	struct stat st;

	if (mkdir(path, 0777) && (errno != EEXIST || stat(path, &st) ||
				  !S_ISDIR(st.st_mode))) {
		if (wk)
			walk_die(wk, "%s: cannot make folder:", path);
		die("%s: cannot make folder:", path);
	}
}

/* The PNG's path for an id (malloc'd), making subdirectories as needed. */
static char *png_path(const struct opts *o, const struct walker *wk,
		      const char *id)
{
	size_t dl = strlen(o->dir), il = strlen(id);
	char *path = emalloc(dl + il + 6), *name;

	if (!il)
		walk_die(wk, "empty id");
	memcpy(path, o->dir, dl);
	path[dl] = '/';
	name = path + dl + 1;
	memcpy(name, id, il + 1);
	if (!o->subdirs) {
		for (char *s = name; *s; s++)
			if (*s == '/')
				*s = '_';
	} else {
		/* each component must be a plain name */
		for (char *s = name, *e; *s; s = e + 1) {
			e = strchr(s, '/');
			size_t len = e ? (size_t)(e - s) : strlen(s);
			if (len == 0 || (len == 1 && s[0] == '.') ||
			    (len == 2 && s[0] == '.' && s[1] == '.'))
				walk_die(wk, "id cannot be a path under %s", o->dir);
			if (!e)
				break;
			*e = '\0';
			ensure_dir(wk, path);
			*e = '/';
		}
	}
	memcpy(name + il, ".png", 5);
	return path;
}

static void process(const struct opts *o, const struct walker *wk,
		    const struct st_record *r)
{
	struct picture p = {0};
	struct atomic_file af;
	char err[256];
	char *path;

	if (o->field)
		field_picture(o, wk, r, &p);
	else
		overlay_picture(o, wk, r, &p);
	path = png_path(o, wk, st_record_id(r));
	if (atomic_open(&af, path))
		walk_die(wk, "%s:", path);
	if (png_write(af.f, &p, err)) {
		atomic_abort(&af);
		walk_die(wk, "%s: %s", path, err);
	}
	if (atomic_commit(&af))
		walk_die(wk, "%s:", path);
	printf("%s\n", path);
	free(path);
	free(p.pix);
}

int main(int argc, char **argv)
{
	struct st_record *r;
	struct walker w;
	struct opts o;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	ensure_dir(NULL, o.dir);
	walk_open(&w, o.inputs, o.ninputs);
	while (walk_next(&w, &r)) {
		process(&o, &w, r);
		st_record_free(r);
	}
	walk_close(&w);
	return fshut(stdout, "stdout");
}
