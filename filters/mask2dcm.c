/*
 * mask2dcm - masks in a tensor stream -> DICOM Segmentation objects.
 *
 * Reads records holding a mask (tensor `pred`, or --field; 1xHxW or HxW) and
 * meta `source`, the DICOM image the mask was made from (dcm2tensor puts
 * it there).  Each source's header is read again (patient, study, series,
 * frame of reference, geometry); records are grouped by the source's
 * Series Instance UID, and each series becomes one multi-frame binary SEG
 * (one segment, one frame per record, in stream order) in DIR, written
 * atomically when the whole stream has been read.  One TSV line per file
 * on stdout: path, frames, source series UID.
 *
 * The SEG's own UIDs are "2.25." + 128 bits derived from a hash of what it
 * holds (source UIDs and masks), so the same input gives the same UIDs; the
 * only other varying value, Content Date/Time, comes from --timestamp or
 * SOURCE_DATE_EPOCH when given.
 *
 * A SEG has one Frame of Reference: when the sources of a series have
 * several (the Sunnybrook images have one each), the first's is used and a
 * warning says so.
 *
 * Not done: multi-frame (enhanced) sources, several segments per object,
 * fractional segmentations.  Every mask is kept in memory until the end.
 */
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dicom.h"
#include "rng.h"
#include "st.h"
#include "util.h"

#define SEG_VERSION "lvseg mask2dcm 1"

struct opts {
	const char *outdir;
	const char *field;
	const char *source_root;
	const char *label;
	const char *algorithm_type;
	const char *algorithm_name;
	long class_value;
	long series_offset;
	time_t timestamp;
	char **inputs;
	int ninputs;
};

struct frame {
	struct dcm_source src;
	uint8_t *mask;   /* (rows, cols), 0/1 */
	double depth;    /* position along the slice normal (mm) */
	double trigger;  /* trigger time (ms), 0 when absent */
	uint32_t position_index, temporal_index;
};

struct series {
	struct frame *frames;
	size_t n, cap;
	int rows, cols;
	size_t other_frame_of_ref; /* sources whose FoR UID is not the first's */
};

struct archive {
	struct series *series;
	size_t n, cap;
};

