/*
 * fcn-predict - segment the images of a tensor stream with a trained model.
 *
 * Each record's 'image' (C x H x W, any dtype) is prepared as the model's
 * training records were: a gray image is replicated to the model's
 * channels, a model trained on crops (meta "crop" on every training record)
 * gets the centre crop of its training size, and values become x * scale +
 * shift.  The net (deploy phase) scores it; the record is written back
 * with 'pred' (u8 1 x H x W, the arg-max class, the lowest class winning a
 * tie) and, with --prob, 'prob' (f32 K x H x W, the softmax), always in the
 * record's own geometry: outside a crop pred is 0 and prob is background.
 * Every other field passes through untouched, in order.
 *
 * --tta averages the softmax over the image and its horizontal, vertical
 * and double flips (each prediction flipped back), --tta=dihedral over
 * those and the same four of the transposed image (the 8 symmetries of the
 * square: rotations by 90 degrees and reflections); --tta-zoom adds the
 * region zoomed by each factor (bilinearly resampled as PyTorch's
 * interpolate does, the softmax resampled back), each with the flips;
 * --largest keeps, per
 * class >= 1, the largest 8-connected component and fills its holes;
 * --hull then fills each class's convex hull (the endocardium as the
 * Sunnybrook experts draw it: papillary muscles and trabeculae inside).
 *
 * --pseudo-label is for self-training: a record without 'label' gets the
 * prediction as its 'label' (and meta "pseudo_label" 1), a record with one
 * is passed on as it is, unscored, in its place in the stream.
 *
 * With -m given more than once (an ensemble, up to 16 models trained on
 * the same input: channels and crop), the softmax is averaged over the
 * models as well (and their TTA copies).
 *
 * Up to --batch consecutive records of one size go through the net
 * together; the net is reshaped whenever the size changes, so images of any
 * size the net accepts work.  Memory: one batch of records and each
 * model's net.
 * Not done here: tiling of images too large for memory, other
 * augmentations than flips, transposes and zooms.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caffemodel.h"
#include "fcn.h"
#include "model.h"
#include "st.h"
#include "util.h"

#define MAX_MODELS 16
#define MAX_ZOOMS 8

struct opts {
	const char *model_path;  /* the first -m */
	const char *model_paths[MAX_MODELS];
	int nmodels;
	const char *net_path;    /* --net: another description (a caffemodel's) */
	int caffe;               /* -m is a .caffemodel */
	double scale, shift;     /* --scale/--shift; NAN: the model's (1, 0 Caffe) */
	char **files;
	int nfiles;
	int prob;
	int batch;
	int threads;
	int largest;
	int hull;
	int tta;
	double zoom[MAX_ZOOMS];  /* --tta-zoom factors (default: 1 alone) */
	int nzoom;
	int pseudo;              /* --pseudo-label */
};

/* Records waiting for the net: all of one size (H, W), so one crop. */
struct batch {
	struct st_record **rec;
	char (*where)[512]; /* "FILE: record N (id)", for messages */
	int n, cap;
	int c;               /* the net's input channels */
	int H, W;            /* the records' size */
	int y0, x0, h, w;    /* the region the net sees (a crop or all) */
};

/* One model (of an ensemble) and its net. */
struct member {
	const char *path;
	struct fcn_model *model; /* freed once its weights are in the net */
	int channels;            /* the model's input: C (0: any, a caffemodel) */
	double scale, shift;
	int crop_h, crop_w;      /* centre crop of the training size; 0: none */
	struct fcn_net *net;
	int loaded;              /* the caffemodel's weights are in the net */
	int softmaxed;           /* the net ends in Softmax: scores are p */
};

struct predictor {
	const struct opts *o;
	struct member m[MAX_MODELS];
	int nm;
	int channels, crop_h, crop_w; /* the first model's (all agree) */
	float *acc;              /* (N, K, h, w) probabilities: --tta, ensembles */
	size_t acc_cap;
	float *zacc;             /* (K, zh, zw): one zoomed copy's softmax */
	size_t zacc_cap;
};

