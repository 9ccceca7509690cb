/*
 * dicom.cpp - the C API of dicom.h over GDCM's C++ API (the project's only
 * C++ file).
 *
 * Reading: the file is read into memory once, its file meta header checked
 * (and a deflated data set inflated to its end) before GDCM sees it, since
 * GDCM asserts or allocates without bound on some cut-short files.  Then:
 *   native little endian  GDCM parses up to Pixel Data; the pixels are
 *                         taken from the file buffer (the common, fast case);
 *   other native, deflate GDCM reads the whole data set, we lay out the
 *                         pixels (byte order, planar, 1-bit, YBR 422);
 *   RLE                   decoded here (GDCM's codec scrambles multi-byte
 *                         colour samples);
 *   JPEG, JPEG-LS, J2K    gdcm::ImageReader and its codecs.
 * The buffer ends up (frames, samples, rows, cols).  Header attributes are
 * read as text (IS, DS, LO, UI) from the top-level data set.
 *
 * Writing: a data set built element by element, written by gdcm::Writer,
 * so the output depends only on the spec (no generated UIDs, dates, times).
 *
 * Every entry point catches all exceptions: nothing C++ crosses into C.
 */
#include "dicom.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <memory>
#include <new>
#include <string>

#include <gdcmAttribute.h>
#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmReader.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>
#include <gdcmWriter.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmItem.h>

#include <fcntl.h>
#include <ftw.h>
#include <zlib.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <set>
#include <streambuf>
#include <sstream>
#include <utility>
#include <vector>

/*
 * A cap on single allocations while GDCM parses a file.  GDCM allocates an
 * element's value from the length it reads (ByteValue::SetLength) before it
 * reads the bytes, and its retries with other framings (big endian, 16-bit
 * VR lengths, implicit VR) read lengths from bytes that were never lengths:
 * a 2 KB file asked for 2.1 GB (docs/reliability.md, items 15 and 17).  A
 * parse keeps nothing longer than the file itself, but for a deflated data
 * set, which is inflated first; so while a parse_cap is alive on a thread,
 * operator new refuses a request beyond 16 x the file's size + 64 MiB with
 * std::bad_alloc, which GDCM takes as that framing failing (and tries the
 * next) or passes up as a failed read.  Decoding (GetBuffer, the codecs) is
 * not capped: its sizes come from the image's checked dimensions.  The
 * replacement operators are the program's (every C++ allocation, GDCM's
 * included, goes through them); outside a parse they are malloc and free.
 */
static thread_local size_t alloc_cap; /* 0: no cap */

/* Not inlined: GCC would see free() of operator new's pointers at the
 * call sites and warn (-Wmismatched-new-delete); they are malloc's. */
#define NOINLINE __attribute__((noinline))
NOINLINE void *operator new(size_t n)
{
	if (alloc_cap && n > alloc_cap)
		throw std::bad_alloc();
	void *p = malloc(n ? n : 1);
	if (!p)
		throw std::bad_alloc();
	return p;
}
NOINLINE void *operator new[](size_t n) { return ::operator new(n); }
NOINLINE void operator delete(void *p) noexcept { free(p); }
NOINLINE void operator delete[](void *p) noexcept { free(p); }
NOINLINE void operator delete(void *p, size_t) noexcept { free(p); }
NOINLINE void operator delete[](void *p, size_t) noexcept { free(p); }
/* The nothrow forms too: with only the plain ones replaced, a sanitizer's
 * nothrow new (libFuzzer's, libstdc++'s temporary buffers) met our free()
 * in delete and ASan reported alloc-dealloc-mismatch. */
NOINLINE void *operator new(size_t n, const std::nothrow_t &) noexcept
{
	if (alloc_cap && n > alloc_cap)
		return nullptr;
	return malloc(n ? n : 1);
}
NOINLINE void *operator new[](size_t n, const std::nothrow_t &t) noexcept
{
	return ::operator new(n, t);
}
NOINLINE void operator delete(void *p, const std::nothrow_t &) noexcept { free(p); }
NOINLINE void operator delete[](void *p, const std::nothrow_t &) noexcept { free(p); }
#undef NOINLINE

