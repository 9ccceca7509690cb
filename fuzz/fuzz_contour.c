/*
 * fuzz_contour.c - libFuzzer harness for contour2mask's contour-file parser
 * and both rasterisers, through the program's own static functions (the
 * source is included, its main renamed): the input is a contour file; a
 * parsed polygon is checked against a 64x48 image and painted with the
 * centre and the digits rule.
 */
#define main contour2mask_main
#include "../filters/contour2mask.c"
#undef main

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	static uint8_t mask[48 * 64];
	struct polygon p;
	char err[512];
	FILE *f;

	if (!*path)
		snprintf(path, sizeof path, "/dev/shm/fuzz_contour.%d.txt", (int)getpid());
	if (!(f = fopen(path, "wb")))
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (polygon_load(path, &p, err, sizeof err) == 0) {
		if (polygon_check(&p, path, 48, 64, err, sizeof err) == 0) {
			raster_centre(&p, mask, 48, 64, 1);
			raster_digits(&p, mask, 48, 64, 2);
		}
		polygon_free(&p);
	}
	return 0;
}