static void help(void)
{
	printf("Usage: %s -m MODEL [OPTION]... [FILE]...\n"
	       "Add the predicted segmentation of each record's 'image' as 'pred'\n"
	       "(u8 1xHxW arg-max class), and with --prob the class probabilities as\n"
	       "'prob' (f32 KxHxW).  Reads the FILEs or, when none or '-', standard\n"
	       "input; writes the records to standard output, other fields untouched.\n"
	       "Images are prepared as the model's training records were (gray\n"
	       "replicated to the model's channels, the centre crop of a model trained\n"
	       "on crops, x*scale+shift); pred and prob come back in the image's own\n"
	       "geometry.\n"
	       "\n"
	       "  -m, --model MODEL  trained model from fcn-train, or Caffe weights\n"
	       "                     (.caffemodel, with --net) (required); again for\n"
	       "                     an ensemble (up to 16 fcn-train models of one\n"
	       "                     input: the softmax averaged over them)\n"
	       "  -n, --net FILE     net description to use (required with a caffemodel;\n"
	       "                     default: the model's own)\n"
	       "      --scale X      input x becomes x*scale+shift (default: the model's;\n"
	       "                     1 with a caffemodel)\n"
	       "      --shift X      (default: the model's; 0 with a caffemodel)\n"
	       "  -p, --prob         also add 'prob' (default: off)\n"
	       "      --tta[=SET]    average the softmax over the image and its copies:\n"
	       "                     flips (h-, v- and hv-flipped; --tta alone) or\n"
	       "                     dihedral (those and the 4 of the transposed image:\n"
	       "                     every rotation by 90 degrees and reflection)\n"
	       "                     (default: off)\n"
	       "      --tta-zoom LIST  and over the region zoomed by each factor of\n"
	       "                     LIST (comma-separated, 0.25 to 4; bilinear: the\n"
	       "                     net sees round(h*z) x round(w*z) pixels, its\n"
	       "                     softmax is resampled back), each with the\n"
	       "                     --tta copies (default: 1, the region as it is)\n"
	       "      --largest      per class >= 1 keep the largest 8-connected\n"
	       "                     component and fill its holes (default: off)\n"
	       "      --hull         per class >= 1 fill the convex hull of its pixels\n"
	       "                     (after --largest; background pixels only) (default: off)\n"
	       "      --pseudo-label a record without 'label' gets the prediction as its\n"
	       "                     'label' (meta pseudo_label 1) instead of 'pred'; a\n"
	       "                     record with one passes through unscored (for\n"
	       "                     self-training on unlabelled frames) (default: off)\n"
	       "  -b, --batch N      consecutive same-size records per pass (default 1)\n"
	       "  -t, --threads N    engine threads (default 0: all cores)\n"
	       "  -h, --help         show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

enum { OPT_TTA = 256, OPT_ZOOM, OPT_LARGEST, OPT_HULL, OPT_PSEUDO };

static void parse_zooms(struct opts *o, const char *s)
{
	char *copy = estrdup(s), *tok, *save = NULL;

	o->nzoom = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->nzoom == MAX_ZOOMS)
			usage_error("--tta-zoom: more than %d factors", MAX_ZOOMS);
		o->zoom[o->nzoom++] = parse_double("--tta-zoom", tok, 0.25, 4);
	}
	free(copy);
	if (!o->nzoom)
		usage_error("--tta-zoom: no factor in '%s'", s);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"net", required_argument, NULL, 'n'},
		{"scale", required_argument, NULL, 'S'},
		{"shift", required_argument, NULL, 'T'},
		{"prob", no_argument, NULL, 'p'},
		{"tta", optional_argument, NULL, OPT_TTA},
		{"tta-zoom", required_argument, NULL, OPT_ZOOM},
		{"largest", no_argument, NULL, OPT_LARGEST},
		{"hull", no_argument, NULL, OPT_HULL},
		{"pseudo-label", no_argument, NULL, OPT_PSEUDO},
		{"batch", required_argument, NULL, 'b'},
		{"threads", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.batch = 1, .scale = NAN, .shift = NAN, .zoom = {1}, .nzoom = 1};
	while ((c = getopt_long(argc, argv, "m:n:pb:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (o->nmodels == MAX_MODELS)
				usage_error("-m: at most %d models", MAX_MODELS);
			o->model_paths[o->nmodels++] = optarg;
			break;
		case 'n': o->net_path = optarg; break;
		case 'S': o->scale = parse_double("--scale", optarg, -1e9, 1e9); break;
		case 'T': o->shift = parse_double("--shift", optarg, -1e9, 1e9); break;
		case 'p': o->prob = 1; break;
		case OPT_TTA:
			if (!optarg || !strcmp(optarg, "flips"))
				o->tta = 4;
			else if (!strcmp(optarg, "dihedral"))
				o->tta = 8;
			else
				usage_error("--tta: '%s' is neither flips nor dihedral", optarg);
			break;
		case OPT_ZOOM: parse_zooms(o, optarg); break;
		case OPT_LARGEST: o->largest = 1; break;
		case OPT_HULL: o->hull = 1; break;
		case OPT_PSEUDO: o->pseudo = 1; break;
		case 'b': o->batch = (int)parse_int("--batch", optarg, 1, 4096); break;
		case 't': o->threads = (int)parse_int("--threads", optarg, 0, 1024); break;
		case 'h': help(); help_exit();
		default: usage_error("invalid option");
		}
	}
	o->files = argv + optind;
	o->nfiles = argc - optind;
	if (!o->nmodels)
		usage_error("-m/--model is required");
	o->model_path = o->model_paths[0];
	o->caffe = fcn_caffemodel_is_file(o->model_path);
	if (o->caffe && !o->net_path)
		usage_error("-m %s is a caffemodel: --net is required", o->model_path);
	for (int k = 1; k < o->nmodels; k++)
		if (o->caffe || fcn_caffemodel_is_file(o->model_paths[k]))
			usage_error("an ensemble (-m twice) takes fcn-train models only");
}