namespace {

/* The cap above, for the lifetime of one parse of a file of size bytes. */
struct parse_cap {
	explicit parse_cap(size_t size)
	{
		alloc_cap = size < (SIZE_MAX - (size_t(64) << 20)) / 16
				    ? 16 * size + (size_t(64) << 20)
				    : SIZE_MAX;
	}
	~parse_cap() { alloc_cap = 0; }
	parse_cap(const parse_cap &) = delete;
	parse_cap &operator=(const parse_cap &) = delete;
};

void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void quiet_gdcm()
{
	gdcm::Trace::SetDebug(false);
	gdcm::Trace::SetWarning(false);
	gdcm::Trace::SetError(false);
}

/* A seekable istream buffer over memory (GDCM seeks). */
struct membuf : std::streambuf {
	membuf(char *b, size_t n) { setg(b, b, b + n); }
	pos_type seekoff(off_type off, std::ios_base::seekdir dir,
			 std::ios_base::openmode) override
	{
		char *base = dir == std::ios_base::beg   ? eback()
			     : dir == std::ios_base::cur ? gptr()
							 : egptr();
		if (off < eback() - base || off > egptr() - base)
			return pos_type(off_type(-1));
		setg(eback(), base + off, egptr());
		return pos_type(gptr() - eback());
	}
	pos_type seekpos(pos_type pos, std::ios_base::openmode which) override
	{
		return seekoff(off_type(pos), std::ios_base::beg, which);
	}
};

/* What one GDCM read owns: the stream over the file's bytes, the reader
 * (gdcm::Reader or gdcm::ImageReader) on it, and the buffers filled from it.
 * They live on the heap, on a stack of live reads (`live_reads`, innermost
 * first) while they exist: a caught assertion inside GDCM jumps back to the
 * guard of dcm_read (siglongjmp) past the destructors of every frame in
 * between, and the guard then frees what is still listed (drop_live_reads). */
struct live_read {
	live_read *outer;
	virtual ~live_read() = default;
};
live_read *live_reads;

template <class R> struct gdcm_read final : live_read {
	membuf mb;
	std::istream is;
	R r;
	std::ostringstream warnings; /* GDCM's warnings, where asked for */
	std::string raw;             /* a decoded image */

	gdcm_read(char *b, size_t n) : mb(b, n), is(&mb)
	{
		r.SetStream(is);
		outer = live_reads;
		live_reads = this;
	}
	~gdcm_read() override { live_reads = outer; }
};

template <class R> std::unique_ptr<gdcm_read<R>> open_read(char *b, size_t n)
{
	return std::unique_ptr<gdcm_read<R>>(new gdcm_read<R>(b, n));
}

/* GDCM's parses of a file of size bytes, under the allocation cap. */
template <class R> bool capped_read(R &r, size_t size)
{
	parse_cap cap(size);
	return r.Read();
}
bool capped_read_up_to(gdcm::Reader &r, size_t size, const gdcm::Tag &tag,
		       const std::set<gdcm::Tag> &skip)
{
	parse_cap cap(size);
	return r.ReadUpToTag(tag, skip);
}

/* After a jump out of GDCM: its warnings no longer go to a freed stream,
 * the reads it left are freed, innermost first, and so is any exception a
 * handler of GDCM's was holding.  (Reader's retry with 16-bit VR lengths
 * runs inside `catch (std::exception &)`; the jump leaves that handler
 * unfinished and the C++ runtime still lists its exception as being
 * handled.  Ending each such handler as the compiler would have,
 * __cxa_end_catch, destroys it; only when none was active as the read
 * began (`was_handling`), so no caller's is ended, and bounded in case the
 * runtime's list is not what we think.)  What GDCM's own frames held,
 * temporaries of the element being read, stays lost: a few hundred bytes at
 * most per such file. */
void drop_live_reads(bool was_handling)
{
	gdcm::Trace::SetWarning(false);
	gdcm::Trace::SetWarningStream(std::cerr);
	while (live_reads)
		delete live_reads; /* its destructor pops it */
	for (int i = 0; !was_handling && i < 64; i++) {
		if (!abi::__cxa_current_exception_type())
			break;
		abi::__cxa_end_catch();
	}
}

/* The value of a text element, without trailing spaces and NULs; false when
 * absent, empty or not a byte value. */
bool get_text(const gdcm::DataSet &ds, uint16_t g, uint16_t e, std::string &s)
{
	const gdcm::Tag tag(g, e);
	if (!ds.FindDataElement(tag))
		return false;
	const gdcm::DataElement &de = ds.GetDataElement(tag);
	const gdcm::ByteValue *bv = de.GetByteValue();
	if (de.IsEmpty() || !bv)
		return false;
	s.assign(bv->GetPointer(), bv->GetLength());
	while (!s.empty() && (s.back() == ' ' || s.back() == '\0'))
		s.pop_back();
	size_t i = 0;
	while (i < s.size() && s[i] == ' ')
		i++;
	s.erase(0, i);
	return !s.empty();
}

/* "1.5\2.5" -> {1.5, 2.5}; false unless every value is a whole number. */
bool parse_nums(const std::string &s, double *v, size_t max, size_t *n)
{
	size_t k = 0, pos = 0;
	for (;;) {
		size_t end = s.find('\\', pos);
		std::string part = s.substr(pos, end == std::string::npos
						       ? std::string::npos
						       : end - pos);
		const char *p = part.c_str();
		char *q;
		errno = 0;
		double x = strtod(p, &q);
		while (*q == ' ')
			q++;
		if (q == p || *q || errno == ERANGE || k == max)
			return false;
		v[k++] = x;
		if (end == std::string::npos)
			break;
		pos = end + 1;
	}
	*n = k;
	return true;
}

struct dcm_meta *add_meta(struct dcm_image *img, const char *key,
			  enum dcm_meta_kind kind)
{
	if (img->nmeta == DCM_MAX_META)
		return nullptr;
	struct dcm_meta *m = &img->meta[img->nmeta++];
	memset(m, 0, sizeof *m);
	m->key = key;
	m->kind = kind;
	return m;
}

void meta_str(struct dcm_image *img, const gdcm::DataSet &ds, uint16_t g,
	      uint16_t e, const char *key)
{
	std::string s;
	if (!get_text(ds, g, e, s))
		return;
	struct dcm_meta *m = add_meta(img, key, DCM_META_STR);
	if (m)
		snprintf(m->str, sizeof m->str, "%s", s.c_str());
}

void meta_int(struct dcm_image *img, const gdcm::DataSet &ds, uint16_t g,
	      uint16_t e, const char *key)
{
	std::string s;
	double v;
	size_t n;
	if (!get_text(ds, g, e, s) || !parse_nums(s, &v, 1, &n) ||
	    v != (double)(int64_t)v)
		return;
	struct dcm_meta *m = add_meta(img, key, DCM_META_INT);
	if (m)
		m->i = (int64_t)v;
}

/* is_array: always an array (a vector attribute), else a scalar when the
 * attribute holds one value. */
void meta_nums(struct dcm_image *img, const gdcm::DataSet &ds, uint16_t g,
	       uint16_t e, const char *key, int is_array)
{
	std::string s;
	double v[DCM_MAX_NUMS];
	size_t n;
	if (!get_text(ds, g, e, s) || !parse_nums(s, v, DCM_MAX_NUMS, &n))
		return;
	struct dcm_meta *m = add_meta(img, key, DCM_META_NUMS);
	if (!m)
		return;
	memcpy(m->nums, v, n * sizeof *v);
	m->n = n;
	m->is_array = is_array || n > 1;
}

void read_meta(struct dcm_image *img, const gdcm::DataSet &ds)
{
	meta_str(img, ds, 0x0008, 0x0018, "sop_instance_uid");
	meta_str(img, ds, 0x0010, 0x0020, "patient_id");
	meta_int(img, ds, 0x0020, 0x0011, "series_number");
	meta_int(img, ds, 0x0020, 0x0013, "instance_number");
	struct dcm_meta *m = add_meta(img, "rows", DCM_META_INT);
	m->i = img->rows;
	m = add_meta(img, "columns", DCM_META_INT);
	m->i = img->cols;
	meta_nums(img, ds, 0x0028, 0x0030, "pixel_spacing", 1);
	meta_nums(img, ds, 0x0018, 0x0050, "slice_thickness", 0);
	meta_nums(img, ds, 0x0020, 0x1041, "slice_location", 0);
	meta_nums(img, ds, 0x0020, 0x0032, "image_position", 1);
	meta_nums(img, ds, 0x0020, 0x0037, "image_orientation", 1);
	meta_nums(img, ds, 0x0018, 0x1060, "trigger_time", 0);
	meta_int(img, ds, 0x0018, 0x1090, "cardiac_number_of_images");
	meta_nums(img, ds, 0x0028, 0x1050, "window_center", 0);
	meta_nums(img, ds, 0x0028, 0x1051, "window_width", 0);
	meta_nums(img, ds, 0x0028, 0x1053, "rescale_slope", 0);
	meta_nums(img, ds, 0x0028, 0x1052, "rescale_intercept", 0);
	m = add_meta(img, "photometric", DCM_META_STR);
	snprintf(m->str, sizeof m->str, "%s", img->photometric);
	m = add_meta(img, "bits_stored", DCM_META_INT);
	m->i = img->bits_stored;
}

/* An unsigned 16-bit attribute (US/SS/xs), already in host order after
 * gdcm::Reader; false when absent or empty. */
bool get_us(const gdcm::DataSet &ds, uint16_t g, uint16_t e, unsigned *v)
{
	const gdcm::Tag tag(g, e);
	if (!ds.FindDataElement(tag))
		return false;
	const gdcm::ByteValue *bv = ds.GetDataElement(tag).GetByteValue();
	if (!bv || bv->GetLength() < 2)
		return false;
	uint16_t x;
	memcpy(&x, bv->GetPointer(), 2);
	*v = x;
	return true;
}

bool pick_sample(unsigned bits, bool sgn, enum dcm_sample *s)
{
	switch (bits) {
	case 1:
		*s = DCM_U8;
		return true;
	case 8:
		*s = sgn ? DCM_I8 : DCM_U8;
		return true;
	case 16:
		*s = sgn ? DCM_I16 : DCM_U16;
		return true;
	case 32:
		*s = sgn ? DCM_I32 : DCM_U32;
		return true;
	default:
		return false;
	}
}

/* What the header says about the pixels. */
struct layout {
	size_t rows, cols, frames, samples, bits, bits_stored;
	bool sgn, planar;
	char photometric[24];
};

int read_layout(const gdcm::DataSet &ds, struct layout *L, char *err,
		size_t errlen)
{
	unsigned rows, cols, spp = 1, ba, bs, pr = 0, pc = 0;
	if (!get_us(ds, 0x0028, 0x0010, &rows) ||
	    !get_us(ds, 0x0028, 0x0011, &cols) ||
	    !get_us(ds, 0x0028, 0x0100, &ba)) {
		set_err(err, errlen,
			"Rows, Columns or Bits Allocated missing");
		return -1;
	}
	get_us(ds, 0x0028, 0x0002, &spp);
	if (!get_us(ds, 0x0028, 0x0101, &bs))
		bs = ba;
	get_us(ds, 0x0028, 0x0103, &pr);
	get_us(ds, 0x0028, 0x0006, &pc);
	double nf = 1;
	size_t n;
	std::string s;
	if (get_text(ds, 0x0028, 0x0008, s) &&
	    (!parse_nums(s, &nf, 1, &n) || nf < 1 || nf > (1 << 20) ||
	     nf != (double)(long)nf)) {
		set_err(err, errlen, "bad Number of Frames '%s'", s.c_str());
		return -1;
	}
	if (rows == 0 || cols == 0) {
		set_err(err, errlen, "empty image (%ux%u)", rows, cols);
		return -1;
	}
	if (spp != 1 && spp != 3) {
		set_err(err, errlen, "unsupported Samples per Pixel %u", spp);
		return -1;
	}
	if (ba != 1 && ba != 8 && ba != 16 && ba != 32) {
		set_err(err, errlen, "unsupported Bits Allocated %u", ba);
		return -1;
	}
	L->rows = rows;
	L->cols = cols;
	L->frames = (size_t)nf;
	L->samples = spp;
	L->bits = ba;
	L->bits_stored = bs;
	L->sgn = pr == 1;
	L->planar = pc == 1;
	if (!get_text(ds, 0x0028, 0x0004, s))
		s = "MONOCHROME2";
	snprintf(L->photometric, sizeof L->photometric, "%s", s.c_str());
	return 0;
}

struct dcm_image *new_image(const struct layout *L, enum dcm_sample sample,
			    char *err, size_t errlen)
{
	struct dcm_image *img =
		static_cast<struct dcm_image *>(calloc(1, sizeof *img));
	size_t n = L->frames * L->samples * L->rows * L->cols;
	if (!img || !(img->pixels = malloc(n * dcm_sample_size(sample)))) {
		free(img);
		set_err(err, errlen, "out of memory");
		return nullptr;
	}
	img->rows = (int)L->rows;
	img->cols = (int)L->cols;
	img->frames = (int)L->frames;
	img->samples = (int)L->samples;
	img->bits_allocated = (int)L->bits;
	img->bits_stored = (int)L->bits_stored;
	img->sample = sample;
	img->slope = 1;
	img->intercept = 0;
	snprintf(img->photometric, sizeof img->photometric, "%s",
		 L->photometric);
	return img;
}

/* src holds frames of (rows, cols, samples) when interleaved, else
 * (samples, rows, cols); dst gets (frames, samples, rows, cols). */
void to_planar(unsigned char *dst, const unsigned char *src,
	       const struct layout *L, size_t es, bool interleaved)
{
	size_t plane = L->rows * L->cols;
	size_t n = L->frames * L->samples * plane;
	if (!interleaved || L->samples == 1) {
		memcpy(dst, src, n * es);
		return;
	}
	for (size_t f = 0; f < L->frames; f++)
		for (size_t p = 0; p < plane; p++)
			for (size_t c = 0; c < L->samples; c++)
				memcpy(dst + ((f * L->samples + c) * plane + p) * es,
				       src + ((f * plane + p) * L->samples + c) * es,
				       es);
}

/* Native (uncompressed) pixel data: gdcm::Reader has already put 16-bit
 * words in host order; 32-bit values of big-endian files still need their
 * halves swapped, and 8-bit data in a big-endian OW element its bytes. */
int decode_native(const unsigned char *data, size_t len, bool ow,
		  const struct layout *L, bool big_endian,
		  struct dcm_image *img, char *err, size_t errlen)
{
	size_t n = L->frames * L->samples * L->rows * L->cols;
	size_t es = dcm_sample_size(img->sample);
	size_t want = L->bits == 1 ? (n + 7) / 8 : n * es;
	unsigned char *dst = static_cast<unsigned char *>(img->pixels);
	if (!strcmp(L->photometric, "YBR_FULL_422") && L->samples == 3 &&
	    L->bits == 8 && L->cols % 2 == 0 && len >= n / 3 * 2 && len < n) {
		/* Y1 Y2 Cb Cr per pixel pair: expand to full YBR */
		const unsigned char *s = data;
		size_t plane = L->rows * L->cols;
		for (size_t f = 0; f < L->frames; f++)
			for (size_t p = 0; p < plane; p += 2) {
				const unsigned char *q = s + (f * plane + p) * 2;
				unsigned char *o = dst + f * 3 * plane + p;
				o[0] = q[0];
				o[1] = q[1];
				o[plane] = o[plane + 1] = q[2];
				o[2 * plane] = o[2 * plane + 1] = q[3];
			}
		snprintf(img->photometric, sizeof img->photometric, "YBR_FULL");
		return 0;
	}
	if (len < want) {
		set_err(err, errlen,
			"pixel data holds %zu bytes, %zu expected", len, want);
		return -1;
	}
	const unsigned char *b = data;
	std::string raw;
	if (big_endian && (L->bits == 32 || (L->bits == 8 && ow))) {
		raw.assign(reinterpret_cast<const char *>(data), want); /* swap a copy */
		unsigned char *w = reinterpret_cast<unsigned char *>(&raw[0]);
		if (L->bits == 32) {
			for (size_t i = 0; i + 3 < want; i += 4) {
				std::swap(w[i], w[i + 2]);
				std::swap(w[i + 1], w[i + 3]);
			}
		} else {
			for (size_t i = 0; i + 1 < want; i += 2)
				std::swap(w[i], w[i + 1]);
		}
		b = w;
	}
	if (L->bits == 1) {
		for (size_t i = 0; i < n; i++)
			dst[i] = (b[i / 8] >> (i % 8)) & 1;
		return 0;
	}
	to_planar(dst, b, L, es, !L->planar);
	return 0;
}

/* One PackBits segment into out[0..len); false when it comes up short. */
bool unpack_bits(const unsigned char *p, size_t plen, unsigned char *out,
		 size_t len)
{
	size_t i = 0, o = 0;
	while (o < len && i < plen) {
		int h = (signed char)p[i++];
		if (h >= 0) {
			size_t k = (size_t)h + 1;
			if (i + k > plen || o + k > len)
				return false;
			memcpy(out + o, p + i, k);
			i += k;
			o += k;
		} else if (h != -128) {
			size_t k = (size_t)(1 - h);
			if (i >= plen || o + k > len)
				return false;
			memset(out + o, p[i++], k);
			o += k;
		}
	}
	return o == len;
}

/* DICOM RLE Lossless (PS3.5 annex G): one fragment per frame, a 64-byte
 * header of segment offsets, one segment per byte of each sample, most
 * significant byte first.  Done here rather than by GDCM, whose codec
 * scrambles multi-byte colour data. */
int decode_rle(const gdcm::DataElement &pd, const struct layout *L,
	       struct dcm_image *img, char *err, size_t errlen)
{
	const gdcm::SequenceOfFragments *sf = pd.GetSequenceOfFragments();
	if (!sf || L->bits == 1) {
		set_err(err, errlen, "bad RLE pixel data");
		return -1;
	}
	size_t nfrag = sf->GetNumberOfFragments();
	std::vector<std::string> frames;
	if (nfrag == L->frames) {
		for (size_t i = 0; i < nfrag; i++) {
			const gdcm::ByteValue *bv =
				sf->GetFragment(i).GetByteValue();
			frames.emplace_back(bv ? std::string(bv->GetPointer(),
							     bv->GetLength())
					       : std::string());
		}
	} else if (L->frames == 1 && nfrag > 0) {
		std::string all;
		for (size_t i = 0; i < nfrag; i++) {
			const gdcm::ByteValue *bv =
				sf->GetFragment(i).GetByteValue();
			if (bv)
				all.append(bv->GetPointer(), bv->GetLength());
		}
		frames.push_back(all);
	} else {
		set_err(err, errlen, "RLE data has %zu fragments for %zu frames",
			nfrag, L->frames);
		return -1;
	}
	size_t es = dcm_sample_size(img->sample);
	size_t plane = L->rows * L->cols;
	size_t nseg = L->samples * es;
	std::vector<unsigned char> seg(plane);
	unsigned char *dst = static_cast<unsigned char *>(img->pixels);
	for (size_t f = 0; f < L->frames; f++) {
		const unsigned char *p =
			reinterpret_cast<const unsigned char *>(frames[f].data());
		size_t plen = frames[f].size();
		uint32_t hdr[16];
		if (plen < 64) {
			set_err(err, errlen, "RLE frame %zu: header truncated",
				f + 1);
			return -1;
		}
		for (int k = 0; k < 16; k++)
			hdr[k] = (uint32_t)p[4 * k] | (uint32_t)p[4 * k + 1] << 8 |
				 (uint32_t)p[4 * k + 2] << 16 |
				 (uint32_t)p[4 * k + 3] << 24;
		if (hdr[0] != nseg) {
			set_err(err, errlen,
				"RLE frame %zu: %u segments, %zu expected",
				f + 1, (unsigned)hdr[0], nseg);
			return -1;
		}
		for (size_t k = 0; k < nseg; k++) {
			size_t a = hdr[k + 1];
			size_t b = k + 1 < nseg ? hdr[k + 2] : plen;
			if (a < 64 || b > plen || a > b ||
			    !unpack_bits(p + a, b - a, seg.data(), plane)) {
				set_err(err, errlen,
					"RLE frame %zu: segment %zu corrupt",
					f + 1, k + 1);
				return -1;
			}
			size_t c = k / es, byte = es - 1 - k % es; /* LE */
			unsigned char *out = dst + (f * L->samples + c) * plane * es;
			for (size_t i = 0; i < plane; i++)
				out[i * es + byte] = seg[i];
		}
	}
	return 0;
}

/* JPEG, JPEG-LS, JPEG 2000 and the rest: GDCM's own codecs (a second parse
 * of the file).  The codec may change the photometric interpretation (YBR
 * JPEG comes out as RGB) and the layout. */
/* pydicom's rule for JPEG 2000 data whose codestream says unsigned while
 * Pixel Representation says signed (its test file J2K_pixelrep_mismatch):
 * the Pixel Representation wins, samples are sign-extended from Bits
 * Stored.  Values already in the signed range are unchanged, so a signed
 * codestream comes out as it was decoded. */
void j2k_sign_extend(void *pixels, size_t n, size_t es, int bits_stored)
{
	int64_t m = (int64_t)1 << (bits_stored - 1), mask = 2 * m - 1;
	unsigned char *p = static_cast<unsigned char *>(pixels);

	for (size_t i = 0; i < n; i++, p += es) {
		int64_t v = 0;
		for (size_t b = 0; b < es; b++)
			v |= (int64_t)p[b] << (8 * b);
		v = ((v & mask) ^ m) - m;
		for (size_t b = 0; b < es; b++)
			p[b] = (unsigned char)((uint64_t)v >> (8 * b));
	}
}

int decode_with_gdcm(char *file, size_t size, struct layout *L,
		     struct dcm_image **out, char *err, size_t errlen)
{
	auto rd = open_read<gdcm::ImageReader>(file, size);
	gdcm::ImageReader &r = rd->r;
	if (!capped_read(r, size)) {
		set_err(err, errlen, "cannot decode the image");
		return -1;
	}
	const gdcm::Image &im = r.GetImage();
	const gdcm::PixelFormat &pf = im.GetPixelFormat();
	L->cols = im.GetDimension(0);
	L->rows = im.GetDimension(1);
	L->frames = im.GetNumberOfDimensions() > 2 ? im.GetDimension(2) : 1;
	L->samples = pf.GetSamplesPerPixel();
	L->bits = pf.GetBitsAllocated();
	L->bits_stored = pf.GetBitsStored();
	L->sgn = pf.GetPixelRepresentation() == 1;
	L->planar = im.GetPlanarConfiguration() == 1;
	const char *pi = gdcm::PhotometricInterpretation::GetPIString(
		im.GetPhotometricInterpretation());
	snprintf(L->photometric, sizeof L->photometric, "%s",
		 pi ? pi : "UNKNOWN");
	enum dcm_sample sample;
	if (!pick_sample((unsigned)L->bits, L->sgn, &sample) || L->bits == 1 ||
	    (L->samples != 1 && L->samples != 3)) {
		set_err(err, errlen, "unsupported decoded pixel format");
		return -1;
	}
	size_t n = L->frames * L->samples * L->rows * L->cols;
	size_t es = dcm_sample_size(sample);
	if (im.GetBufferLength() < n * es) {
		set_err(err, errlen, "decoded image too short");
		return -1;
	}
	std::string &raw = rd->raw;
	raw.assign(im.GetBufferLength(), '\0');
	if (!im.GetBuffer(&raw[0])) {
		set_err(err, errlen, "cannot decode the pixel data");
		return -1;
	}
	struct dcm_image *img = new_image(L, sample, err, errlen);
	if (!img)
		return -1;
	to_planar(static_cast<unsigned char *>(img->pixels),
		  reinterpret_cast<const unsigned char *>(raw.data()), L, es,
		  !L->planar);
	gdcm::TransferSyntax::TSType ts =
		r.GetFile().GetHeader().GetDataSetTransferSyntax();
	if (L->sgn && L->bits_stored < L->bits &&
	    (ts == gdcm::TransferSyntax::JPEG2000Lossless ||
	     ts == gdcm::TransferSyntax::JPEG2000 ||
	     ts == gdcm::TransferSyntax::JPEG2000Part2Lossless ||
	     ts == gdcm::TransferSyntax::JPEG2000Part2))
		j2k_sign_extend(img->pixels, n, es, L->bits_stored);
	img->slope = im.GetSlope();
	img->intercept = im.GetIntercept();
	*out = img;
	return 0;
}

/* Points fd 1 and 2 at /dev/null and back (saved[2] holds the copies).
 * The JPEG and JPEG 2000 libraries inside GDCM and its assertions print to
 * stderr, and GDCM's fallback JPEG codec runs the pvrg-jpeg program, which
 * prints to stdout: the stream there must not get a byte of it. */
__attribute__((noinline)) void muzzle(int saved[2])
{
	saved[0] = saved[1] = -1;
	fflush(stdout);
	fflush(stderr);
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul < 0)
		return;
	for (int fd = 1; fd <= 2; fd++) {
		saved[fd - 1] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (saved[fd - 1] >= 0)
			dup2(nul, fd);
	}
	close(nul);
}

