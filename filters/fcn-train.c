/*
 * fcn-train - train a fully convolutional net on a labelled tensor stream.
 *
 * Reads the training records (image C x H x W, any dtype, converted to f32
 * as x * scale + shift; label u8 1 x H x W of class indices) into memory
 * once, then for each epoch shuffles them from (seed, epoch), runs
 * forward/backward passes of --batch images, updates the parameters with
 * the solver every --iter-size passes, evaluates the validation records one
 * by one in a TEST-phase copy of the net, and prints one TSV line.
 * Snapshots and the final model are written atomically (libfcn/model.h) and
 * hold the solver state, so --resume continues bit-identically.
 *
 * Determinism: the shuffle of epoch e and the dropout seed of epoch e are
 * functions of (seed, e) only; with the same data, options and thread count
 * the model file is the same byte for byte (its log omits images/s).
 * Not done here: data augmentation, a GPU path, mixed-size training batches.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "caffemodel.h"
#include "fcn.h"
#include "model.h"
#include "rng.h"
#include "solver.h"
#include "st.h"
#include "util.h"

enum {
	OPT_LR = 256, OPT_POLICY, OPT_GAMMA, OPT_STEPSIZE, OPT_POWER,
	OPT_STEPVALUE, OPT_MOMENTUM, OPT_MOMENTUM2, OPT_DELTA, OPT_DECAY,
	OPT_SOLVER, OPT_ITER_SIZE, OPT_BATCH, OPT_SEED, OPT_SNAPSHOT,
	OPT_WEIGHTS, OPT_RESUME, OPT_THREADS, OPT_SCALE, OPT_SHIFT,
	OPT_CLASS_WEIGHTS, OPT_LOSS, OPT_MAX_ITER, OPT_WEIGHTS_MAP, OPT_EPOCH_SIZE,
	OPT_WARMUP, OPT_DICE_OVER, OPT_DICE_CLASSES, OPT_EMA, OPT_COUNT
};

struct opts {
	const char *net_path, *train_path, *val_path, *out_path;
	const char *weights_path, *resume_path;
	int caffe_weights;                /* --weights is a .caffemodel */
	const char *weights_map[65];      /* OLD=NEW, NULL-terminated */
	int nweights_map;
	long epochs, snapshot;
	long epoch_size;        /* records per epoch of a stream; 0: whole set */
	int batch, threads;
	uint64_t seed;
	struct fcn_solver_conf solver;
	double scale, shift;
	enum fcn_loss loss;
	int dice_batch;
	int dice_each;
	double ema;             /* decay of the weight average; 0: none */
	int class_weights_auto;
	int nclass_weights;
	float class_weights[FCN_MAX_CLASSES];
	unsigned char given[OPT_COUNT];
};

/* The training or validation records, preprocessed. */
struct sample {
	char *id;
	size_t index;   /* record number in its stream, from 1 */
	int h, w;
	float *image;   /* (C, H, W), x * scale + shift */
	uint8_t *label; /* (H, W) */
};

struct dataset {
	const char *path;
	struct sample *s;
	size_t n, cap;
	int c, h, w; /* of the first record */
	/* meta entries (key, text) every record has, with the same value */
	char **meta_key, **meta_val;
	int nmeta;
};

static void free_samples(struct dataset *ds);

/* The state of one run. */
struct trainer {
	struct opts *o;
	struct fcn_net *net, *val_net;
	struct fcn_param **params;
	size_t nparams;
	struct fcn_solver *solver;
	struct fcn_model_info info;
	const char *net_where;
	int nclass;
	char *log; /* TSV lines without images/s, header first */
	char **meta_key, **meta_val; /* the model's preprocessing meta */
	size_t log_len;
	float **ema;  /* --ema: the average of each parameter; NULL without */
	long nema;    /* updates averaged so far */
};