/* The model's preprocessing meta value of key, NULL if none. */
static const char *model_meta(const struct fcn_model_info *mi, const char *key)
{
	for (int i = 0; i < mi->nmeta; i++)
		if (!strcmp(mi->meta_key[i], key))
			return mi->meta_val[i];
	return NULL;
}

/* Trained on crops: every record carried meta "crop", or augment's common
 * tokens hold a "crop=OY,OX" (--center-crop; a random crop differs per
 * record and drops out). */
static int trained_on_crops(const struct fcn_model_info *mi)
{
	const char *a = model_meta(mi, "augment");

	if (model_meta(mi, "crop"))
		return 1;
	for (; a && *a; a += strspn(a, " ")) {
		if (!strncmp(a, "crop=", 5))
			return 1;
		a += strcspn(a, " ");
	}
	return 0;
}

static void open_member(struct member *m, const struct opts *o, const char *path)
{
	const struct fcn_model_info *mi;
	struct fcn_err err;

	const char *last = NULL;
	size_t nl;

	m->path = path;
	if (o->caffe) { /* weights loaded at the first reshape; any channel count */
		m->channels = 0;
		m->scale = 1;
		m->shift = 0;
	} else {
		if (!(m->model = fcn_model_read(path, &err)))
			die("%s", err.msg);
		mi = fcn_model_info(m->model);
		m->channels = mi->channels;
		m->scale = mi->scale;
		m->shift = mi->shift;
		if (trained_on_crops(mi) && mi->height > 0 && mi->width > 0)
			m->crop_h = mi->height, m->crop_w = mi->width;
	}
	if (!isnan(o->scale))
		m->scale = o->scale;
	if (!isnan(o->shift))
		m->shift = o->shift;
	m->net = o->net_path ? fcn_net_load(o->net_path, FCN_DEPLOY, &err) :
		 fcn_net_parse(fcn_model_info(m->model)->net_text, path,
			       FCN_DEPLOY, &err);
	if (!m->net)
		die("%s", err.msg);
	/* Caffe's deploy descriptions end in Softmax: probabilities already */
	nl = fcn_net_nlayers(m->net);
	if (nl)
		fcn_net_layer_name(m->net, nl - 1, &last);
	m->softmaxed = last && !strcmp(last, "Softmax");
}

/* "C channels, HxW crops" (or "the whole image") of model m. */
static const char *input_str(const struct member *m, char *buf, size_t n)
{
	int k = snprintf(buf, n, "%d channels, ", m->channels);

	if (m->crop_h)
		snprintf(buf + k, n - k, "%dx%d crops", m->crop_h, m->crop_w);
	else
		snprintf(buf + k, n - k, "the whole image");
	return buf;
}

static void open_models(struct predictor *p, const struct opts *o)
{
	p->o = o;
	p->nm = o->nmodels;
	for (int k = 0; k < p->nm; k++) {
		struct member *m = &p->m[k];

		open_member(m, o, o->model_paths[k]);
		if (k > 0 && (m->channels != p->m[0].channels ||
			      m->crop_h != p->m[0].crop_h || m->crop_w != p->m[0].crop_w)) {
			char a[64], b[64];

			die("%s: takes %s, %s %s: an ensemble's models must take the same "
			    "input", m->path, input_str(m, a, sizeof a), p->m[0].path,
			    input_str(&p->m[0], b, sizeof b));
		}
	}
	p->channels = p->m[0].channels;
	p->crop_h = p->m[0].crop_h;
	p->crop_w = p->m[0].crop_w;
}