void unmuzzle(const int saved[2])
{
	for (int fd = 1; fd <= 2; fd++)
		if (saved[fd - 1] >= 0) {
			dup2(saved[fd - 1], fd);
			close(saved[fd - 1]);
		}
}

/* GDCM's fallback JPEG codec leaves its temporary files behind when it
 * fails; it is pointed at a private TMPDIR, removed afterwards. */
char private_tmp[4096];

int rm_entry(const char *path, const struct stat *, int, struct FTW *)
{
	return remove(path);
}

void private_tmp_begin(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(private_tmp, sizeof private_tmp, "%s/dcm2tensor.XXXXXX",
		 t && *t ? t : "/tmp");
	if (!mkdtemp(private_tmp)) {
		private_tmp[0] = '\0';
		return;
	}
	setenv("LVSEG_SAVED_TMPDIR", t ? t : "", 1);
	setenv("TMPDIR", private_tmp, 1);
}

void private_tmp_end(void)
{
	if (!private_tmp[0])
		return;
	nftw(private_tmp, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	const char *t = getenv("LVSEG_SAVED_TMPDIR");
	if (t && *t)
		setenv("TMPDIR", t, 1);
	else
		unsetenv("TMPDIR");
	unsetenv("LVSEG_SAVED_TMPDIR");
	private_tmp[0] = '\0';
}

/* Debian's GDCM keeps its assert()s, and some malformed files (a file meta
 * header cut short, for one) fail one: abort().  While dcm_read runs, a
 * SIGABRT handler jumps back to it instead, so the file is reported like
 * any other bad file, and frees the reads GDCM left (drop_live_reads).
 * The jump target has to be a static for the handler to find it. */
sigjmp_buf *abort_target;

void on_abort(int sig)
{
	(void)sig;
	if (abort_target)
		siglongjmp(*abort_target, 1);
}

unsigned le16(const unsigned char *p)
{
	return p[0] | (unsigned)p[1] << 8;
}

uint32_t le32(const unsigned char *p)
{
	return le16(p) | (uint32_t)le16(p + 2) << 16;
}

bool known_vr(const char *vr)
{
	static const char vrs[] = "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSS"
				  "STSVTMUCUIULUNURUSUTUV";

	for (size_t i = 0; i + 1 < sizeof vrs; i += 2)
		if (vr[0] == vrs[i] && vr[1] == vrs[i + 1])
			return true;
	return false;
}

/* GDCM allocates an element's declared length before it finds that the
 * file does not hold it (a 512-byte file declaring a 4 GiB value took 4 GiB
 * and 20 s), so the elements of a little-endian data set (explicit or
 * implicit VR) from off on are walked here: each defined length must fit in
 * what is left of the file.  The walk goes into sequences and their items
 * (defined or undefined length), checks and skips the fragments of
 * encapsulated pixel data, goes on past Pixel Data (GDCM reads what follows
 * it too) and stops at an UN of undefined length (implicit VR inside an
 * explicit data set).  Where an explicit VR is expected but the bytes are
 * no VR of the standard's, it goes on as implicit VR, as GDCM does.  big:
 * explicit VR big endian, where no VR, or UN of undefined length, makes
 * GDCM read the data set again as little endian: 1 then.  0 when fine, -1
 * with err. */
int precheck_lengths(const unsigned char *buf, size_t n, size_t off,
		     bool explicit_vr, bool big, char *err, size_t errlen)
{
	auto rd16 = [big](const unsigned char *p) {
		return big ? (unsigned)p[0] << 8 | p[1] : le16(p);
	};
	auto rd32 = [big, &rd16](const unsigned char *p) {
		return big ? (uint32_t)rd16(p) << 16 | rd16(p + 2) : le32(p);
	};
	static const char *long_vrs[] = {"OB", "OW", "OF", "SQ", "UT", "UN", "OD",
					 "OL", "OV", "UC", "UR", "SV", "UV"};
	bool encap = false; /* inside encapsulated pixel data: items are bytes */
	size_t hdr = 8, len = 0;

	while (off + 8 <= n) {
		unsigned g = rd16(&buf[off]), e = rd16(&buf[off + 2]);
		bool sq = false;

		hdr = 8;
		if (g == 0xfffe) { /* item or delimiter: tag and length, no VR */
			len = rd32(&buf[off + 4]);
			if (e == 0xe0dd)
				encap = false;
			if (e != 0xe000 || len == 0xffffffffu) {
				off += 8;
				continue;
			}
			if (len > n - off - 8)
				goto too_long;
			off += 8 + (encap ? len : 0); /* sequence items: walked into */
			continue;
		}
		if (explicit_vr) {
			const char *vr = reinterpret_cast<const char *>(&buf[off + 4]);
			bool is_long = false;

			/* no VR: GDCM reads on as implicit VR, and so do we;
			 * in big endian it reads the data set again as little
			 * endian */
			if (!known_vr(vr) && big)
				return 1;
			if (!known_vr(vr)) {
				explicit_vr = false;
				continue;
			}
			for (const char *l : long_vrs)
				is_long |= !memcmp(vr, l, 2);
			if (is_long && off + 12 > n)
				break;
			hdr = is_long ? 12 : 8;
			len = is_long ? rd32(&buf[off + 8]) : rd16(&buf[off + 6]);
			sq = !memcmp(vr, "SQ", 2);
			/* UN of undefined length holds implicit VR: not followed */
			if (!memcmp(vr, "UN", 2) && len == 0xffffffffu)
				return big ? 1 : 0;
		} else {
			len = rd32(&buf[off + 4]);
			sq = len == 0xffffffffu && !(g == 0x7fe0 && e == 0x0010);
		}
		if (len == 0xffffffffu) { /* a sequence, or encapsulated pixels */
			encap = !sq;
			off += hdr;
			continue;
		}
		if (len > n - off - hdr) {
			if (g == 0x7fe0 && e == 0x0010) {
				set_err(err, errlen, "truncated pixel data");
				return -1;
			}
			goto too_long;
		}
		off += hdr + (sq ? 0 : len); /* a sequence's items: walked into */
	}
	return 0;
too_long:
	set_err(err, errlen,
		"truncated: element (%04x,%04x) declares %zu bytes, the file holds %zu after it",
		rd16(&buf[off]), rd16(&buf[off + 2]), len, n - off - hdr);
	return -1;
}

/* The file meta header (group 0002) from off on, framed as GDCM frames it:
 * explicit VR when the first element's VR is one of the standard's (else
 * GDCM reads the whole group as implicit VR: tag, 32-bit length); in
 * explicit VR a VR GDCM does not know, but printable, is read as UN (2
 * reserved bytes, 32-bit length), and a VR of other bytes makes GDCM give
 * up on the header.  Each length must fit in the file (GDCM allocates it
 * first: a 3 KB file with (0002,0002) "CI" took 773 MB).  *end gets the
 * offset of the data set, *ts the Transfer Syntax UID.  0 when fine, -1
 * with err. */
int walk_meta(const unsigned char *buf, size_t n, size_t off, size_t *end,
	      std::string *ts, char *err, size_t errlen)
{
	static const char *long_vrs[] = {"OB", "OW", "OF", "SQ", "UT", "UN", "OD",
					 "OL", "OV", "UC", "UR", "SV", "UV"};
	bool explicit_vr = off + 6 <= n &&
			   known_vr(reinterpret_cast<const char *>(&buf[off + 4]));
	size_t hdr = 8, len = 0;

	while (off + 8 <= n && le16(&buf[off]) == 0x0002) {
		const unsigned char *vr = &buf[off + 4];
		bool is_long = true;

		if (explicit_vr) {
			if (!known_vr(reinterpret_cast<const char *>(vr)) &&
			    (vr[0] < ' ' || vr[0] > '~' || vr[1] < ' ' || vr[1] > '~')) {
				set_err(err, errlen,
					"bad file meta header: element (0002,%04x) has no VR",
					le16(&buf[off + 2]));
				return -1;
			}
			if (known_vr(reinterpret_cast<const char *>(vr))) {
				is_long = false;
				for (const char *l : long_vrs)
					is_long |= !memcmp(vr, l, 2);
			}
			hdr = is_long ? 12 : 8;
			if (off + hdr > n)
				break;
			len = is_long ? le32(&buf[off + 8]) : le16(&buf[off + 6]);
		} else {
			hdr = 8;
			len = le32(&buf[off + 4]);
		}
		if (len > n - off - hdr) {
			set_err(err, errlen,
				"truncated file meta header: element (0002,%04x) declares %zu bytes, the file holds %zu after it",
				le16(&buf[off + 2]), len, n - off - hdr);
			return -1;
		}
		if (le16(&buf[off + 2]) == 0x0010)
			ts->assign(reinterpret_cast<const char *>(&buf[off + hdr]),
				   len);
		off += hdr + len;
	}
	*end = off;
	return 0;
}

/* GDCM takes a cut-short file meta header (assertions) or deflate stream
 * (garbage lengths, near-endless allocation) badly, so both are checked
 * here first: the group 0002 elements must lie inside the file, and a
 * Deflated Explicit VR Little Endian data set must inflate to its end.
 * A file without the Part 10 header gets the length walk from its first
 * byte (the file meta header walk first when it starts with group 0002, as
 * GDCM reads it).  0 when fine, -1 with err. */
int precheck(const unsigned char *buf, size_t n, char *err, size_t errlen)
{
	size_t off = 132;
	std::string ts;
	if (n < 132 || memcmp(&buf[128], "DICM", 4)) {
		/* a raw data set: GDCM guesses its encoding and allocates what
		 * it reads (13 bytes of garbage took 4 GiB and 40 s) */
		if (n < 8 || le16(buf) != 0x0002) {
			/* GDCM guesses explicit VR big endian where the first
			 * element has a VR and its group is 0x0800, or, unless
			 * the group is 0x0008 or the element 0x0010, its group
			 * or element is over 0xff (26 bytes took 148 MB) */
			unsigned g = n >= 8 ? le16(buf) : 0, e = n >= 8 ? le16(buf + 2) : 0;
			bool be = n >= 8 &&
				  known_vr(reinterpret_cast<const char *>(buf + 4)) &&
				  (g == 0x0800 || (g != 0x0008 && e != 0x0010 &&
						   (g > 0xff || e > 0xff)));
			int rc = precheck_lengths(buf, n, 0, true, false, err, errlen);
			if (rc == 0 && be &&
			    (rc = precheck_lengths(buf, n, 0, true, true, err, errlen)) == 1)
				rc = 0; /* little endian again: walked above */
			if (rc < 0) {
				set_err(err, errlen, "not a DICOM file, or truncated");
				return -1;
			}
			return 0;
		}
		off = 0;
	}
	if (walk_meta(buf, n, off, &off, &ts, err, errlen) < 0)
		return -1;
	if (off + 8 > n) {
		set_err(err, errlen,
			"truncated: no data set after the file meta header");
		return -1;
	}
	while (!ts.empty() && (ts.back() == '\0' || ts.back() == ' '))
		ts.pop_back();
	/* big endian: walked as such; where GDCM meets no VR (or UN of
	 * undefined length) there, it reads the data set again as little
	 * endian, and so the walk goes again (a 4.5 KB file declaring big
	 * endian over little-endian elements took 316 MB) */
	if (ts == "1.2.840.10008.1.2.2") {
		int rc = precheck_lengths(buf, n, off, true, true, err, errlen);
		if (rc <= 0)
			return rc;
		return precheck_lengths(buf, n, off, true, false, err, errlen);
	}
	/* every little-endian data set but a deflated one (its elements are
	 * read after inflating): implicit VR, or explicit with GDCM's fallback
	 * (encapsulated and unknown or missing transfer syntaxes included) */
	if (ts != "1.2.840.10008.1.2.1.99")
		return precheck_lengths(buf, n, off, ts != "1.2.840.10008.1.2",
					false, err, errlen);
	/* inflate the data set to its end, the output thrown away */
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, -15) != Z_OK)
		return 0;
	std::vector<unsigned char> scratch(1 << 16);
	zs.next_in = const_cast<unsigned char *>(buf + off);
	zs.avail_in = (uInt)(n - off);
	int zrc;
	do {
		zs.next_out = scratch.data();
		zs.avail_out = (uInt)scratch.size();
		zrc = inflate(&zs, Z_NO_FLUSH);
	} while (zrc == Z_OK);
	inflateEnd(&zs);
	if (zrc != Z_STREAM_END) {
		set_err(err, errlen, "truncated or corrupt deflated data set");
		return -1;
	}
	return 0;
}