static void help(void)
{
	printf("Usage: %s --net FILE --train FILE --epochs N --lr X -o MODEL [OPTION]...\n"
	       "       %s --resume SNAPSHOT --train FILE --epochs N -o MODEL [OPTION]...\n"
	       "Train a fully convolutional net (Caffe net description) on a tensor\n"
	       "stream of records with 'image' (CxHxW, any dtype) and 'label' (u8 1xHxW).\n"
	       "After each epoch prints a TSV line (header first): epoch iter lr\n"
	       "train_loss val_loss val_accuracy val_dice images_per_s.\n"
	       "\n"
	       "Data and model:\n"
	       "  -n, --net FILE         net description (default: the model's with\n"
	       "                         --weights; required otherwise)\n"
	       "  -t, --train FILE       training stream, '-' for stdin (required)\n"
	       "      --epoch-size N     * train on the stream as it arrives: each epoch is\n"
	       "                         the next N records (shuffled among themselves);\n"
	       "                         the end of the stream ends training (default 0:\n"
	       "                         read the whole set once, every epoch uses all)\n"
	       "  -v, --val FILE         validation stream (default: none; val columns nan)\n"
	       "  -o, --output MODEL     final model file (required)\n"
	       "      --weights MODEL    initialise from a model's blobs by layer name:\n"
	       "                         ours or Caffe's (.caffemodel; needs --net);\n"
	       "                         blobs of other shapes stay freshly filled, with a\n"
	       "                         warning (default: none, all fresh)\n"
	       "      --weights-map OLD=NEW  the .caffemodel's layer OLD goes to the net's\n"
	       "                         layer NEW (repeatable; default: same names)\n"
	       "      --resume MODEL     continue a snapshot with its settings (the\n"
	       "                         options marked * may not be given with it;\n"
	       "                         default: none)\n"
	       "      --snapshot N       write MODEL.epochE every N epochs (default 0: never)\n"
	       "      --ema D            the model written and validated is an exponential\n"
	       "                         moving average of the weights and BatchNorm\n"
	       "                         statistics over the updates, decay D in [0, 1)\n"
	       "                         (min(D, (1+t)/(10+t)) at update t > 1; snapshots\n"
	       "                         keep the raw weights, for --resume; default: none)\n"
	       "      --scale X          * input x becomes x*scale+shift (default 1)\n"
	       "      --shift X          * (default 0; the lab's net shifts by itself)\n"
	       "Solver:\n"
	       "  -e, --epochs N         train until N epochs in all (required unless\n"
	       "                         --epoch-size; default there: until the stream ends)\n"
	       "      --lr X             * base learning rate (required unless --resume)\n"
	       "      --lr-policy P      * fixed|step|exp|inv|multistep|poly|sigmoid (default fixed)\n"
	       "      --gamma X          * policy gamma (default 0.1)\n"
	       "      --stepsize N       * step/sigmoid step, in iterations (default 1)\n"
	       "      --power X          * inv/poly power (default 1)\n"
	       "      --stepvalue N      * multistep boundary; repeat or comma-separate\n"
	       "      --max-iter N       * poly horizon (default: epochs x updates per epoch)\n"
	       "      --warmup N         * linear warm-up over the first N iterations, then\n"
	       "                         the policy (default 0: none)\n"
	       "      --solver S         * sgd|adam|adamw (default sgd)\n"
	       "      --momentum X       * SGD momentum / Adam beta1 (default 0.9)\n"
	       "      --momentum2 X      * Adam beta2 (default 0.999)\n"
	       "      --delta X          * Adam epsilon (default 1e-8)\n"
	       "      --weight-decay X   * L2 weight decay; decoupled for adamw (default 5e-4)\n"
	       "      --iter-size N      * passes accumulated per update (default 1)\n"
	       "  -b, --batch N          * images per pass (default 1)\n"
	       "      --seed S           * fillers, shuffling, dropout (default 1)\n"
	       "Loss:\n"
	       "      --loss L           * softmax|dice|softmax+dice (default softmax;\n"
	       "                         softmax+dice = cross-entropy + 1 - soft Dice)\n"
	       "      --dice-over S      * image|batch: soft Dice per image, averaged, or\n"
	       "                         over the whole batch (default image)\n"
	       "      --dice-classes G   * union|each: one soft Dice of the classes >= 1\n"
	       "                         together, or the mean of each class's own\n"
	       "                         (nnU-Net's; the same for 2 classes) (default union)\n"
	       "      --class-weights W  * softmax class weights: 'auto' (w_k = P/(K n_k),\n"
	       "                         P labelled pixels, n_k of class k) or 'w0,w1,...'\n"
	       "                         (default: unweighted)\n"
	       "Other:\n"
	       "      --threads N        OpenMP/OpenBLAS threads (default 0: all cores)\n"
	       "  -h, --help             show this help and exit\n"
	       "\n"
	       "Progress goes to stderr (a bar on a terminal, a line per epoch otherwise).\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0, argv0);
}

/* Options that --resume takes from the snapshot. */
static const int resume_fixed[] = {
	OPT_LR, OPT_POLICY, OPT_GAMMA, OPT_STEPSIZE, OPT_POWER, OPT_STEPVALUE,
	OPT_MOMENTUM, OPT_MOMENTUM2, OPT_DELTA, OPT_DECAY, OPT_SOLVER,
	OPT_ITER_SIZE, OPT_BATCH, OPT_SEED, OPT_SCALE, OPT_SHIFT,
	OPT_CLASS_WEIGHTS, OPT_LOSS, OPT_WEIGHTS, OPT_MAX_ITER, OPT_WEIGHTS_MAP,
	OPT_EPOCH_SIZE, OPT_WARMUP, OPT_DICE_OVER, 'n',
};

static const struct option longopts[] = {
	{"net", required_argument, NULL, 'n'},
	{"train", required_argument, NULL, 't'},
	{"val", required_argument, NULL, 'v'},
	{"output", required_argument, NULL, 'o'},
	{"epochs", required_argument, NULL, 'e'},
	{"batch", required_argument, NULL, 'b'},
	{"lr", required_argument, NULL, OPT_LR},
	{"lr-policy", required_argument, NULL, OPT_POLICY},
	{"gamma", required_argument, NULL, OPT_GAMMA},
	{"stepsize", required_argument, NULL, OPT_STEPSIZE},
	{"power", required_argument, NULL, OPT_POWER},
	{"stepvalue", required_argument, NULL, OPT_STEPVALUE},
	{"max-iter", required_argument, NULL, OPT_MAX_ITER},
	{"momentum", required_argument, NULL, OPT_MOMENTUM},
	{"momentum2", required_argument, NULL, OPT_MOMENTUM2},
	{"delta", required_argument, NULL, OPT_DELTA},
	{"weight-decay", required_argument, NULL, OPT_DECAY},
	{"solver", required_argument, NULL, OPT_SOLVER},
	{"iter-size", required_argument, NULL, OPT_ITER_SIZE},
	{"seed", required_argument, NULL, OPT_SEED},
	{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
	{"weights", required_argument, NULL, OPT_WEIGHTS},
	{"weights-map", required_argument, NULL, OPT_WEIGHTS_MAP},
	{"resume", required_argument, NULL, OPT_RESUME},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"scale", required_argument, NULL, OPT_SCALE},
	{"shift", required_argument, NULL, OPT_SHIFT},
	{"class-weights", required_argument, NULL, OPT_CLASS_WEIGHTS},
	{"loss", required_argument, NULL, OPT_LOSS},
	{"dice-over", required_argument, NULL, OPT_DICE_OVER},
	{"dice-classes", required_argument, NULL, OPT_DICE_CLASSES},
	{"epoch-size", required_argument, NULL, OPT_EPOCH_SIZE},
	{"warmup", required_argument, NULL, OPT_WARMUP},
	{"ema", required_argument, NULL, OPT_EMA},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const char *opt_name(int c)
{
	for (const struct option *lo = longopts; lo->name; lo++)
		if (lo->val == c)
			return lo->name;
	return "?";
}

static void parse_class_weights(struct opts *o, const char *s)
{
	char *copy, *tok, *save = NULL;

	if (!strcmp(s, "auto")) {
		o->class_weights_auto = 1;
		return;
	}
	copy = estrdup(s);
	o->nclass_weights = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->nclass_weights == FCN_MAX_CLASSES)
			usage_error("--class-weights: more than %d weights", FCN_MAX_CLASSES);
		o->class_weights[o->nclass_weights++] =
			(float)parse_double("--class-weights", tok, 0, 1e6);
	}
	free(copy);
	if (o->nclass_weights < 2)
		usage_error("--class-weights: '%s' is neither 'auto' nor a list like 1,20", s);
}

