/*
 * fuzz_caffemodel.c - libFuzzer harness for the .caffemodel reader: the
 * input is parsed by fcn_caffemodel_parse (the protobuf wire format, every
 * length checked against its message); a model that parses is loaded by
 * layer name into a small net (fcn-tiny's layers, an InnerProduct-shaped
 * conv among them, with and without a rename map), as fcn-train --weights
 * and fcn-predict -m FILE.caffemodel do, so the shape checks and the
 * InnerProduct-to-Convolution surgery see hostile blobs too.
 */
#include <stdint.h>
#include <stdlib.h>

#include "caffemodel.h"
#include "fcn.h"

static const char net_text[] =
	"name: \"fuzz\"\n"
	"layer { name: \"input\" type: \"Input\" top: \"data\" }\n"
	"layer { name: \"conv1\" type: \"Convolution\" bottom: \"data\" top: \"conv1\"\n"
	"  convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }\n"
	"layer { name: \"bn1\" type: \"BatchNorm\" bottom: \"conv1\" top: \"conv1\" }\n"
	"layer { name: \"sc1\" type: \"Scale\" bottom: \"conv1\" top: \"conv1\"\n"
	"  scale_param { bias_term: true } }\n"
	"layer { name: \"fc6\" type: \"Convolution\" bottom: \"conv1\" top: \"fc6\"\n"
	"  convolution_param { num_output: 3 kernel_size: 2 } }\n"
	"layer { name: \"up\" type: \"Deconvolution\" bottom: \"fc6\" top: \"up\"\n"
	"  convolution_param { num_output: 3 kernel_size: 2 stride: 2 bias_term: false } }\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fcn_net *net;
	static const char *const map[] = { "ip1=fc6", "conv2=conv1", NULL };
	struct fcn_err err;
	struct fcn_caffemodel *m;

	if (!net) {
		if (!(net = fcn_net_parse(net_text, "fuzz", FCN_DEPLOY, &err)) ||
		    fcn_net_reshape(net, 1, 1, 6, 6, &err) < 0)
			abort(); /* the harness's own net must build */
	}
	(void)fcn_caffemodel_sniff(data, size);
	if (!(m = fcn_caffemodel_parse(data, size, "fuzz", &err)))
		return 0;
	for (int k = 0; k < 2; k++) {
		char *warnings = NULL;

		(void)fcn_caffemodel_load(m, net, k ? map : NULL, &warnings, &err);
		free(warnings);
	}
	fcn_caffemodel_free(m);
	return 0;
}