/* A file's bytes; owned by dcm_read, so that they are freed even when a
 * GDCM assertion jumps out of the reading code. */
struct file_buf {
	char *data;
	size_t size;
};

/* The whole file in memory: one read instead of GDCM's many small reads
 * and seeks.  Fails with strerror (a directory included). */
int slurp(const char *path, struct file_buf *fb, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		set_err(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		set_err(err, errlen, "%s",
			S_ISDIR(st.st_mode) ? strerror(EISDIR)
					    : "not a regular file");
		return -1;
	}
	size_t n = (size_t)st.st_size, got = 0;
	if (!(fb->data = static_cast<char *>(malloc(n ? n : 1)))) {
		close(fd);
		set_err(err, errlen, "out of memory");
		return -1;
	}
	while (got < n) {
		ssize_t k = read(fd, fb->data + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			set_err(err, errlen, "%s",
				k < 0 ? strerror(errno) : "file shrank while read");
			close(fd);
			return -1;
		}
		got += (size_t)k;
	}
	close(fd);
	fb->size = n;
	return 0;
}


/* Where native little-endian pixel data lies in the file, given the stream
 * position right after its element header (GDCM stopped there); false when
 * the element there is not a defined-length Pixel Data. */
bool locate_pixels(const unsigned char *f, size_t size, std::streamoff pos,
		   bool explicit_vr, const unsigned char **data, size_t *len,
		   bool *ow, bool *truncated)
{
	static const unsigned char tag[4] = {0xe0, 0x7f, 0x10, 0x00};
	if (pos < 12 || (size_t)pos > size)
		return false;
	if (explicit_vr) {
		if (memcmp(f + pos - 12, tag, 4) || f[pos - 8] != 'O' ||
		    (f[pos - 7] != 'W' && f[pos - 7] != 'B'))
			return false;
		*ow = f[pos - 7] == 'W';
	} else {
		if (memcmp(f + pos - 8, tag, 4))
			return false;
		*ow = true;
	}
	uint32_t vl = le32(f + pos - 4);
	if (vl == 0xffffffffu)
		return false;
	*data = f + pos;
	*truncated = vl > size - (size_t)pos;
	*len = *truncated ? size - (size_t)pos : vl;
	return true;
}

