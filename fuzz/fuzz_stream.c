/*
 * fuzz_stream.c - libFuzzer harness for the tensor-stream reader: the input
 * is a stream (read through fmemopen, with a 16 MiB record limit so that a
 * declared size is refused before it is allocated); every record read is
 * serialised again, re-read, and its fields and meta walked.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "st.h"

static void walk(struct st_record *r)
{
	char buf[256];

	for (size_t i = 0; i < st_record_nfields(r); i++) {
		struct st_tensor *t = NULL;

		if (st_record_field(r, i, &t) && t) {
			st_shape_str(t, buf, sizeof buf);
			if (st_tensor_numel(t))
				(void)st_tensor_get(t, st_tensor_numel(t) - 1);
		}
	}
	for (size_t i = 0; i < st_meta_count(r); i++)
		st_meta_text(r, st_meta_key(r, i), buf, sizeof buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_err err;
	struct st_reader *rd;
	struct st_record *r;
	FILE *f;

	if (size == 0 || !(f = fmemopen((void *)data, size, "rb")))
		return 0;
	if (!(rd = st_reader_new(f, "fuzz", &err))) {
		fclose(f);
		return 0;
	}
	st_reader_set_limit(rd, (size_t)16 << 20);
	while (st_read(rd, &r, &err) == 1) {
		void *buf;
		size_t len;

		walk(r);
		if (st_serialize(r, &buf, &len, &err) == 0) {
			FILE *g = fmemopen(buf, len, "rb");
			struct st_reader *rd2 = g ? st_reader_new(g, "again", &err) : NULL;
			struct st_record *r2;

			/* what we wrote must read back */
			if (rd2 && st_read(rd2, &r2, &err) != 1)
				abort();
			if (rd2)
				st_record_free(r2);
			st_reader_free(rd2);
			if (g)
				fclose(g);
			free(buf);
		}
		st_record_free(r);
	}
	st_reader_free(rd);
	fclose(f);
	return 0;
}