static void help(void)
{
	printf("Usage: %s [OPTION]... -o DIR [FILE]...\n"
	       "Write masks as DICOM Segmentation objects (SEG, binary, one\n"
	       "segment): one multi-frame file per source series, one frame per\n"
	       "record.  Reads tensor streams from the FILEs or, when there are\n"
	       "none or FILE is '-', standard input.  Each record needs the mask\n"
	       "tensor (1xHxW or HxW) and meta 'source', the DICOM image it was\n"
	       "made from (dcm2tensor writes it); patient, study, frame of\n"
	       "reference and geometry are copied from that file.  Prints one line\n"
	       "per file written: path, frames, source Series Instance UID.\n"
	       "\n"
	       "  -o, --output DIR        where to write <patient>_<series>.dcm\n"
	       "                          (required; created when missing)\n"
	       "  -f, --field NAME        mask tensor (default: pred)\n"
	       "  -c, --class N           pixels equal to N are in the segment,\n"
	       "                          0 to 255 (default 1)\n"
	       "  -C, --source-root DIR   resolve relative 'source' paths against\n"
	       "                          DIR (default: the current directory)\n"
	       "      --label TEXT        segment label (default: Left ventricle\n"
	       "                          blood pool)\n"
	       "      --algorithm-type T  AUTOMATIC or MANUAL (default AUTOMATIC)\n"
	       "      --algorithm-name S  algorithm name of an AUTOMATIC segment\n"
	       "                          (default: lvseg)\n"
	       "      --series-offset N   SEG series number = source series\n"
	       "                          number + N, 0 to 99999 (default 1000)\n"
	       "      --timestamp T       Content Date/Time, seconds since 1970 UTC\n"
	       "                          (default: $SOURCE_DATE_EPOCH, else now)\n"
	       "  -h, --help              show this help and exit\n"
	       "\n"
	       "Segment codes: category SCT 91723000 'Anatomical Structure', type\n"
	       "SCT 87878005 'Left ventricle' (DICOM CID 7152).\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	enum { OPT_LABEL = 256, OPT_ALGO_TYPE, OPT_ALGO_NAME, OPT_OFFSET,
	       OPT_TIME };
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"field", required_argument, NULL, 'f'},
		{"class", required_argument, NULL, 'c'},
		{"source-root", required_argument, NULL, 'C'},
		{"label", required_argument, NULL, OPT_LABEL},
		{"algorithm-type", required_argument, NULL, OPT_ALGO_TYPE},
		{"algorithm-name", required_argument, NULL, OPT_ALGO_NAME},
		{"series-offset", required_argument, NULL, OPT_OFFSET},
		{"timestamp", required_argument, NULL, OPT_TIME},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *env = getenv("SOURCE_DATE_EPOCH");
	int c;

	*o = (struct opts){.field = "pred",
			   .label = "Left ventricle blood pool",
			   .algorithm_type = "AUTOMATIC",
			   .algorithm_name = "lvseg",
			   .class_value = 1,
			   .series_offset = 1000,
			   .timestamp = -1};
	while ((c = getopt_long(argc, argv, "o:f:c:C:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o->outdir = optarg; break;
		case 'f': o->field = optarg; break;
		case 'c': o->class_value = (long)parse_int("--class", optarg, 0, 255); break;
		case 'C': o->source_root = optarg; break;
		case OPT_LABEL: o->label = optarg; break;
		case OPT_ALGO_TYPE: o->algorithm_type = optarg; break;
		case OPT_ALGO_NAME: o->algorithm_name = optarg; break;
		case OPT_OFFSET:
			o->series_offset = (long)parse_int("--series-offset", optarg, 0, 99999);
			break;
		case OPT_TIME:
			o->timestamp = (time_t)parse_int("--timestamp", optarg, 0,
							 253402300799LL);
			break;
		case 'h': help(); help_exit();
		default: usage_error("invalid option");
		}
	}
	if (!o->outdir)
		usage_error("no output directory (-o DIR)");
	if (!*o->field)
		usage_error("the tensor name must not be empty");
	if (!*o->label || strlen(o->label) > 64)
		usage_error("--label must be 1 to 64 characters");
	if (strcmp(o->algorithm_type, "AUTOMATIC") &&
	    strcmp(o->algorithm_type, "MANUAL"))
		usage_error("--algorithm-type must be AUTOMATIC or MANUAL, not '%s'",
			    o->algorithm_type);
	if (!*o->algorithm_name || strlen(o->algorithm_name) > 64)
		usage_error("--algorithm-name must be 1 to 64 characters");
	if (o->timestamp < 0 && env && *env)
		o->timestamp = (time_t)parse_int("SOURCE_DATE_EPOCH", env, 0,
						 253402300799LL);
	if (o->timestamp < 0)
		o->timestamp = time(NULL);
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

/* "a\b\c" -> up to n numbers; 0 when exactly n were there. */
static int parse_ds(const char *s, double *v, int n)
{
	char *end;

	for (int i = 0; i < n; i++) {
		errno = 0;
		v[i] = strtod(s, &end);
		if (end == s || errno || !isfinite(v[i]))
			return -1;
		while (*end == ' ')
			end++;
		if (i < n - 1 && *end != '\\')
			return -1;
		s = end + (i < n - 1);
	}
	return *s ? -1 : 0;
}

static struct series *series_for(struct archive *a, const char *uid)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->series[i].frames[0].src.series_uid, uid))
			return &a->series[i];
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 8;
		a->series = ereallocarray(a->series, a->cap, sizeof *a->series);
	}
	a->series[a->n] = (struct series){0};
	return &a->series[a->n++];
}

