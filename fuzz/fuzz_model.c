/*
 * fuzz_model.c - libFuzzer harness for the model-file reader: the input is
 * written to a temporary file and read with fcn_model_read (which maps it
 * and checks every field and tensor size); a model that reads is queried
 * for its info and the blobs of the layers its net names.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fcn.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct fcn_err err;
	struct fcn_model *m;
	FILE *f;

	if (!*path)
		snprintf(path, sizeof path, "/dev/shm/fuzz_model.%d", (int)getpid());
	if (!(f = fopen(path, "wb")))
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if ((m = fcn_model_read(path, &err))) {
		const struct fcn_model_info *info = fcn_model_info(m);
		static const char *const names[] = { "conv1", "conv2", "score", "up" };
		int shape[4];
		size_t count;

		if (info->net_text)
			(void)strlen(info->net_text);
		if (info->log)
			(void)strlen(info->log);
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 2; j++) {
				const unsigned char *b = fcn_model_blob(m, names[i], j, shape, &count);
				volatile unsigned char sink;

				if (b && count)
					sink = b[count * 4 - 1]; /* the whole blob is there */
				(void)sink;
			}
		fcn_model_free(m);
	}
	return 0;
}