/* Decoded image of native pixel data plus the data set's attributes. */
int finish_native(const gdcm::DataSet &ds, const unsigned char *data,
		  size_t len, bool ow, bool big_endian, struct dcm_image **out,
		  char *err, size_t errlen)
{
	struct layout L;
	enum dcm_sample sample = DCM_U8;
	if (read_layout(ds, &L, err, errlen))
		return -1;
	pick_sample((unsigned)L.bits, L.sgn, &sample);
	/* the size check of decode_native, before the image is allocated: a
	 * header may claim terabytes over a few bytes of pixel data */
	size_t n = L.frames * L.samples * L.rows * L.cols;
	size_t want = L.bits == 1 ? (n + 7) / 8 : n * dcm_sample_size(sample);
	bool ybr422 = !strcmp(L.photometric, "YBR_FULL_422") && L.samples == 3 &&
		      L.bits == 8 && L.cols % 2 == 0 && len >= n / 3 * 2;
	if (!ybr422 && len < want) {
		set_err(err, errlen, "pixel data holds %zu bytes, %zu expected",
			len, want);
		return -1;
	}
	struct dcm_image *img = new_image(&L, sample, err, errlen);
	if (!img)
		return -1;
	if (decode_native(data, len, ow, &L, big_endian, img, err, errlen)) {
		dcm_image_free(img);
		return -1;
	}
	*out = img;
	return 0;
}

void read_rescale(struct dcm_image *img, const gdcm::DataSet &ds)
{
	double v[2];
	size_t n;
	std::string s;
	if (get_text(ds, 0x0028, 0x1053, s) && parse_nums(s, v, 1, &n))
		img->slope = v[0];
	if (get_text(ds, 0x0028, 0x1052, s) && parse_nums(s, v, 1, &n))
		img->intercept = v[0];
}

int read_image(const char *path, struct file_buf *fb,
	       struct dcm_image **out, char *err, size_t errlen)
{
	if (slurp(path, fb, err, errlen) ||
	    precheck(reinterpret_cast<const unsigned char *>(fb->data),
		     fb->size, err, errlen))
		return -1;
	char *file = fb->data;
	size_t size = fb->size;
	const unsigned char *bytes = reinterpret_cast<const unsigned char *>(file);
	const gdcm::Tag pixel_tag(0x7fe0, 0x0010);
	quiet_gdcm();

	/* Fast path, the usual case: GDCM parses the data set up to the
	 * Pixel Data element, whose native little-endian value is then taken
	 * straight from the file buffer. */
	{
		auto rd = open_read<gdcm::Reader>(file, size);
		gdcm::Reader &r = rd->r;
		static const std::set<gdcm::Tag> skip = {pixel_tag};
		if (capped_read_up_to(r, size, pixel_tag, skip) && rd->is.good()) {
			const gdcm::TransferSyntax &ts =
				r.GetFile().GetHeader().GetDataSetTransferSyntax();
			const unsigned char *data;
			size_t len;
			bool ow, truncated;
			if ((ts == gdcm::TransferSyntax::ExplicitVRLittleEndian ||
			     ts == gdcm::TransferSyntax::ImplicitVRLittleEndian) &&
			    locate_pixels(bytes, size, rd->is.tellg(),
					  ts.IsExplicit(), &data, &len, &ow,
					  &truncated)) {
				if (truncated) {
					set_err(err, errlen, "truncated pixel data");
					return -1;
				}
				const gdcm::DataSet &ds = r.GetFile().GetDataSet();
				if (finish_native(ds, data, len, ow, false, out, err,
						  errlen))
					return -1;
				read_rescale(*out, ds);
				read_meta(*out, ds);
				return 0;
			}
		}
	}

	/* Everything else: GDCM reads the whole file. */
	auto rd = open_read<gdcm::Reader>(file, size);
	gdcm::Reader &r = rd->r;
	std::ostringstream &warnings = rd->warnings;
	gdcm::Trace::SetWarningStream(warnings);
	gdcm::Trace::SetWarning(true);
	bool ok = capped_read(r, size);
	gdcm::Trace::SetWarning(false);
	gdcm::Trace::SetWarningStream(std::cerr);
	if (!ok) {
		set_err(err, errlen, "not a DICOM file, or truncated");
		return -1;
	}
	/* GDCM reads what it can of a file cut short and only warns */
	const std::string &w = warnings.str();
	if (w.find("Incomplete Pixel Data") != std::string::npos ||
	    w.find("Fragment could not be read") != std::string::npos ||
	    w.find("Fragment could be corrupted") != std::string::npos) {
		set_err(err, errlen, "truncated pixel data");
		return -1;
	}
	const gdcm::DataSet &ds = r.GetFile().GetDataSet();
	if (!ds.FindDataElement(pixel_tag)) {
		set_err(err, errlen, "no pixel data (not an image)");
		return -1;
	}
	const gdcm::DataElement &pd = ds.GetDataElement(pixel_tag);
	const gdcm::TransferSyntax &ts =
		r.GetFile().GetHeader().GetDataSetTransferSyntax();
	struct dcm_image *img = nullptr;
	if (!pd.GetSequenceOfFragments()) {
		const gdcm::ByteValue *bv = pd.GetByteValue();
		if (finish_native(ds,
				  bv ? reinterpret_cast<const unsigned char *>(
					       bv->GetPointer())
				     : nullptr,
				  bv ? (size_t)bv->GetLength() : 0,
				  pd.GetVR() == gdcm::VR::OW,
				  ts.GetSwapCode() == gdcm::SwapCode::BigEndian,
				  &img, err, errlen))
			return -1;
		read_rescale(img, ds);
	} else if (ts == gdcm::TransferSyntax::RLELossless) {
		struct layout L;
		enum dcm_sample sample = DCM_U8;
		if (read_layout(ds, &L, err, errlen))
			return -1;
		pick_sample((unsigned)L.bits, L.sgn, &sample);
		if (!(img = new_image(&L, sample, err, errlen)))
			return -1;
		if (decode_rle(pd, &L, img, err, errlen)) {
			dcm_image_free(img);
			return -1;
		}
		read_rescale(img, ds);
	} else {
		struct layout L;
		if (read_layout(ds, &L, err, errlen))
			return -1;
		if (ds.FindDataElement(gdcm::Tag(0x0028, 0x0009)) &&
		    !ds.FindDataElement(gdcm::Tag(0x0028, 0x0008))) {
			/* GDCM aborts on this instead of failing. */
			set_err(err, errlen,
				"Frame Increment Pointer without Number of Frames");
			return -1;
		}
		private_tmp_begin();
		int rc = decode_with_gdcm(file, size, &L, &img, err, errlen);
		private_tmp_end();
		if (rc)
			return -1;
	}
	read_meta(img, ds);
	*out = img;
	return 0;
}