/* The source header of record r, checked for what a SEG needs. */
static void read_source(const struct walker *w, const struct st_record *r,
			const struct opts *o, struct frame *f)
{
	const char *src, *uid;
	char path[4096], err[DCM_ERR_LEN];
	double ori[6], pos[3], nrm[3];

	if (st_meta_get_str(r, "source", &src) || !*src)
		walk_die(w, "no meta 'source' (the DICOM image of the mask)");
	if (o->source_root && src[0] != '/')
		snprintf(path, sizeof path, "%s/%s", o->source_root, src);
	else
		snprintf(path, sizeof path, "%s", src);
	if (dcm_read_source(path, &f->src, err, sizeof err))
		walk_die(w, "source '%s': %s", path, err);
	if (!st_meta_get_str(r, "sop_instance_uid", &uid) &&
	    strcmp(uid, f->src.sop_instance_uid))
		walk_die(w, "source '%s' has SOP Instance UID '%s', the record '%s'",
			 path, f->src.sop_instance_uid, uid);
	if (f->src.number_of_frames[0] && strcmp(f->src.number_of_frames, "1"))
		walk_die(w, "source '%s': multi-frame sources are not supported",
			 path);
	static const struct {
		size_t off;
		const char *name;
	} need[] = {
		{offsetof(struct dcm_source, sop_class_uid), "SOP Class UID"},
		{offsetof(struct dcm_source, sop_instance_uid), "SOP Instance UID"},
		{offsetof(struct dcm_source, study_uid), "Study Instance UID"},
		{offsetof(struct dcm_source, series_uid), "Series Instance UID"},
		{offsetof(struct dcm_source, frame_of_ref_uid), "Frame of Reference UID"},
		{offsetof(struct dcm_source, pixel_spacing), "Pixel Spacing"},
		{offsetof(struct dcm_source, image_position), "Image Position (Patient)"},
		{offsetof(struct dcm_source, image_orientation), "Image Orientation (Patient)"},
	};
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
		if (!*((const char *)&f->src + need[i].off))
			walk_die(w, "source '%s' has no %s", path, need[i].name);
	if (parse_ds(f->src.image_position, pos, 3) ||
	    parse_ds(f->src.image_orientation, ori, 6))
		walk_die(w, "source '%s': bad Image Position/Orientation '%s' '%s'",
			 path, f->src.image_position, f->src.image_orientation);
	nrm[0] = ori[1] * ori[5] - ori[2] * ori[4];
	nrm[1] = ori[2] * ori[3] - ori[0] * ori[5];
	nrm[2] = ori[0] * ori[4] - ori[1] * ori[3];
	f->depth = pos[0] * nrm[0] + pos[1] * nrm[1] + pos[2] * nrm[2];
	f->trigger = 0;
	if (f->src.trigger_time[0] && parse_ds(f->src.trigger_time, &f->trigger, 1))
		walk_die(w, "source '%s': bad Trigger Time '%s'", path,
			 f->src.trigger_time);
}

static void add_record(struct archive *a, const struct walker *w,
		       const struct st_record *r, const struct opts *o)
{
	const struct st_tensor *t = st_record_tensor(r, o->field);
	struct frame f;
	struct series *s;
	int64_t h, wd;
	char shape[64];

	if (!t)
		walk_die(w, "no '%s' tensor", o->field);
	if (!(t->ndim == 2 || (t->ndim == 3 && t->shape[0] == 1)))
		walk_die(w, "'%s' is %s, not 1xHxW or HxW", o->field,
			 st_shape_str(t, shape, sizeof shape));
	h = t->shape[t->ndim - 2];
	wd = t->shape[t->ndim - 1];
	read_source(w, r, o, &f);
	if (f.src.rows != h || f.src.cols != wd)
		walk_die(w, "'%s' is %s, its source %dx%d", o->field,
			 st_shape_str(t, shape, sizeof shape), f.src.rows,
			 f.src.cols);
	s = series_for(a, f.src.series_uid);
	if (s->n) {
		const struct dcm_source *first = &s->frames[0].src;

		if (s->rows != h || s->cols != wd)
			walk_die(w, "'%s' is %s, other images of series %s %dx%d",
				 o->field, st_shape_str(t, shape, sizeof shape),
				 first->series_uid, s->rows, s->cols);
		if (strcmp(first->study_uid, f.src.study_uid))
			walk_die(w, "source of series %s in another study (%s, not %s)",
				 first->series_uid, f.src.study_uid, first->study_uid);
		s->other_frame_of_ref +=
			strcmp(first->frame_of_ref_uid, f.src.frame_of_ref_uid) != 0;
		for (size_t i = 0; i < s->n; i++)
			if (!strcmp(s->frames[i].src.sop_instance_uid,
				    f.src.sop_instance_uid))
				walk_die(w, "a second mask of image %s",
					 f.src.sop_instance_uid);
	}
	s->rows = (int)h;
	s->cols = (int)wd;
	f.mask = emalloc((size_t)(h * wd));
	for (size_t i = 0; i < (size_t)(h * wd); i++)
		f.mask[i] = st_tensor_get(t, i) == (double)o->class_value;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->frames = ereallocarray(s->frames, s->cap, sizeof *s->frames);
	}
	s->frames[s->n++] = f;
}

