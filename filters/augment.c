/*
 * augment - random transforms of every record, for training: flips, 90°
 * rotations, rotation, scaling, translation, elastic deformation and a
 * random or centre crop/pad (geometric: image and masks move together);
 * gamma, brightness, contrast, Gaussian blur and noise (the image only).
 * Every transform is off unless its option asks for it.
 *
 * One composed map per record: the affine parts make one 2x2 matrix and
 * offset, the elastic field is added, and every plane is sampled once
 * (bilinear for the image and other tensors, nearest neighbour for masks;
 * a plain gather when the map moves whole pixels).  Order of the intensity
 * work: gamma on the input values, the resampling, then brightness,
 * contrast, blur, noise, then rounding and saturation to the input dtype.
 *
 * Randomness: record k (counted from --first-index, 0 by default), copy c
 * (epoch * copies + copy number) draws from rng_derive(seed, k, c); each
 * transform from its own stream derived from that, so turning one on does
 * not change another's draws.  The epoch order is a shuffle drawn from
 * rng_derive(seed, epoch, SHUFFLE_STREAM).
 *
 * Memory: one record at a time, except with --epochs, where the whole input
 * is held, serialised (about its size on disk).
 */
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "st.h"
#include "util.h"
#include "warp.h"

#define SHUFFLE_STREAM UINT64_MAX

enum {
	T_FLIP_H, T_FLIP_V, T_ROT90, T_ROTATE, T_SCALE, T_SCALE_AXES,
	T_TRANSLATE, T_ELASTIC, T_CROP, T_GAMMA, T_BRIGHTNESS, T_CONTRAST,
	T_BLUR, T_NOISE, T_COUNT
};

/* A transform's option: probability p, then up to two numbers. */
struct spec {
	double p, a, b;
};

struct opts {
	uint64_t seed;
	int have_seed;
	struct spec t[T_COUNT];
	long crop_h, crop_w;
	int crop_center;
	double fill, label_fill;
	long long copies, epochs;
	uint64_t first_index;
	char **files;
	int nfiles;
};

/* What one record/copy drew. */
struct draw {
	int fired[T_COUNT];
	int k90;
	double angle, zy, zx, ty, tx;
	double alpha, sigma;
	long oy, ox;
	double gamma, bright, contrast, blur, noise;
	struct rng elastic_rng, noise_rng;
};

/* Scratch kept across records. */
struct work {
	float *cy, *cx, *dy, *dx, *src, *out, *tmp;
	size_t ncy, ncx, ndy, ndx, nsrc, nout, ntmp;
	char **names;
	size_t nnames;
};