/* Text element with even length: UI padded with NUL, others with space. */
void put_text(gdcm::DataSet &ds, uint16_t g, uint16_t e, gdcm::VR vr,
	      std::string v)
{
	if (v.size() % 2)
		v.push_back(vr == gdcm::VR::UI ? '\0' : ' ');
	gdcm::DataElement de(gdcm::Tag(g, e));
	de.SetVR(vr);
	de.SetByteValue(v.data(), (uint32_t)v.size());
	ds.Replace(de);
}

void put_us(gdcm::DataSet &ds, uint16_t g, uint16_t e, uint16_t v)
{
	unsigned char b[2] = {(unsigned char)(v & 0xff), (unsigned char)(v >> 8)};
	gdcm::DataElement de(gdcm::Tag(g, e));
	de.SetVR(gdcm::VR::US);
	de.SetByteValue(reinterpret_cast<const char *>(b), 2);
	ds.Replace(de);
}

/* Decimal strings of at most 16 characters each, joined with '\'. */
std::string ds_values(const double *v, size_t n)
{
	std::string s;
	for (size_t i = 0; i < n; i++) {
		char buf[32];
		int prec = 10;
		do
			snprintf(buf, sizeof buf, "%.*g", prec--, v[i]);
		while (strlen(buf) > 16 && prec > 1);
		if (i)
			s += '\\';
		s += buf;
	}
	return s;
}

/* Puts px as Pixel Data (of vr) into w's data set and writes the file,
 * Explicit VR Little Endian: 0, or -1 with the reason in err. */
static int write_with_pixels(gdcm::Writer &w, const std::string &px,
			     gdcm::VR::VRType vr, const char *path, char *err,
			     size_t errlen)
{
	gdcm::DataElement pd(gdcm::Tag(0x7fe0, 0x0010));
	pd.SetVR(vr);
	pd.SetByteValue(px.data(), (uint32_t)px.size());
	w.GetFile().GetDataSet().Replace(pd);
	w.GetFile().GetHeader().SetDataSetTransferSyntax(
		gdcm::TransferSyntax::ExplicitVRLittleEndian);
	w.SetFileName(path);
	if (!w.Write()) {
		set_err(err, errlen, "cannot write DICOM%s%s",
			errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	return 0;
}

std::string is_value(long v)
{
	return std::to_string(v);
}

int write_mr(const char *path, const struct dcm_mr_spec *s, char *err,
	     size_t errlen)
{
	quiet_gdcm();
	if (s->rows <= 0 || s->cols <= 0 || s->rows > 65535 ||
	    s->cols > 65535 || !s->pixels) {
		set_err(err, errlen, "bad image size %dx%d", s->rows, s->cols);
		return -1;
	}
	gdcm::Writer w;
	gdcm::File &file = w.GetFile();
	gdcm::DataSet &ds = file.GetDataSet();
	const char *mr_sop_class = "1.2.840.10008.5.1.4.1.1.4";
	put_text(ds, 0x0008, 0x0008, gdcm::VR::CS, "ORIGINAL\\PRIMARY");
	put_text(ds, 0x0008, 0x0016, gdcm::VR::UI, mr_sop_class);
	put_text(ds, 0x0008, 0x0018, gdcm::VR::UI, s->sop_instance_uid);
	put_text(ds, 0x0008, 0x0060, gdcm::VR::CS, "MR");
	put_text(ds, 0x0008, 0x0070, gdcm::VR::LO, "lvseg phantom");
	put_text(ds, 0x0010, 0x0010, gdcm::VR::PN, s->patient_id);
	put_text(ds, 0x0010, 0x0020, gdcm::VR::LO, s->patient_id);
	put_text(ds, 0x0018, 0x0050, gdcm::VR::DS,
		 ds_values(&s->slice_thickness, 1));
	put_text(ds, 0x0018, 0x1060, gdcm::VR::DS,
		 ds_values(&s->trigger_time, 1));
	put_text(ds, 0x0018, 0x1090, gdcm::VR::IS,
		 is_value(s->cardiac_number_of_images));
	put_text(ds, 0x0020, 0x000d, gdcm::VR::UI, s->study_uid);
	put_text(ds, 0x0020, 0x000e, gdcm::VR::UI, s->series_uid);
	put_text(ds, 0x0020, 0x0011, gdcm::VR::IS, is_value(s->series_number));
	put_text(ds, 0x0020, 0x0013, gdcm::VR::IS,
		 is_value(s->instance_number));
	put_text(ds, 0x0020, 0x0032, gdcm::VR::DS, ds_values(s->position, 3));
	put_text(ds, 0x0020, 0x0037, gdcm::VR::DS,
		 ds_values(s->orientation, 6));
	put_text(ds, 0x0020, 0x0052, gdcm::VR::UI, s->frame_of_ref_uid);
	put_text(ds, 0x0020, 0x1041, gdcm::VR::DS,
		 ds_values(&s->slice_location, 1));
	put_us(ds, 0x0028, 0x0002, 1);
	put_text(ds, 0x0028, 0x0004, gdcm::VR::CS, "MONOCHROME2");
	put_us(ds, 0x0028, 0x0010, (uint16_t)s->rows);
	put_us(ds, 0x0028, 0x0011, (uint16_t)s->cols);
	put_text(ds, 0x0028, 0x0030, gdcm::VR::DS,
		 ds_values(s->pixel_spacing, 2));
	put_us(ds, 0x0028, 0x0100, 16);
	put_us(ds, 0x0028, 0x0101, 16);
	put_us(ds, 0x0028, 0x0102, 15);
	put_us(ds, 0x0028, 0x0103, 1);
	put_text(ds, 0x0028, 0x1050, gdcm::VR::DS,
		 ds_values(&s->window_center, 1));
	put_text(ds, 0x0028, 0x1051, gdcm::VR::DS,
		 ds_values(&s->window_width, 1));

	size_t n = (size_t)s->rows * (size_t)s->cols;
	std::string px(2 * n, '\0');
	for (size_t i = 0; i < n; i++) { /* little-endian whatever the host */
		uint16_t v = (uint16_t)s->pixels[i];
		px[2 * i] = (char)(v & 0xff);
		px[2 * i + 1] = (char)(v >> 8);
	}
	return write_with_pixels(w, px, gdcm::VR::OW, path, err, errlen);
}

} /* namespace */

extern "C" size_t dcm_sample_size(enum dcm_sample s)
{
	switch (s) {
	case DCM_U8:
	case DCM_I8:
		return 1;
	case DCM_U16:
	case DCM_I16:
		return 2;
	case DCM_U32:
	case DCM_I32:
		return 4;
	}
	return 1;
}

namespace {

/* The guarded part of dcm_read: exceptions become errors here. */
int read_caught(const char *path, struct file_buf *fb,
		struct dcm_image **out, char *err, size_t errlen)
{
	try {
		return read_image(path, fb, out, err, errlen);
	} catch (const std::bad_alloc &) {
		set_err(err, errlen, "out of memory");
	} catch (const std::exception &e) {
		set_err(err, errlen, "cannot read DICOM: %s", e.what());
	} catch (...) {
		set_err(err, errlen, "cannot read DICOM");
	}
	return -1;
}

} /* namespace */

extern "C" int dcm_read(const char *path, struct dcm_image **out, char *err,
			size_t errlen)
{
	struct sigaction sa, old;
	sigjmp_buf target;
	volatile int rc = -1;
	static int saved[2]; /* static: sigsetjmp may not keep a local */
	muzzle(saved);

	*out = nullptr;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_abort;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, &old);
	static struct file_buf fb; /* static: sigsetjmp may not keep a local */
	fb.data = nullptr;
	fb.size = 0;
	const bool was_handling = abi::__cxa_current_exception_type() != nullptr;
	if (sigsetjmp(target, 1) == 0) {
		abort_target = &target;
		rc = read_caught(path, &fb, out, err, errlen);
	} else {
		alloc_cap = 0; /* the jump skipped parse_cap's destructor */
		drop_live_reads(was_handling);
		*out = nullptr;
		set_err(err, errlen, "malformed or truncated DICOM");
		rc = -1;
	}
	abort_target = nullptr;
	sigaction(SIGABRT, &old, nullptr);
	private_tmp_end(); /* after a caught assertion inside a codec */
	unmuzzle(saved);
	free(fb.data);
	fb.data = nullptr;
	return rc;
}

/* For sanitizer builds (LeakSanitizer asks for this): GDCM and OpenJPEG leak
 * on some of their error paths, and whatever GDCM had allocated when one of
 * its assertions was caught above is lost.  Neither is ours to fix; leaks of
 * this file's own allocations are still reported. */
extern "C" const char *__lsan_default_suppressions(void);
extern "C" const char *__lsan_default_suppressions(void)
{
	return "leak:libgdcm\n"
	       "leak:gdcm::\n"
	       "leak:libopenjp2\n";
}

/* ... and without a "Suppressions used" table on stderr, which must stay
 * one line per bad file (LSAN_OPTIONS still overrides). */
extern "C" const char *__lsan_default_options(void);
extern "C" const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

/* Full stacks for leak reports: the fast unwinder stops inside libc and
 * libstdc++ (no frame pointers), and a cut stack cannot be matched to the
 * suppressions above. */
extern "C" const char *__asan_default_options(void);
extern "C" const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