static void parse_stepvalues(struct opts *o, const char *s)
{
	char *copy = estrdup(s), *tok, *save = NULL;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->solver.nstepvalues == FCN_MAX_STEPVALUES)
			usage_error("--stepvalue: more than %d values", FCN_MAX_STEPVALUES);
		o->solver.stepvalues[o->solver.nstepvalues++] =
			(long)parse_int("--stepvalue", tok, 1, 1000000000);
	}
	free(copy);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	struct fcn_err err;
	int c;

	memset(o, 0, sizeof *o);
	fcn_solver_conf_default(&o->solver);
	o->solver.momentum = 0.9;
	o->solver.weight_decay = 5e-4;
	o->solver.gamma = 0.1;
	o->solver.power = 1;
	o->solver.stepsize = 1;
	o->batch = 1;
	o->seed = 1;
	o->scale = 1;
	o->loss = FCN_LOSS_SOFTMAX;
	while ((c = getopt_long(argc, argv, "n:t:v:o:e:b:h", longopts, NULL)) != -1) {
		if (c >= 0 && c < OPT_COUNT)
			o->given[c] = 1;
		switch (c) {
		case 'n': o->net_path = optarg; break;
		case 't': o->train_path = optarg; break;
		case 'v': o->val_path = optarg; break;
		case 'o': o->out_path = optarg; break;
		case 'e': o->epochs = parse_int("--epochs", optarg, 1, 1000000); break;
		case 'b': o->batch = (int)parse_int("--batch", optarg, 1, 4096); break;
		case OPT_LR: o->solver.base_lr = parse_double("--lr", optarg, 0, 100); break;
		case OPT_POLICY:
			if (fcn_lr_policy_parse(optarg, &o->solver.policy) < 0)
				usage_error("--lr-policy: unknown policy '%s'", optarg);
			break;
		case OPT_GAMMA: o->solver.gamma = parse_double("--gamma", optarg, -1e6, 1e6); break;
		case OPT_STEPSIZE:
			o->solver.stepsize = (long)parse_int("--stepsize", optarg, 1, 1000000000);
			break;
		case OPT_POWER: o->solver.power = parse_double("--power", optarg, -1e3, 1e3); break;
		case OPT_STEPVALUE: parse_stepvalues(o, optarg); break;
		case OPT_MAX_ITER:
			o->solver.max_iter = (long)parse_int("--max-iter", optarg, 1, 1000000000);
			break;
		case OPT_MOMENTUM:
			o->solver.momentum = parse_double("--momentum", optarg, 0, 0.999999);
			break;
		case OPT_MOMENTUM2:
			o->solver.momentum2 = parse_double("--momentum2", optarg, 0, 0.999999);
			break;
		case OPT_DELTA: o->solver.delta = parse_double("--delta", optarg, 1e-30, 1); break;
		case OPT_DECAY:
			o->solver.weight_decay = parse_double("--weight-decay", optarg, 0, 1);
			break;
		case OPT_SOLVER:
			if (fcn_solver_kind_parse(optarg, &o->solver.kind) < 0)
				usage_error("--solver: '%s' is not sgd, adam or adamw", optarg);
			break;
		case OPT_ITER_SIZE:
			o->solver.iter_size = (int)parse_int("--iter-size", optarg, 1, 4096);
			break;
		case OPT_SEED:
			o->seed = (uint64_t)parse_int("--seed", optarg, 0, INT64_MAX);
			break;
		case OPT_SNAPSHOT: o->snapshot = parse_int("--snapshot", optarg, 0, 1000000); break;
		case OPT_WEIGHTS: o->weights_path = optarg; break;
		case OPT_WEIGHTS_MAP:
			if (o->nweights_map == 64)
				usage_error("--weights-map: more than 64 renames");
			if (!strchr(optarg, '=') || *optarg == '=' || !strchr(optarg, '=')[1])
				usage_error("--weights-map: '%s' is not OLD=NEW", optarg);
			o->weights_map[o->nweights_map++] = optarg;
			break;
		case OPT_RESUME: o->resume_path = optarg; break;
		case OPT_THREADS: o->threads = (int)parse_int("--threads", optarg, 0, 1024); break;
		case OPT_SCALE: o->scale = parse_double("--scale", optarg, -1e9, 1e9); break;
		case OPT_SHIFT: o->shift = parse_double("--shift", optarg, -1e9, 1e9); break;
		case OPT_CLASS_WEIGHTS: parse_class_weights(o, optarg); break;
		case OPT_LOSS:
			if (fcn_loss_parse(optarg, &o->loss) < 0)
				usage_error("--loss: '%s' is not softmax, dice or softmax+dice",
					    optarg);
			break;
		case OPT_DICE_OVER:
			if (!strcmp(optarg, "image") || !strcmp(optarg, "batch"))
				o->dice_batch = !strcmp(optarg, "batch");
			else
				usage_error("--dice-over: '%s' is neither image nor batch", optarg);
			break;
		case OPT_DICE_CLASSES:
			if (!strcmp(optarg, "union") || !strcmp(optarg, "each"))
				o->dice_each = !strcmp(optarg, "each");
			else
				usage_error("--dice-classes: '%s' is neither union nor each", optarg);
			break;
		case OPT_EPOCH_SIZE:
			o->epoch_size = parse_int("--epoch-size", optarg, 1, 1000000000);
			break;
		case OPT_WARMUP:
			o->solver.warmup = (long)parse_int("--warmup", optarg, 0, 1000000000);
			break;
		case OPT_EMA:
			o->ema = parse_double("--ema", optarg, 0, 1);
			if (o->ema >= 1)
				usage_error("--ema: %s is not below 1", optarg);
			break;
		case 'h': help(); help_exit();
		default: usage_error("invalid option");
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->train_path)
		usage_error("--train is required");
	if (!o->out_path)
		usage_error("-o/--output is required");
	if (!o->epochs && !o->epoch_size)
		usage_error("--epochs is required (or --epoch-size, to train until "
			    "the stream ends)");
	if (o->val_path && !strcmp(o->val_path, "-") && !strcmp(o->train_path, "-"))
		usage_error("--train and --val cannot both be standard input");
	if (o->resume_path && o->given[OPT_EMA])
		usage_error("--ema cannot be combined with --resume (snapshots hold the "
			    "raw weights, not their average)");
	if (o->resume_path) {
		for (size_t i = 0; i < sizeof resume_fixed / sizeof *resume_fixed; i++)
			if (o->given[resume_fixed[i]])
				usage_error("--%s cannot be combined with --resume "
					    "(training continues with the snapshot's settings)",
					    opt_name(resume_fixed[i]));
		return;
	}
	if (!o->given[OPT_LR])
		usage_error("--lr is required");
	if (!o->net_path && !o->weights_path)
		usage_error("--net is required (or --weights, to use the model's net)");
	o->caffe_weights = o->weights_path && fcn_caffemodel_is_file(o->weights_path);
	if (o->caffe_weights && !o->net_path)
		usage_error("--weights %s is a caffemodel: --net is required", o->weights_path);
	if (o->nweights_map && !o->caffe_weights)
		usage_error("--weights-map applies to a .caffemodel --weights");
	if ((o->class_weights_auto || o->nclass_weights) && o->loss == FCN_LOSS_DICE)
		usage_error("--class-weights applies to --loss softmax and softmax+dice only");
	if (o->given[OPT_DICE_OVER] && o->loss == FCN_LOSS_SOFTMAX)
		usage_error("--dice-over applies to --loss dice and softmax+dice only");
	if (o->given[OPT_DICE_CLASSES] && o->loss == FCN_LOSS_SOFTMAX)
		usage_error("--dice-classes applies to --loss dice and softmax+dice only");
	if (o->solver.policy == FCN_LR_POLY && !o->epochs && !o->solver.max_iter)
		usage_error("--lr-policy poly needs --epochs or --max-iter (its horizon)");
	if (o->solver.policy == FCN_LR_MULTISTEP && !o->solver.nstepvalues)
		usage_error("--lr-policy multistep needs --stepvalue");
	if (o->solver.policy != FCN_LR_POLY && o->given[OPT_MAX_ITER])
		usage_error("--max-iter applies to --lr-policy poly only");
	if (o->solver.policy != FCN_LR_POLY && fcn_solver_conf_check(&o->solver, &err) < 0)
		usage_error("%s", err.msg);
}