static void help(void)
{
	printf("Usage: %s --seed S [OPTION]... [FILE]...\n"
	       "Random transforms of every record of the tensor streams FILE...\n"
	       "(standard input when none or '-'), written to standard output.\n"
	       "Geometric transforms move the image and every mask (label, pred,\n"
	       "any u8 tensor, other tensors with the image's HxW) together, in\n"
	       "one resampling: bilinear for the image and non-mask tensors,\n"
	       "nearest neighbour for masks.  Intensity transforms change the\n"
	       "image only.  Outputs keep the input dtype (rounded, saturated).\n"
	       "Every transform is off by default; P is its probability (0-1).\n"
	       "\n"
	       "Geometric (applied in this order: scale, rotate, rot90, flips,\n"
	       "translate, crop):\n"
	       "      --flip-h P              mirror left-right\n"
	       "      --flip-v P              mirror top-bottom\n"
	       "      --rot90 P               rotate by k*90 degrees, k in {1,2,3}\n"
	       "                              (counter-clockwise as np.rot90)\n"
	       "      --rotate P:DEG | P:LO:HI  rotate by an angle uniform in\n"
	       "                              [-DEG, DEG] (or [LO, HI]) degrees,\n"
	       "                              counter-clockwise on screen\n"
	       "      --scale P:LO:HI         zoom by one factor uniform in [LO, HI]\n"
	       "      --scale-axes P:LO:HI    zoom each axis by its own factor\n"
	       "      --translate P:PX        shift by up to PX pixels per axis\n"
	       "      --elastic P:ALPHA:SIGMA smooth random displacement: uniform\n"
	       "                              noise smoothed by a Gaussian of SIGMA\n"
	       "                              pixels, times ALPHA (Simard et al.)\n"
	       "      --crop HxW              random crop (or pad) to HxW\n"
	       "      --center-crop HxW       centre crop (or pad) to HxW\n"
	       "      --fill V                image value outside the input (0)\n"
	       "      --label-fill V          mask value outside the input (0)\n"
	       "Intensity (gamma first, the others after the resampling):\n"
	       "      --gamma P:LO:HI         x' = min + (max-min) ((x-min)/(max-min))^g,\n"
	       "                              g uniform in [LO, HI], over the image's\n"
	       "                              own min and max\n"
	       "      --brightness P:LO:HI    x' = x * b\n"
	       "      --contrast P:LO:HI      x' = mean + (x - mean) * c\n"
	       "      --blur P:LO:HI          Gaussian blur, sigma in [LO, HI] pixels\n"
	       "      --noise P:LO:HI         add Gaussian noise, sd in [LO, HI]\n"
	       "Records:\n"
	       "  -s, --seed S                seed, 0 to 2^63-1 (required)\n"
	       "  -n, --copies N              augmented copies of each record (1)\n"
	       "  -e, --epochs N              write the whole input N times, each\n"
	       "                              time reshuffled (holds the input in\n"
	       "                              memory; default: once, in order)\n"
	       "      --first-index N         index of the first record, for shards\n"
	       "                              (records before it elsewhere) (0)\n"
	       "  -h, --help                  show this help and exit\n"
	       "\n"
	       "Meta 'augment' of each output says what was drawn.\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

/* "P[:a[:b]]" with nmin..nmax numbers after P, each within its range. */
static void parse_spec(const char *opt, const char *s, int nmin, int nmax,
		       double lo, double hi, struct spec *sp)
{
	char buf[256], *part[4], *save = NULL;
	int n = 0;
	double v[3] = {0, 0, 0};

	if (strlen(s) >= sizeof buf)
		usage_error("%s: '%s' is too long", opt, s);
	strcpy(buf, s);
	for (char *tok = strtok_r(buf, ":", &save); tok;
	     tok = strtok_r(NULL, ":", &save)) {
		if (n == 4)
			break;
		part[n++] = tok;
	}
	if (n < 1 + nmin || n > 1 + nmax || s[strlen(s) - 1] == ':' ||
	    strstr(s, "::") || s[0] == ':')
		usage_error("%s: '%s' is not P%s", opt, s,
			    nmax == 0 ? "" : nmin == 2 ? ":LO:HI" :
			    nmax == 1 ? ":X" : ":A[:B]");
	sp->p = parse_double(opt, part[0], 0, 1);
	for (int i = 1; i < n; i++)
		v[i - 1] = parse_double(opt, part[i], lo, hi);
	sp->a = v[0];
	sp->b = v[1];
	if (nmin == 2 && strcmp(opt, "--elastic") && sp->a > sp->b)
		usage_error("%s: '%s': LO is greater than HI", opt, s);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		O_FLIP_H = 256, O_FLIP_V, O_ROT90, O_ROTATE, O_SCALE,
		O_SCALE_AXES, O_TRANSLATE, O_ELASTIC, O_CROP, O_CENTER_CROP,
		O_FILL, O_LABEL_FILL, O_GAMMA, O_BRIGHTNESS, O_CONTRAST,
		O_BLUR, O_NOISE, O_FIRST
	};
	static const struct option longopts[] = {
		{"seed", required_argument, NULL, 's'},
		{"copies", required_argument, NULL, 'n'},
		{"epochs", required_argument, NULL, 'e'},
		{"first-index", required_argument, NULL, O_FIRST},
		{"flip-h", required_argument, NULL, O_FLIP_H},
		{"flip-v", required_argument, NULL, O_FLIP_V},
		{"rot90", required_argument, NULL, O_ROT90},
		{"rotate", required_argument, NULL, O_ROTATE},
		{"scale", required_argument, NULL, O_SCALE},
		{"scale-axes", required_argument, NULL, O_SCALE_AXES},
		{"translate", required_argument, NULL, O_TRANSLATE},
		{"elastic", required_argument, NULL, O_ELASTIC},
		{"crop", required_argument, NULL, O_CROP},
		{"center-crop", required_argument, NULL, O_CENTER_CROP},
		{"fill", required_argument, NULL, O_FILL},
		{"label-fill", required_argument, NULL, O_LABEL_FILL},
		{"gamma", required_argument, NULL, O_GAMMA},
		{"brightness", required_argument, NULL, O_BRIGHTNESS},
		{"contrast", required_argument, NULL, O_CONTRAST},
		{"blur", required_argument, NULL, O_BLUR},
		{"noise", required_argument, NULL, O_NOISE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct spec *t = o->t;
	int c, crops = 0;

	*o = (struct opts){.copies = 1, .epochs = 0};
	while ((c = getopt_long(argc, argv, "s:n:e:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->seed = (uint64_t)parse_int("--seed", optarg, 0, INT64_MAX);
			o->have_seed = 1;
			break;
		case 'n': o->copies = parse_int("--copies", optarg, 1, 1000000); break;
		case 'e': o->epochs = parse_int("--epochs", optarg, 1, 1000000); break;
		case O_FIRST:
			o->first_index = (uint64_t)parse_int("--first-index", optarg,
							     0, INT64_MAX);
			break;
		case O_FLIP_H: parse_spec("--flip-h", optarg, 0, 0, 0, 0, &t[T_FLIP_H]); break;
		case O_FLIP_V: parse_spec("--flip-v", optarg, 0, 0, 0, 0, &t[T_FLIP_V]); break;
		case O_ROT90: parse_spec("--rot90", optarg, 0, 0, 0, 0, &t[T_ROT90]); break;
		case O_ROTATE:
			parse_spec("--rotate", optarg, 1, 2, -360, 360, &t[T_ROTATE]);
			if (strchr(strchr(optarg, ':') + 1, ':') == NULL) {
				if (t[T_ROTATE].a < 0)
					usage_error("--rotate: '%s': DEG must not be negative",
						    optarg);
				t[T_ROTATE].b = t[T_ROTATE].a;
				t[T_ROTATE].a = -t[T_ROTATE].b;
			} else if (t[T_ROTATE].a > t[T_ROTATE].b) {
				usage_error("--rotate: '%s': LO is greater than HI", optarg);
			}
			break;
		case O_SCALE: parse_spec("--scale", optarg, 2, 2, 0.01, 100, &t[T_SCALE]); break;
		case O_SCALE_AXES:
			parse_spec("--scale-axes", optarg, 2, 2, 0.01, 100, &t[T_SCALE_AXES]);
			break;
		case O_TRANSLATE:
			parse_spec("--translate", optarg, 1, 1, 0, 65535, &t[T_TRANSLATE]);
			break;
		case O_ELASTIC:
			parse_spec("--elastic", optarg, 2, 2, 0, 1e6, &t[T_ELASTIC]);
			if (t[T_ELASTIC].b < 0.1 || t[T_ELASTIC].b > 1000)
				usage_error("--elastic: '%s': SIGMA is out of range [0.1, 1000]",
					    optarg);
			break;
		case O_CROP:
		case O_CENTER_CROP:
			parse_size(c == O_CROP ? "--crop" : "--center-crop", optarg,
				   &o->crop_h, &o->crop_w);
			o->crop_center = c == O_CENTER_CROP;
			t[T_CROP].p = 1;
			crops++;
			break;
		case O_FILL: o->fill = parse_double("--fill", optarg, -1e30, 1e30); break;
		case O_LABEL_FILL:
			o->label_fill = parse_double("--label-fill", optarg, -1e30, 1e30);
			break;
		case O_GAMMA: parse_spec("--gamma", optarg, 2, 2, 0.01, 100, &t[T_GAMMA]); break;
		case O_BRIGHTNESS:
			parse_spec("--brightness", optarg, 2, 2, 0, 100, &t[T_BRIGHTNESS]);
			break;
		case O_CONTRAST:
			parse_spec("--contrast", optarg, 2, 2, 0, 100, &t[T_CONTRAST]);
			break;
		case O_BLUR: parse_spec("--blur", optarg, 2, 2, 0, 100, &t[T_BLUR]); break;
		case O_NOISE: parse_spec("--noise", optarg, 2, 2, 0, 1e30, &t[T_NOISE]); break;
		case 'h': help(); help_exit();
		default: usage_error("unknown or incomplete option");
		}
	}
	if (crops > 1)
		usage_error("--crop and --center-crop: give one, once");
	if (!o->have_seed)
		usage_error("--seed is required");
	o->files = argv + optind;
	o->nfiles = argc - optind;
}

/* ---- drawing ----------------------------------------------------------- */

static int fires(struct rng *r, double p)
{
	return p > 0 && rng_unif(r) < p;
}

/* d = the draws of record k, copy c; Hc x Wc is the canvas after rot90,
 * known only once k90 is drawn, so crops are drawn from H, W here. */
static void draw(const struct opts *o, uint64_t k, uint64_t c, long H, long W,
		 struct draw *d)
{
	struct rng base = rng_derive(o->seed, k, c), r[T_COUNT];
	uint64_t s = rng_next(&base);
	const struct spec *t = o->t;

	*d = (struct draw){.zy = 1, .zx = 1};
	for (int i = 0; i < T_COUNT; i++) {
		r[i] = rng_derive(s, (uint64_t)i, 0);
		d->fired[i] = i == T_CROP ? o->crop_h > 0 : fires(&r[i], t[i].p);
	}
	if (d->fired[T_ROT90])
		d->k90 = 1 + (int)rng_below(&r[T_ROT90], 3);
	if (d->fired[T_ROTATE])
		d->angle = rng_range(&r[T_ROTATE], t[T_ROTATE].a, t[T_ROTATE].b);
	if (d->fired[T_SCALE])
		d->zy = d->zx = rng_range(&r[T_SCALE], t[T_SCALE].a, t[T_SCALE].b);
	if (d->fired[T_SCALE_AXES]) {
		d->zy *= rng_range(&r[T_SCALE_AXES], t[T_SCALE_AXES].a, t[T_SCALE_AXES].b);
		d->zx *= rng_range(&r[T_SCALE_AXES], t[T_SCALE_AXES].a, t[T_SCALE_AXES].b);
	}
	if (d->fired[T_TRANSLATE]) {
		d->ty = rng_range(&r[T_TRANSLATE], -t[T_TRANSLATE].a, t[T_TRANSLATE].a);
		d->tx = rng_range(&r[T_TRANSLATE], -t[T_TRANSLATE].a, t[T_TRANSLATE].a);
	}
	if (d->fired[T_ELASTIC]) {
		d->alpha = t[T_ELASTIC].a;
		d->sigma = t[T_ELASTIC].b;
		d->elastic_rng = r[T_ELASTIC];
	}
	if (d->fired[T_CROP]) {
		long hc = d->k90 % 2 ? W : H, wc = d->k90 % 2 ? H : W;
		long sy = hc - o->crop_h, sx = wc - o->crop_w;

		if (o->crop_center) {
			d->oy = (long)floor(sy / 2.0);
			d->ox = (long)floor(sx / 2.0);
		} else {
			d->oy = (sy < 0 ? sy : 0) + (long)rng_below(&r[T_CROP], (size_t)labs(sy) + 1);
			d->ox = (sx < 0 ? sx : 0) + (long)rng_below(&r[T_CROP], (size_t)labs(sx) + 1);
		}
	}
	if (d->fired[T_GAMMA])
		d->gamma = rng_range(&r[T_GAMMA], t[T_GAMMA].a, t[T_GAMMA].b);
	if (d->fired[T_BRIGHTNESS])
		d->bright = rng_range(&r[T_BRIGHTNESS], t[T_BRIGHTNESS].a, t[T_BRIGHTNESS].b);
	if (d->fired[T_CONTRAST])
		d->contrast = rng_range(&r[T_CONTRAST], t[T_CONTRAST].a, t[T_CONTRAST].b);
	if (d->fired[T_BLUR])
		d->blur = rng_range(&r[T_BLUR], t[T_BLUR].a, t[T_BLUR].b);
	if (d->fired[T_NOISE]) {
		d->noise = rng_range(&r[T_NOISE], t[T_NOISE].a, t[T_NOISE].b);
		d->noise_rng = r[T_NOISE];
	}
}

/* The meta 'augment' text of d: "k=K c=C" and the transforms that fired. */
static void describe(const struct draw *d, uint64_t k, uint64_t c, char *buf,
		     size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "k=%llu c=%llu",
				    (unsigned long long)k, (unsigned long long)c);
#define ADD(...) (n += (size_t)snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__))
	if (d->fired[T_SCALE] || d->fired[T_SCALE_AXES])
		ADD(" scale=%.9g,%.9g", d->zy, d->zx);
	if (d->fired[T_ROTATE]) ADD(" rotate=%.9g", d->angle);
	if (d->fired[T_ROT90]) ADD(" rot90=%d", d->k90);
	if (d->fired[T_FLIP_V]) ADD(" flip_v");
	if (d->fired[T_FLIP_H]) ADD(" flip_h");
	if (d->fired[T_TRANSLATE]) ADD(" translate=%.9g,%.9g", d->ty, d->tx);
	if (d->fired[T_ELASTIC]) ADD(" elastic=%.9g,%.9g", d->alpha, d->sigma);
	if (d->fired[T_CROP]) ADD(" crop=%ld,%ld", d->oy, d->ox);
	if (d->fired[T_GAMMA]) ADD(" gamma=%.9g", d->gamma);
	if (d->fired[T_BRIGHTNESS]) ADD(" brightness=%.9g", d->bright);
	if (d->fired[T_CONTRAST]) ADD(" contrast=%.9g", d->contrast);
	if (d->fired[T_BLUR]) ADD(" blur=%.9g", d->blur);
	if (d->fired[T_NOISE]) ADD(" noise=%.9g", d->noise);
#undef ADD
}

/* ---- geometry ---------------------------------------------------------- */

static void mat_mul(double out[4], const double a[4], const double b[4])
{
	double m[4] = {a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
		       a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]};

	memcpy(out, m, sizeof m);
}

/*
 * The inverse map of d: output pixel q (after the crop offset) to input
 * point p = c_in + S^-1 R^-1 K^-k F (q + o - c_canvas - t), where the
 * forward transform scales (S), rotates (R), rotates by k*90 (K), flips (F)
 * about the centres and translates (t).  Sets *Ho, *Wo.
 */
static void compose(const struct draw *d, const struct opts *o, long H, long W,
		    struct warp_affine *m, long *Ho, long *Wo)
{
	long hc = d->k90 % 2 ? W : H, wc = d->k90 % 2 ? H : W;
	double a[4] = {d->fired[T_FLIP_V] ? -1 : 1, 0, 0, d->fired[T_FLIP_H] ? -1 : 1};
	static const double kinv[4] = {0, 1, -1, 0};
	double th = d->angle * M_PI / 180, cs = cos(th), sn = sin(th);
	double rinv[4] = {cs, sn, -sn, cs};
	double sinv[4] = {1 / d->zy, 0, 0, 1 / d->zx};
	double qy, qx;

	for (int i = 0; i < d->k90; i++)
		mat_mul(a, kinv, a);
	if (d->fired[T_ROTATE])
		mat_mul(a, rinv, a);
	mat_mul(a, sinv, a);
	*Ho = d->fired[T_CROP] ? o->crop_h : hc;
	*Wo = d->fired[T_CROP] ? o->crop_w : wc;
	qy = (double)d->oy - (hc - 1) / 2.0 - d->ty;
	qx = (double)d->ox - (wc - 1) / 2.0 - d->tx;
	memcpy(m->a, a, sizeof a);
	m->b[0] = (H - 1) / 2.0 + a[0] * qy + a[1] * qx;
	m->b[1] = (W - 1) / 2.0 + a[2] * qy + a[3] * qx;
}

/* ---- the record -------------------------------------------------------- */

static float *grow(float **p, size_t *cap, size_t n)
{
	if (n > *cap) {
		free(*p);
		*p = ereallocarray(NULL, n, sizeof(float));
		*cap = n;
	}
	return *p;
}

/* Is tensor t (named name) moved with an image of H x W? Masks: label,
 * pred and u8 tensors. */
static int is_spatial(const struct st_tensor *t, long H, long W)
{
	return t->ndim >= 2 && t->shape[t->ndim - 2] == H &&
	       t->shape[t->ndim - 1] == W;
}

static int is_mask(const char *name, const struct st_tensor *t)
{
	return !strcmp(name, "label") || !strcmp(name, "pred") || t->dtype == ST_U8;
}

/* Dies naming the record when it cannot be augmented. */
static void check_record(const struct walker *w, const struct st_record *r)
{
	const struct st_tensor *img = st_record_tensor(r, "image");
	char b1[64], b2[64];
	long H, W;

	if (!img)
		walk_die(w, "no 'image' tensor");
	if (img->ndim != 2 && img->ndim != 3)
		walk_die(w, "image %s is not CxHxW or HxW",
			 st_shape_str(img, b1, sizeof b1));
	H = (long)img->shape[img->ndim - 2];
	W = (long)img->shape[img->ndim - 1];
	if (H < 1 || W < 1 || H > 65535 || W > 65535)
		walk_die(w, "image %s: H and W must be 1 to 65535",
			 st_shape_str(img, b1, sizeof b1));
	for (const char *n = "label"; n; n = strcmp(n, "label") ? NULL : "pred") {
		const struct st_tensor *t = st_record_tensor(r, n);

		if (t && !is_spatial(t, H, W))
			walk_die(w, "%s %s does not match image %s", n,
				 st_shape_str(t, b2, sizeof b2),
				 st_shape_str(img, b1, sizeof b1));
	}
}

/* Element i of a plane of dtype t as a float. */
static void plane_to_float(const struct st_tensor *t, size_t off, size_t n,
			   float *out)
{
	switch (t->dtype) {
#define CONV(T) { const T *p = (const T *)t->data + off; \
		for (size_t i = 0; i < n; i++) out[i] = (float)p[i]; } break
	case ST_U8: CONV(uint8_t);
	case ST_I16: CONV(int16_t);
	case ST_U16: CONV(uint16_t);
	case ST_I32: CONV(int32_t);
	case ST_F32: CONV(float);
#undef CONV
	}
}

/* Floats into dtype t at element off, rounded to nearest (even) and
 * saturated; NaN becomes 0.  Rounding adds and subtracts 1.5 * 2^52, which
 * rounds to nearest even in the default mode, exactly for |v| < 2^51, and
 * needs no libm call. */
#define RINT_MAGIC 6755399441055744.0
static void float_to_plane(const float *in, size_t n, struct st_tensor *t,
			   size_t off)
{
	switch (t->dtype) {
#define CONV(T, LO, HI) { T *p = (T *)t->data + off; \
		for (size_t i = 0; i < n; i++) { double v = in[i]; \
			v = v != v ? 0 : v < LO ? LO : v > HI ? HI : v; \
			p[i] = (T)((v + RINT_MAGIC) - RINT_MAGIC); } } break
	case ST_U8: CONV(uint8_t, 0, 255);
	case ST_I16: CONV(int16_t, -32768, 32767);
	case ST_U16: CONV(uint16_t, 0, 65535);
	case ST_I32: CONV(int32_t, -2147483648.0, 2147483647.0);
#undef CONV
	case ST_F32: memcpy((float *)t->data + off, in, n * sizeof(float)); break;
	}
}

