/*
 * fcn.h - a small Caffe-compatible network engine for fully convolutional
 * nets: parses a net description (protobuf text format, the subset listed in
 * docs/nets.md), runs forward and backward passes on float32 NCHW host
 * blobs, and exposes the parameters so that a solver can update them.
 *
 * Contract: no function here prints or exits.  Functions that can fail
 * return a negative value (or NULL) and fill a caller-supplied struct
 * fcn_err with a one-line message (parse errors start with "path:line: ").
 * A net is not thread-safe; different nets may be used from different
 * threads.  The layers split their work over the engine's own pool of
 * worker threads (fcn_set_threads) and call OpenBLAS single-threaded.
 *
 * Phases: FCN_TRAIN and FCN_TEST keep the layers whose include rules match
 * (Caffe's semantics: dropout is active only in TRAIN).  FCN_DEPLOY is TEST
 * for prediction only: the input layer makes no label top, and every layer
 * with a bottom that no earlier layer makes (loss, Accuracy, Dice) is
 * dropped, so a train_val description serves as a deploy net as it is.
 *
 * Not done here: GPU execution (a twin backend plugs in through the layer
 * function tables; blobs carry their device), model files, the solver.
 */
#ifndef FCN_H
#define FCN_H

#include <stddef.h>
#include <stdint.h>

struct fcn_err {
	char msg[512];
};

enum fcn_phase { FCN_TRAIN, FCN_TEST, FCN_DEPLOY };
enum fcn_device { FCN_CPU, FCN_GPU };
/* softmax: cross-entropy (SoftmaxWithLoss); dice: 1 - soft Dice;
 * softmax+dice: their sum (nnU-Net's default). */
enum fcn_loss { FCN_LOSS_SOFTMAX, FCN_LOSS_DICE, FCN_LOSS_SOFTMAX_DICE };

/* A 4-d tensor and its gradient, both (N, C, H, W) float32, row-major.
 * diff is NULL for blobs that never need a gradient. */
struct fcn_blob {
	int n, c, h, w;
	float *data; /* (N, C, H, W) */
	float *diff; /* (N, C, H, W) */
	enum fcn_device dev;
	size_t cap; /* elements allocated for data (and diff) */
};

/* n * c * h * w */
size_t fcn_blob_count(const struct fcn_blob *b);

/* A learnable blob: layer name, index (0 weights, 1 bias; BatchNorm: 0 mean,
 * 1 variance, 2 moving-average factor, all with lr_mult 0). */
struct fcn_param {
	const char *layer;
	int index;
	struct fcn_blob *blob;
	float lr_mult, decay_mult;
};

struct fcn_net;

/* --- building ------------------------------------------------------------ */
/* Layers a description may have (FCN-8s has 60; the parser is quadratic in
 * them, so a cap keeps a hostile description's cost bounded). */
#define FCN_MAX_LAYERS 4096
/* Parses a net description.  text: the description; path: used in messages
 * ("path:line: unknown field 'foo' in convolution_param").  The net has no
 * shape until fcn_net_reshape and all-zero parameters until fcn_net_fill. */
struct fcn_net *fcn_net_parse(const char *text, const char *path,
			      enum fcn_phase phase, struct fcn_err *err);
/* Reads the file and parses it; path "-" is not special. */
struct fcn_net *fcn_net_load(const char *path, enum fcn_phase phase,
			     struct fcn_err *err);
void fcn_net_free(struct fcn_net *net);

/* Sets the input shape (N, C, H, W) (label: (N, 1, H, W)) and propagates it
 * through every layer; -1 with a message naming the layer when the net does
 * not fit the size (e.g. a crop larger than its input).  Cheap when the
 * shape is unchanged; memory is reused when it shrinks. */
int fcn_net_reshape(struct fcn_net *net, int n, int c, int h, int w,
		    struct fcn_err *err);
/* Runs every weight/bias filler (Caffe's defaults where the description is
 * silent: constant 0), deterministically from the seed.  Needs parameter
 * shapes, so call it after fcn_net_reshape. */
int fcn_net_fill(struct fcn_net *net, uint64_t seed, struct fcn_err *err);

/* --- blobs and names ----------------------------------------------------- */
/* The blob called name (a top of some layer), NULL if none. */
struct fcn_blob *fcn_net_blob(struct fcn_net *net, const char *name);
size_t fcn_net_nblobs(const struct fcn_net *net);
/* Blob i (in order of creation) and its name; NULL past the end. */
struct fcn_blob *fcn_net_blob_at(struct fcn_net *net, size_t i,
				 const char **name);