/* --- data ------------------------------------------------------------------ */

/* A training or validation stream, read record by record (struct walker). */
struct source {
	struct walker wk;
	char *files[1];
	double scale, shift;
	int one_size;   /* training: every record the first one's size */
	int c, h, w;    /* of the first record; c = 0 before it */
	int ended;
};

static void source_open(struct source *src, const char *path, double scale,
			double shift, int one_size)
{
	memset(src, 0, sizeof *src);
	src->files[0] = (char *)path;
	src->scale = scale;
	src->shift = shift;
	src->one_size = one_size;
	walk_open(&src->wk, src->files, 1);
}

/* The space-separated tokens of a that also occur in b, in a's order, into
 * a itself (augment's "k=3 c=0 flip_h crop=4,4" against "k=4 c=0 crop=4,4"
 * leaves "crop=4,4"). */
static void common_tokens(char *a, const char *b)
{
	char *out = a, *tok = a;

	while (*tok) {
		char *end = tok + strcspn(tok, " ");
		size_t n = (size_t)(end - tok);
		const char *q = b;
		int found = 0;

		while (*q && !found) {
			size_t m = strcspn(q, " ");

			found = m == n && n && !strncmp(q, tok, n);
			q += m;
			q += strspn(q, " ");
		}
		if (found) {
			if (out != a)
				*out++ = ' ';
			memmove(out, tok, n);
			out += n;
		}
		tok = end + strspn(end, " ");
	}
	*out = 0;
}

/* Keeps in ds->meta the meta entries r shares with every record so far:
 * same key, and of its value (as text) the space-separated tokens every
 * record has, so a constant value stays whole and augment's per-record
 * "k=.. c=.." drop out: the preprocessing the records have in common. */
static void common_meta(struct dataset *ds, const struct st_record *r)
{
	char buf[1024];

	if (ds->n == 1) {
		size_t n = st_meta_count(r);

		ds->meta_key = ecalloc(n ? n : 1, sizeof *ds->meta_key);
		ds->meta_val = ecalloc(n ? n : 1, sizeof *ds->meta_val);
		for (size_t i = 0; i < n; i++) {
			const char *k = st_meta_key(r, i);

			ds->meta_key[ds->nmeta] = estrdup(k);
			ds->meta_val[ds->nmeta++] = estrdup(st_meta_text(r, k, buf, sizeof buf));
		}
		return;
	}
	for (int i = 0; i < ds->nmeta;) {
		if (st_meta_has(r, ds->meta_key[i])) {
			common_tokens(ds->meta_val[i],
				      st_meta_text(r, ds->meta_key[i], buf, sizeof buf));
			if (ds->meta_val[i][0]) {
				i++;
				continue;
			}
		}
		free(ds->meta_key[i]);
		free(ds->meta_val[i]);
		ds->nmeta--;
		ds->meta_key[i] = ds->meta_key[ds->nmeta];
		ds->meta_val[i] = ds->meta_val[ds->nmeta];
	}
}

/* Reads the next record of src into ds; 0 at the end of the stream.  Dies
 * naming the record on bad data. */
static int read_sample(struct source *src, struct dataset *ds)
{
	struct walker *wk = &src->wk;
	struct st_record *r;
	const struct st_tensor *im, *lab;
	int c, h, w;
	char b1[64], b2[64];
	struct sample *s;

	if (src->ended || !walk_next(wk, &r)) {
		src->ended = 1;
		return 0;
	}
	im = st_record_tensor(r, "image");
	lab = st_record_tensor(r, "label");
	if (!im)
		walk_die(wk, "no 'image' tensor");
	if (!lab)
		walk_die(wk, "no 'label' tensor (training needs labels)");
	if (im->ndim == 3 && im->shape[0] >= 1 && im->shape[0] <= 4096)
		c = (int)im->shape[0], h = (int)im->shape[1], w = (int)im->shape[2];
	else if (im->ndim == 2)
		c = 1, h = (int)im->shape[0], w = (int)im->shape[1];
	else
		walk_die(wk, "image %s is not CxHxW", st_shape_str(im, b1, sizeof b1));
	if (h < 1 || w < 1 || h > 65535 || w > 65535)
		walk_die(wk, "image %s has no usable size", st_shape_str(im, b1, sizeof b1));
	if (st_tensor_numel(lab) != (size_t)h * w ||
	    lab->shape[lab->ndim - 1] != w || (lab->ndim == 3 && lab->shape[0] != 1) ||
	    lab->ndim < 2 || lab->ndim > 3)
		walk_die(wk, "label %s does not match image %s (want 1x%dx%d)",
			 st_shape_str(lab, b1, sizeof b1), st_shape_str(im, b2, sizeof b2),
			 h, w);
	if (!src->c)
		src->c = c, src->h = h, src->w = w;
	else if (c != src->c)
		walk_die(wk, "%d channels, the first record has %d", c, src->c);
	else if (src->one_size && (h != src->h || w != src->w))
		walk_die(wk, "%dx%d, the first record is %dx%d (training batches need "
			 "one size)", h, w, src->h, src->w);
	if (ds->n == ds->cap) {
		ds->cap = ds->cap ? 2 * ds->cap : 64;
		ds->s = ereallocarray(ds->s, ds->cap, sizeof *ds->s);
	}
	ds->c = src->c, ds->h = src->h, ds->w = src->w;
	s = &ds->s[ds->n++];
	s->id = estrdup(st_record_id(r));
	s->index = wk->index;
	s->h = h, s->w = w;
	s->image = ereallocarray(NULL, (size_t)c * h * w, sizeof(float));
	s->label = emalloc((size_t)h * w);
	for (size_t i = 0; i < (size_t)c * h * w; i++)
		s->image[i] = (float)(st_tensor_get(im, i) * src->scale + src->shift);
	for (size_t i = 0; i < (size_t)h * w; i++) {
		double v = st_tensor_get(lab, i);

		if (!(v >= 0 && v <= 255) || v != floor(v))
			walk_die(wk, "label value %g at %zu is not a class 0..255", v, i);
		s->label[i] = (uint8_t)v;
	}
	common_meta(ds, r);
	st_record_free(r);
	return 1;
}

