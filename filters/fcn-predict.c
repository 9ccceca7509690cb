/*
 * fcn-predict - segment the images of a tensor stream with a trained model.
 *
 * Each record's 'image' (C x H x W, any dtype; C must be the model's input
 * channels) is converted to f32 as x * scale + shift (the model's input
 * preprocessing) and run through the model's net (deploy phase).  The record
 * is written back with 'pred' (u8 1 x H x W, the arg-max class; the lowest
 * class wins a tie) and, with --prob, 'prob' (f32 K x H x W, the softmax of
 * the scores); every other field passes through untouched, in order.
 *
 * Up to --batch consecutive records of one size go through the net
 * together; the net is reshaped whenever the size changes, so images of any
 * size the net accepts work.  Memory: one batch of records and the net.
 * Not done here: tiling of images too large for memory, test-time
 * augmentation.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caffemodel.h"
#include "fcn.h"
#include "model.h"
#include "st.h"
#include "util.h"

struct opts {
	const char *model_path;
	const char *net_path;    /* --net: another description (a caffemodel's) */
	int caffe;               /* -m is a .caffemodel */
	double scale, shift;     /* --scale/--shift; NAN: the model's (1, 0 Caffe) */
	const char *input;
	int prob;
	int batch;
	int threads;
};

/* Records waiting for the net: all of one size (C, H, W). */
struct batch {
	struct st_record **rec;
	size_t *index; /* record numbers (1-based), for messages */
	int n, cap;
	int c, h, w;
};

struct predictor {
	const struct opts *o;
	struct fcn_model *model; /* freed once its weights are in the net */
	int channels;            /* the model's input: C, x * scale + shift */
	double scale, shift;
	struct fcn_net *net;
	int loaded;              /* the caffemodel's weights are in the net */
};