const char *fcn_net_input_name(const struct fcn_net *net); /* "data" */
/* The label input, NULL in a deploy net or one without labels. */
const char *fcn_net_label_name(const struct fcn_net *net);
/* The score blob feeding the loss (N, K, H, W); in a net without a loss the
 * top of the last layer. */
const char *fcn_net_output_name(const struct fcn_net *net);
const char *fcn_net_name(const struct fcn_net *net); /* "name:" or "" */
const char *fcn_net_text(const struct fcn_net *net); /* the description */
enum fcn_phase fcn_net_phase(const struct fcn_net *net);
size_t fcn_net_nlayers(const struct fcn_net *net);
/* Layer i's name and type ("Convolution"); NULL past the end. */
const char *fcn_net_layer_name(const struct fcn_net *net, size_t i,
			       const char **type);

/* --- running ------------------------------------------------------------- */
/* Forward pass over the blobs the caller filled (data; label: class indices
 * stored as float).  loss: the sum of the loss layers' weighted outputs, 0
 * when there are none (may be NULL). */
int fcn_net_forward(struct fcn_net *net, float *loss, struct fcn_err *err);
/* Backward pass after a forward pass: accumulates into every parameter's
 * diff (the caller zeroes them first with fcn_net_zero_diffs). */
int fcn_net_backward(struct fcn_net *net, struct fcn_err *err);
void fcn_net_zero_diffs(struct fcn_net *net);

/* Seconds layer i spent in forward and backward passes so far (for
 * profiling); -1 past the end. */
int fcn_net_layer_time(const struct fcn_net *net, size_t i, double *fwd_s,
		       double *bwd_s);

/* --- parameters ---------------------------------------------------------- */
size_t fcn_net_nparams(const struct fcn_net *net);
/* Parameter i in layer order, NULL past the end. */
struct fcn_param *fcn_net_param(struct fcn_net *net, size_t i);
/* The parameter (layer, index), NULL if none. */
struct fcn_param *fcn_net_param_find(struct fcn_net *net, const char *layer,
				     int index);

/* --- metrics, losses, settings ------------------------------------------- */
/* The value of the first layer of this type ("Accuracy", "Dice",
 * "SoftmaxWithLoss") after a forward pass; -1 if the net has none. */
int fcn_net_metric(const struct fcn_net *net, const char *layer_type,
		   double *value);
/* Process-wide: the number of threads the engine uses (n <= 0: all
 * cores; default: OpenMP's, i.e. OMP_NUM_THREADS or all cores).  Also sets
 * OpenMP's count, for code around the engine, and keeps OpenBLAS at one
 * thread.  Results do not depend on n (the work is split the same way). */
void fcn_set_threads(int n);
int fcn_get_threads(void);
/* Per-class weights for every SoftmaxWithLoss layer (k = number of classes;
 * the loss becomes sum w[y] * -log p(y) / sum w[y] over valid pixels when
 * normalize is true).  w NULL resets to unweighted. */
int fcn_net_set_class_weights(struct fcn_net *net, const float *w, int k,
			      struct fcn_err *err);
/* FCN_LOSS_SOFTMAX (default) or FCN_LOSS_DICE: the SoftmaxWithLoss layers
 * then compute the soft Dice loss 1 - mean_n (2 sum p y + 1)/(sum p + sum y
 * + 1), p the softmax probability of the classes >= 1, y = [label >= 1],
 * ignored pixels excluded.  -1 when the net has no SoftmaxWithLoss. */
int fcn_net_set_loss(struct fcn_net *net, enum fcn_loss kind,
		     struct fcn_err *err);
/* FCN_LOSS_SOFTMAX_DICE: cross-entropy (weighted, normalised as the layer
 * says) plus the soft Dice loss above.  Names "softmax", "dice",
 * "softmax+dice" and back (parse: -1 on an unknown name). */
int fcn_loss_parse(const char *name, enum fcn_loss *kind);
const char *fcn_loss_name(enum fcn_loss kind);
/* The soft Dice term per image (batch = 0, default: the mean over images of
 * each image's Dice) or over the batch (batch = 1: one Dice of the sums over
 * all images, nnU-Net's "batch dice"). */
void fcn_net_set_dice_batch(struct fcn_net *net, int batch);
/* With more than two classes, the soft Dice term as the mean over the
 * classes c >= 1 of each one's soft Dice (p = p_c, y = [label = c]; each =
 * 1, nnU-Net's multi-class Dice) instead of one Dice of the classes >= 1
 * together (each = 0, default).  The same for two classes. */
void fcn_net_set_dice_each(struct fcn_net *net, int each);
/* Seeds the dropout RNG (default seed 1). */
void fcn_net_set_seed(struct fcn_net *net, uint64_t seed);

#endif