/* Reads up to max records (0: all) of src into ds, emptied first; returns
 * how many. */
static size_t read_samples(struct source *src, struct dataset *ds, size_t max)
{
	free_samples(ds);
	ds->path = src->files[0];
	while ((!max || ds->n < max) && read_sample(src, ds))
		;
	return ds->n;
}

/* The records of path, all of them. */
static void load_dataset(struct dataset *ds, const char *path, double scale,
			 double shift, int one_size)
{
	struct source src;

	memset(ds, 0, sizeof *ds);
	source_open(&src, path, scale, shift, one_size);
	if (!read_samples(&src, ds, 0))
		die("%s: no records", path);
	walk_close(&src.wk);
}

static void free_samples(struct dataset *ds)
{
	for (size_t i = 0; i < ds->n; i++) {
		free(ds->s[i].id);
		free(ds->s[i].image);
		free(ds->s[i].label);
	}
	for (int i = 0; i < ds->nmeta; i++) {
		free(ds->meta_key[i]);
		free(ds->meta_val[i]);
	}
	free(ds->meta_key);
	free(ds->meta_val);
	ds->meta_key = ds->meta_val = NULL;
	ds->nmeta = 0;
	ds->n = 0;
}

static void free_dataset(struct dataset *ds)
{
	free_samples(ds);
	free(ds->s);
	ds->s = NULL;
	ds->cap = 0;
}

/* --- the net --------------------------------------------------------------- */

static struct fcn_blob *need_blob(struct fcn_net *net, const char *name,
				  const char *where)
{
	struct fcn_blob *b = name ? fcn_net_blob(net, name) : NULL;

	if (!b)
		die("%s: the net has no blob '%s'", where, name ? name : "(label)");
	return b;
}

/* Reshapes net for n images of ds's size and checks the output blob. */
static void reshape(struct trainer *t, struct fcn_net *net, int n, int c, int h,
		    int w)
{
	struct fcn_err err;
	struct fcn_blob *out;

	if (fcn_net_reshape(net, n, c, h, w, &err) < 0)
		die("%s: input %dx%dx%d: %s", t->net_where, c, h, w, err.msg);
	out = need_blob(net, fcn_net_output_name(net), t->net_where);
	if (out->h != h || out->w != w || out->n != n)
		die("%s: the output '%s' is %dx%d for a %dx%d input (the net must "
		    "crop its score to the input size)", t->net_where,
		    fcn_net_output_name(net), out->h, out->w, h, w);
}

static void set_loss(struct trainer *t, struct fcn_net *net)
{
	struct fcn_err err;

	if (fcn_net_set_loss(net, t->info.loss, &err) < 0)
		die("%s: %s", t->net_where, err.msg);
	fcn_net_set_dice_batch(net, t->info.dice_batch);
	fcn_net_set_dice_each(net, t->info.dice_each);
	if (t->info.nclass_weights &&
	    fcn_net_set_class_weights(net, t->info.class_weights,
				      t->info.nclass_weights, &err) < 0)
		die("%s: %s", t->net_where, err.msg);
}

/* Copies samples idx[0..n-1] into the input and label blobs. */
static void fill_batch(struct fcn_net *net, const struct dataset *ds,
		       const size_t *idx, int n, int c)
{
	struct fcn_blob *data = fcn_net_blob(net, fcn_net_input_name(net));
	struct fcn_blob *label = fcn_net_blob(net, fcn_net_label_name(net));

	for (int k = 0; k < n; k++) {
		const struct sample *s = &ds->s[idx[k]];
		size_t hw = (size_t)s->h * s->w;

		memcpy(data->data + k * c * hw, s->image, c * hw * sizeof(float));
		for (size_t i = 0; i < hw; i++)
			label->data[k * hw + i] = s->label[i];
	}
}

/* Class weights w_k = P / (K n_k) from the training labels (sklearn's
 * "balanced"); a class absent from the labels gets weight 1. */
static void auto_class_weights(struct trainer *t, const struct dataset *ds)
{
	uint64_t count[FCN_MAX_CLASSES] = {0}, total = 0;
	int k = t->nclass;

	for (size_t i = 0; i < ds->n; i++)
		for (size_t j = 0; j < (size_t)ds->s[i].h * ds->s[i].w; j++)
			if (ds->s[i].label[j] < k)
				count[ds->s[i].label[j]]++;
	for (int c = 0; c < k; c++)
		total += count[c];
	t->info.nclass_weights = k;
	for (int c = 0; c < k; c++)
		t->info.class_weights[c] =
			count[c] ? (float)((double)total / ((double)k * count[c])) : 1.0f;
}

static void copy_params(struct fcn_net *dst, struct fcn_net *src)
{
	for (size_t i = 0; i < fcn_net_nparams(dst); i++) {
		struct fcn_param *d = fcn_net_param(dst, i);
		struct fcn_param *s = fcn_net_param_find(src, d->layer, d->index);

		if (s && fcn_blob_count(s->blob) == fcn_blob_count(d->blob))
			memcpy(d->blob->data, s->blob->data,
			       fcn_blob_count(d->blob) * sizeof(float));
	}
}

/* --ema: after each update, a = d a + (1 - d) w for every parameter blob
 * (BatchNorm's statistics too), d = min(D, (1 + t) / (10 + t)) at update t
 * > 1, the average starting at the weights after the first update. */