/* The fill value v in dtype t's bytes (rounded, saturated). */
static void fill_bytes(enum st_dtype dt, double v, unsigned char out[8])
{
	struct st_tensor t = {.dtype = dt, .ndim = 1, .shape = {1}, .data = out};
	float f = (float)v;

	memset(out, 0, 8);
	float_to_plane(&f, 1, &t, 0);
}

/* Gamma on all of img's values into w->src (numel floats). */
static void apply_gamma(const struct st_tensor *img, double g, float *src)
{
	size_t n = st_tensor_numel(img);
	float lo = INFINITY, hi = -INFINITY;

	plane_to_float(img, 0, n, src);
	for (size_t i = 0; i < n; i++) {
		lo = src[i] < lo ? src[i] : lo;
		hi = src[i] > hi ? src[i] : hi;
	}
	if (!(hi > lo))
		return;
	if ((img->dtype == ST_U8 || img->dtype == ST_I16 || img->dtype == ST_U16) &&
	    (double)hi - lo < (double)n) {
		/* integers: a table over the values present, exact per value */
		size_t m = (size_t)(hi - lo) + 1;
		float *lut = emalloc(m * sizeof *lut);

		for (size_t v = 0; v < m; v++)
			lut[v] = (float)(lo + (hi - lo) * pow((double)v / (hi - lo), g));
		for (size_t i = 0; i < n; i++)
			src[i] = lut[(size_t)(src[i] - lo)];
		free(lut);
		return;
	}
	for (size_t i = 0; i < n; i++)
		src[i] = (float)(lo + (hi - lo) * pow((src[i] - lo) / ((double)hi - lo), g));
}