/* The record's image size, checked against the model: (C, H, W). */
static void image_size(const struct predictor *p, const struct walker *wk,
		       const struct st_record *r, int *c, int *h, int *w)
{
	const struct st_tensor *im = st_record_tensor(r, "image");
	char b[64];

	if (!im)
		walk_die(wk, "no 'image' tensor");
	if (im->ndim == 3)
		*c = (int)im->shape[0], *h = (int)im->shape[1], *w = (int)im->shape[2];
	else if (im->ndim == 2)
		*c = 1, *h = (int)im->shape[0], *w = (int)im->shape[1];
	else
		walk_die(wk, "image %s is not CxHxW", st_shape_str(im, b, sizeof b));
	if (p->channels && *c != p->channels && *c != 1)
		walk_die(wk, "image %s has %d channels, the model takes %d%s",
			 st_shape_str(im, b, sizeof b), *c, p->channels,
			 p->channels > 1 ? " (or 1, replicated)" : "");
	if (*h < 1 || *w < 1 || im->shape[1] > 65535 || im->shape[im->ndim - 1] > 65535)
		walk_die(wk, "image %s has no usable size", st_shape_str(im, b, sizeof b));
}

/* Fills image k of the net's input from the batch region of record r,
 * flipped (fh: left-right, fv: up-down), channels replicated from a gray
 * image, values x * scale + shift. */
/* TTA copy f (bit 0: h-flip, 1: v-flip, 2: transpose first) of an h x w
 * region: its size (th, tw) and, for its pixel (y, x), the region's pixel
 * it shows, as the offset sy * w + sx. */
static void tta_size(int f, int h, int w, int *th, int *tw)
{
	*th = f & 4 ? w : h;
	*tw = f & 4 ? h : w;
}

static size_t tta_src(int f, int h, int w, int y, int x)
{
	int th, tw, u, v;

	tta_size(f, h, w, &th, &tw);
	u = f & 2 ? th - 1 - y : y;
	v = f & 1 ? tw - 1 - x : x;
	return f & 4 ? (size_t)v * w + u : (size_t)u * w + v;
}

/* Pixel i of n resampled from m (a zoom by n/m): the two source pixels and
 * the second's weight, as bilinear interpolation with pixel centres at
 * i + 0.5 and the edges clamped (PyTorch's interpolate, align_corners
 * false). */
static void zoom_tap(int i, int n, int m, int *i0, int *i1, double *t)
{
	double s = ((double)i + 0.5) * m / n - 0.5;

	if (s < 0)
		s = 0;
	*i0 = (int)s;
	*i1 = *i0 < m - 1 ? *i0 + 1 : *i0;
	*t = s - *i0;
}

/* Bilinear mix of the four taps a (y0, x0), b (y0, x1), c (y1, x0), d (y1, x1). */
static double bilerp(double a, double b, double c, double d, double ty, double tx)
{
	return (1 - ty) * ((1 - tx) * a + tx * b) + ty * ((1 - tx) * c + tx * d);
}

/* Image k's region, zoomed to zh x zw (the region's own size: as it is),
 * as TTA copy f, into the net's input. */
static void fill_input(const struct member *p, const struct batch *b, int k,
		       int f, int zh, int zw, float *data)
{
	const struct st_tensor *im = st_record_tensor(b->rec[k], "image");
	int C = b->c, gray = (im->ndim == 2 || im->shape[0] == 1), th, tw;
	int zoomed = zh != b->h || zw != b->w;
	size_t hw = (size_t)zh * zw;
	float *dst = data + (size_t)k * C * hw;

	tta_size(f, zh, zw, &th, &tw);
	for (int c = 0; c < C; c++) {
		size_t plane = gray ? 0 : (size_t)c * b->H * b->W;

		for (int y = 0; y < th; y++)
			for (int x = 0; x < tw; x++) {
				size_t r = tta_src(f, zh, zw, y, x);
				int ry = (int)(r / zw), rx = (int)(r % zw), y0, y1, x0, x1;
				double v, ty, tx;

				if (!zoomed) {
					v = st_tensor_get(im, plane + (size_t)(b->y0 + ry) * b->W +
							  b->x0 + rx);
				} else {
					const size_t row = b->W;
					size_t o;

					zoom_tap(ry, zh, b->h, &y0, &y1, &ty);
					zoom_tap(rx, zw, b->w, &x0, &x1, &tx);
					o = plane + (size_t)b->y0 * row + b->x0;
					v = bilerp(st_tensor_get(im, o + y0 * row + x0),
						   st_tensor_get(im, o + y0 * row + x1),
						   st_tensor_get(im, o + y1 * row + x0),
						   st_tensor_get(im, o + y1 * row + x1), ty, tx);
				}
				dst[(size_t)c * hw + (size_t)y * tw + x] =
					(float)(v * p->scale + p->shift);
			}
	}
}

/* The probabilities z (K, zh, zw) of a zoomed copy resampled back to the
 * region's h x w and added into acc (K, h, w). */
