/*
 * sunnybrook-index - list the (image, contour) pairs of a Sunnybrook tree as
 * the TSV that `dcm2tensor --list` reads.
 *
 * Two layouts, told apart by what DIR holds (--layout to force one):
 *   subset  DIR/link.csv maps dicoms/<id>/ to contourfiles/<case>/; contour
 *           IM-0001-NNNN-[io]contour-manual.txt (anywhere under the case
 *           folder) belongs to dicoms/<id>/<NNNN as an integer>.dcm.
 *   digits  images DIR/challenge_training/<case>/IM-<series>-NNNN.dcm with
 *           the lab's fixed short-axis series per case; contours under a
 *           folder "Sunnybrook Cardiac MR Database ContoursPart3" anywhere
 *           in DIR, as <CASE>/contours-manual/IRCCI-expert/IM-0001-NNNN-...
 *           where <CASE> has zero-padded numbers (SC-HF-I-01 is SC-HF-I-1).
 *
 * Output: a header line, then one row per frame sorted by id (byte order):
 *   id  image  contour  [ocontour]  case  frame
 * id is "<case>/IM-0001-NNNN"; paths are DIR joined with the file's path in
 * the tree.  A contour whose image is missing (or whose case is unknown) is
 * reported on stderr and left out; --strict then makes the exit status 1.
 *
 * Not done here: reading DICOM headers (dcm2tensor does), other contour
 * kinds (p1/p2 papillary contours are ignored).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

enum layout { LAYOUT_AUTO, LAYOUT_SUBSET, LAYOUT_DIGITS };
enum kind { KIND_IMAGE, KIND_I, KIND_O };

#define CONTOURS_DIR "Sunnybrook Cardiac MR Database ContoursPart3"

struct opts {
	enum layout layout;
	int want_i, want_o; /* --contours */
	int all_frames;
	int strict;
	const char *dir;
};

/* One file found: an image frame or a contour of a frame. */
struct entry {
	char *case_name;
	long frame;
	enum kind kind;
	char *path; /* as printed: DIR/... */
};

struct index {
	const struct opts *o;
	enum layout layout;
	struct entry *e;
	size_t n, alloc;
	char **link_id, **link_case; /* subset: link.csv rows */
	size_t nlink;
	int problems; /* contours reported and left out */
};

/* The DIGITS lab's short-axis series per case. */
static const struct {
	const char *case_name;
	int series;
} digits_series[] = {
	{"SC-HF-I-1", 4},     {"SC-HF-I-2", 106},  {"SC-HF-I-4", 116},
	{"SC-HF-I-40", 134},  {"SC-HF-NI-3", 379}, {"SC-HF-NI-4", 501},
	{"SC-HF-NI-34", 446}, {"SC-HF-NI-36", 474}, {"SC-HYP-1", 550},
	{"SC-HYP-3", 650},    {"SC-HYP-38", 734},  {"SC-HYP-40", 755},
	{"SC-N-2", 898},      {"SC-N-3", 915},     {"SC-N-40", 944},
};

