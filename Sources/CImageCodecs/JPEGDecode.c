// JPEG decoding through libjpeg-turbo's libjpeg API, with its setjmp error handling kept here.
//
// Settings are libjpeg's defaults, which are PIL's: the accurate integer IDCT and fancy
// upsampling, so pixels match torchvision's loader. Like PIL, warnings about corrupt data are
// ignored, except running out of data, which PIL reports as a truncated file.
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "ImageCodecs.h"

// A corrupt progressive file can declare thousands of scans, each a pass over the whole image
// (minutes for one file); libjpeg-turbo's own tools cap them the same way.
enum { max_scans = 1000 };

typedef struct {
    struct jpeg_error_mgr manager;  // first, so the libjpeg error pointer is also ours
    jmp_buf jump;
    char *error;
    size_t error_size;
} jpeg_context;

static void fail(j_common_ptr cinfo, const char *prefix) {
    jpeg_context *ctx = (jpeg_context *)cinfo->err;
    char message[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, message);
    snprintf(ctx->error, ctx->error_size, "%s%s", prefix, message);
    longjmp(ctx->jump, 1);
}

static void on_error(j_common_ptr cinfo) { fail(cinfo, ""); }

static void on_message(j_common_ptr cinfo, int level) {
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) fail(cinfo, "truncated: ");
}

static void on_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > max_scans) {
        jpeg_context *ctx = (jpeg_context *)cinfo->err;
        snprintf(ctx->error, ctx->error_size, "more than %d scans (corrupt progressive JPEG?)", max_scans);
        longjmp(ctx->jump, 1);
    }
}

int isp_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, isp_image *image,
                    char *error, size_t error_size) {
    memset(image, 0, sizeof *image);
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        snprintf(error, error_size, "not a JPEG file (bad signature)");
        return 1;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_context ctx = {.error = error, .error_size = error_size};
    struct jpeg_progress_mgr progress = {.progress_monitor = on_progress};
    uint8_t *volatile pixels = NULL;
    cinfo.err = jpeg_std_error(&ctx.manager);
    ctx.manager.error_exit = on_error;
    ctx.manager.emit_message = on_message;
    if (setjmp(ctx.jump)) {
        free(pixels);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if ((int64_t)cinfo.image_width * (int64_t)cinfo.image_height > max_pixels) {
        snprintf(error, error_size, "header declares %u x %u pixels, more than the limit of %lld",
                 cinfo.image_width, cinfo.image_height, (long long)max_pixels);
        longjmp(ctx.jump, 1);
    }
    int channels, cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; channels = 1; break;
    case JCS_YCbCr: case JCS_RGB: cinfo.out_color_space = JCS_RGB; channels = 3; break;
    case JCS_CMYK: case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; channels = 4; cmyk = 1; break;
    default:
        snprintf(error, error_size, "unsupported JPEG colour space with %d components", cinfo.num_components);
        longjmp(ctx.jump, 1);
    }
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != channels) {
        snprintf(error, error_size, "libjpeg produced %d components, expected %d", cinfo.output_components, channels);
        longjmp(ctx.jump, 1);
    }
    size_t row_bytes = (size_t)cinfo.output_width * channels;
    pixels = malloc(row_bytes * cinfo.output_height);
    if (!pixels) {
        snprintf(error, error_size, "out of memory for %u x %u pixels", cinfo.output_width, cinfo.output_height);
        longjmp(ctx.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + cinfo.output_scanline * row_bytes;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            snprintf(error, error_size, "libjpeg returned no row at line %u", cinfo.output_scanline);
            longjmp(ctx.jump, 1);
        }
    }
    // No jpeg_finish_decompress: every row is in, and what follows the last scan (at most an
    // EOI marker) does not change them; PIL does not read further either.
    *image = (isp_image){.width = (int)cinfo.output_width, .height = (int)cinfo.output_height,
                         .channels = channels, .cmyk = cmyk, .pixels = pixels};
    jpeg_destroy_decompress(&cinfo);
    return 0;
}