static void normal_pair(struct rng *r, double *z0, double *z1)
{
	double u = 1.0 - rng_unif(r), v = rng_unif(r), m = sqrt(-2.0 * log(u));

	*z0 = m * cos(2 * M_PI * v);
	*z1 = m * sin(2 * M_PI * v);
}

/* Brightness, contrast, blur, noise on the C planes of Ho x Wo in out. */
static void intensity(struct draw *d, float *out, size_t C, long Ho, long Wo,
		      struct work *w)
{
	size_t n = C * (size_t)(Ho * Wo);

	if (d->fired[T_BRIGHTNESS]) {
		float b = (float)d->bright;

		for (size_t i = 0; i < n; i++)
			out[i] *= b;
	}
	if (d->fired[T_CONTRAST]) {
		double sum = 0;
		float mean, c = (float)d->contrast;

		for (size_t i = 0; i < n; i++)
			sum += out[i];
		mean = (float)(sum / (double)n);
		for (size_t i = 0; i < n; i++)
			out[i] = mean + (out[i] - mean) * c;
	}
	if (d->fired[T_BLUR]) {
		float *tmp = grow(&w->tmp, &w->ntmp, warp_blur_scratch(Ho, Wo, d->blur));

		for (size_t c = 0; c < C; c++)
			warp_blur(out + c * (size_t)(Ho * Wo), Ho, Wo, d->blur, tmp);
	}
	if (d->fired[T_NOISE]) {
		for (size_t i = 0; i < n; i += 2) {
			double z0, z1;

			normal_pair(&d->noise_rng, &z0, &z1);
			out[i] += (float)(d->noise * z0);
			if (i + 1 < n)
				out[i + 1] += (float)(d->noise * z1);
		}
	}
}