static void ema_update(struct trainer *t)
{
	double d;
	float a, b;

	if (!t->ema) { /* the first update: the average is the weights */
		t->ema = ecalloc(t->nparams, sizeof *t->ema);
		for (size_t i = 0; i < t->nparams; i++) {
			size_t n = fcn_blob_count(t->params[i]->blob);

			t->ema[i] = emalloc(n * sizeof(float));
			memcpy(t->ema[i], t->params[i]->blob->data, n * sizeof(float));
		}
		t->nema = 1;
		return;
	}
	d = fmin(t->o->ema, (1.0 + t->nema + 1) / (10.0 + t->nema + 1));
	a = (float)d;
	b = (float)(1 - d);
	for (size_t i = 0; i < t->nparams; i++) {
		const float *w = t->params[i]->blob->data;
		float *e = t->ema[i];
		size_t n = fcn_blob_count(t->params[i]->blob);

		for (size_t j = 0; j < n; j++)
			e[j] = a * e[j] + b * w[j];
	}
	t->nema++;
}

/* Swaps the net's parameters with their averages (twice: back). */
static void ema_swap(struct trainer *t)
{
	for (size_t i = 0; t->ema && i < t->nparams; i++) {
		float *w = t->params[i]->blob->data, *e = t->ema[i];
		size_t n = fcn_blob_count(t->params[i]->blob);

		for (size_t j = 0; j < n; j++) {
			float x = w[j];

			w[j] = e[j];
			e[j] = x;
		}
	}
}

struct val_result {
	double loss, accuracy, dice;
};

/* Evaluates every validation record (batch 1) in the TEST net: mean loss,
 * pixel accuracy and the mean per-record Dice of class 1 (the foreground
 * of a 2-class net, the first foreground class of more; 1 when both are
 * empty), both over the pixels whose label is a class of the net (not
 * an ignored 255). */
static struct val_result validate(struct trainer *t, const struct dataset *val)
{
	struct val_result r = {0};
	uint64_t correct = 0, pixels = 0;
	struct fcn_err err;

	/* parameter blobs get their shapes at the first reshape */
	reshape(t, t->val_net, 1, val->c, val->s[0].h, val->s[0].w);
	ema_swap(t);
	copy_params(t->val_net, t->net);
	ema_swap(t);
	for (size_t i = 0; i < val->n; i++) {
		const struct sample *s = &val->s[i];
		size_t hw = (size_t)s->h * s->w, inter = 0, np = 0, nl = 0;
		struct fcn_blob *out;
		float loss;

		reshape(t, t->val_net, 1, val->c, s->h, s->w);
		fill_batch(t->val_net, val, &i, 1, val->c);
		if (fcn_net_forward(t->val_net, &loss, &err) < 0)
			die("%s: record %zu (%s): %s", val->path, s->index, s->id, err.msg);
		out = fcn_net_blob(t->val_net, fcn_net_output_name(t->val_net));
		for (size_t j = 0; j < hw; j++) {
			int best = 0, y = s->label[j];

			if (y >= out->c)
				continue;
			for (int k = 1; k < out->c; k++)
				if (out->data[k * hw + j] > out->data[best * hw + j])
					best = k;
			correct += best == y;
			np += best == 1;
			nl += y == 1;
			inter += best == 1 && y == 1;
			pixels++;
		}
		r.loss += loss;
		r.dice += np + nl ? 2.0 * inter / (double)(np + nl) : 1.0;
	}
	r.loss /= val->n;
	r.dice /= val->n;
	r.accuracy = pixels ? (double)correct / (double)pixels : NAN;
	return r;
}

static void log_append(struct trainer *t, const char *line)
{
	size_t n = strlen(line);

	t->log = ereallocarray(t->log, t->log_len + n + 1, 1);
	memcpy(t->log + t->log_len, line, n + 1);
	t->log_len += n;
}

