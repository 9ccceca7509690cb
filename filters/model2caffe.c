/*
 * model2caffe - export a trained model (fcn-train's file) as Caffe files:
 * OUT.caffemodel (the weights, a binary NetParameter) and OUT.prototxt (its
 * deploy description), so that the model runs wherever Caffe models run
 * (Caffe itself, OpenCV's DNN module, converters).
 *
 * The deploy description is the model's net in its deploy phase (the
 * layers fcn-predict runs: loss and metric layers and everything fed by
 * the label dropped, include/exclude rules removed), with an Input layer of
 * shape 1 x C x H x W (--size) in place of the input layer, the model's
 * input preprocessing x * scale + shift as a Power layer when it is not the
 * identity, and a Softmax 'prob' on the scores.  Both files are written to
 * temporary files and renamed once both are complete.
 *
 * Refused, with the layer named: kinds that Caffe's deploy importers do
 * not share with us (Python layers; see docs/model2caffe.md for the list
 * checked against OpenCV).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caffemodel.h"
#include "fcn.h"
#include "model.h"
#include "pbtext.h"
#include "util.h"

struct opts {
	const char *model_path, *out;
	long h, w;
};

/* Layer kinds whose deploy semantics Caffe and OpenCV 4.6 share with us
 * (each checked by tests/model2caffe.bats against cv2.dnn). */
static const char *const exportable[] = {
	"Input", "Data", "Convolution", "Deconvolution", "Pooling", "LRN", "ReLU",
	"Sigmoid", "Power", "Dropout", "Crop", "Eltwise", "Concat", "BatchNorm",
	"Scale", "Softmax", "MVN", "InnerProduct", NULL
};

