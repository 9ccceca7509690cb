/*
 * fuse.h - inference-time folding.  In TEST and DEPLOY nets a Convolution
 * whose top is then transformed in place by BatchNorm (stored statistics),
 * optionally Scale, and optionally ReLU (slope 0) computes all of them
 * itself: BatchNorm and Scale folded into its weights and bias (recomputed
 * at every forward, so weights loaded after reshape count), ReLU applied
 * as it stores.  The folded layers are marked `fused` and skipped by the
 * forward pass; a backward pass through them is refused.  A direct 3x3
 * Convolution (direct.h) that is the only reader of a channel Concat's top
 * reads the Concat's bottoms in place, and the Concat is skipped: its top
 * is then not written (a caller fetching that blob by name gets stale
 * values).  Off with FCN_KERNELS=reference (direct.h), as is the
 * training pattern below.
 */
#ifndef FCN_FUSE_H
#define FCN_FUSE_H

#include <stddef.h>

#include "layer.h"

/* Marks the patterns in layers [0, n) (called after every reshape). */
void fcn_fuse_layers(struct fcn_layer **layers, size_t n);
/* Training: a BatchNorm with batch statistics followed in place by a Scale
 * and optionally a ReLU (slope 0) computes the three in its forward and
 * backward passes, with the same arithmetic (the results are the same
 * bits), in two passes over the data each way instead of six and five,
 * without the Scale's copy of its input; the two are marked fused = 3.
 * Layers that would not all run their backward are left alone. */
void fcn_fuse_train(struct fcn_layer **layers, size_t n);
/* Makes BatchNorm bn compute sc and relu (may be NULL); sc NULL: neither
 * (norm_layers.c). */
void fcn_bn_fuse(struct fcn_layer *bn, struct fcn_layer *sc, struct fcn_layer *relu);
/* BatchNorm as y = x a[c] + b[c] from its stored statistics (norm_layers.c);
 * 0, or -1 when the layer uses batch statistics. */
int fcn_bn_global(const struct fcn_layer *bn);
void fcn_bn_affine(const struct fcn_layer *bn, float *a, float *b);
/* Concat's axis, 0..3 (shape_layers.c). */
int fcn_concat_axis(const struct fcn_layer *concat);
/* ReLU's negative slope (neuron_layers.c). */
float fcn_relu_slope(const struct fcn_layer *relu);
/* Scale's factor and bias (0 without bias term) of channel c. */
void fcn_scale_affine(const struct fcn_layer *sc, int c, float *g, float *b);

#endif
