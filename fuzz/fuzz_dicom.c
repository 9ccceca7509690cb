/*
 * fuzz_dicom.c - libFuzzer harness for DICOM ingest through GDCM
 * (filters/lib/dicom.cpp dcm_read): the input is written to a temporary
 * file and decoded; a decoded image's whole pixel buffer is touched.  GDCM
 * itself is Debian's (not instrumented): coverage guides through our
 * wrapper only, but ASan still sees what GDCM does to memory we hand out
 * and heap it returns.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "dicom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct dcm_image *img;
	char err[DCM_ERR_LEN];
	FILE *f;

	if (!*path)
		snprintf(path, sizeof path, "/dev/shm/fuzz_dicom.%d.dcm", (int)getpid());
	if (!(f = fopen(path, "wb")))
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (dcm_read(path, &img, err, sizeof err) == 0) {
		size_t n = (size_t)img->frames * img->samples * img->rows * img->cols *
			   dcm_sample_size(img->sample);
		volatile unsigned char sink = 0;

		if (n)
			sink = ((unsigned char *)img->pixels)[n - 1];
		(void)sink;
		dcm_image_free(img);
	}
	return 0;
}