/* t (any shape ... x H x W) resampled by the map; image gets the intensity
 * work of d.  Returns the new tensor. */
static struct st_tensor *transform(const struct walker *wk, const char *name,
				   const struct st_tensor *t, int image,
				   struct draw *d, const struct opts *o,
				   const struct warp_affine *m, int integral,
				   long Ho, long Wo, struct work *w)
{
	long H = (long)t->shape[t->ndim - 2], W = (long)t->shape[t->ndim - 1];
	size_t plane = (size_t)(H * W), oplane = (size_t)(Ho * Wo);
	size_t C = st_tensor_numel(t) / plane, es = st_dtype_size(t->dtype);
	int mask = !image && is_mask(name, t);
	int inten = image && (d->fired[T_GAMMA] || d->fired[T_BRIGHTNESS] ||
			      d->fired[T_CONTRAST] || d->fired[T_BLUR] ||
			      d->fired[T_NOISE]);
	int64_t shape[ST_MAX_DIMS];
	unsigned char fill[8];
	struct st_tensor *out;
	struct st_err err;
	const float *src;
	float *fo;

	memcpy(shape, t->shape, sizeof shape);
	shape[t->ndim - 2] = Ho;
	shape[t->ndim - 1] = Wo;
	if (!(out = st_tensor_new(t->dtype, t->ndim, shape, &err)))
		walk_die(wk, "%s: %s", name, err.msg);
	fill_bytes(t->dtype, mask ? o->label_fill : o->fill, fill);
	if (mask || (integral && !inten)) {
		/* whole elements moved: exact, no arithmetic on values */
		for (size_t c = 0; c < C; c++) {
			const char *s = (const char *)t->data + c * plane * es;
			char *dst = (char *)out->data + c * oplane * es;

			if (integral)
				warp_gather(s, H, W, es, m, Ho, Wo, fill, dst);
			else
				warp_nearest(s, H, W, es, w->cy, w->cx, oplane, fill, dst);
		}
		return out;
	}
	fo = grow(&w->out, &w->nout, C * oplane);
	if (image && d->fired[T_GAMMA]) {
		apply_gamma(t, d->gamma, grow(&w->src, &w->nsrc, C * plane));
		src = w->src;
	} else if (t->dtype == ST_F32) {
		src = t->data;
	} else {
		plane_to_float(t, 0, C * plane, grow(&w->src, &w->nsrc, C * plane));
		src = w->src;
	}
	for (size_t c = 0; c < C; c++) {
		float f = (float)o->fill;

		if (integral)
			warp_gather(src + c * plane, H, W, sizeof(float), m, Ho, Wo,
				    &f, fo + c * oplane);
		else
			warp_bilinear(src + c * plane, H, W, w->cy, w->cx, oplane,
				      f, fo + c * oplane);
	}
	if (image)
		intensity(d, fo, C, Ho, Wo, w);
	float_to_plane(fo, C * oplane, out, 0);
	return out;
}

