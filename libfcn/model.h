/*
 * model.h - the trained-model file: one msgpack map holding everything
 * needed to predict with a net and to resume its training.
 *
 *   "format"        "lvseg-fcn-model"
 *   "version"       1
 *   "net"           the net description (text, as given to fcn-train)
 *   "input"         {"channels": C, "scale": s, "shift": t, "size": [H, W],
 *                   "meta": {key: text}}: images are fed to the net as
 *                   x * s + t (the net may shift again itself); size is
 *                   the training records' (0 when unknown); meta holds the
 *                   meta entries every training record carried with the
 *                   same value, as text (st_meta_text): the preprocessing
 *                   the pipeline did ("to_rgb", "crop", ...)
 *   "layers"        {layer name: [tensor, ...]}, blob index order (0 weights,
 *                   1 bias); tensor = {"dtype": "f32", "shape": [N, C, H, W],
 *                   "data": bin}, little-endian, as in the tensor stream
 *   "train"         {"epoch", "seed", "batch", "epoch_size" (0: the whole
 *                   set each epoch), "loss": "softmax"|"dice"|"softmax+dice",
 *                   "dice_over": "image"|"batch",
 *                   "class_weights": [w0, ...] or nil}
 *   "solver"        {"kind", "policy", "base_lr", "gamma", "power",
 *                   "stepsize", "stepvalues", "max_iter", "momentum",
 *                   "momentum2", "delta", "weight_decay", "iter_size",
 *                   "warmup", "iter",
 *                   "history": {layer: [[tensor, ...] per blob]}}
 *                   (one history tensor per blob for SGD, two for Adam(W));
 *                   absent in a model saved without solver state
 *   "log"           the training log, TSV lines (header first)
 *
 * Writing streams the blobs straight from the net to a temporary file next
 * to the target, then fsyncs and renames it (atomic).  Reading maps the
 * file, checks every field and every tensor's size, and keeps the mapping:
 * blobs are served from it without copies, and data never asked for (the
 * solver history, when predicting) is never read from disk.
 *
 * Keys added since version 1 ("size", "meta", "epoch_size", "dice_over",
 * "warmup") are optional when reading, so older models still load.
 *
 * Contract: no printing, no exit; errors fill struct fcn_err.
 * Not done here: big-endian hosts (refused at compile time), f16 weights.
 */
#ifndef FCN_MODEL_H
#define FCN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "fcn.h"
#include "solver.h"

#define FCN_MODEL_FORMAT "lvseg-fcn-model"
#define FCN_MODEL_VERSION 1
#define FCN_MAX_CLASSES 256

/* Everything in a model file besides the blobs. */
struct fcn_model_info {
	const char *net_text;
	int channels;               /* input channels C */
	double scale, shift;        /* input preprocessing */
	int height, width;          /* training input size, 0 when unknown */
	int nmeta;                  /* preprocessing meta (key, text) */
	const char *const *meta_key, *const *meta_val;
	long epoch;                 /* epochs completed */
	uint64_t seed;
	int batch;
	long epoch_size;            /* records per epoch; 0: the whole set */
	enum fcn_loss loss;
	int dice_batch;             /* soft Dice over the batch, not per image */
	int dice_each;              /* soft Dice of each class >= 1, averaged */
	int nclass_weights;         /* 0: unweighted */
	float class_weights[FCN_MAX_CLASSES];
	int has_solver;
	struct fcn_solver_conf solver;
	long iter;
	const char *log;            /* may be NULL */
};

/* Writes net's parameters (and the solver's state when solver is non-NULL;
 * its parameters must be fcn_net_param(net, 0..n-1)) with info to path,
 * atomically.  info->net_text, has_solver and iter are taken from net and
 * solver; the other fields from info. */
int fcn_model_write(const char *path, const struct fcn_model_info *info,
		    struct fcn_net *net, struct fcn_solver *solver,
		    struct fcn_err *err);

struct fcn_model;

/* Reads and checks a model file; NULL with a message naming the file and
 * what is wrong ("truncated", "not a model", "layer 'conv1' blob 0: ..."). */
struct fcn_model *fcn_model_read(const char *path, struct fcn_err *err);
void fcn_model_free(struct fcn_model *m);
/* The file's fields; strings live as long as the model. */
const struct fcn_model_info *fcn_model_info(const struct fcn_model *m);

/* The stored blob (layer, index): its data (count little-endian floats,
 * possibly unaligned: copy it with memcpy; shape in shape[4]) or NULL when
 * the model has none. */
const void *fcn_model_blob(const struct fcn_model *m, const char *layer,
			    int index, int shape[4], size_t *count);

/* Copies the model's blobs into net's parameters by layer name and index.
 * strict: any parameter missing from the model or of another shape is an
 * error.  Otherwise (fine-tuning) such parameters keep their values and are
 * listed, "name (why)" separated by ", ", in skipped (may be NULL).
 * Returns the number of parameters copied, or -1. */
long fcn_model_load_weights(const struct fcn_model *m, struct fcn_net *net,
			    int strict, char *skipped, size_t skipped_len,
			    struct fcn_err *err);

/* Restores the solver's iteration and history for net's parameters (the
 * solver created for fcn_net_param(net, 0..n-1)); -1 when the model has no
 * solver state, of another kind, or the shapes differ. */
int fcn_model_load_solver(const struct fcn_model *m, struct fcn_net *net,
			  struct fcn_solver *solver, struct fcn_err *err);

#endif