static void unzoom_add(const float *z, int K, int zh, int zw, int h, int w,
		       float *acc)
{
	for (int y = 0; y < h; y++) {
		int y0, y1;
		double ty;

		zoom_tap(y, h, zh, &y0, &y1, &ty);
		for (int x = 0; x < w; x++) {
			int x0, x1;
			double tx;

			zoom_tap(x, w, zw, &x0, &x1, &tx);
			for (int c = 0; c < K; c++) {
				const float *q = z + (size_t)c * zh * zw;

				acc[((size_t)c * h + y) * w + x] += (float)bilerp(
					q[y0 * zw + x0], q[y0 * zw + x1],
					q[y1 * zw + x0], q[y1 * zw + x1], ty, tx);
			}
		}
	}
}

/* Softmax of image k's scores (K, th, tw) of TTA copy f of an h x w region
 * added into acc (K, h, w), each pixel put back where it came from
 * (is_prob: the scores are probabilities already). */
static void add_softmax(const struct fcn_blob *out, int k, int f, int h, int w,
			int is_prob, float *acc)
{
	int K = out->c, th = out->h, tw = out->w;
	size_t hw = (size_t)h * w;
	const float *s = out->data + (size_t)k * K * hw;

	for (int y = 0; y < th; y++)
		for (int x = 0; x < tw; x++) {
			size_t i = (size_t)y * tw + x;
			size_t j = tta_src(f, h, w, y, x);
			double mx = s[i], sum = 0;

			if (is_prob) {
				for (int c = 0; c < K; c++)
					acc[c * hw + j] += s[c * hw + i];
				continue;
			}
			for (int c = 1; c < K; c++)
				mx = s[c * hw + i] > mx ? s[c * hw + i] : mx;
			for (int c = 0; c < K; c++)
				sum += exp(s[c * hw + i] - mx);
			for (int c = 0; c < K; c++)
				acc[c * hw + j] += (float)(exp(s[c * hw + i] - mx) / sum);
		}
}

/* --- --largest --------------------------------------------------------------- */

/* In pred (H, W), per class c >= 1: only the largest 8-connected component
 * of c stays (the first in raster order among equal sizes; the others
 * become 0), then the background pixels (0) of every 4-connected region of
 * non-c pixels that does not touch the border become c (its holes).
 * comp and queue: H*W ints of scratch. */