extern "C" void dcm_image_free(struct dcm_image *img)
{
	if (!img)
		return;
	free(img->pixels);
	free(img);
}

extern "C" int dcm_write_mr(const char *path, const struct dcm_mr_spec *s,
			    char *err, size_t errlen)
{
	try {
		errno = 0;
		return write_mr(path, s, err, errlen);
	} catch (const std::bad_alloc &) {
		set_err(err, errlen, "out of memory");
	} catch (const std::exception &e) {
		set_err(err, errlen, "cannot write DICOM: %s", e.what());
	} catch (...) {
		set_err(err, errlen, "cannot write DICOM");
	}
	return -1;
}

/* ---- Segmentations: the source header, and the SEG object ---- */

namespace {

void copy_text(const gdcm::DataSet &ds, uint16_t g, uint16_t e, char *dst)
{
	std::string s;
	dst[0] = '\0';
	if (get_text(ds, g, e, s))
		snprintf(dst, DCM_TEXT, "%s", s.c_str());
}

int read_source(const char *path, struct file_buf *fb, struct dcm_source *s,
		char *err, size_t errlen)
{
	if (slurp(path, fb, err, errlen) ||
	    precheck(reinterpret_cast<const unsigned char *>(fb->data),
		     fb->size, err, errlen))
		return -1;
	quiet_gdcm();
	const gdcm::Tag pixel_tag(0x7fe0, 0x0010);
	auto rd = open_read<gdcm::Reader>(fb->data, fb->size);
	gdcm::Reader &r = rd->r;
	static const std::set<gdcm::Tag> skip = {pixel_tag};
	if (!capped_read_up_to(r, fb->size, pixel_tag, skip)) {
		set_err(err, errlen, "not a DICOM file, or truncated");
		return -1;
	}
	const gdcm::DataSet &ds = r.GetFile().GetDataSet();
	memset(s, 0, sizeof *s);
	copy_text(ds, 0x0008, 0x0016, s->sop_class_uid);
	copy_text(ds, 0x0008, 0x0018, s->sop_instance_uid);
	copy_text(ds, 0x0020, 0x000d, s->study_uid);
	copy_text(ds, 0x0020, 0x000e, s->series_uid);
	copy_text(ds, 0x0020, 0x0052, s->frame_of_ref_uid);
	copy_text(ds, 0x0020, 0x1040, s->position_reference);
	copy_text(ds, 0x0008, 0x0005, s->specific_charset);
	copy_text(ds, 0x0010, 0x0010, s->patient_name);
	copy_text(ds, 0x0010, 0x0020, s->patient_id);
	copy_text(ds, 0x0010, 0x0030, s->patient_birth_date);
	copy_text(ds, 0x0010, 0x0040, s->patient_sex);
	copy_text(ds, 0x0008, 0x0020, s->study_date);
	copy_text(ds, 0x0008, 0x0030, s->study_time);
	copy_text(ds, 0x0020, 0x0010, s->study_id);
	copy_text(ds, 0x0008, 0x0050, s->accession_number);
	copy_text(ds, 0x0008, 0x0090, s->referring_physician);
	copy_text(ds, 0x0020, 0x0011, s->series_number);
	copy_text(ds, 0x0028, 0x0008, s->number_of_frames);
	copy_text(ds, 0x0028, 0x0030, s->pixel_spacing);
	copy_text(ds, 0x0018, 0x0050, s->slice_thickness);
	copy_text(ds, 0x0020, 0x0032, s->image_position);
	copy_text(ds, 0x0020, 0x0037, s->image_orientation);
	copy_text(ds, 0x0018, 0x1060, s->trigger_time);
	unsigned v;
	if (get_us(ds, 0x0028, 0x0010, &v))
		s->rows = (int)v;
	if (get_us(ds, 0x0028, 0x0011, &v))
		s->cols = (int)v;
	return 0;
}

/* A sequence of the given items (undefined lengths, as most writers do). */
void put_seq(gdcm::DataSet &ds, uint16_t g, uint16_t e,
	     const std::vector<gdcm::DataSet> &items)
{
	gdcm::SmartPointer<gdcm::SequenceOfItems> sq = new gdcm::SequenceOfItems();
	sq->SetLengthToUndefined();
	for (const gdcm::DataSet &nds : items) {
		gdcm::Item it;
		it.SetVLToUndefined();
		it.SetNestedDataSet(nds);
		sq->AddItem(it);
	}
	gdcm::DataElement de(gdcm::Tag(g, e));
	de.SetVR(gdcm::VR::SQ);
	de.SetValue(*sq);
	de.SetVLToUndefined();
	ds.Replace(de);
}

void put_seq1(gdcm::DataSet &ds, uint16_t g, uint16_t e,
	      const gdcm::DataSet &item)
{
	put_seq(ds, g, e, std::vector<gdcm::DataSet>(1, item));
}

/* Type 2: written empty when there is no value. */
void put_text2(gdcm::DataSet &ds, uint16_t g, uint16_t e, gdcm::VR vr,
	       const char *v)
{
	if (v && *v) {
		put_text(ds, g, e, vr, v);
		return;
	}
	gdcm::DataElement de(gdcm::Tag(g, e));
	de.SetVR(vr);
	ds.Replace(de);
}

void put_ul(gdcm::DataSet &ds, uint16_t g, uint16_t e,
	    const std::vector<uint32_t> &v)
{
	std::string b;
	for (uint32_t x : v)
		for (int k = 0; k < 4; k++)
			b.push_back((char)((x >> (8 * k)) & 0xff));
	gdcm::DataElement de(gdcm::Tag(g, e));
	de.SetVR(gdcm::VR::UL);
	de.SetByteValue(b.data(), (uint32_t)b.size());
	ds.Replace(de);
}

/* An attribute tag as a value (AT): group, then element, little-endian. */
void put_at(gdcm::DataSet &ds, uint16_t g, uint16_t e, uint16_t vg,
	    uint16_t ve)
{
	unsigned char b[4] = {(unsigned char)(vg & 0xff), (unsigned char)(vg >> 8),
			      (unsigned char)(ve & 0xff), (unsigned char)(ve >> 8)};
	gdcm::DataElement de(gdcm::Tag(g, e));
	de.SetVR(gdcm::VR::AT);
	de.SetByteValue(reinterpret_cast<const char *>(b), 4);
	ds.Replace(de);
}

gdcm::DataSet code_item(const struct dcm_code &c)
{
	gdcm::DataSet d;
	put_text(d, 0x0008, 0x0100, gdcm::VR::SH, c.value);
	put_text(d, 0x0008, 0x0102, gdcm::VR::SH, c.scheme);
	put_text(d, 0x0008, 0x0104, gdcm::VR::LO, c.meaning);
	return d;
}

gdcm::DataSet pixel_measures(const struct dcm_source *src)
{
	gdcm::DataSet d;
	put_text(d, 0x0028, 0x0030, gdcm::VR::DS, src->pixel_spacing);
	if (src->slice_thickness[0])
		put_text(d, 0x0018, 0x0050, gdcm::VR::DS, src->slice_thickness);
	return d;
}

gdcm::DataSet plane_orientation(const struct dcm_source *src)
{
	gdcm::DataSet d;
	put_text(d, 0x0020, 0x0037, gdcm::VR::DS, src->image_orientation);
	return d;
}

gdcm::DataSet dimension_index(const char *uid, uint16_t g, uint16_t e,
			      uint16_t fg, uint16_t fe, const char *label)
{
	gdcm::DataSet d;
	put_text(d, 0x0020, 0x9164, gdcm::VR::UI, uid);
	put_at(d, 0x0020, 0x9165, g, e);
	put_at(d, 0x0020, 0x9167, fg, fe);
	put_text(d, 0x0020, 0x9421, gdcm::VR::LO, label);
	return d;
}

int write_seg(const char *path, const struct dcm_seg_spec *s, char *err,
	      size_t errlen)
{
	quiet_gdcm();
	if (s->rows <= 0 || s->cols <= 0 || s->rows > 65535 ||
	    s->cols > 65535 || s->nframes == 0) {
		set_err(err, errlen, "bad segmentation size %zux%dx%d",
			s->nframes, s->rows, s->cols);
		return -1;
	}
	const struct dcm_source *first = s->frames[0].src;
	bool same_measures = true, same_orientation = true;
	for (size_t k = 1; k < s->nframes; k++) {
		const struct dcm_source *src = s->frames[k].src;
		same_measures &= !strcmp(src->pixel_spacing, first->pixel_spacing) &&
				 !strcmp(src->slice_thickness, first->slice_thickness);
		same_orientation &=
			!strcmp(src->image_orientation, first->image_orientation);
	}
	gdcm::Writer w;
	gdcm::File &file = w.GetFile();
	gdcm::DataSet &ds = file.GetDataSet();
	const char *seg_sop_class = "1.2.840.10008.5.1.4.1.1.66.4";

	/* SOP Common, Patient, General Study */
	if (first->specific_charset[0])
		put_text(ds, 0x0008, 0x0005, gdcm::VR::CS, first->specific_charset);
	put_text(ds, 0x0008, 0x0008, gdcm::VR::CS, "DERIVED\\PRIMARY");
	put_text(ds, 0x0008, 0x0016, gdcm::VR::UI, seg_sop_class);
	put_text(ds, 0x0008, 0x0018, gdcm::VR::UI, s->sop_instance_uid);
	put_text2(ds, 0x0008, 0x0020, gdcm::VR::DA, first->study_date);
	put_text(ds, 0x0008, 0x0023, gdcm::VR::DA, s->content_date);
	put_text2(ds, 0x0008, 0x0030, gdcm::VR::TM, first->study_time);
	put_text(ds, 0x0008, 0x0033, gdcm::VR::TM, s->content_time);
	put_text2(ds, 0x0008, 0x0050, gdcm::VR::SH, first->accession_number);
	put_text(ds, 0x0008, 0x0060, gdcm::VR::CS, "SEG");
	put_text(ds, 0x0008, 0x0070, gdcm::VR::LO, "lvseg");
	put_text2(ds, 0x0008, 0x0090, gdcm::VR::PN, first->referring_physician);
	put_text(ds, 0x0008, 0x103e, gdcm::VR::LO, s->series_description);
	put_text(ds, 0x0008, 0x1090, gdcm::VR::LO, "mask2dcm");

	/* Common Instance Reference: every source, by series */
	{
		std::vector<gdcm::DataSet> refs;
		for (size_t k = 0; k < s->nframes; k++) {
			gdcm::DataSet d;
			put_text(d, 0x0008, 0x1150, gdcm::VR::UI,
				 s->frames[k].src->sop_class_uid);
			put_text(d, 0x0008, 0x1155, gdcm::VR::UI,
				 s->frames[k].src->sop_instance_uid);
			refs.push_back(d);
		}
		gdcm::DataSet series;
		put_seq(series, 0x0008, 0x114a, refs);
		put_text(series, 0x0020, 0x000e, gdcm::VR::UI, first->series_uid);
		put_seq1(ds, 0x0008, 0x1115, series);
	}
	put_text2(ds, 0x0010, 0x0010, gdcm::VR::PN, first->patient_name);
	put_text2(ds, 0x0010, 0x0020, gdcm::VR::LO, first->patient_id);
	put_text2(ds, 0x0010, 0x0030, gdcm::VR::DA, first->patient_birth_date);
	put_text2(ds, 0x0010, 0x0040, gdcm::VR::CS, first->patient_sex);
	put_text(ds, 0x0018, 0x1000, gdcm::VR::LO, "1");
	put_text(ds, 0x0018, 0x1020, gdcm::VR::LO, s->software_version);
	put_text(ds, 0x0020, 0x000d, gdcm::VR::UI, first->study_uid);
	put_text(ds, 0x0020, 0x000e, gdcm::VR::UI, s->series_uid);
	put_text2(ds, 0x0020, 0x0010, gdcm::VR::SH, first->study_id);
	put_text(ds, 0x0020, 0x0011, gdcm::VR::IS, s->series_number);
	put_text(ds, 0x0020, 0x0013, gdcm::VR::IS, "1");
	put_text(ds, 0x0020, 0x0052, gdcm::VR::UI, first->frame_of_ref_uid);
	put_text2(ds, 0x0020, 0x1040, gdcm::VR::LO, first->position_reference);

	/* Multi-frame Dimension */
	{
		gdcm::DataSet org;
		put_text(org, 0x0020, 0x9164, gdcm::VR::UI, s->dimension_uid);
		put_seq1(ds, 0x0020, 0x9221, org);
		std::vector<gdcm::DataSet> dims;
		dims.push_back(dimension_index(s->dimension_uid, 0x0062, 0x000b,
					       0x0062, 0x000a,
					       "ReferencedSegmentNumber"));
		dims.push_back(dimension_index(s->dimension_uid, 0x0020, 0x0032,
					       0x0020, 0x9113,
					       "ImagePositionPatient"));
		dims.push_back(dimension_index(s->dimension_uid, 0x0020, 0x9128,
					       0x0020, 0x9111,
					       "TemporalPositionIndex"));
		put_seq(ds, 0x0020, 0x9222, dims);
	}

	/* Image Pixel, Segmentation Image */
	put_us(ds, 0x0028, 0x0002, 1);
	put_text(ds, 0x0028, 0x0004, gdcm::VR::CS, "MONOCHROME2");
	put_text(ds, 0x0028, 0x0008, gdcm::VR::IS, is_value((long)s->nframes));
	put_us(ds, 0x0028, 0x0010, (uint16_t)s->rows);
	put_us(ds, 0x0028, 0x0011, (uint16_t)s->cols);
	put_us(ds, 0x0028, 0x0100, 1);
	put_us(ds, 0x0028, 0x0101, 1);
	put_us(ds, 0x0028, 0x0102, 0);
	put_us(ds, 0x0028, 0x0103, 0);
	put_text(ds, 0x0028, 0x2110, gdcm::VR::CS, "00");
	put_text(ds, 0x0062, 0x0001, gdcm::VR::CS, "BINARY");
	{
		gdcm::DataSet seg;
		put_seq1(seg, 0x0062, 0x0003, code_item(s->category));
		put_us(seg, 0x0062, 0x0004, 1);
		put_text(seg, 0x0062, 0x0005, gdcm::VR::LO, s->segment_label);
		put_text(seg, 0x0062, 0x0008, gdcm::VR::CS, s->algorithm_type);
		if (s->algorithm_name)
			put_text(seg, 0x0062, 0x0009, gdcm::VR::LO,
				 s->algorithm_name);
		put_seq1(seg, 0x0062, 0x000f, code_item(s->type));
		put_seq1(ds, 0x0062, 0x0002, seg);
	}
	put_text(ds, 0x0062, 0x0013, gdcm::VR::CS, "NO");
	put_text(ds, 0x0070, 0x0080, gdcm::VR::CS, s->content_label);
	put_text(ds, 0x0070, 0x0081, gdcm::VR::LO, s->content_description);
	put_text2(ds, 0x0070, 0x0084, gdcm::VR::PN, "");

	/* Multi-frame Functional Groups */
	{
		gdcm::DataSet shared;
		if (same_measures)
			put_seq1(shared, 0x0028, 0x9110, pixel_measures(first));
		if (same_orientation)
			put_seq1(shared, 0x0020, 0x9116, plane_orientation(first));
		put_seq1(ds, 0x5200, 0x9229, shared);

		static const struct dcm_code purpose = {
			"121322", "DCM", "Source image for image processing operation"};
		static const struct dcm_code derivation = {"113076", "DCM",
							   "Segmentation"};
		std::vector<gdcm::DataSet> per;
		for (size_t k = 0; k < s->nframes; k++) {
			const struct dcm_seg_frame *f = &s->frames[k];
			gdcm::DataSet fg, src, der, content, pos, ident;
			put_text(src, 0x0008, 0x1150, gdcm::VR::UI,
				 f->src->sop_class_uid);
			put_text(src, 0x0008, 0x1155, gdcm::VR::UI,
				 f->src->sop_instance_uid);
			put_seq1(src, 0x0040, 0xa170, code_item(purpose));
			put_seq1(der, 0x0008, 0x2112, src);
			put_seq1(der, 0x0008, 0x9215, code_item(derivation));
			put_seq1(fg, 0x0008, 0x9124, der);
			put_ul(content, 0x0020, 0x9128, {f->temporal_index});
			put_ul(content, 0x0020, 0x9157,
			       {1, f->position_index, f->temporal_index});
			put_seq1(fg, 0x0020, 0x9111, content);
			put_text(pos, 0x0020, 0x0032, gdcm::VR::DS,
				 f->src->image_position);
			put_seq1(fg, 0x0020, 0x9113, pos);
			if (!same_orientation)
				put_seq1(fg, 0x0020, 0x9116,
					 plane_orientation(f->src));
			if (!same_measures)
				put_seq1(fg, 0x0028, 0x9110, pixel_measures(f->src));
			put_us(ident, 0x0062, 0x000b, 1);
			put_seq1(fg, 0x0062, 0x000a, ident);
			per.push_back(fg);
		}
		put_seq(ds, 0x5200, 0x9230, per);
	}

	/* 1 bit per pixel, frames packed back to back, first pixel in the
	 * lowest bit (PS3.5 8.1.1), padded to an even length */
	size_t plane = (size_t)s->rows * (size_t)s->cols;
	size_t nbits = plane * s->nframes;
	if (nbits / plane != s->nframes || (nbits + 7) / 8 > 0xfffffffeu) {
		set_err(err, errlen, "segmentation too large for one file");
		return -1;
	}
	size_t nbytes = (nbits + 7) / 8;
	std::string px(nbytes + (nbytes & 1), '\0');
	for (size_t k = 0; k < s->nframes; k++)
		for (size_t i = 0; i < plane; i++)
			if (s->frames[k].mask[i]) {
				size_t b = k * plane + i;
				px[b / 8] = (char)(px[b / 8] | (1 << (b % 8)));
			}
	return write_with_pixels(w, px, gdcm::VR::OB, path, err, errlen);
}

int read_source_caught(const char *path, struct file_buf *fb,
		       struct dcm_source *s, char *err, size_t errlen)
{
	try {
		return read_source(path, fb, s, err, errlen);
	} catch (const std::bad_alloc &) {
		set_err(err, errlen, "out of memory");
	} catch (const std::exception &e) {
		set_err(err, errlen, "cannot read DICOM: %s", e.what());
	} catch (...) {
		set_err(err, errlen, "cannot read DICOM");
	}
	return -1;
}

} /* namespace */

