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
		case 'h': usage(); exit(0);
		default: usage_error("unknown or incomplete option");
		}
	}
	o->files = argv + optind;
	o->nfiles = argc - optind;
}

int main(int argc, char **argv)
{
	static char *stdin_only[] = { "-" };
	long long seen = 0, written = 0;
	struct opts o;
	int status = 0;

	set_argv0(argv[0]);
	parse_opts(argc, argv, &o);
	if (o.nfiles == 0) {
		o.files = stdin_only;
		o.nfiles = 1;
	}
	for (int i = 0; i < o.nfiles && written != o.count; i++) {
		FILE *f = open_input(o.files[i]);
		struct st_reader *rd = reader_open(f, o.files[i]);
		struct st_record *r;
		struct st_err err;
		int rc = 0;

		while (written != o.count && (rc = st_read(rd, &r, &err)) == 1) {
			if (seen++ >= o.skip) {
				write_record(stdout, r);
				written++;
			}
			st_record_free(r);
		}
		if (written != o.count && rc < 0) {
			warn("%s: %s", o.files[i], err.msg);
			status = EXIT_DATA;
		}
		st_reader_free(rd);
		close_input(f);
		if (status)
			break;
	}
	if (fshut(stdout, "stdout"))
		status = EXIT_DATA;
	return status;
}
