/*
 * to-rgb - DIGITS' channel conversion as a filter: make every record's
 * `image` (C, H, W) 3 channels (gray copied into R, G and B, what a DIGITS
 * "RGB" dataset holds) or 1 channel (ITU-R BT.601 luma, as PIL's "L").
 *
 * Luma, integer dtypes (u8, i16, u16, i32), PIL's fixed-point rule:
 *	L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
 * (weights 0.299, 0.587, 0.114 in 16-bit fixed point, rounded half up; the
 * shift is a floor, also for negative i16/i32 values).  The weights sum to
 * 65536, so L lies between the smallest and largest of R, G, B: no
 * saturation is needed.  f32: L = 0.299 R + 0.587 G + 0.114 B in double,
 * stored as f32.
 *
 * The dtype and every other field pass through.  A record whose image has
 * the wanted channel count already is written unchanged; a converted one
 * gets meta "to_rgb": "gray->rgb" or "rgb->gray".  Any other channel count
 * is an error.  Holds one record at a time.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "st.h"
#include "util.h"

struct opts {
	int channels;        /* 1 or 3 */
	const char *tensor;  /* "image" */
	char **files;
	int nfiles;
};

static void help(void)
{
	printf("Usage: %s [OPTION]... [FILE]...\n"
	       "Convert every record's image (CxHxW) between 1 and 3 channels, as\n"
	       "DIGITS does: gray -> RGB copies the gray values into R, G and B;\n"
	       "RGB -> gray is ITU-R BT.601 luma, L = 0.299 R + 0.587 G + 0.114 B,\n"
	       "computed as PIL's \"L\" conversion (16-bit fixed point, rounded) for\n"
	       "integer dtypes and in floating point for f32.  Reads the tensor\n"
	       "streams FILE... (standard input when none or '-') and writes one\n"
	       "stream to standard output.  The dtype and all other fields pass\n"
	       "through; an image that has the wanted channels already passes\n"
	       "unchanged; a converted record gets meta to_rgb=gray->rgb or\n"
	       "to_rgb=rgb->gray.\n"
	       "\n"
	       "  -c, --channels N   channels wanted, 3 or 1 (default 3)\n"
	       "  -t, --tensor NAME  the tensor to convert (default image)\n"
	       "  -h, --help         show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 data or I/O error (an image with another\n"
	       "channel count than 1 or 3, a missing image, a bad stream), 2 usage\n"
	       "error.\n",
	       argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"channels", required_argument, NULL, 'c'},
		{"tensor", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.channels = 3, .tensor = "image"};
	while ((c = getopt_long(argc, argv, "c:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->channels = (int)parse_int("--channels", optarg, 1, 3);
			if (o->channels == 2)
				usage_error("--channels: '%s' is not 1 or 3", optarg);
			break;
		case 't': o->tensor = optarg; break;
		case 'h': help(); help_exit();
		default: usage_error("unknown or incomplete option");
		}
	}
	if (!*o->tensor)
		usage_error("--tensor: the name must not be empty");
	o->files = argv + optind;
	o->nfiles = argc - optind;
}

/* (1, H, W) -> (3, H, W): the plane three times. */
static struct st_tensor *gray_to_rgb(const struct st_tensor *t,
				     struct st_err *err)
{
	struct st_tensor *o = st_tensor_new3(t->dtype, 3, t->shape[1],
					     t->shape[2], err);
	size_t plane = st_tensor_nbytes(t);

	if (!o)
		return NULL;
	for (int c = 0; c < 3; c++)
		memcpy((char *)o->data + c * plane, t->data, plane);
	return o;
}

#define LUMA_INT(T)                                                        \
	do {                                                               \
		const T *r = t->data, *g = r + n, *b = g + n;              \
		T *l = o->data;                                            \
		for (size_t i = 0; i < n; i++)                             \
			l[i] = (T)(((int64_t)r[i] * 19595 +                \
				    (int64_t)g[i] * 38470 +                \
				    (int64_t)b[i] * 7471 + 0x8000) >> 16); \
	} while (0)

/* (3, H, W) -> (1, H, W): BT.601 luma, see the file header. */
static struct st_tensor *rgb_to_gray(const struct st_tensor *t,
				     struct st_err *err)
{
	struct st_tensor *o = st_tensor_new3(t->dtype, 1, t->shape[1],
					     t->shape[2], err);
	size_t n = (size_t)t->shape[1] * (size_t)t->shape[2];

	if (!o)
		return NULL;
	switch (t->dtype) {
	case ST_U8: LUMA_INT(uint8_t); break;
	case ST_I16: LUMA_INT(int16_t); break;
	case ST_U16: LUMA_INT(uint16_t); break;
	case ST_I32: LUMA_INT(int32_t); break;
	case ST_F32: {
		const float *r = t->data, *g = r + n, *b = g + n;
		float *l = o->data;

		for (size_t i = 0; i < n; i++)
			l[i] = (float)(0.299 * r[i] + 0.587 * g[i] +
				       0.114 * b[i]);
		break;
	}
	}
	return o;
}

/* Converts r's tensor in place; dies naming the record on bad data. */
static void convert(const struct walker *w, struct st_record *r,
		    const struct opts *o)
{
	struct st_tensor *t = st_record_tensor(r, o->tensor), *n;
	struct st_err err;
	char shape[64];

	if (!t)
		walk_die(w, "no '%s' tensor", o->tensor);
	if (t->ndim != 3)
		walk_die(w, "%s %s is not CxHxW", o->tensor,
			 st_shape_str(t, shape, sizeof shape));
	if (t->shape[0] == o->channels)
		return;
	if (t->shape[0] != 1 && t->shape[0] != 3)
		walk_die(w, "%s %s has %lld channels; to-rgb converts 1 <-> 3",
			 o->tensor, st_shape_str(t, shape, sizeof shape),
			 (long long)t->shape[0]);
	n = o->channels == 3 ? gray_to_rgb(t, &err) : rgb_to_gray(t, &err);
	if (!n || st_record_set_tensor(r, o->tensor, n, &err) < 0 ||
	    st_meta_set_str(r, "to_rgb",
			    o->channels == 3 ? "gray->rgb" : "rgb->gray",
			    &err) < 0)
		walk_die(w, "%s", err.msg);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct walker w;
	struct st_record *r;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	walk_open(&w, o.files, o.nfiles);
	while (walk_next(&w, &r)) {
		convert(&w, r, &o);
		write_record(stdout, r);
		st_record_free(r);
	}
	walk_close(&w);
	return fshut(stdout, "stdout");
}