static void save(struct trainer *t, const char *path, long epoch)
{
	struct fcn_err err;

	t->info.epoch = epoch;
	t->info.log = t->log;
	if (fcn_model_write(path, &t->info, t->net, t->solver, &err) < 0)
		die("%s", err.msg);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "3/40", or "3" when training runs until the stream ends. */
static const char *epoch_str(long e, long epochs, char *buf, size_t len)
{
	if (epochs)
		snprintf(buf, len, "%ld/%ld", e, epochs);
	else
		snprintf(buf, len, "%ld", e);
	return buf;
}

static void progress(long epoch, long epochs, size_t done, size_t total,
		     double t0)
{
	double el = now() - t0, eta = done ? el * (total - done) / done : 0;
	int width = 30, fill = total ? (int)(width * done / total) : width;

	char eb[64];

	fprintf(stderr, "\r%s: epoch %s [%.*s%*s] %3d%% ETA %dm%02ds ", argv0,
		epoch_str(epoch, epochs, eb, sizeof eb), fill, "##############################",
		width - fill, "", total ? (int)(100 * done / total) : 100,
		(int)eta / 60, (int)eta % 60);
}

/* --- setup ----------------------------------------------------------------- */

static char *read_text(const char *path)
{
	char *buf, msg[512];
	size_t len;

	if (read_file(path, (size_t)1 << 26, &buf, &len, msg, sizeof msg) < 0)
		die("%s", msg);
	return buf;
}

/* The model keeps its own copy of the preprocessing meta. */
static void copy_meta(struct trainer *t, int n, char *const *key, char *const *val)
{
	t->meta_key = ecalloc(n ? n : 1, sizeof *t->meta_key);
	t->meta_val = ecalloc(n ? n : 1, sizeof *t->meta_val);
	for (int i = 0; i < n; i++) {
		t->meta_key[i] = estrdup(key[i]);
		t->meta_val[i] = estrdup(val[i]);
	}
	t->info.nmeta = n;
	t->info.meta_key = (const char *const *)t->meta_key;
	t->info.meta_val = (const char *const *)t->meta_val;
}

/* Builds the nets, the parameters and the solver: from scratch, from
 * --weights, or from a --resume snapshot (whose settings replace o's). */
static void setup(struct trainer *t, struct opts *o, const struct dataset *train,
		  long *start_epoch)
{
	struct fcn_model *m = NULL;
	const char *text_path = o->net_path;
	char *text = NULL;
	struct fcn_err err;
	size_t *numel;
	struct fcn_blob *out;

	memset(&t->info, 0, sizeof t->info);
	t->o = o;
	if (o->resume_path || (o->weights_path && !o->caffe_weights)) {
		const char *p = o->resume_path ? o->resume_path : o->weights_path;

		m = fcn_model_read(p, &err);
		if (!m)
			die("%s", err.msg);
		if (o->resume_path && fcn_model_info(m)->channels != train->c)
			die("%s: the model takes %d input channels, %s has %d", p,
			    fcn_model_info(m)->channels, train->path, train->c);
	}
	if (o->resume_path) {
		const struct fcn_model_info *mi = fcn_model_info(m);

		if (!mi->has_solver)
			die("%s: no solver state to resume from", o->resume_path);
		o->solver = mi->solver;
		o->seed = mi->seed;
		o->batch = mi->batch;
		o->scale = mi->scale;
		o->shift = mi->shift;
		o->loss = mi->loss;
		o->dice_batch = mi->dice_batch;
		o->dice_each = mi->dice_each;
		t->info.nclass_weights = mi->nclass_weights;
		memcpy(t->info.class_weights, mi->class_weights, sizeof mi->class_weights);
		*start_epoch = mi->epoch;
		if (mi->epoch >= o->epochs)
			die("%s: the snapshot has %ld epochs already, --epochs is %ld",
			    o->resume_path, mi->epoch, o->epochs);
		log_append(t, mi->log ? mi->log : "");
	}
	if (!text_path || o->resume_path) {
		text = estrdup(fcn_model_info(m)->net_text);
		text_path = o->resume_path ? o->resume_path : o->weights_path;
	} else {
		text = read_text(text_path);
	}
	t->net_where = text_path;
	t->net = fcn_net_parse(text, text_path, FCN_TRAIN, &err);
	if (!t->net)
		die("%s", err.msg);
	t->val_net = fcn_net_parse(text, text_path, FCN_TEST, &err);
	if (!t->val_net)
		die("%s", err.msg);
	free(text);
	if (!fcn_net_label_name(t->net))
		die("%s: the net has no label input (a train_val description is needed)",
		    text_path);
	reshape(t, t->net, o->batch, train->c, train->h, train->w);
	out = need_blob(t->net, fcn_net_output_name(t->net), text_path);
	t->nclass = out->c;
	if (t->nclass < 2 || t->nclass > FCN_MAX_CLASSES)
		die("%s: the output '%s' has %d classes", text_path,
		    fcn_net_output_name(t->net), t->nclass);
	if (fcn_net_fill(t->net, o->seed, &err) < 0)
		die("%s: %s", text_path, err.msg);
	if (o->caffe_weights) {
		char *warns = NULL;

		if (fcn_net_load_caffemodel(t->net, o->weights_path, o->weights_map, &warns,
					    &err) < 0)
			die("%s", err.msg);
		if (warns)
			warn("%s: initialised fresh: %s", o->weights_path, warns);
		free(warns);
	}
	if (m) {
		char skipped[2048];
		long n = fcn_model_load_weights(m, t->net, o->resume_path != NULL,
						skipped, sizeof skipped, &err);

		if (n < 0)
			die("%s: %s", o->resume_path ? o->resume_path : o->weights_path,
			    err.msg);
		if (skipped[0])
			warn("%s: initialised fresh (shapes differ or absent): %s",
			     o->weights_path, skipped);
	}

	t->nparams = fcn_net_nparams(t->net);
	t->params = ecalloc(t->nparams, sizeof *t->params);
	numel = ecalloc(t->nparams, sizeof *numel);
	for (size_t i = 0; i < t->nparams; i++) {
		t->params[i] = fcn_net_param(t->net, i);
		numel[i] = fcn_blob_count(t->params[i]->blob);
	}
	if (o->solver.policy == FCN_LR_POLY && !o->solver.max_iter && !o->resume_path) {
		size_t n = o->epoch_size ? (size_t)o->epoch_size : train->n;
		long passes = (long)((n + o->batch - 1) / o->batch);
		long updates = (passes + o->solver.iter_size - 1) / o->solver.iter_size;

		o->solver.max_iter = updates * o->epochs;
	}
	t->solver = fcn_solver_create(&o->solver, numel, t->nparams, &err);
	if (!t->solver)
		die("solver: %s", err.msg);
	free(numel);
	if (o->resume_path && fcn_model_load_solver(m, t->net, t->solver, &err) < 0)
		die("%s: %s", o->resume_path, err.msg);

	t->info.channels = train->c;
	t->info.scale = o->scale;
	t->info.shift = o->shift;
	t->info.seed = o->seed;
	t->info.batch = o->batch;
	t->info.loss = o->loss;
	t->info.dice_batch = o->dice_batch;
	t->info.dice_each = o->dice_each;
	t->info.epoch_size = o->epoch_size;
	t->info.height = train->h;
	t->info.width = train->w;
	if (o->resume_path) {
		/* the preprocessing the model was first trained with */
		const struct fcn_model_info *mi = fcn_model_info(m);

		t->info.height = mi->height;
		t->info.width = mi->width;
		copy_meta(t, mi->nmeta, (char *const *)mi->meta_key,
			  (char *const *)mi->meta_val);
	} else {
		copy_meta(t, train->nmeta, train->meta_key, train->meta_val);
	}
	if (!o->resume_path && o->nclass_weights) {
		if (o->nclass_weights != t->nclass)
			die("--class-weights: %d weights for a net with %d classes",
			    o->nclass_weights, t->nclass);
		t->info.nclass_weights = o->nclass_weights;
		memcpy(t->info.class_weights, o->class_weights, sizeof o->class_weights);
	} else if (!o->resume_path && o->class_weights_auto) {
		auto_class_weights(t, train);
	}
	if (t->info.nclass_weights) {
		char buf[512] = "";

		for (int c = 0; c < t->info.nclass_weights && strlen(buf) < 400; c++)
			snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%.6g",
				 c ? "," : "", t->info.class_weights[c]);
		warn("class weights %s", buf);
	}
	set_loss(t, t->net);
	set_loss(t, t->val_net);
	if (!o->resume_path)
		log_append(t, "epoch\titer\tlr\ttrain_loss\tval_loss\tval_accuracy\tval_dice\n");
	fcn_model_free(m);
}