static void usage(void)
{
	printf("Usage: %s [OPTION]... DIR\n"
	       "Print the --list TSV for dcm2tensor: one row per labelled frame of the\n"
	       "Sunnybrook tree DIR (columns id, image, contour, [ocontour,] case, frame;\n"
	       "header line first; sorted by id).\n"
	       "\n"
	       "  -c, --contours SET  i (endocardium), o (epicardium) or io (i in column\n"
	       "                      contour, o in column ocontour) (default i)\n"
	       "  -a, --all-frames    list every frame of the short-axis images, with\n"
	       "                      empty contour cells where there is none\n"
	       "  -l, --layout NAME   subset (link.csv, dicoms/, contourfiles/), digits\n"
	       "                      (challenge_training/ + ContoursPart3) or auto\n"
	       "                      (default auto: detected from DIR)\n"
	       "      --strict        exit 1 when a contour was left out (no image or\n"
	       "                      unknown case); it is reported on stderr either way\n"
	       "  -h, --help          show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 data or I/O error, 2 usage error.\n",
	       argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"contours", required_argument, NULL, 'c'},
		{"all-frames", no_argument, NULL, 'a'},
		{"layout", required_argument, NULL, 'l'},
		{"strict", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.layout = LAYOUT_AUTO, .want_i = 1};
	while ((c = getopt_long(argc, argv, "c:al:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!strcmp(optarg, "i"))
				o->want_i = 1, o->want_o = 0;
			else if (!strcmp(optarg, "o"))
				o->want_i = 0, o->want_o = 1;
			else if (!strcmp(optarg, "io") || !strcmp(optarg, "oi"))
				o->want_i = 1, o->want_o = 1;
			else
				usage_error("--contours: '%s' is not i, o or io", optarg);
			break;
		case 'a':
			o->all_frames = 1;
			break;
		case 'l':
			if (!strcmp(optarg, "auto"))
				o->layout = LAYOUT_AUTO;
			else if (!strcmp(optarg, "subset"))
				o->layout = LAYOUT_SUBSET;
			else if (!strcmp(optarg, "digits"))
				o->layout = LAYOUT_DIGITS;
			else
				usage_error("--layout: '%s' is not subset, digits or auto",
					    optarg);
			break;
		case 'S':
			o->strict = 1;
			break;
		case 'h':
			usage();
			help_exit();
		default:
			usage_error("unknown option");
		}
	}
	if (argc - optind == 0)
		usage_error("missing DIR");
	if (argc - optind > 1)
		usage_error("expected one DIR, got %d arguments", argc - optind);
	o->dir = argv[optind];
}

/* "a" + "/" + "b" (no doubled slash), malloc'd. */
static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	int slash = la > 0 && a[la - 1] == '/';
	char *s;

	if (asprintf(&s, "%s%s%s", a, slash ? "" : "/", b) < 0)
		die("out of memory");
	return s;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void add_entry(struct index *ix, const char *case_name, long frame,
		      enum kind kind, const char *path)
{
	if (strpbrk(path, "\t\n") || strpbrk(case_name, "\t\n/"))
		die("%s: a tab, newline or '/' in a name cannot go in the list",
		    path);
	if (ix->n == ix->alloc) {
		ix->alloc = ix->alloc ? 2 * ix->alloc : 256;
		ix->e = ereallocarray(ix->e, ix->alloc, sizeof(*ix->e));
	}
	ix->e[ix->n++] = (struct entry){estrdup(case_name), frame, kind,
					estrdup(path)};
}

/* Parses "IM-SSSS-NNNN-<k>contour-manual.txt": 0 with *frame and *kind (i or
 * o), -1 for any other name. */
static int parse_contour_name(const char *name, long *frame, char *kind)
{
	unsigned series, nnnn;
	char k, tail[32];
	int used = 0;

	if (sscanf(name, "IM-%4u-%4u-%ccontour-manual.tx%1[t]%n", &series, &nnnn,
		   &k, tail, &used) != 4 || name[used] != '\0' ||
	    strlen(name) != strlen("IM-0001-0048-icontour-manual.txt") ||
	    (k != 'i' && k != 'o'))
		return -1;
	*frame = (long)nnnn;
	*kind = k;
	return 0;
}

/* Calls fn(ix, path, name, arg) for every regular file under dir, walking
 * subdirectories in name order; dies on an unreadable directory. */
typedef void walk_fn(struct index *ix, const char *path, const char *name,
		     void *arg);

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted, NULL-terminated (without . and ..). */
static char **list_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (!d)
		die("%s:", dir);
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = ereallocarray(names, n + 2, sizeof(*names));
		names[n++] = estrdup(de->d_name);
		errno = 0;
	}
	if (errno)
		die("%s:", dir);
	closedir(d);
	if (!names)
		names = ecalloc(1, sizeof(*names));
	qsort(names, n, sizeof(*names), cmp_str);
	names[n] = NULL;
	return names;
}