static void keep_largest(uint8_t *pred, int H, int W, int K, int *comp, int *queue)
{
	size_t n = (size_t)H * W;

	for (int c = 1; c < K; c++) {
		int ncomp = 0, best = -1;
		size_t best_size = 0;

		for (size_t i = 0; i < n; i++)
			comp[i] = -1;
		for (size_t i = 0; i < n; i++) {
			size_t head = 0, tail = 0;

			if (pred[i] != c || comp[i] >= 0)
				continue;
			comp[i] = ncomp;
			queue[tail++] = (int)i;
			while (head < tail) {
				int q = queue[head++], y = q / W, x = q % W;

				for (int dy = -1; dy <= 1; dy++)
					for (int dx = -1; dx <= 1; dx++) {
						int yy = y + dy, xx = x + dx;
						size_t j = (size_t)yy * W + xx;

						if (yy < 0 || yy >= H || xx < 0 || xx >= W ||
						    pred[j] != c || comp[j] >= 0)
							continue;
						comp[j] = ncomp;
						queue[tail++] = (int)j;
					}
			}
			if (tail > best_size)
				best_size = tail, best = ncomp;
			ncomp++;
		}
		if (best < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (pred[i] == c && comp[i] != best)
				pred[i] = 0;
		/* holes: flood the non-c pixels from the border, 4-connected */
		{
			size_t head = 0, tail = 0;

			for (size_t i = 0; i < n; i++) {
				int y = (int)(i / W), x = (int)(i % W);

				comp[i] = 0;
				if (pred[i] != c && (y == 0 || x == 0 || y == H - 1 || x == W - 1)) {
					comp[i] = 1;
					queue[tail++] = (int)i;
				}
			}
			while (head < tail) {
				int q = queue[head++], y = q / W, x = q % W;
				static const int d[4][2] = {{-1, 0}, {1, 0}, {0, -1}, {0, 1}};

				for (int e = 0; e < 4; e++) {
					int yy = y + d[e][0], xx = x + d[e][1];
					size_t j = (size_t)yy * W + xx;

					if (yy < 0 || yy >= H || xx < 0 || xx >= W ||
					    pred[j] == c || comp[j])
						continue;
					comp[j] = 1;
					queue[tail++] = (int)j;
				}
			}
			for (size_t i = 0; i < n; i++)
				if (!comp[i] && pred[i] == 0)
					pred[i] = (uint8_t)c;
		}
	}
}

/* Twice the signed area of (o, a, b): > 0 when b is left of o->a. */
static int64_t cross(const int *o, const int *a, const int *b)
{
	return (int64_t)(a[0] - o[0]) * (b[1] - o[1]) -
	       (int64_t)(a[1] - o[1]) * (b[0] - o[0]);
}

/* In pred (H, W), per class c >= 1: every background pixel whose centre
 * lies inside or on the convex hull of the centres of the c pixels becomes
 * c.  The hull (Andrew's monotone chain) is built from each row's leftmost
 * and rightmost c pixel, which are in (y, x) order already.  pts: 4*H + 2
 * ints of scratch, hull: as many. */
static void fill_hull(uint8_t *pred, int H, int W, int K, int *pts, int *hull)
{
	for (int c = 1; c < K; c++) {
		int n = 0, m = 0, y0 = H, y1 = -1;

		for (int y = 0; y < H; y++) {
			int l = -1, r = -1;

			for (int x = 0; x < W; x++)
				if (pred[(size_t)y * W + x] == c) {
					if (l < 0)
						l = x;
					r = x;
				}
			if (l < 0)
				continue;
			y0 = y < y0 ? y : y0, y1 = y;
			pts[2 * n] = l, pts[2 * n + 1] = y, n++;
			if (r != l)
				pts[2 * n] = r, pts[2 * n + 1] = y, n++;
		}
		if (n < 3)
			continue; /* a point or a segment: nothing to fill */
		for (int i = 0; i < n; i++) { /* lower chain */
			while (m >= 2 && cross(hull + 2 * (m - 2), hull + 2 * (m - 1), pts + 2 * i) <= 0)
				m--;
			hull[2 * m] = pts[2 * i], hull[2 * m + 1] = pts[2 * i + 1], m++;
		}
		for (int i = n - 2, lo = m + 1; i >= 0; i--) { /* upper chain */
			while (m >= lo && cross(hull + 2 * (m - 2), hull + 2 * (m - 1), pts + 2 * i) <= 0)
				m--;
			hull[2 * m] = pts[2 * i], hull[2 * m + 1] = pts[2 * i + 1], m++;
		}
		m--; /* the last point is the first */
		if (m < 3)
			continue; /* collinear */
		for (int y = y0; y <= y1; y++)
			for (int x = 0; x < W; x++) {
				int p[2] = {x, y}, in = 1;

				if (pred[(size_t)y * W + x] != 0)
					continue;
				for (int i = 0; i < m && in; i++)
					in = cross(hull + 2 * i, hull + 2 * ((i + 1) % m), p) >= 0;
				if (in)
					pred[(size_t)y * W + x] = (uint8_t)c;
			}
	}
}

/* --- the batch ---------------------------------------------------------------- */

/* Where the net's output goes: region (y0, x0, h, w) of an H x W frame. */
struct geom {
	int H, W, y0, x0, h, w;
};

/* Arg-max of (K, h, w) values (the lowest class wins a tie) into the full
 * frame's pred at the region; prob (K, H, W) gets the softmax (from
 * scores) or the values themselves (already probabilities). */
static void place(const struct geom *b, const float *v, int K, int is_prob,
		  uint8_t *pd, float *pp)
{
	size_t hw = (size_t)b->h * b->w, HW = (size_t)b->H * b->W;

	if (pp)
		for (size_t i = 0; i < HW; i++)
			for (int c = 0; c < K; c++)
				pp[c * HW + i] = c == 0; /* outside the region */
	for (int y = 0; y < b->h; y++)
		for (int x = 0; x < b->w; x++) {
			size_t i = (size_t)y * b->w + x;
			size_t o = (size_t)(b->y0 + y) * b->W + b->x0 + x;
			int best = 0;

			for (int c = 1; c < K; c++)
				if (v[c * hw + i] > v[best * hw + i])
					best = c;
			pd[o] = (uint8_t)(best < 255 ? best : 255);
			if (!pp)
				continue;
			if (is_prob) {
				for (int c = 0; c < K; c++)
					pp[c * HW + o] = v[c * hw + i];
			} else {
				double sum = 0, mx = v[best * hw + i];

				for (int c = 0; c < K; c++)
					sum += exp(v[c * hw + i] - mx);
				for (int c = 0; c < K; c++)
					pp[c * HW + o] = (float)(exp(v[c * hw + i] - mx) / sum);
			}
		}
}

/* Runs the batch through model m's net: its scores in the returned blob
 * (TTA copy 0, or the last), and with avg, every TTA copy's softmax added
 * into p->acc (N, K, h, w), which member 0 zeroes.  *g becomes the output
 * geometry (a 1x1 classifier's, or the region's). */
static const struct fcn_blob *run_member(struct predictor *p, struct member *m,
					 struct batch *b, int avg, struct geom *g,
					 int *K)
{
	const struct opts *o = p->o;
	int C = b->c, nflip = o->tta ? o->tta : 1, net_h = b->h, net_w = b->w;
	struct fcn_blob *data, *out;
	struct fcn_err err;
	char skipped[8];

	if (fcn_net_reshape(m->net, b->n, C, b->h, b->w, &err) < 0)
		die("%s: image %dx%dx%d: %s", b->where[0], C, b->h, b->w, err.msg);
	if (m->model) { /* parameters have shapes after the first reshape */
		if (fcn_model_load_weights(m->model, m->net, 1, skipped, sizeof skipped,
					   &err) < 0)
			die("%s: %s", m->path, err.msg);
		fcn_model_free(m->model);
		m->model = NULL;
	}
	if (o->caffe && !m->loaded) {
		char *warns = NULL;

		if (fcn_net_load_caffemodel(m->net, m->path, NULL, &warns, &err) < 0)
			die("%s", err.msg);
		if (warns)
			die("%s: does not fit %s: %s", m->path, o->net_path, warns);
		m->loaded = 1;
	}
	data = fcn_net_blob(m->net, fcn_net_input_name(m->net));
	out = fcn_net_blob(m->net, fcn_net_output_name(m->net));
	if (!data || !out)
		die("%s: the net has no input or output blob", m->path);
	for (int i = 0; i < o->nzoom * nflip; i++) { /* each zoom, each flip */
		int z = i / nflip, f = i % nflip, zh = b->h, zw = b->w, th, tw;
		int first = m == p->m && i == 0;
		size_t hw;

		if (o->zoom[z] != 1) {
			zh = (int)fmax(1, lround(b->h * o->zoom[z]));
			zw = (int)fmax(1, lround(b->w * o->zoom[z]));
		}
		tta_size(f, zh, zw, &th, &tw);
		if (th != net_h || tw != net_w) { /* a zoom, a non-square transpose */
			if (fcn_net_reshape(m->net, b->n, C, th, tw, &err) < 0)
				die("%s: image %dx%dx%d (zoomed by %g): %s", b->where[0], C,
				    th, tw, o->zoom[z], err.msg);
			data = fcn_net_blob(m->net, fcn_net_input_name(m->net));
			out = fcn_net_blob(m->net, fcn_net_output_name(m->net));
			net_h = th, net_w = tw;
		}
		for (int k = 0; k < b->n; k++)
			fill_input(m, b, k, f, zh, zw, data->data);
		if (fcn_net_forward(m->net, NULL, &err) < 0)
			die("%s: %s", b->where[0], err.msg);
		if (out->n != b->n || out->c < 1 ||
		    ((out->h != th || out->w != tw) && (out->h != 1 || out->w != 1)))
			die("%s: the output '%s' is %dx%d for a %dx%d input (the net must "
			    "crop its score to the input size, or be a 1x1 classifier)",
			    m->path, fcn_net_output_name(m->net), out->h, out->w,
			    th, tw);
		if (first) {
			*K = out->c;
			if (out->h != th || out->w != tw) /* a classifier */
				*g = (struct geom){1, 1, 0, 0, 1, 1};
		} else if (out->c != *K || (g->h == 1 && g->w == 1) != (out->h == 1 && out->w == 1))
			die("%s: scores %d classes %dx%d, %s %d classes: an ensemble's models "
			    "must score alike", m->path, out->c, out->h, out->w,
			    p->m[0].path, *K);
		hw = (size_t)g->h * g->w;
		if (!avg)
			break;
		if (first) {
			size_t need = (size_t)b->n * out->c * hw;

			if (need > p->acc_cap) {
				free(p->acc);
				p->acc = ereallocarray(NULL, need, sizeof *p->acc);
				p->acc_cap = need;
			}
			memset(p->acc, 0, need * sizeof *p->acc);
		}
		if ((zh == b->h && zw == b->w) || (g->h == 1 && g->w == 1)) {
			for (int k = 0; k < b->n; k++)
				add_softmax(out, k, f, g->h, g->w, m->softmaxed,
					    p->acc + (size_t)k * out->c * hw);
			continue;
		}
		if ((size_t)out->c * zh * zw > p->zacc_cap) {
			free(p->zacc);
			p->zacc_cap = (size_t)out->c * zh * zw;
			p->zacc = ereallocarray(NULL, p->zacc_cap, sizeof *p->zacc);
		}
		for (int k = 0; k < b->n; k++) {
			memset(p->zacc, 0, (size_t)out->c * zh * zw * sizeof *p->zacc);
			add_softmax(out, k, f, zh, zw, m->softmaxed, p->zacc);
			unzoom_add(p->zacc, out->c, zh, zw, g->h, g->w,
				   p->acc + (size_t)k * out->c * hw);
		}
	}
	return out;
}

/* Runs the batch through the models, adds pred (and prob), writes, empties it. */
static void flush(struct predictor *p, struct batch *b)
{
	const struct opts *o = p->o;
	int nflip = o->tta ? o->tta : 1, K = 0;
	int zoomed = o->nzoom > 1 || o->zoom[0] != 1, avg = o->tta || p->nm > 1 || zoomed;
	size_t hw, HW;
	struct geom g = {b->H, b->W, b->y0, b->x0, b->h, b->w};
	const struct fcn_blob *out = NULL;
	int *scratch = NULL;

	if (b->n == 0)
		return;
	for (int k = 0; k < p->nm; k++)
		out = run_member(p, &p->m[k], b, avg, &g, &K);
	hw = (size_t)g.h * g.w;
	if (avg)
		for (size_t i = 0; i < (size_t)b->n * K * hw; i++)
			p->acc[i] *= 1.0f / (float)(nflip * o->nzoom * p->nm);
	HW = (size_t)g.H * g.W;
	if (o->largest || o->hull)
		scratch = ereallocarray(NULL, 2 * HW + 8 * (size_t)g.H + 4,
					sizeof *scratch);
	for (int k = 0; k < b->n; k++) {
		size_t off = (size_t)k * K * hw;
		struct st_tensor *pred = st_tensor_new3(ST_U8, 1, g.H, g.W, NULL);
		struct st_tensor *prob = NULL;

		if (!pred)
			die("out of memory");
		if (o->prob && !(prob = st_tensor_new3(ST_F32, K, g.H, g.W, NULL)))
			die("out of memory");
		if (avg)
			place(&g, p->acc + off, K, 1, pred->data, prob ? prob->data : NULL);
		else
			place(&g, out->data + off, K, p->m[0].softmaxed, pred->data,
			      prob ? prob->data : NULL);
		if (o->largest)
			keep_largest(pred->data, g.H, g.W, K, scratch, scratch + HW);
		if (o->hull)
			fill_hull(pred->data, g.H, g.W, K, scratch,
				  scratch + 4 * (size_t)g.H + 2);
		if (st_record_set_tensor(b->rec[k], o->pseudo ? "label" : "pred", pred,
					 &(struct st_err){0}) < 0 ||
		    (o->pseudo && st_meta_set_int(b->rec[k], "pseudo_label", 1,
						  &(struct st_err){0}) < 0) ||
		    (prob && st_record_set_tensor(b->rec[k], "prob", prob,
						  &(struct st_err){0}) < 0))
			die("out of memory");
		write_record(stdout, b->rec[k]);
		st_record_free(b->rec[k]);
	}
	free(scratch);
	b->n = 0;
}

static void process(struct predictor *p, struct batch *b, const struct walker *wk,
		    struct st_record *r)
{
	int c, h, w;

	if (p->o->pseudo && st_record_tensor(r, "label")) {
		flush(p, b); /* the records before it go first */
		write_record(stdout, r);
		st_record_free(r);
		return;
	}
	image_size(p, wk, r, &c, &h, &w);
	if (p->channels)
		c = p->channels; /* a gray image is replicated */
	if (b->n > 0 && (h != b->H || w != b->W || c != b->c))
		flush(p, b);
	b->c = c, b->H = h, b->W = w;
	b->y0 = 0, b->x0 = 0, b->h = h, b->w = w;
	if (p->crop_h && h >= p->crop_h && w >= p->crop_w) {
		b->h = p->crop_h, b->w = p->crop_w;
		b->y0 = (h - b->h) / 2, b->x0 = (w - b->w) / 2;
	}
	b->rec[b->n] = r;
	walk_where(wk, b->where[b->n++], sizeof b->where[0]);
	if (b->n == p->o->batch)
		flush(p, b);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct predictor p = {0};
	struct batch b = {0};
	struct walker wk;
	struct st_record *r;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	fcn_set_threads(o.threads);
	open_models(&p, &o);
	b.rec = ecalloc(o.batch, sizeof *b.rec);
	b.where = ecalloc(o.batch, sizeof *b.where);
	walk_open(&wk, o.files, o.nfiles);
	while (walk_next(&wk, &r))
		process(&p, &b, &wk, r);
	flush(&p, &b);
	walk_close(&wk);
	free(b.rec);
	free(b.where);
	free(p.acc);
	free(p.zacc);
	for (int k = 0; k < p.nm; k++) {
		fcn_net_free(p.m[k].net);
		fcn_model_free(p.m[k].model);
	}
	return fshut(stdout, "stdout");
}