/* One epoch of training; returns the mean loss of its passes. */
static double train_epoch(struct trainer *t, const struct dataset *ds, long epoch,
			  size_t *perm, double t0)
{
	const struct opts *o = t->o;
	size_t passes = (ds->n + o->batch - 1) / o->batch;
	int iter_size = fcn_solver_conf(t->solver)->iter_size;
	int tty = isatty(STDERR_FILENO);
	double sum = 0;
	struct fcn_err err;

	struct rng shuffle = rng_derive(o->seed, (uint64_t)epoch, 1);

	rng_shuffle(&shuffle, perm, ds->n);
	fcn_net_set_seed(t->net, rng_derive(o->seed, (uint64_t)epoch, 2).s);
	for (size_t p = 0; p < passes; p++) {
		int n = (int)(ds->n - p * o->batch < (size_t)o->batch ?
				      ds->n - p * o->batch : (size_t)o->batch);
		float loss;

		if (p % iter_size == 0)
			fcn_net_zero_diffs(t->net);
		reshape(t, t->net, n, ds->c, ds->h, ds->w);
		fill_batch(t->net, ds, perm + p * o->batch, n, ds->c);
		if (fcn_net_forward(t->net, &loss, &err) < 0 ||
		    fcn_net_backward(t->net, &err) < 0)
			die("%s: epoch %ld, record %s: %s", t->net_where, epoch + 1,
			    ds->s[perm[p * o->batch]].id, err.msg);
		if (!isfinite(loss))
			die("%s: epoch %ld: the loss is %g (learning rate too high?)",
			    t->net_where, epoch + 1, loss);
		sum += loss;
		if (p % iter_size == (size_t)iter_size - 1 || p == passes - 1) {
			if (fcn_solver_update(t->solver, t->params, t->nparams, &err) < 0)
				die("%s", err.msg);
			if (o->given[OPT_EMA])
				ema_update(t);
		}
		if (tty)
			progress(epoch + 1, o->epochs, p + 1, passes, t0);
	}
	return sum / passes;
}

/* Every label must be a class of the net or 255 (the usual ignore_label);
 * checked before training rather than when the loss layer meets it. */
static void check_labels(const struct dataset *ds, int nclass)
{
	for (size_t i = 0; i < ds->n; i++)
		for (size_t j = 0; j < (size_t)ds->s[i].h * ds->s[i].w; j++)
			if (ds->s[i].label[j] >= nclass && ds->s[i].label[j] != 255)
				die("%s: record %zu (%s): label %d at pixel %zu is not one of "
				    "the net's %d classes (or 255, ignored)", ds->path, ds->s[i].index,
				    ds->s[i].id, ds->s[i].label[j], j, nclass);
}

/* Fails now rather than after hours of training when the model cannot be
 * written next to path. */
static void check_writable(const char *path)
{
	struct atomic_file af;

	if (atomic_open(&af, path) < 0)
		die("%s:", path);
	atomic_abort(&af);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct trainer t = {0};
	struct dataset train = {0}, val = {0};
	struct source src;
	long start = 0, done;
	size_t *perm;
	char line[512], snap[4096], eb[64];

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	check_writable(o.out_path);
	fcn_set_threads(o.threads);
	if (o.resume_path) {
		/* preprocessing and epoch size come from the snapshot */
		struct fcn_err err;
		struct fcn_model *m = fcn_model_read(o.resume_path, &err);

		if (!m)
			die("%s", err.msg);
		o.scale = fcn_model_info(m)->scale;
		o.shift = fcn_model_info(m)->shift;
		o.epoch_size = fcn_model_info(m)->epoch_size;
		fcn_model_free(m);
	}
	/* the whole set, or the first epoch's records of a stream */
	source_open(&src, o.train_path, o.scale, o.shift, 1);
	if (!read_samples(&src, &train, (size_t)o.epoch_size))
		die("%s: no records", o.train_path);
	if (o.val_path) {
		load_dataset(&val, o.val_path, o.scale, o.shift, 0);
		if (val.c != train.c)
			die("%s: %d channels, the training data has %d", o.val_path,
			    val.c, train.c);
	}
	setup(&t, &o, &train, &start);
	check_labels(&train, t.nclass);
	if (o.val_path)
		check_labels(&val, t.nclass);
	perm = ecalloc(o.epoch_size ? (size_t)o.epoch_size : train.n, sizeof *perm);

	printf("epoch\titer\tlr\ttrain_loss\tval_loss\tval_accuracy\tval_dice\timages_per_s\n");
	fflush(stdout);
	done = start;
	for (long e = start; !o.epochs || e < o.epochs; e++) {
		double t0, loss, rate;
		struct val_result v = {NAN, NAN, NAN};
		long iter;

		if (o.epoch_size && e > start &&
		    !read_samples(&src, &train, (size_t)o.epoch_size))
			break; /* the stream ended at an epoch boundary */
		if (e > start)
			check_labels(&train, t.nclass);
		if (o.epoch_size && train.n < (size_t)o.epoch_size)
			warn("%s: epoch %ld: the stream ended after %zu of %ld records; "
			     "trained on them as a shorter last epoch", o.train_path,
			     e + 1, train.n, o.epoch_size);
		t0 = now();
		loss = train_epoch(&t, &train, e, perm, t0);
		rate = train.n / (now() - t0);
		if (o.val_path)
			v = validate(&t, &val);
		iter = fcn_solver_iter(t.solver);
		snprintf(line, sizeof line, "%ld\t%ld\t%.6g\t%.6g\t%.6g\t%.6f\t%.6f\n",
			 e + 1, iter, fcn_lr_at(fcn_solver_conf(t.solver), iter - 1),
			 loss, v.loss, v.accuracy, v.dice);
		log_append(&t, line);
		line[strlen(line) - 1] = 0;
		printf("%s\t%.3f\n", line, rate);
		if (fflush(stdout) != 0)
			die("stdout:");
		if (isatty(STDERR_FILENO))
			fputc('\n', stderr);
		else
			fprintf(stderr, "%s: epoch %s: train loss %.6g, val loss %.6g, "
				"val accuracy %.4f, val dice %.4f, %.2f images/s\n", argv0,
				epoch_str(e + 1, o.epochs, eb, sizeof eb), loss, v.loss,
				v.accuracy, v.dice, rate);
		done = e + 1;
		if (o.epoch_size && train.n < (size_t)o.epoch_size)
			break;
		if (o.snapshot && (e + 1) % o.snapshot == 0 && (!o.epochs || e + 1 < o.epochs)) {
			snprintf(snap, sizeof snap, "%s.epoch%ld", o.out_path, e + 1);
			save(&t, snap, e + 1);
		}
	}
	walk_close(&src.wk);
	ema_swap(&t); /* the final model is the average */
	save(&t, o.out_path, done);
	for (size_t i = 0; t.ema && i < t.nparams; i++)
		free(t.ema[i]);
	free(t.ema);

	free(perm);
	free(t.params);
	free(t.log);
	for (int i = 0; i < t.info.nmeta; i++) {
		free(t.meta_key[i]);
		free(t.meta_val[i]);
	}
	free(t.meta_key);
	free(t.meta_val);
	fcn_solver_free(t.solver);
	fcn_net_free(t.net);
	fcn_net_free(t.val_net);
	free_dataset(&train);
	if (o.val_path)
		free_dataset(&val);
	return fshut(stdout, "stdout");
}