static void free_names(char **names)
{
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

static void walk(struct index *ix, const char *dir, walk_fn *fn, void *arg)
{
	char **names = list_dir(dir);

	for (char **p = names; *p; p++) {
		char *path = path_join(dir, *p);
		if (is_dir(path))
			walk(ix, path, fn, arg);
		else if (is_file(path))
			fn(ix, path, *p, arg);
		free(path);
	}
	free_names(names);
}

/* --- the shared subset ------------------------------------------------------ */

static void read_link_csv(struct index *ix)
{
	char *path = path_join(ix->o->dir, "link.csv");
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0;
	ssize_t len;

	if (!f)
		die("%s:", path);
	while ((len = getline(&line, &cap, f)) != -1) {
		char *comma;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!*line || (lineno == 1 && !strncmp(line, "patient_id", 10)))
			continue;
		comma = strchr(line, ',');
		if (!comma || comma == line || !comma[1] || strchr(comma + 1, ',') ||
		    strchr(line, '/') || strlen(line) != (size_t)len) {
			for (char *c = line; c < line + len && c < line + 60; c++)
				if (*c < 0x20 || *c == 0x7f)
					*c = '?';
			line[len < 60 ? len : 60] = '\0';
			die("%s:%ld: expected 'dicom_id,case', got '%s'", path,
			    lineno, line);
		}
		*comma = '\0';
		ix->link_id = ereallocarray(ix->link_id, ix->nlink + 1,
					    sizeof(*ix->link_id));
		ix->link_case = ereallocarray(ix->link_case, ix->nlink + 1,
					      sizeof(*ix->link_case));
		ix->link_id[ix->nlink] = estrdup(line);
		ix->link_case[ix->nlink] = estrdup(comma + 1);
		ix->nlink++;
	}
	if (ferror(f))
		die("%s:", path);
	fclose(f);
	free(line);
	free(path);
}

/* The dicoms/ folder of a case, NULL when link.csv does not name it. */
static const char *subset_dicom_id(const struct index *ix, const char *case_name)
{
	for (size_t i = 0; i < ix->nlink; i++)
		if (!strcmp(ix->link_case[i], case_name))
			return ix->link_id[i];
	return NULL;
}

static void subset_contour(struct index *ix, const char *path,
			   const char *name, void *arg)
{
	const char *case_name = arg;
	long frame;
	char k;

	if (parse_contour_name(name, &frame, &k))
		return;
	if ((k == 'i' && ix->o->want_i) || (k == 'o' && ix->o->want_o))
		add_entry(ix, case_name, frame, k == 'i' ? KIND_I : KIND_O, path);
}

static void subset_scan(struct index *ix)
{
	char *cdir = path_join(ix->o->dir, "contourfiles");
	char **cases;

	read_link_csv(ix);
	if (!is_dir(cdir))
		die("%s: not a directory", cdir);
	cases = list_dir(cdir);
	for (char **p = cases; *p; p++) {
		char *dir = path_join(cdir, *p);
		if (!is_dir(dir)) {
			free(dir);
			continue;
		}
		if (!subset_dicom_id(ix, *p)) {
			warn("%s: case '%s' is not in link.csv; its contours are left out",
			     dir, *p);
			ix->problems++;
		} else {
			walk(ix, dir, subset_contour, *p);
		}
		free(dir);
	}
	free_names(cases);
	free(cdir);

	if (!ix->o->all_frames)
		return;
	for (size_t i = 0; i < ix->nlink; i++) {
		char *rel, *dir;
		char **names;

		if (asprintf(&rel, "dicoms/%s", ix->link_id[i]) < 0)
			die("out of memory");
		dir = path_join(ix->o->dir, rel);
		if (!is_dir(dir)) {
			warn("%s: no such folder (link.csv names it)", dir);
			free(rel);
			free(dir);
			continue;
		}
		names = list_dir(dir);
		for (char **p = names; *p; p++) {
			char *end, *path;
			long n = strtol(*p, &end, 10);
			if (end == *p || **p == '0' || **p == '-' || **p == '+' ||
			    strcmp(end, ".dcm") || n < 1 || n > 9999)
				continue;
			path = path_join(dir, *p);
			add_entry(ix, ix->link_case[i], n, KIND_IMAGE, path);
			free(path);
		}
		free_names(names);
		free(rel);
		free(dir);
	}
}

/* --- the DIGITS lab's layout -------------------------------------------------- */

static int digits_series_of(const char *case_name)
{
	for (size_t i = 0; i < sizeof(digits_series) / sizeof(digits_series[0]); i++)
		if (!strcmp(digits_series[i].case_name, case_name))
			return digits_series[i].series;
	return -1;
}

/* "SC-HF-I-01" -> "SC-HF-I-1": leading zeros of numeric parts dropped. */
static char *unpad_case(const char *padded)
{
	char *out = emalloc(strlen(padded) + 1), *q = out;
	const char *p = padded;

	while (*p) {
		int at_start = p == padded || p[-1] == '-';
		if (at_start && *p == '0' && p[1] >= '0' && p[1] <= '9') {
			p++;
			continue;
		}
		*q++ = *p++;
	}
	*q = '\0';
	return out;
}

