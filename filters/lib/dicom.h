/*
 * dicom.h - the project's one door to GDCM, as a plain C API: read a DICOM
 * image (every transfer syntax GDCM decodes) into a pixel buffer plus the
 * header attributes the pipeline uses, write a 16-bit MR image, and write a
 * binary Segmentation (SEG) of source images.
 *
 * Contract: nothing here prints or exits.  Functions return 0 on success
 * and -1 with a one-line reason in err (no path in it: the caller names the
 * file).  No C++ exception escapes.  dcm_read is not thread-safe: while it
 * runs, fds 1 and 2 point at /dev/null (GDCM's codecs print, its fallback
 * JPEG codec even runs a program that writes to stdout; stdout is flushed
 * first), SIGABRT is caught (Debian's GDCM keeps its assert()s and some
 * malformed files trip them: reported as "malformed or truncated DICOM",
 * what GDCM had allocated is leaked) and TMPDIR points at a private
 * directory while a codec runs.
 *
 * Before GDCM sees a native little-endian file, every top-level element's
 * declared length is checked against the file's size (GDCM would allocate
 * it first).
 *
 * Not done here: applying LUTs (modality, VOI, palette), colour-space
 * conversion beyond what a codec does itself, per-frame functional groups
 * of enhanced multi-frame objects (only top-level attributes are read),
 * elements after Pixel Data in native little-endian files (not parsed).
 */
#ifndef DICOM_H
#define DICOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DCM_ERR_LEN 256
#define DCM_MAX_META 24
#define DCM_MAX_NUMS 8

/* One header attribute as a meta entry: a string, an integer, or an array of
 * numbers (n == 1 for a single number). */
enum dcm_meta_kind { DCM_META_STR, DCM_META_INT, DCM_META_NUMS };

struct dcm_meta {
	const char *key; /* static snake_case name, e.g. "pixel_spacing" */
	enum dcm_meta_kind kind;
	char str[72];    /* DCM_META_STR; longer values are truncated */
	int64_t i;       /* DCM_META_INT */
	double nums[DCM_MAX_NUMS]; /* DCM_META_NUMS */
	size_t n;
	int is_array; /* DCM_META_NUMS: write as an array even when n == 1 */
};

/* Sample types of the decoded buffer. */
enum dcm_sample { DCM_U8, DCM_I8, DCM_U16, DCM_I16, DCM_U32, DCM_I32 };

struct dcm_image {
	int rows, cols, frames, samples; /* samples per pixel: 1 or 3 */
	int bits_allocated, bits_stored;
	enum dcm_sample sample;
	char photometric[24];     /* after decoding, e.g. "MONOCHROME2", "RGB" */
	double slope, intercept;  /* rescale; 1 and 0 when absent */
	/* (frames, samples, rows, cols): planar, little-endian, values as
	 * stored in their Bits Allocated container (no masking or sign
	 * extension from Bits Stored, like pydicom; but JPEG 2000 data with
	 * Pixel Representation 1 is sign-extended from Bits Stored, as
	 * pydicom does when the codestream says unsigned); 1-bit data unpacked to
	 * 0/1 bytes; YBR_FULL_422 upsampled to full YBR. */
	void *pixels;
	size_t nmeta;
	struct dcm_meta meta[DCM_MAX_META];
};

/* Bytes per sample of the decoded buffer. */
size_t dcm_sample_size(enum dcm_sample s);

/* Reads path into a new image (*out, free with dcm_image_free).
 * Fails on: not DICOM, no pixel data, truncated or undecodable data. */
int dcm_read(const char *path, struct dcm_image **out, char *err, size_t errlen);
void dcm_image_free(struct dcm_image *img);

/* A signed 16-bit MONOCHROME2 MR image, Explicit VR Little Endian.
 * Strings must be valid for their VR (UIDs: digits and dots, <= 64). */
struct dcm_mr_spec {
	int rows, cols;
	const int16_t *pixels; /* (rows, cols) */
	const char *patient_id;
	const char *study_uid, *series_uid, *sop_instance_uid, *frame_of_ref_uid;
	int series_number, instance_number;
	double pixel_spacing[2]; /* row spacing, column spacing (mm) */
	double slice_thickness, slice_location;
	double position[3], orientation[6];
	double trigger_time;
	int cardiac_number_of_images;
	double window_center, window_width;
};

/* Writes the image to path (directly: the caller makes it atomic). */
int dcm_write_mr(const char *path, const struct dcm_mr_spec *s, char *err,
		 size_t errlen);

/* What a derived object (a segmentation) copies from its source image: the
 * header values as text, as in the file (padding removed; "" when absent).
 * Read by parsing the header up to Pixel Data, under the same guards as
 * dcm_read; the pixels are not decoded. */
#define DCM_TEXT 328
struct dcm_source {
	char sop_class_uid[DCM_TEXT], sop_instance_uid[DCM_TEXT];
	char study_uid[DCM_TEXT], series_uid[DCM_TEXT];
	char frame_of_ref_uid[DCM_TEXT], position_reference[DCM_TEXT];
	char specific_charset[DCM_TEXT];
	char patient_name[DCM_TEXT], patient_id[DCM_TEXT];
	char patient_birth_date[DCM_TEXT], patient_sex[DCM_TEXT];
	char study_date[DCM_TEXT], study_time[DCM_TEXT], study_id[DCM_TEXT];
	char accession_number[DCM_TEXT], referring_physician[DCM_TEXT];
	char series_number[DCM_TEXT], number_of_frames[DCM_TEXT];
	char pixel_spacing[DCM_TEXT], slice_thickness[DCM_TEXT];
	char image_position[DCM_TEXT], image_orientation[DCM_TEXT];
	char trigger_time[DCM_TEXT];
	int rows, cols; /* 0 when absent */
};

int dcm_read_source(const char *path, struct dcm_source *s, char *err,
		    size_t errlen);

/* A DICOM Segmentation (SEG IOD, SOP class 1.2.840.10008.5.1.4.1.1.66.4),
 * BINARY, one segment, one frame per source image, Explicit VR Little
 * Endian.  Patient, study, frame of reference and geometry come from the
 * sources (all of one series); each frame gets Derivation Image / Source
 * Image, Frame Content (the dimension index values given), Plane Position,
 * Segment Identification; Pixel Measures and Plane Orientation are shared
 * when every source has the same, else per frame. */
struct dcm_code {
	const char *value, *scheme, *meaning;
};

struct dcm_seg_frame {
	const struct dcm_source *src;
	const uint8_t *mask;  /* (rows, cols); nonzero = in the segment */
	uint32_t position_index, temporal_index; /* from 1 */
};

struct dcm_seg_spec {
	int rows, cols;
	size_t nframes;
	const struct dcm_seg_frame *frames;
	const char *sop_instance_uid, *series_uid, *dimension_uid;
	const char *series_number, *series_description;
	const char *content_label, *content_description;
	const char *content_date, *content_time; /* YYYYMMDD, HHMMSS */
	const char *software_version;
	const char *segment_label;
	const char *algorithm_type; /* "AUTOMATIC" or "MANUAL" */
	const char *algorithm_name; /* written when not NULL */
	struct dcm_code category, type;
};

/* Writes the segmentation to path (directly: the caller makes it atomic). */
int dcm_write_seg(const char *path, const struct dcm_seg_spec *s, char *err,
		  size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
