/*
 * dcm2tensor - DICOM images to a tensor stream: one record per image (per
 * frame of a multi-frame file), tensor "image" of shape (C, H, W) with the
 * stored values, and the header attributes the pipeline uses as meta.
 *
 * Input: FILE... or --list TSV (a header line naming the columns; "id" and
 * "image" are required, every other column becomes a meta string).
 * A file that cannot be read is reported (`dcm2tensor: PATH: why`) and
 * skipped; the stream stays valid and the exit status becomes 1.
 *
 * Not done here: LUTs (modality, VOI, palette), colour conversion, reading
 * DICOM from stdin.  Decoding lives in filters/lib/dicom.cpp (GDCM).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dicom.h"
#include "st.h"
#include "util.h"

struct opts {
	const char *list; /* --list TSV, NULL for FILE arguments */
	int to_float;     /* --float */
	int keep_going;   /* --keep-going */
	char **files;
	int nfiles;
};

/* Extra columns of a --list row, as meta strings. */
struct extra {
	char **keys, **vals;
	size_t n;
};

static void usage(void)
{
	printf("Usage: %s [OPTION]... FILE...\n"
	       "  or:  %s [OPTION]... --list TSV\n"
	       "Read DICOM images and write a tensor stream to stdout: one record per\n"
	       "image (per frame of a multi-frame file, id suffixed #0001, #0002, ...),\n"
	       "tensor 'image' of shape CxHxW (C = 1, or 3 for colour) with the stored\n"
	       "values: u8 (8-bit), i16 (8- or 16-bit signed), u16, i32 (32-bit); meta:\n"
	       "source, sop_instance_uid, patient_id, series_number, instance_number,\n"
	       "rows, columns, pixel_spacing, slice_thickness, slice_location,\n"
	       "image_position, image_orientation, trigger_time,\n"
	       "cardiac_number_of_images, window_center, window_width, rescale_slope,\n"
	       "rescale_intercept, photometric, bits_stored (absent attributes are\n"
	       "left out).  Without --list the id is PARENT/NAME (file name without .dcm).\n"
	       "\n"
	       "  -l, --list TSV     read the images to convert from TSV ('-' for stdin):\n"
	       "                     a header line, then one row per image; columns 'id'\n"
	       "                     and 'image' (a path) are required, every other\n"
	       "                     non-empty cell becomes a meta string (and wins over\n"
	       "                     a DICOM attribute of the same name) (default: none,\n"
	       "                     images are the FILE arguments)\n"
	       "  -f, --float        write f32 values with Rescale Slope/Intercept applied\n"
	       "                     (default: off, stored values in their integer type)\n"
	       "  -k, --keep-going   exit 0 even when some files could not be read (they\n"
	       "                     are still reported on stderr) (default: off)\n"
	       "  -h, --help         show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 a file could not be read (or a data or I/O error),\n"
	       "2 usage error.\n",
	       argv0, argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"list", required_argument, NULL, 'l'},
		{"float", no_argument, NULL, 'f'},
		{"keep-going", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){0};
	while ((c = getopt_long(argc, argv, "l:fkh", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (!*optarg)
				usage_error("--list: empty path");
			o->list = optarg;
			break;
		case 'f':
			o->to_float = 1;
			break;
		case 'k':
			o->keep_going = 1;
			break;
		case 'h':
			usage();
			help_exit();
		default:
			usage_error("unknown option");
		}
	}
	o->files = argv + optind;
	o->nfiles = argc - optind;
	if (o->list && o->nfiles > 0)
		usage_error("give FILE arguments or --list, not both");
	if (!o->list && o->nfiles == 0)
		usage_error("no input: give FILE... or --list TSV");
}

/* "dir/SCD0000101/48.dcm" -> "SCD0000101/48" (malloc'd). */
static char *id_from_path(const char *path)
{
	char *p = estrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	char *base = strrchr(p, '/');
	char *stem = base ? base + 1 : p;
	size_t sl = strlen(stem);
	if (sl > 4 && !strcasecmp(stem + sl - 4, ".dcm"))
		stem[sl - 4] = '\0';
	char *parent = NULL;
	if (base) {
		*base = '\0';
		char *pb = strrchr(p, '/');
		parent = pb ? pb + 1 : p;
		if (!*parent || !strcmp(parent, ".") || !strcmp(parent, ".."))
			parent = NULL;
	}
	char *id;
	if (asprintf(&id, "%s%s%s", parent ? parent : "", parent ? "/" : "",
		     stem) < 0)
		die("out of memory");
	free(p);
	return id;
}

/* A (C, H, W) tensor around data, a malloc'd buffer it takes over (the
 * stream library frees tensor data with free()): saves a zero-fill and a
 * copy of every image. */
static struct st_tensor *tensor_adopt(enum st_dtype dt, int64_t c, int64_t h,
				      int64_t w, void *data)
{
	struct st_err err;
	struct st_tensor *t = st_tensor_new3(dt, 1, 1, 1, &err);
	if (!t)
		return NULL;
	free(t->data);
	t->data = data;
	t->shape[0] = c;
	t->shape[1] = h;
	t->shape[2] = w;
	return t;
}

/* Frame f (0-based) of img as a (C, H, W) tensor; NULL with why.  A
 * single-frame image whose samples need no conversion gives its buffer
 * away (img->pixels becomes NULL). */
static struct st_tensor *frame_tensor(struct dcm_image *img, int f,
				      int to_float, const char **why)
{
	struct st_err err;
	size_t plane = (size_t)img->samples * img->rows * img->cols;
	size_t es = dcm_sample_size(img->sample);
	const unsigned char *src =
		(const unsigned char *)img->pixels + (size_t)f * plane * es;
	enum st_dtype dt;

	if (to_float)
		dt = ST_F32;
	else if (img->sample == DCM_U8)
		dt = ST_U8;
	else if (img->sample == DCM_I8 || img->sample == DCM_I16)
		dt = ST_I16;
	else if (img->sample == DCM_U16)
		dt = ST_U16;
	else
		dt = ST_I32;
	if (img->frames == 1 && !to_float &&
	    (img->sample == DCM_U8 || img->sample == DCM_I16 ||
	     img->sample == DCM_U16 || img->sample == DCM_I32)) {
		struct st_tensor *t = tensor_adopt(dt, img->samples, img->rows,
						   img->cols, img->pixels);
		if (!t) {
			*why = "cannot allocate the image tensor";
			return NULL;
		}
		img->pixels = NULL;
		return t;
	}
	struct st_tensor *t =
		st_tensor_new3(dt, img->samples, img->rows, img->cols, &err);
	if (!t) {
		*why = "cannot allocate the image tensor";
		return NULL;
	}
	if (dt == ST_F32) {
		float *d = t->data;
		for (size_t i = 0; i < plane; i++) {
			double v;
			switch (img->sample) {
			case DCM_U8: v = src[i]; break;
			case DCM_I8: v = ((const int8_t *)src)[i]; break;
			case DCM_U16: v = ((const uint16_t *)src)[i]; break;
			case DCM_I16: v = ((const int16_t *)src)[i]; break;
			case DCM_U32: v = ((const uint32_t *)src)[i]; break;
			default: v = ((const int32_t *)src)[i]; break;
			}
			d[i] = (float)(v * img->slope + img->intercept);
		}
	} else if (img->sample == DCM_I8) {
		int16_t *d = t->data;
		for (size_t i = 0; i < plane; i++)
			d[i] = ((const int8_t *)src)[i];
	} else if (img->sample == DCM_U32) {
		const uint32_t *s = (const uint32_t *)src;
		for (size_t i = 0; i < plane; i++) {
			if (s[i] > INT32_MAX) {
				st_tensor_free(t);
				*why = "unsigned 32-bit value above the i32 range "
				       "(try --float)";
				return NULL;
			}
			((int32_t *)t->data)[i] = (int32_t)s[i];
		}
	} else {
		memcpy(t->data, src, plane * es);
	}
	return t;
}

static void set_meta(struct st_record *r, const struct dcm_meta *m,
		     const char *path)
{
	struct st_err err;
	int rc;

	switch (m->kind) {
	case DCM_META_STR:
		rc = st_meta_set_str(r, m->key, m->str, &err);
		break;
	case DCM_META_INT:
		rc = st_meta_set_int(r, m->key, m->i, &err);
		break;
	default:
		rc = m->is_array ? st_meta_set_nums(r, m->key, m->nums, m->n, &err)
				 : st_meta_set_num(r, m->key, m->nums[0], &err);
		break;
	}
	if (rc < 0)
		die("%s: meta '%s': %s", path, m->key, err.msg);
}

/* Converts one file: every frame written as a record.  0, or -1 after
 * reporting why the file was skipped (nothing of it written). */
static int convert(const char *path, const char *id, const struct extra *ex,
		   const struct opts *o)
{
	struct dcm_image *img;
	char why[DCM_ERR_LEN];
	struct st_err err;

	if (dcm_read(path, &img, why, sizeof why) < 0) {
		warn("%s: %s", path, why);
		return -1;
	}
	struct st_record **recs = ecalloc((size_t)img->frames, sizeof *recs);
	int rc = 0;
	for (int f = 0; f < img->frames && rc == 0; f++) {
		char *fid;
		if (img->frames > 1) {
			if (asprintf(&fid, "%s#%04d", id, f + 1) < 0)
				die("out of memory");
		} else {
			fid = estrdup(id);
		}
		const char *msg = NULL;
		struct st_tensor *t = frame_tensor(img, f, o->to_float, &msg);
		if (!t) {
			warn("%s: %s", path, msg);
			free(fid);
			rc = -1;
			break;
		}
		struct st_record *r = recs[f] = st_record_new(fid, &err);
		free(fid);
		if (!r || st_record_set_tensor(r, "image", t, &err) < 0 ||
		    st_meta_set_str(r, "source", path, &err) < 0)
			die("%s: %s", path, err.msg);
		for (size_t k = 0; k < img->nmeta; k++)
			set_meta(r, &img->meta[k], path);
		if (img->frames > 1 &&
		    (st_meta_set_int(r, "frame", f + 1, &err) < 0 ||
		     st_meta_set_int(r, "frames", img->frames, &err) < 0))
			die("%s: %s", path, err.msg);
		for (size_t k = 0; ex && k < ex->n; k++)
			if (*ex->vals[k] &&
			    st_meta_set_str(r, ex->keys[k], ex->vals[k], &err) < 0)
				die("%s: %s", path, err.msg);
	}
	/* A file is written whole or not at all. */
	for (int f = 0; f < img->frames; f++) {
		if (rc == 0)
			write_record(stdout, recs[f]);
		st_record_free(recs[f]);
	}
	free(recs);
	dcm_image_free(img);
	return rc;
}

/* Splits line at tabs in place; returns the number of fields. */
static size_t split_tabs(char *line, char ***fields, size_t *cap)
{
	size_t n = 0;
	for (char *p = line;; n++) {
		if (n == *cap) {
			*cap = *cap ? 2 * *cap : 16;
			*fields = ereallocarray(*fields, *cap, sizeof **fields);
		}
		(*fields)[n] = p;
		char *tab = strchr(p, '\t');
		if (!tab)
			return n + 1;
		*tab = '\0';
		p = tab + 1;
	}
}

static void chomp(char *s, ssize_t *len)
{
	while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r'))
		s[--*len] = '\0';
}

/* --list: returns the number of rows or files that failed. */
static int run_list(const struct opts *o)
{
	FILE *f = open_input(o->list);
	const char *name = strcmp(o->list, "-") ? o->list : "stdin";
	char *line = NULL, **fields = NULL, **header = NULL;
	size_t cap = 0, fcap = 0, ncols = 0, lineno = 0;
	ssize_t len;
	int failed = 0;
	long id_col = -1, image_col = -1;

	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		chomp(line, &len);
		if (len == 0)
			continue;
		if (!header) {
			char **h = NULL;
			size_t hcap = 0;
			ncols = split_tabs(line, &h, &hcap);
			header = ecalloc(ncols, sizeof *header);
			for (size_t i = 0; i < ncols; i++) {
				for (size_t j = 0; j < i; j++)
					if (!strcmp(header[j], h[i]))
						die("%s:%zu: column '%s' twice",
						    name, lineno, h[i]);
				if (!*h[i])
					die("%s:%zu: empty column name", name,
					    lineno);
				header[i] = estrdup(h[i]);
				if (!strcmp(h[i], "id"))
					id_col = (long)i;
				if (!strcmp(h[i], "image"))
					image_col = (long)i;
			}
			free(h);
			if (id_col < 0 || image_col < 0)
				die("%s:%zu: header lacks column '%s'", name,
				    lineno, id_col < 0 ? "id" : "image");
			continue;
		}
		size_t n = split_tabs(line, &fields, &fcap);
		if (n != ncols) {
			warn("%s:%zu: %zu fields, the header has %zu", name,
			     lineno, n, ncols);
			failed++;
			continue;
		}
		if (!*fields[id_col] || !*fields[image_col]) {
			warn("%s:%zu: empty id or image", name, lineno);
			failed++;
			continue;
		}
		struct extra ex = {
			.keys = ecalloc(ncols, sizeof(char *)),
			.vals = ecalloc(ncols, sizeof(char *)),
		};
		for (size_t i = 0; i < ncols; i++)
			if ((long)i != id_col && (long)i != image_col) {
				ex.keys[ex.n] = header[i];
				ex.vals[ex.n++] = fields[i];
			}
		if (convert(fields[image_col], fields[id_col], &ex, o) < 0)
			failed++;
		free(ex.keys);
		free(ex.vals);
	}
	if (ferror(f))
		die("%s: read error:", name);
	if (!header)
		die("%s: empty list (no header line)", name);
	for (size_t i = 0; i < ncols; i++)
		free(header[i]);
	free(header);
	free(fields);
	free(line);
	close_input(f);
	return failed;
}

int main(int argc, char **argv)
{
	struct opts o;
	int failed = 0;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	/* Each file allocates and frees a few image-sized buffers: keep them
	 * in the heap rather than mapping and faulting them in every time. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	if (o.list) {
		failed = run_list(&o);
	} else {
		for (int i = 0; i < o.nfiles; i++) {
			char *id = id_from_path(o.files[i]);
			if (convert(o.files[i], id, NULL, &o) < 0)
				failed++;
			free(id);
		}
	}
	if (fshut(stdout, "stdout"))
		return EXIT_DATA;
	return failed && !o.keep_going ? EXIT_DATA : 0;
}