/* The guards of dcm_read (muzzled fds, a caught assertion) around a header
 * read. */
extern "C" int dcm_read_source(const char *path, struct dcm_source *s,
			       char *err, size_t errlen)
{
	struct sigaction sa, old;
	sigjmp_buf target;
	volatile int rc = -1;
	static int saved[2];
	static struct file_buf fb;
	muzzle(saved);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_abort;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, &old);
	fb.data = nullptr;
	fb.size = 0;
	const bool was_handling = abi::__cxa_current_exception_type() != nullptr;
	if (sigsetjmp(target, 1) == 0) {
		abort_target = &target;
		rc = read_source_caught(path, &fb, s, err, errlen);
	} else {
		alloc_cap = 0; /* the jump skipped parse_cap's destructor */
		drop_live_reads(was_handling);
		set_err(err, errlen, "malformed or truncated DICOM");
		rc = -1;
	}
	abort_target = nullptr;
	sigaction(SIGABRT, &old, nullptr);
	unmuzzle(saved);
	free(fb.data);
	fb.data = nullptr;
	return rc;
}

extern "C" int dcm_write_seg(const char *path, const struct dcm_seg_spec *s,
			     char *err, size_t errlen)
{
	try {
		errno = 0;
		return write_seg(path, s, err, errlen);
	} catch (const std::bad_alloc &) {
		set_err(err, errlen, "out of memory");
	} catch (const std::exception &e) {
		set_err(err, errlen, "cannot write DICOM: %s", e.what());
	} catch (...) {
		set_err(err, errlen, "cannot write DICOM");
	}
	return -1;
}
