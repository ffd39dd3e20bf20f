// PNG decoding through libpng's full API, with the setjmp it needs kept here in C.
//
// Why not the simplified png_image_* API the writer uses: it treats 16-bit files as linear light
// and gamma-encodes them to 8 bits, composites or premultiplies alpha, and applies gAMA chunks.
// torchvision's loader (PIL) does none of that: it keeps the high byte of 16-bit RGB and
// gray+alpha samples, clips 16-bit gray at 255, drops alpha and ignores gamma. This decoder
// returns what PIL holds before `convert`, and the Swift side converts as PIL's `convert` does.
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ImageCodecs.h"

typedef struct {
    jmp_buf jump;
    const uint8_t *data;
    size_t size, offset;
    char *error;
    size_t error_size;
    // Owned buffers, released by the caller of setjmp when a libpng error jumps back.
    uint8_t *volatile pixels;
    png_bytep *volatile rows;
} png_context;

static void on_error(png_structp png, png_const_charp message) {
    png_context *ctx = png_get_error_ptr(png);
    snprintf(ctx->error, ctx->error_size, "%s", message);
    longjmp(ctx->jump, 1);
}

// Warnings (bad ancillary chunks, an unknown sRGB profile...) are ignored, as PIL ignores them.
static void on_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void read_bytes(png_structp png, png_bytep out, size_t count) {
    png_context *ctx = png_get_io_ptr(png);
    if (count > ctx->size - ctx->offset) png_error(png, "truncated PNG data");
    memcpy(out, ctx->data + ctx->offset, count);
    ctx->offset += count;
}

int isp_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, isp_image *image,
                   char *error, size_t error_size) {
    memset(image, 0, sizeof *image);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(error, error_size, "not a PNG file (bad signature)");
        return 1;
    }
    png_context ctx = {.data = data, .size = size, .error = error, .error_size = error_size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(error, error_size, "out of memory starting libpng");
        return 1;
    }
    if (setjmp(ctx.jump)) {
        free(ctx.pixels);
        free(ctx.rows);
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    png_set_read_fn(png, &ctx, read_bytes);
    png_read_info(png, info);
    png_uint_32 width, height;
    int depth, color, interlace;
    png_get_IHDR(png, info, &width, &height, &depth, &color, &interlace, NULL, NULL);
    if ((int64_t)width * (int64_t)height > max_pixels) {
        char text[160];
        snprintf(text, sizeof text, "header declares %u x %u pixels, more than the limit of %lld",
                 (unsigned)width, (unsigned)height, (long long)max_pixels);
        png_error(png, text);
    }
    // PIL opens 16-bit gray as mode I;16 and clips it to 255 when converting; everything else
    // 16-bit keeps its high byte (PIL's RGB;16B, RGBA;16B and LA;16B unpackers).
    int gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !gray16) png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (row_bytes != (size_t)width * channels * (gray16 ? 2 : 1)) png_error(png, "unexpected row layout");
    ctx.pixels = malloc(row_bytes * height);
    ctx.rows = malloc(sizeof(png_bytep) * height);
    if (!ctx.pixels || !ctx.rows) png_error(png, "out of memory for the pixels");
    for (png_uint_32 y = 0; y < height; y++) ctx.rows[y] = ctx.pixels + y * row_bytes;
    png_read_image(png, ctx.rows);

    if (gray16) {  // big-endian samples; in place, since output byte i reads input bytes 2i, 2i+1
        size_t count = (size_t)width * height;
        for (size_t i = 0; i < count; i++) {
            uint8_t high = ctx.pixels[2 * i], low = ctx.pixels[2 * i + 1];
            ctx.pixels[i] = high == 0 ? low : 255;
        }
    }
    free(ctx.rows);
    png_destroy_read_struct(&png, &info, NULL);
    *image = (isp_image){.width = (int)width, .height = (int)height, .channels = channels, .cmyk = 0,
                         .pixels = ctx.pixels};
    return 0;
}

void isp_image_free(isp_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}