static const char *base_of(const char *path, const char *end)
{
	const char *p = end;
	while (p > path && p[-1] != '/')
		p--;
	return p;
}

/* A contour file under a ContoursPart3 folder: its case is the folder
 * above contours-manual/IRCCI-expert/. */
static void digits_contour(struct index *ix, const char *path,
			   const char *name, void *arg)
{
	(void)arg;
	long frame;
	char k, *case_name;
	const char *slash, *expert, *manual, *casedir;
	size_t caselen;

	if (parse_contour_name(name, &frame, &k) ||
	    !((k == 'i' && ix->o->want_i) || (k == 'o' && ix->o->want_o)))
		return;
	/* path ends ".../<case>/contours-manual/IRCCI-expert/<name>" */
	slash = path + strlen(path) - strlen(name) - 1;
	expert = base_of(path, slash);
	manual = expert > path + 1 ? base_of(path, expert - 1) : path;
	casedir = manual > path + 1 ? base_of(path, manual - 1) : path;
	if (strncmp(expert, "IRCCI-expert/", 13) ||
	    strncmp(manual, "contours-manual/", 16) || casedir == manual) {
		warn("%s: not in <case>/contours-manual/IRCCI-expert/; left out", path);
		ix->problems++;
		return;
	}
	caselen = (size_t)(manual - 1 - casedir);
	char *padded = emalloc(caselen + 1);
	memcpy(padded, casedir, caselen);
	padded[caselen] = '\0';
	case_name = unpad_case(padded);
	if (digits_series_of(case_name) < 0) {
		warn("%s: case '%s' has no short-axis series in the lab's table; left out",
		     path, case_name);
		ix->problems++;
	} else {
		add_entry(ix, case_name, frame, k == 'i' ? KIND_I : KIND_O, path);
	}
	free(padded);
	free(case_name);
}

/* Walks dir looking for ContoursPart3 folders (not into challenge_training). */
static void digits_find_contours(struct index *ix, const char *dir, int *found)
{
	char **names = list_dir(dir);

	for (char **p = names; *p; p++) {
		char *path = path_join(dir, *p);
		if (is_dir(path)) {
			if (!strcmp(*p, CONTOURS_DIR)) {
				(*found)++;
				walk(ix, path, digits_contour, NULL);
			} else if (strcmp(*p, "challenge_training")) {
				digits_find_contours(ix, path, found);
			}
		}
		free(path);
	}
	free_names(names);
}

static void digits_scan(struct index *ix)
{
	char *tdir = path_join(ix->o->dir, "challenge_training");
	int found = 0;

	if (!is_dir(tdir))
		die("%s: not a directory", tdir);
	digits_find_contours(ix, ix->o->dir, &found);
	if (!found)
		die("%s: no '%s' folder found", ix->o->dir, CONTOURS_DIR);
	if (ix->o->all_frames) {
		for (size_t i = 0; i < sizeof(digits_series) / sizeof(digits_series[0]); i++) {
			char *dir = path_join(tdir, digits_series[i].case_name);
			char prefix[16];
			char **names;

			if (!is_dir(dir)) {
				free(dir);
				continue;
			}
			snprintf(prefix, sizeof(prefix), "IM-%04d-", digits_series[i].series);
			names = list_dir(dir);
			for (char **p = names; *p; p++) {
				unsigned nnnn;
				int used = 0;
				char *path;
				if (strncmp(*p, prefix, 8) ||
				    sscanf(*p + 8, "%4u.dcm%n", &nnnn, &used) != 1 ||
				    used != 8 || (*p)[16] != '\0')
					continue;
				path = path_join(dir, *p);
				add_entry(ix, digits_series[i].case_name, (long)nnnn,
					  KIND_IMAGE, path);
				free(path);
			}
			free_names(names);
			free(dir);
		}
	}
	free(tdir);
}

/* The image a (case, frame) belongs to, malloc'd. */
static char *image_path(const struct index *ix, const char *case_name, long frame)
{
	char *rel, *path;
	int rc;

	if (ix->layout == LAYOUT_SUBSET)
		rc = asprintf(&rel, "dicoms/%s/%ld.dcm",
			      subset_dicom_id(ix, case_name), frame);
	else
		rc = asprintf(&rel, "challenge_training/%s/IM-%04d-%04ld.dcm",
			      case_name, digits_series_of(case_name), frame);
	if (rc < 0)
		die("out of memory");
	path = path_join(ix->o->dir, rel);
	free(rel);
	return path;
}