/*
 * Writes copies of record r (index k) for copy numbers c0..c0+ncopies-1:
 * every spatial tensor transformed by one draw per copy.  r is changed.
 */
static void augment_record(const struct walker *wk, struct st_record *r,
			   uint64_t k, uint64_t c0, const struct opts *o,
			   struct work *w)
{
	const struct st_tensor *img = st_record_tensor(r, "image");
	long H = (long)img->shape[img->ndim - 2], W = (long)img->shape[img->ndim - 1];
	size_t nf = st_record_nfields(r), ns = 0;
	struct st_tensor **orig;
	struct st_err err;

	/* the spatial tensors, image first; kept aside when several copies */
	w->names = ereallocarray(w->names, nf + 1, sizeof *w->names);
	orig = ecalloc(nf + 1, sizeof *orig);
	w->names[ns++] = estrdup("image");
	for (size_t i = 0; i < nf; i++) {
		struct st_tensor *t;
		const char *name = st_record_field(r, i, &t);

		if (t && strcmp(name, "image") && is_spatial(t, H, W))
			w->names[ns++] = estrdup(name);
	}
	for (size_t i = 0; i < ns; i++) {
		orig[i] = st_record_tensor(r, w->names[i]);
		if (o->copies > 1 && !(orig[i] = st_tensor_clone(orig[i], &err)))
			walk_die(wk, "%s", err.msg);
	}
	for (long long c = 0; c < o->copies; c++) {
		struct draw d;
		struct warp_affine m;
		long Ho, Wo;
		int integral;
		char text[768];

		draw(o, k, c0 + (uint64_t)c, H, W, &d);
		compose(&d, o, H, W, &m, &Ho, &Wo);
		integral = !d.fired[T_ELASTIC] && warp_is_integral(&m);
		if (!integral) {
			size_t n = (size_t)(Ho * Wo);
			float *dy = NULL, *dx = NULL;

			grow(&w->cy, &w->ncy, n);
			grow(&w->cx, &w->ncx, n);
			if (d.fired[T_ELASTIC]) {
				dy = grow(&w->dy, &w->ndy, n);
				dx = grow(&w->dx, &w->ndx, n);
				if (warp_elastic_field(&d.elastic_rng, Ho, Wo, d.alpha,
						       d.sigma, dy, dx) < 0)
					walk_die(wk, "elastic field: out of memory");
			}
			warp_coords(&m, Ho, Wo, dy, dx, w->cy, w->cx);
		}
		for (size_t i = 0; i < ns; i++) {
			struct st_tensor *t = transform(wk, w->names[i], orig[i], i == 0,
							&d, o, &m, integral, Ho, Wo, w);

			if (o->copies == 1)
				orig[i] = NULL; /* freed by the set below */
			if (st_record_set_tensor(r, w->names[i], t, &err) < 0)
				walk_die(wk, "%s", err.msg);
		}
		describe(&d, k, c0 + (uint64_t)c, text, sizeof text);
		if (st_meta_set_str(r, "augment", text, &err) < 0)
			walk_die(wk, "%s", err.msg);
		write_record(stdout, r);
	}
	for (size_t i = 0; i < ns; i++) {
		if (o->copies > 1)
			st_tensor_free(orig[i]);
		free(w->names[i]);
	}
	free(orig);
}

