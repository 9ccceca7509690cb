/*
 * mask2contour - predicted masks back to contour files in the Sunnybrook
 * layout, so the challenge's evaluator and other tools can read our results.
 *
 * For each record, the pixels of the mask tensor (default `pred`, 1xHxW or
 * HxW) whose value is one of --classes are the region; its outline (the
 * outer pixel-edge boundary of the largest 4-connected component, holes
 * filled, every half pixel, clockwise on screen: lib/contour.h) is written
 * as "x y" lines with two decimals (x = column, y = row), a closed polygon,
 * to
 *   DIR/<case>/<k>-contours/IM-0001-NNNN-<k>contour-<suffix>.txt
 * (k = i or o; NNNN the record's frame), atomically.  contour2mask's centre
 * rule fills such a file back to exactly that component.  Stdout: one TSV
 * line per record, `id file points` (file empty, points 0 for an empty
 * region: no file is written).
 *
 * Not done here: several components or holes per file (the expert files
 * are one polygon each), smoothing, sub-pixel outlines.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "contour.h"
#include "st.h"
#include "util.h"

struct opts {
	const char *dir;
	const char *field;
	const char *case_key;
	const char *suffix;
	char kind;             /* 'i' or 'o' */
	uint8_t inside[256];   /* class values forming the region */
	char **inputs;
	int ninputs;
};

