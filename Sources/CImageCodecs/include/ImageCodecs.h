#ifndef ISP_IMAGE_CODECS_H
#define ISP_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

/// An image decoded to 8 bits per sample, rows top to bottom, samples interleaved.
/// `channels` is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA, or CMYK when `cmyk` is set).
/// `pixels` is malloc'ed by the decoder; release it with isp_image_free.
typedef struct {
    int width, height, channels, cmyk;
    uint8_t *pixels;
} isp_image;

/// Both decoders return 0 on success; otherwise 1 and a one-line message in `error`.
/// Images with more than `max_pixels` pixels are refused after the header, before any
/// pixel memory is allocated.
int isp_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, isp_image *image,
                   char *error, size_t error_size);
int isp_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, isp_image *image,
                    char *error, size_t error_size);
void isp_image_free(isp_image *image);

#endif