static void help(void)
{
	printf("Usage: %s MODEL -o OUT [OPTION]...\n"
	       "Export a model trained by fcn-train as Caffe files: OUT.caffemodel (the\n"
	       "weights) and OUT.prototxt (the deploy description: an Input layer of\n"
	       "1xCxHxW, the model's input scaling as a Power layer, the net's deploy\n"
	       "layers and a Softmax 'prob'), for Caffe or OpenCV's DNN module.\n"
	       "\n"
	       "  -o, --output OUT   output prefix (required)\n"
	       "  -s, --size HxW     the Input layer's H and W (default 256x256; Caffe and\n"
	       "                     OpenCV reshape to the image they are given)\n"
	       "  -h, --help         show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 data or I/O error (a layer that cannot be\n"
	       "exported included), 2 usage error.\n",
	       argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"size", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){ .h = 256, .w = 256 };
	while ((c = getopt_long(argc, argv, "o:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 's': parse_size("--size", optarg, &o->h, &o->w); break;
		case 'h': help(); help_exit();
		default: usage_error("invalid option");
		}
	}
	if (optind == argc)
		usage_error("MODEL is required");
	if (argc - optind > 1)
		usage_error("too many arguments: '%s'", argv[optind + 1]);
	o->model_path = argv[optind];
	if (!o->out || !*o->out)
		usage_error("-o/--output is required");
	if (o->h < 1 || o->w < 1 || o->h > 65535 || o->w > 65535)
		usage_error("--size: %ldx%ld is out of range", o->h, o->w);
}

/* Writes s as a quoted protobuf text string. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\t')
			fputs("\\t", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* The fields of msg, indented; at depth 1 (a layer's own fields) the
 * phase rules are left out. */
static void put_fields(FILE *f, const struct pb_node *msg, int depth)
{
	for (const struct pb_node *c = msg->child; c; c = c->next) {
		if (depth == 1 && (!strcmp(c->name, "include") || !strcmp(c->name, "exclude") ||
				   !strcmp(c->name, "phase")))
			continue;
		fprintf(f, "%*s%s", 2 * depth, "", c->name);
		if (c->value) {
			fputs(": ", f);
			if (c->quoted)
				put_quoted(f, c->value);
			else
				fputs(c->value, f);
			fputc('\n', f);
		} else {
			fputs(" {\n", f);
			put_fields(f, c, depth + 1);
			fprintf(f, "%*s}\n", 2 * depth, "");
		}
	}
}

/* The deploy net's layer called name and its type, or NULL. */
static const char *deploy_type(const struct fcn_net *net, const char *name)
{
	const char *type, *n;

	for (size_t i = 0; (n = fcn_net_layer_name(net, i, &type)); i++)
		if (!strcmp(n, name))
			return type;
	return NULL;
}

/* The number in field `field` of message `msg` of layer l, or dflt. */
static double field_value(struct pb_node *l, const char *msg, const char *field,
			  double dflt)
{
	struct pb_node *m = pb_nth(l, msg, 0), *v = m ? pb_nth(m, field, 0) : NULL;

	return v && v->value ? strtod(v->value, NULL) : dflt;
}

/* Warns where OpenCV 4.6's importer computes otherwise than Caffe (and
 * we): the files are still right for Caffe. */
static void opencv_notes(struct pb_node *l, const char *name, const char *type)
{
	if (!strcmp(type, "LRN") && field_value(l, "lrn_param", "k", 1) != 1)
		warn("layer '%s': OpenCV ignores LRN's k (uses 1); Caffe uses it", name);
	if (!strcmp(type, "MVN") && field_value(l, "mvn_param", "eps", 1e-9) > 1e-6)
		warn("layer '%s': OpenCV divides by sqrt(var + eps), Caffe by "
		     "sqrt(var) + eps: they differ at eps %g", name,
		     field_value(l, "mvn_param", "eps", 1e-9));
}

static void write_prototxt(FILE *f, const struct opts *o, struct fcn_net *net,
			   const struct fcn_model_info *mi, struct pb_node *root)
{
	const char *data = fcn_net_input_name(net), *out = fcn_net_output_name(net);
	const char *last = NULL;
	int pre = mi->scale != 1 || mi->shift != 0;

	fprintf(f, "# deploy description written by model2caffe from %s\n", o->model_path);
	if (*fcn_net_name(net)) {
		fputs("name: ", f);
		put_quoted(f, fcn_net_name(net));
		fputc('\n', f);
	}
	fputs("layer {\n  name: \"input\"\n  type: \"Input\"\n  top: ", f);
	if (pre) {
		fprintf(f, "\"%s_raw\"\n", data);
	} else {
		put_quoted(f, data);
		fputc('\n', f);
	}
	fprintf(f, "  input_param { shape { dim: 1 dim: %d dim: %ld dim: %ld } }\n}\n",
		mi->channels, o->h, o->w);
	if (pre)
		fprintf(f, "layer {\n  name: \"input_scaling\"\n  type: \"Power\"\n"
			"  bottom: \"%s_raw\"\n  top: \"%s\"\n"
			"  power_param { scale: %.9g shift: %.9g }\n}\n",
			data, data, mi->scale, mi->shift);
	for (struct pb_node *l = root->child; l; l = l->next) {
		struct pb_node *nm;
		const char *type;

		if (strcmp(l->name, "layer") || l->value)
			continue;
		nm = pb_nth(l, "name", 0);
		if (!nm || !nm->value || !(type = deploy_type(net, nm->value)) ||
		    !strcmp(type, "Input") || !strcmp(type, "Data"))
			continue;
		opencv_notes(l, nm->value, type);
		fputs("layer {\n", f);
		put_fields(f, l, 1);
		fputs("}\n", f);
	}
	fcn_net_layer_name(net, fcn_net_nlayers(net) - 1, &last);
	if (!last || strcmp(last, "Softmax"))
		fprintf(f, "layer {\n  name: \"prob\"\n  type: \"Softmax\"\n  bottom: \"%s\"\n"
			"  top: \"prob\"\n}\n", out);
}

static char *path_with(const char *out, const char *ext)
{
	char *p = emalloc(strlen(out) + strlen(ext) + 1);

	strcpy(p, out);
	strcat(p, ext);
	return p;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct fcn_err err;
	struct fcn_model *m;
	struct fcn_net *net;
	struct pb_node *root;
	struct atomic_file am, ap;
	char skipped[8];
	void *buf;
	size_t len;
	const char *name, *type;
	char *pm, *pp;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	if (!(m = fcn_model_read(o.model_path, &err)))
		die("%s", err.msg);
	const struct fcn_model_info *mi = fcn_model_info(m);

	if (!(net = fcn_net_parse(mi->net_text, o.model_path, FCN_DEPLOY, &err)))
		die("%s", err.msg);
	for (size_t i = 0; (name = fcn_net_layer_name(net, i, &type)); i++) {
		int ok = 0;

		for (int k = 0; exportable[k]; k++)
			ok |= !strcmp(type, exportable[k]);
		if (!ok)
			die("%s: layer '%s' (%s) cannot be exported: %s", o.model_path, name, type,
			    !strcmp(type, "Python") ?
			    "a Python layer exists only in its own module (remove it from the "
			    "deploy path)" : "not a layer Caffe's deploy importers share with us");
	}
	if (fcn_net_reshape(net, 1, mi->channels, (int)o.h, (int)o.w, &err) < 0)
		die("%s: at --size %ldx%ld: %s", o.model_path, o.h, o.w, err.msg);
	if (fcn_model_load_weights(m, net, 1, skipped, sizeof skipped, &err) < 0)
		die("%s: %s", o.model_path, err.msg);
	if (fcn_caffemodel_encode(net, *fcn_net_name(net) ? fcn_net_name(net) : "lvseg",
				  &buf, &len, &err) < 0)
		die("%s: %s", o.model_path, err.msg);
	if (!(root = pb_parse(mi->net_text, o.model_path, &err)))
		die("%s", err.msg);
	pm = path_with(o.out, ".caffemodel");
	pp = path_with(o.out, ".prototxt");
	if (atomic_open(&am, pm) < 0)
		die("%s:", pm);
	if (atomic_open(&ap, pp) < 0) {
		atomic_abort(&am);
		die("%s:", pp);
	}
	fwrite(buf, 1, len, am.f);
	write_prototxt(ap.f, &o, net, mi, root);
	if (ferror(am.f) || ferror(ap.f)) {
		atomic_abort(&am);
		atomic_abort(&ap);
		die("%s: write error", o.out);
	}
	if (atomic_commit(&am) < 0) {
		atomic_abort(&ap);
		die("%s:", pm);
	}
	if (atomic_commit(&ap) < 0)
		die("%s:", pp);
	free(buf);
	free(pm);
	free(pp);
	pb_free(root);
	fcn_net_free(net);
	fcn_model_free(m);
	return 0;
}