static void help(void)
{
	printf("Usage: %s -o DIR [OPTION]... [STREAM]...\n"
	       "Write each record's mask outline as a Sunnybrook contour file\n"
	       "DIR/CASE/K-contours/IM-0001-NNNN-Kcontour-SUFFIX.txt (one 'x y' per\n"
	       "line, x = column, y = row, a closed polygon along pixel edges, every\n"
	       "half pixel), atomically.  Reads tensor streams (stdin when none or\n"
	       "'-'); prints 'id<TAB>file<TAB>points' per record on stdout.\n"
	       "\n"
	       "  -o, --output DIR     where the case folders go (required; made if\n"
	       "                       missing)\n"
	       "  -f, --field NAME     mask tensor (default: pred)\n"
	       "  -c, --classes LIST   comma-separated class values inside the region\n"
	       "                       (default: 1; the epicardium of a 0/1/2 mask:\n"
	       "                       1,2)\n"
	       "  -k, --kind i|o       i-contour or o-contour naming (default: i)\n"
	       "  -x, --suffix WORD    file name ending, IM-...-icontour-WORD.txt\n"
	       "                       (default: auto, the challenge's name for\n"
	       "                       submitted contours; 'manual' as the expert's)\n"
	       "      --case-key KEY   meta key naming the case (default: case;\n"
	       "                       without it, the id up to its last '/')\n"
	       "  -h, --help           show this help and exit\n"
	       "\n"
	       "NNNN is meta 'frame' (a number), else the digits ending the id.\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

static void parse_classes(const char *s, uint8_t *inside)
{
	char *copy = estrdup(s), *save = NULL;

	memset(inside, 0, 256);
	for (char *tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		inside[parse_int("--classes", tok, 1, 255)] = 1;
	free(copy);
	for (int c = 0; c < 256; c++)
		if (inside[c])
			return;
	usage_error("--classes: no class in '%s'", s);
}

static int safe_name(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s < 0x20)
			return 0;
	return 1;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"field", required_argument, NULL, 'f'},
		{"classes", required_argument, NULL, 'c'},
		{"kind", required_argument, NULL, 'k'},
		{"suffix", required_argument, NULL, 'x'},
		{"case-key", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.field = "pred", .case_key = "case", .suffix = "auto",
			   .kind = 'i'};
	o->inside[1] = 1;
	while ((c = getopt_long(argc, argv, "o:f:c:k:x:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o->dir = optarg; break;
		case 'f': o->field = optarg; break;
		case 'c': parse_classes(optarg, o->inside); break;
		case 'k':
			if (strcmp(optarg, "i") && strcmp(optarg, "o"))
				usage_error("--kind: '%s' is not i or o", optarg);
			o->kind = optarg[0];
			break;
		case 'x': o->suffix = optarg; break;
		case 'K': o->case_key = optarg; break;
		case 'h': help(); help_exit();
		default: usage_error("invalid option");
		}
	}
	if (!o->dir || !*o->dir)
		usage_error("-o DIR is required");
	if (!*o->field || !*o->case_key)
		usage_error("the field and the case key must not be empty");
	if (!safe_name(o->suffix))
		usage_error("--suffix: '%s' is not a file name part", o->suffix);
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

/* mkdir that accepts an existing directory. */
static void make_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0777) < 0 &&
	    !(errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
		die("%s:", path);
}

/* The frame number: meta 'frame', else the digits that end the id. */
static long frame_of(const struct walker *w, const struct st_record *r)
{
	double v;
	const char *s;
	const char *id = st_record_id(r), *e = id + strlen(id), *b = e;

	if (st_meta_get_num(r, "frame", &v) == 0 ||
	    (st_meta_get_str(r, "frame", &s) == 0 && *s &&
	     (v = strtod(s, NULL), 1))) {
		if (!(v >= 0 && v <= 9999 && v == floor(v)))
			walk_die(w, "frame %g is not a number 0..9999", v);
		return (long)v;
	}
	while (b > id && b[-1] >= '0' && b[-1] <= '9')
		b--;
	if (b == e || e - b > 4)
		walk_die(w, "no 'frame' meta and no frame number ending the id");
	return strtol(b, NULL, 10);
}

static char *case_of(const struct walker *w, const struct st_record *r,
		     const char *key)
{
	char buf[256];
	const char *id = st_record_id(r), *slash = strrchr(id, '/');
	char *c;

	if (st_meta_has(r, key))
		c = estrdup(st_meta_text(r, key, buf, sizeof buf));
	else {
		c = estrdup(id);
		if (slash)
			c[slash - id] = '\0';
	}
	if (!safe_name(c))
		walk_die(w, "case '%s' is not a folder name", c);
	return c;
}

static void process(const struct walker *w, const struct st_record *r,
		    const struct opts *o)
{
	const struct st_tensor *t = st_record_tensor(r, o->field);
	char shape[64], *path, *dir, *case_name;
	struct atomic_file af;
	double *xy;
	size_t n, len;
	long h, wd;
	uint8_t *m;

	if (!t)
		walk_die(w, "no '%s' tensor", o->field);
	if (t->ndim < 2 || st_tensor_numel(t) !=
	    (size_t)t->shape[t->ndim - 2] * (size_t)t->shape[t->ndim - 1])
		walk_die(w, "%s %s is not one H x W mask", o->field,
			 st_shape_str(t, shape, sizeof shape));
	h = (long)t->shape[t->ndim - 2];
	wd = (long)t->shape[t->ndim - 1];
	m = emalloc((size_t)(h * wd) + 1);
	for (long i = 0; i < h * wd; i++) {
		double v = st_tensor_get(t, (size_t)i);

		m[i] = v >= 0 && v < 256 && v == floor(v) && o->inside[(int)v];
	}
	n = mask_outline(m, h, wd, &xy);
	free(m);
	if (n == (size_t)-1)
		walk_die(w, "out of memory");
	long frame = frame_of(w, r);
	case_name = case_of(w, r, o->case_key);
	if (n == 0) {
		printf("%s\t\t0\n", st_record_id(r));
		free(case_name);
		return;
	}
	len = strlen(o->dir) + strlen(case_name) + strlen(o->suffix) + 64;
	dir = emalloc(len);
	path = emalloc(len);
	snprintf(dir, len, "%s/%s", o->dir, case_name);
	make_dir(dir);
	snprintf(dir, len, "%s/%s/%c-contours", o->dir, case_name, o->kind);
	make_dir(dir);
	snprintf(path, len, "%s/IM-0001-%04ld-%ccontour-%s.txt", dir, frame,
		 o->kind, o->suffix);
	if (atomic_open(&af, path) < 0)
		walk_die(w, "%s:", path);
	for (size_t i = 0; i < n; i++)
		fprintf(af.f, "%.2f %.2f\n", xy[2 * i], xy[2 * i + 1]);
	if (ferror(af.f)) {
		atomic_abort(&af);
		walk_die(w, "%s: write error", path);
	}
	if (atomic_commit(&af) < 0)
		walk_die(w, "%s:", path);
	printf("%s\t%s\t%zu\n", st_record_id(r), path, n);
	free(xy);
	free(dir);
	free(path);
	free(case_name);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct walker w;
	struct st_record *r;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	make_dir(o.dir);
	walk_open(&w, o.inputs, o.ninputs);
	while (walk_next(&w, &r)) {
		process(&w, r, &o);
		st_record_free(r);
	}
	walk_close(&w);
	return fshut(stdout, "stdout");
}