static void help(void)
{
	printf("Usage: %s -m MODEL [OPTION]... [FILE]\n"
	       "Add the predicted segmentation of each record's 'image' as 'pred'\n"
	       "(u8 1xHxW arg-max class), and with --prob the class probabilities as\n"
	       "'prob' (f32 KxHxW).  Reads FILE or, when absent or '-', standard input;\n"
	       "writes the records to standard output, other fields untouched.\n"
	       "\n"
	       "  -m, --model MODEL  trained model from fcn-train, or Caffe weights\n"
	       "                     (.caffemodel, with --net) (required)\n"
	       "  -n, --net FILE     net description to use (required with a caffemodel;\n"
	       "                     default: the model's own)\n"
	       "      --scale X      input x becomes x*scale+shift (default: the model's;\n"
	       "                     1 with a caffemodel)\n"
	       "      --shift X      (default: the model's; 0 with a caffemodel)\n"
	       "  -p, --prob         also add 'prob' (default: off)\n"
	       "  -b, --batch N      consecutive same-size records per pass (default 1)\n"
	       "  -t, --threads N    OpenMP/OpenBLAS threads (default 0: all cores)\n"
	       "  -h, --help         show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"net", required_argument, NULL, 'n'},
		{"scale", required_argument, NULL, 'S'},
		{"shift", required_argument, NULL, 'T'},
		{"prob", no_argument, NULL, 'p'},
		{"batch", required_argument, NULL, 'b'},
		{"threads", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.input = "-", .batch = 1, .scale = NAN, .shift = NAN};
	while ((c = getopt_long(argc, argv, "m:n:pb:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o->model_path = optarg; break;
		case 'n': o->net_path = optarg; break;
		case 'S': o->scale = parse_double("--scale", optarg, -1e9, 1e9); break;
		case 'T': o->shift = parse_double("--shift", optarg, -1e9, 1e9); break;
		case 'p': o->prob = 1; break;
		case 'b': o->batch = (int)parse_int("--batch", optarg, 1, 4096); break;
		case 't': o->threads = (int)parse_int("--threads", optarg, 0, 1024); break;
		case 'h': help(); exit(fshut(stdout, "stdout"));
		default: usage_error("invalid option");
		}
	}
	if (argc - optind > 1)
		usage_error("too many arguments: '%s'", argv[optind + 1]);
	if (optind < argc)
		o->input = argv[optind];
	if (!o->model_path)
		usage_error("-m/--model is required");
	o->caffe = fcn_caffemodel_is_file(o->model_path);
	if (o->caffe && !o->net_path)
		usage_error("-m %s is a caffemodel: --net is required", o->model_path);
}

static void open_model(struct predictor *p, const struct opts *o)
{
	struct fcn_err err;

	p->o = o;
	if (o->caffe) { /* weights loaded at the first reshape; any channel count */
		p->channels = 0;
		p->scale = 1;
		p->shift = 0;
	} else {
		if (!(p->model = fcn_model_read(o->model_path, &err)))
			die("%s", err.msg);
		p->channels = fcn_model_info(p->model)->channels;
		p->scale = fcn_model_info(p->model)->scale;
		p->shift = fcn_model_info(p->model)->shift;
	}
	if (!isnan(o->scale))
		p->scale = o->scale;
	if (!isnan(o->shift))
		p->shift = o->shift;
	p->net = o->net_path ? fcn_net_load(o->net_path, FCN_DEPLOY, &err) :
		 fcn_net_parse(fcn_model_info(p->model)->net_text, o->model_path,
			       FCN_DEPLOY, &err);
	if (!p->net)
		die("%s", err.msg);
}

/* Image i of the batch, its record's size checked: (C, H, W). */
static void image_size(const struct st_record *r, size_t index, const char *input,
		       int want_c, int *c, int *h, int *w)
{
	const struct st_tensor *im = st_record_tensor(r, "image");
	char b[64];

	if (!im)
		die("%s: record %zu (%s): no 'image' tensor", input, index,
		    st_record_id(r));
	if (im->ndim == 3)
		*c = (int)im->shape[0], *h = (int)im->shape[1], *w = (int)im->shape[2];
	else if (im->ndim == 2)
		*c = 1, *h = (int)im->shape[0], *w = (int)im->shape[1];
	else
		die("%s: record %zu (%s): image %s is not CxHxW", input, index,
		    st_record_id(r), st_shape_str(im, b, sizeof b));
	if (want_c && *c != want_c)
		die("%s: record %zu (%s): image %s has %d channels, the model takes %d",
		    input, index, st_record_id(r), st_shape_str(im, b, sizeof b), *c,
		    want_c);
	if (*h < 1 || *w < 1 || im->shape[1] > 65535 || im->shape[im->ndim - 1] > 65535)
		die("%s: record %zu (%s): image %s has no usable size", input, index,
		    st_record_id(r), st_shape_str(im, b, sizeof b));
}

/* Runs the batch through the net, adds pred (and prob), writes, empties it. */
static void flush(struct predictor *p, struct batch *b)
{
	const struct opts *o = p->o;
	size_t hw = (size_t)b->h * b->w;
	struct fcn_blob *data, *out;
	struct fcn_err err;
	char skipped[8];

	if (b->n == 0)
		return;
	if (fcn_net_reshape(p->net, b->n, b->c, b->h, b->w, &err) < 0)
		die("%s: record %zu (%s): image %dx%dx%d: %s", o->input, b->index[0],
		    st_record_id(b->rec[0]), b->c, b->h, b->w, err.msg);
	if (p->model) { /* parameters have shapes after the first reshape */
		if (fcn_model_load_weights(p->model, p->net, 1, skipped, sizeof skipped,
					   &err) < 0)
			die("%s: %s", o->model_path, err.msg);
		fcn_model_free(p->model);
		p->model = NULL;
	}
	if (o->caffe && !p->loaded) {
		char *warns = NULL;

		if (fcn_net_load_caffemodel(p->net, o->model_path, NULL, &warns, &err) < 0)
			die("%s", err.msg);
		if (warns)
			die("%s: does not fit %s: %s", o->model_path, o->net_path, warns);
		p->loaded = 1;
	}
	data = fcn_net_blob(p->net, fcn_net_input_name(p->net));
	out = fcn_net_blob(p->net, fcn_net_output_name(p->net));
	if (!data || !out)
		die("%s: the net has no input or output blob", o->model_path);
	for (int k = 0; k < b->n; k++) {
		const struct st_tensor *im = st_record_tensor(b->rec[k], "image");
		float *dst = data->data + (size_t)k * b->c * hw;

		for (size_t i = 0; i < (size_t)b->c * hw; i++)
			dst[i] = (float)(st_tensor_get(im, i) * p->scale + p->shift);
	}
	if (fcn_net_forward(p->net, NULL, &err) < 0)
		die("%s: record %zu (%s): %s", o->input, b->index[0],
		    st_record_id(b->rec[0]), err.msg);
	if (out->n != b->n || out->c < 1 ||
	    ((out->h != b->h || out->w != b->w) && (out->h != 1 || out->w != 1)))
		die("%s: the output '%s' is %dx%d for a %dx%d input (the net must crop "
		    "its score to the input size, or be a 1x1 classifier)", o->model_path,
		    fcn_net_output_name(p->net), out->h, out->w, b->h, b->w);
	/* a classifier's 1x1 map gives 1x1 pred and prob; a net ending in
	 * Softmax (Caffe's deploy descriptions) gives probabilities already */
	size_t ohw = (size_t)out->h * out->w;
	const char *last = NULL;

	fcn_net_layer_name(p->net, fcn_net_nlayers(p->net) - 1, &last);
	int softmaxed = last && !strcmp(last, "Softmax");

	for (int k = 0; k < b->n; k++) {
		const float *s = out->data + (size_t)k * out->c * ohw; /* (K, H, W) */
		struct st_tensor *pred = st_tensor_new3(ST_U8, 1, out->h, out->w, NULL);
		struct st_tensor *prob = NULL;
		uint8_t *pd;
		float *pp = NULL;

		if (!pred)
			die("out of memory");
		if (o->prob && !(prob = st_tensor_new3(ST_F32, out->c, out->h, out->w, NULL)))
			die("out of memory");
		pd = pred->data;
		if (prob)
			pp = prob->data;
		for (size_t i = 0; i < ohw; i++) {
			int best = 0;

			for (int c = 1; c < out->c; c++)
				if (s[c * ohw + i] > s[best * ohw + i])
					best = c;
			pd[i] = (uint8_t)(best < 255 ? best : 255);
			if (pp && softmaxed) { /* the net ends in Softmax: already p */
				for (int c = 0; c < out->c; c++)
					pp[c * ohw + i] = s[c * ohw + i];
			} else if (pp) {
				double sum = 0, mx = s[best * ohw + i];

				for (int c = 0; c < out->c; c++)
					sum += exp(s[c * ohw + i] - mx);
				for (int c = 0; c < out->c; c++)
					pp[c * ohw + i] = (float)(exp(s[c * ohw + i] - mx) / sum);
			}
		}
		if (st_record_set_tensor(b->rec[k], "pred", pred, &(struct st_err){0}) < 0 ||
		    (prob && st_record_set_tensor(b->rec[k], "prob", prob,
						  &(struct st_err){0}) < 0))
			die("out of memory");
		write_record(stdout, b->rec[k]);
		st_record_free(b->rec[k]);
	}
	b->n = 0;
}

static void process(struct predictor *p, struct batch *b, struct st_record *r,
		    size_t index)
{
	int c, h, w;

	image_size(r, index, p->o->input, p->channels, &c, &h, &w);
	if (b->n > 0 && (h != b->h || w != b->w))
		flush(p, b);
	b->c = c, b->h = h, b->w = w;
	b->rec[b->n] = r;
	b->index[b->n++] = index;
	if (b->n == p->o->batch)
		flush(p, b);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct predictor p = {0};
	struct batch b = {0};
	struct st_reader *rd;
	struct st_record *r;
	struct st_err err;
	FILE *in;
	size_t nread = 0;
	int rc;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	fcn_set_threads(o.threads);
	open_model(&p, &o);
	in = open_input(o.input);
	rd = reader_open(in, o.input);
	b.rec = ecalloc(o.batch, sizeof *b.rec);
	b.index = ecalloc(o.batch, sizeof *b.index);
	while ((rc = st_read(rd, &r, &err)) == 1)
		process(&p, &b, r, ++nread);
	flush(&p, &b); /* the complete records before an error go out too */
	if (rc < 0)
		die("%s: %s", o.input, err.msg);
	st_reader_free(rd);
	close_input(in);
	free(b.rec);
	free(b.index);
	fcn_net_free(p.net);
	fcn_model_free(p.model);
	return fshut(stdout, "stdout");
}
