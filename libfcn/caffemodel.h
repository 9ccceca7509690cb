/*
 * caffemodel.h - Caffe's binary weights (.caffemodel, a NetParameter in
 * the protobuf wire format): a bounded reader, loading into a net by layer
 * name (Caffe's fine-tuning rule, renames, InnerProduct-to-Convolution net
 * surgery) and a writer for export.
 *
 * Read: the NetParameter's name (1), `layer` (V2, field 100) and legacy
 * `layers` (V1, field 2) messages: their name, type (V2 string, V1 enum
 * mapped to the V2 name) and blobs (BlobProto: shape (BlobShape dim, packed
 * or not), else legacy num/channels/height/width; data (float, packed or
 * not) or double_data).  Every other field is skipped by its wire type.
 * Every length is checked against the bytes left in its enclosing message
 * before anything is read or allocated, varints are at most 10 bytes, the
 * nesting is fixed (net, layer, blob, shape: only those messages are
 * entered), groups (wire types 3, 4) are refused, and a blob's shape must
 * account for exactly its data.  Errors are one line: "path: offset N:
 * what" or "path: layer 'x' blob i: what".
 *
 * Contract: no printing, no exit; errors fill struct fcn_err.
 * Not done here: diff blobs (ignored), V0 (pre-2014 `layer` inside V1)
 * parameters, net descriptions stored in the file (the layer parameters
 * other than name/type/blobs are skipped: the structure comes from a
 * prototxt).
 */
#ifndef FCN_CAFFEMODEL_H
#define FCN_CAFFEMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "fcn.h"

#define FCN_CAFFE_MAX_DIMS 8

struct fcn_caffe_blob {
	int ndim;
	int64_t dim[FCN_CAFFE_MAX_DIMS];
	size_t count; /* product of dim, equal to the number of values */
	float *data;  /* (count) */
};

struct fcn_caffe_layer {
	char *name, *type; /* type: V2 name ("InnerProduct"), "" when absent */
	int v1;            /* from a legacy `layers` message */
	int nblobs;
	struct fcn_caffe_blob *blobs;
};

struct fcn_caffemodel {
	char *name;
	int nlayers;
	struct fcn_caffe_layer *layers;
};

/* 1 when buf looks like a caffemodel rather than one of our msgpack model
 * files (whose first byte is a msgpack map). */
int fcn_caffemodel_sniff(const void *buf, size_t len);
/* 1 when path ends in ".caffemodel" or its first bytes sniff as one;
 * 0 otherwise (also when it cannot be read: the real reader says why). */
int fcn_caffemodel_is_file(const char *path);

/* Parses len bytes (path for messages); NULL with a message on error. */
struct fcn_caffemodel *fcn_caffemodel_parse(const void *buf, size_t len,
					    const char *path,
					    struct fcn_err *err);
struct fcn_caffemodel *fcn_caffemodel_read(const char *path,
					   struct fcn_err *err);
void fcn_caffemodel_free(struct fcn_caffemodel *m);

/* Copies the model's blobs into net's parameters (call after
 * fcn_net_reshape).  A net layer takes the blobs of the model layer of the
 * same name or, with map (NULL-terminated "OLD=NEW" strings, may be NULL),
 * of the model layer OLD when it is called NEW.  Shapes compare without
 * their 1-sized axes (Caffe's bias (M) is our 1x1x1xM); an InnerProduct
 * weight (M, K) goes onto a Convolution weight (M, C, KH, KW) with
 * C*KH*KW = K, reshaped (net surgery, as DIGITS' net_surgery.py does).
 * Layers absent from the model, or whose blob count or shapes differ, keep
 * their values (fresh fill, Caffe's fine-tuning rule) and are listed in
 * *warnings (malloc'd, "name (why); ...", NULL when there are none; the
 * caller prints and frees it).  Returns the number of layers loaded, -1 on
 * a read error or a bad map entry. */
long fcn_caffemodel_load(const struct fcn_caffemodel *m, struct fcn_net *net,
			 const char *const *map, char **warnings,
			 struct fcn_err *err);
/* fcn_caffemodel_read + fcn_caffemodel_load + free. */
long fcn_net_load_caffemodel(struct fcn_net *net, const char *path,
			     const char *const *map, char **warnings,
			     struct fcn_err *err);

/* Encodes net's parameters as a caffemodel (NetParameter name, then one V2
 * `layer` {name, type, blobs} per layer with parameters, in net order;
 * Caffe's blob shapes: Convolution/Deconvolution weights 4-d, InnerProduct
 * weights (M, K), every other blob 1-d).  *buf is malloc'd. */
int fcn_caffemodel_encode(struct fcn_net *net, const char *name, void **buf,
			  size_t *len, struct fcn_err *err);

#endif