/* ---- epochs: the input held serialised --------------------------------- */

struct held {
	char *buf;
	size_t len, cap;
	size_t *off;      /* record i is buf[off[i] .. off[i + 1]) */
	size_t n, ncap;
};

static void hold(struct held *h, const struct walker *w, const struct st_record *r)
{
	struct st_err err;
	void *b;
	size_t len;

	if (st_serialize(r, &b, &len, &err) < 0)
		walk_die(w, "%s", err.msg);
	if (h->len + len > h->cap) {
		h->cap = (h->len + len) * 2;
		h->buf = ereallocarray(h->buf, h->cap, 1);
	}
	memcpy(h->buf + h->len, b, len);
	free(b);
	if (h->n + 2 > h->ncap) {
		h->ncap = h->ncap ? 2 * h->ncap : 64;
		h->off = ereallocarray(h->off, h->ncap, sizeof *h->off);
	}
	h->off[h->n++] = h->len;
	h->len += len;
	h->off[h->n] = h->len;
}

static void run_epochs(const struct held *h, const struct opts *o,
		       struct work *w)
{
	size_t *perm = ereallocarray(NULL, h->n ? h->n : 1, sizeof *perm);

	for (long long e = 0; e < o->epochs; e++) {
		struct rng r = rng_derive(o->seed, (uint64_t)e, SHUFFLE_STREAM);

		rng_shuffle(&r, perm, h->n);
		for (size_t j = 0; j < h->n; j++) {
			size_t i = perm[j], len = h->off[i + 1] - h->off[i];
			FILE *f = fmemopen(h->buf + h->off[i], len, "rb");
			struct walker wk = {.name = "(held)", .index = i + 1};
			struct st_record *rec;
			struct st_reader *rd;
			struct st_err err;

			if (!f)
				die("fmemopen:");
			rd = reader_open(f, "(held)");
			if (st_read(rd, &rec, &err) != 1)
				die("(held): record %zu: %s", i + 1, err.msg);
			snprintf(wk.id, sizeof wk.id, "%s", st_record_id(rec));
			augment_record(&wk, rec, o->first_index + i,
				       (uint64_t)e * (uint64_t)o->copies, o, w);
			st_record_free(rec);
			st_reader_free(rd);
			fclose(f);
		}
	}
	free(perm);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct walker w;
	struct st_record *r;
	struct work work = {0};
	struct held h = {0};

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	/* records of ~100 KiB each: keep them on the heap, reused, instead of
	 * an mmap and page faults per tensor */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	walk_open(&w, o.files, o.nfiles);
	while (walk_next(&w, &r)) {
		check_record(&w, r);
		if (o.epochs)
			hold(&h, &w, r);
		else
			augment_record(&w, r, o.first_index + w.index - 1, 0, &o,
				       &work);
		st_record_free(r);
	}
	walk_close(&w);
	if (o.epochs)
		run_epochs(&h, &o, &work);
	free(h.buf);
	free(h.off);
	free(work.cy);
	free(work.cx);
	free(work.dy);
	free(work.dx);
	free(work.src);
	free(work.out);
	free(work.tmp);
	free(work.names);
	return fshut(stdout, "stdout");
}