/* Index from 1 of v among the distinct values of vals (to within tol). */
static uint32_t rank_of(const double *vals, size_t n, double v, double tol)
{
	uint32_t k = 1;

	for (size_t i = 0; i < n; i++) {
		int seen = 0;

		if (vals[i] >= v - tol)
			continue;
		for (size_t j = 0; j < i && !seen; j++) /* count each once */
			seen = fabs(vals[j] - vals[i]) <= tol;
		k += !seen;
	}
	return k;
}

static void set_indices(struct series *s)
{
	double *depth = emalloc(s->n * sizeof *depth);
	double *trig = emalloc(s->n * sizeof *trig);

	for (size_t i = 0; i < s->n; i++) {
		depth[i] = s->frames[i].depth;
		trig[i] = s->frames[i].trigger;
	}
	for (size_t i = 0; i < s->n; i++) {
		s->frames[i].position_index = rank_of(depth, s->n, depth[i], 1e-3);
		s->frames[i].temporal_index = rank_of(trig, s->n, trig[i], 1e-3);
	}
	free(depth);
	free(trig);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* "2.25." + a version-4 UUID drawn from (hash, kind). */
static void make_uid(char *out, size_t len, uint64_t hash, uint64_t kind)
{
	struct rng r = rng_derive(hash, kind, 0);
	uint64_t hi = rng_next(&r), lo = rng_next(&r);
	char digits[48];
	int n = 0;

	hi = (hi & ~0xf000ULL) | 0x4000ULL;
	lo = (lo & ~(3ULL << 62)) | (2ULL << 62);
	unsigned __int128 v = ((unsigned __int128)hi << 64) | lo;
	do {
		digits[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	size_t o = (size_t)snprintf(out, len, "2.25.");
	while (n > 0 && o + 1 < len)
		out[o++] = digits[--n];
	out[o] = '\0';
}

/* Patient id and series number as a file name: [A-Za-z0-9.-] kept. */
static void file_name(char *out, size_t len, const char *dir,
		      const struct dcm_source *src)
{
	char base[160];
	size_t k = 0;
	const char *parts[2] = {src->patient_id[0] ? src->patient_id : "anon",
				src->series_number[0] ? src->series_number : "0"};

	for (int p = 0; p < 2; p++) {
		if (p)
			base[k++] = '_';
		for (const char *c = parts[p]; *c && k < 70 * (size_t)(p + 1); c++)
			base[k++] = (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789.-", *c) ? *c : '-');
	}
	base[k] = '\0';
	snprintf(out, len, "%s/%s.dcm", dir, base);
}

static void write_series(const struct series *s, const struct opts *o,
			 const char *path)
{
	const struct dcm_source *first = &s->frames[0].src;
	struct dcm_seg_frame *fr = ecalloc(s->n, sizeof *fr);
	char sop[72], series_uid[72], dim_uid[72], number[24], date[16], tod[16];
	char desc[96], err[DCM_ERR_LEN];
	uint64_t h = 0xcbf29ce484222325ULL;
	struct atomic_file af;
	struct tm tm;
	long srcno;
	char *end;

	for (size_t i = 0; i < s->n; i++) {
		fr[i] = (struct dcm_seg_frame){
			.src = &s->frames[i].src,
			.mask = s->frames[i].mask,
			.position_index = s->frames[i].position_index,
			.temporal_index = s->frames[i].temporal_index,
		};
		h = fnv(h, s->frames[i].src.sop_instance_uid,
			strlen(s->frames[i].src.sop_instance_uid) + 1);
		h = fnv(h, s->frames[i].mask, (size_t)s->rows * (size_t)s->cols);
	}
	h = fnv(h, o->label, strlen(o->label) + 1);
	make_uid(sop, sizeof sop, h, 1);
	make_uid(series_uid, sizeof series_uid, h, 2);
	make_uid(dim_uid, sizeof dim_uid, h, 3);
	errno = 0;
	srcno = strtol(first->series_number, &end, 10);
	if (end == first->series_number || *end || errno || srcno < 0 ||
	    srcno > 2000000000L - o->series_offset)
		srcno = 0;
	snprintf(number, sizeof number, "%ld", srcno + o->series_offset);
	gmtime_r(&o->timestamp, &tm);
	strftime(date, sizeof date, "%Y%m%d", &tm);
	strftime(tod, sizeof tod, "%H%M%S", &tm);
	snprintf(desc, sizeof desc, "%s", o->label);
	struct dcm_seg_spec spec = {
		.rows = s->rows,
		.cols = s->cols,
		.nframes = s->n,
		.frames = fr,
		.sop_instance_uid = sop,
		.series_uid = series_uid,
		.dimension_uid = dim_uid,
		.series_number = number,
		.series_description = desc,
		.content_label = "LVSEG",
		.content_description = desc,
		.content_date = date,
		.content_time = tod,
		.software_version = SEG_VERSION,
		.segment_label = o->label,
		.algorithm_type = o->algorithm_type,
		.algorithm_name = strcmp(o->algorithm_type, "AUTOMATIC")
					  ? NULL
					  : o->algorithm_name,
		.category = {"91723000", "SCT", "Anatomical Structure"},
		.type = {"87878005", "SCT", "Left ventricle"},
	};
	if (s->other_frame_of_ref)
		warn("%s: %zu of %zu sources have another Frame of Reference UID than the first; the SEG has the first's",
		     path, s->other_frame_of_ref, s->n);
	if (atomic_open(&af, path))
		die("%s:", path);
	if (dcm_write_seg(af.tmp, &spec, err, sizeof err)) {
		atomic_abort(&af);
		die("%s: %s", path, err);
	}
	if (atomic_commit(&af))
		die("%s:", path);
	printf("%s\t%zu\t%s\n", path, s->n, first->series_uid);
	free(fr);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct archive a = {0};
	struct walker w;
	struct st_record *r;
	char (*paths)[4200];

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	walk_open(&w, o.inputs, o.ninputs);
	while (walk_next(&w, &r)) {
		add_record(&a, &w, r, &o);
		st_record_free(r);
	}
	walk_close(&w);
	if (a.n == 0)
		die("no records");
	if (mkdir(o.outdir, 0777) && errno != EEXIST)
		die("%s:", o.outdir);
	paths = ecalloc(a.n, sizeof *paths);
	for (size_t i = 0; i < a.n; i++) {
		file_name(paths[i], sizeof paths[i], o.outdir,
			  &a.series[i].frames[0].src);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(paths[i], paths[j]))
				die("%s: series %s and %s would both be written there",
				    paths[i], a.series[j].frames[0].src.series_uid,
				    a.series[i].frames[0].src.series_uid);
	}
	for (size_t i = 0; i < a.n; i++) {
		set_indices(&a.series[i]);
		write_series(&a.series[i], &o, paths[i]);
	}
	for (size_t i = 0; i < a.n; i++) {
		for (size_t j = 0; j < a.series[i].n; j++)
			free(a.series[i].frames[j].mask);
		free(a.series[i].frames);
	}
	free(a.series);
	free(paths);
	return fshut(stdout, "stdout");
}
