/*
 * fuzz_pbtext.c - libFuzzer harness for the net-description parser: the
 * input is protobuf text; it goes through pb_parse and then fcn_net_parse in
 * the three phases (layers read their parameters, include/exclude rules,
 * deploy pruning).  Shapes are not propagated: a valid net may ask for any
 * amount of memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcn.h"
#include "pbtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum fcn_phase phases[] = { FCN_TRAIN, FCN_TEST, FCN_DEPLOY };
	struct fcn_err err;
	struct pb_node *root;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if ((root = pb_parse(text, "fuzz", &err)))
		pb_free(root);
	for (int i = 0; i < 3; i++) {
		struct fcn_net *net = fcn_net_parse(text, "fuzz", phases[i], &err);

		fcn_net_free(net);
	}
	free(text);
	return 0;
}
