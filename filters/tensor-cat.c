/*
 * tensor-cat - concatenate tensor streams to stdout, checking every record
 * as it passes: the stream's cat(1) and head(1).  Records are re-written by
 * libstream (so the output is normalised: id first, meta last) with every
 * field kept.  Stops after --count records; --skip drops leading ones.
 */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "st.h"
#include "util.h"

struct opts {
	long long count; /* -1: all */
	long long skip;
	char **files;
	int nfiles;
};

static void usage(void)
{
	printf("Usage: %s [OPTION]... [FILE]...\n"
	       "Concatenate tensor streams (stdin when no FILE or FILE is -) to stdout,\n"
	       "checking every record.\n"
	       "\n"
	       "  -n, --count=N   copy at most N records (default: all)\n"
	       "  -s, --skip=N    drop the first N records (default 0)\n"
	       "  -h, --help      show this help and exit\n"
	       "\n"
	       "Exit status: 0 ok, 1 a stream is truncated, malformed or unreadable\n"
	       "(records before the bad one are copied whole), 2 usage error.\n",
	       argv0);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "skip", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->count = -1;
	o->skip = 0;
	while ((c = getopt_long(argc, argv, "n:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->count = parse_int("--count", optarg, 0, LLONG_MAX);
			break;
		case 's':
			o->skip = parse_int("--skip", optarg, 0, LLONG_MAX);
			break;
		case 'h': usage(); help_exit();
		default: usage_error("unknown or incomplete option");
		}
	}
	o->files = argv + optind;
	o->nfiles = argc - optind;
}

int main(int argc, char **argv)
{
	long long seen = 0, written = 0;
	struct walker w;
	struct st_record *r;
	struct opts o;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	walk_open(&w, o.files, o.nfiles);
	/* the count is checked first: nothing after the last record wanted is
	 * read (or opened) */
	while (written != o.count && walk_next(&w, &r)) {
		if (seen++ >= o.skip) {
			write_record(stdout, r);
			written++;
		}
		st_record_free(r);
	}
	walk_close(&w);
	return fshut(stdout, "stdout") ? EXIT_DATA : 0;
}