/* Orders entries by (case, frame), images first. */
static int cmp_entry(const void *a, const void *b)
{
	const struct entry *u = a, *v = b;
	int c = strcmp(u->case_name, v->case_name);
	if (c)
		return c;
	if (u->frame != v->frame)
		return u->frame < v->frame ? -1 : 1;
	return (int)u->kind - (int)v->kind;
}

static int same_frame(const struct entry *u, const struct entry *v)
{
	return u->frame == v->frame && !strcmp(u->case_name, v->case_name);
}

/* The id "<case>/IM-0001-NNNN" of a frame, in buf. */
static const char *frame_id(const char *case_name, long frame, char *buf,
			    size_t len)
{
	snprintf(buf, len, "%s/IM-0001-%04ld", case_name, frame);
	return buf;
}

struct row {
	char id[256];
	char *image;
	const char *contour, *ocontour, *case_name;
	long frame;
};

static int cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->id, ((const struct row *)b)->id);
}

/* Groups the sorted entries by frame into rows, checking each contour's
 * image, and prints them sorted by id. */
static void print_rows(struct index *ix)
{
	struct row *rows = ecalloc(ix->n ? ix->n : 1, sizeof(*rows));
	size_t nrows = 0;

	if (ix->n)
		qsort(ix->e, ix->n, sizeof(*ix->e), cmp_entry);
	for (size_t i = 0; i < ix->n;) {
		size_t j = i;
		struct row r = {.case_name = ix->e[i].case_name,
				.frame = ix->e[i].frame};
		int have_image = 0;

		for (; j < ix->n && same_frame(&ix->e[i], &ix->e[j]); j++) {
			if (ix->e[j].kind == KIND_IMAGE)
				have_image = 1;
			else if (ix->e[j].kind == KIND_I)
				r.contour = ix->e[j].path;
			else
				r.ocontour = ix->e[j].path;
		}
		r.image = image_path(ix, r.case_name, r.frame);
		if (!have_image && !is_file(r.image)) {
			for (size_t k = i; k < j; k++) {
				warn("%s: no image %s; left out", ix->e[k].path, r.image);
				ix->problems++;
			}
			free(r.image);
		} else {
			frame_id(r.case_name, r.frame, r.id, sizeof(r.id));
			rows[nrows++] = r;
		}
		i = j;
	}
	qsort(rows, nrows, sizeof(*rows), cmp_row);

	printf("id\timage\tcontour%s\tcase\tframe\n",
	       ix->o->want_i && ix->o->want_o ? "\tocontour" : "");
	for (size_t i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		const char *c = ix->o->want_i ? r->contour : r->ocontour;
		printf("%s\t%s\t%s", r->id, r->image, c ? c : "");
		if (ix->o->want_i && ix->o->want_o)
			printf("\t%s", r->ocontour ? r->ocontour : "");
		printf("\t%s\t%ld\n", r->case_name, r->frame);
		free(r->image);
	}
	free(rows);
}

static enum layout detect_layout(const char *dir)
{
	char *link = path_join(dir, "link.csv");
	char *train = path_join(dir, "challenge_training");
	enum layout l = LAYOUT_AUTO;

	if (!is_dir(dir))
		die("%s: not a directory", dir);
	if (is_file(link))
		l = LAYOUT_SUBSET;
	else if (is_dir(train))
		l = LAYOUT_DIGITS;
	free(link);
	free(train);
	if (l == LAYOUT_AUTO)
		die("%s: neither layout found (no link.csv, no challenge_training/)",
		    dir);
	return l;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct index ix = {.o = &o};
	int status;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	ix.layout = o.layout == LAYOUT_AUTO ? detect_layout(o.dir) : o.layout;
	if (ix.layout == LAYOUT_SUBSET)
		subset_scan(&ix);
	else
		digits_scan(&ix);
	print_rows(&ix);
	status = fshut(stdout, "stdout");
	if (ix.problems && o.strict && !status)
		status = EXIT_DATA;
	for (size_t i = 0; i < ix.n; i++) {
		free(ix.e[i].case_name);
		free(ix.e[i].path);
	}
	free(ix.e);
	for (size_t i = 0; i < ix.nlink; i++) {
		free(ix.link_id[i]);
		free(ix.link_case[i]);
	}
	free(ix.link_id);
	free(ix.link_case);
	return status;
}
