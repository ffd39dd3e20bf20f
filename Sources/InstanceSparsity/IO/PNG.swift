import CPNG

/// PNG output through libpng's simplified API, which catches libpng's longjmp-based errors
/// internally and reports them as a return value, so no setjmp is needed on the Swift side.
public enum PNG {
    /// `pixels` are rows top to bottom; `channels` is 1 (gray) or 3 (interleaved RGB).
    public static func write(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard channels == 1 || channels == 3 else {
            throw InputError(path, "cannot write PNG with \(channels) channels (expected 1 or 3)")
        }
        // libpng refuses sizes beyond a million by default; checking here gives a clear message.
        guard (1...1_000_000).contains(width), (1...1_000_000).contains(height) else {
            throw InputError(path, "cannot write PNG of \(width) x \(height) pixels")
        }
        guard pixels.count == width * height * channels else {
            throw InputError(path, "cannot write PNG: \(pixels.count) bytes for \(width) x \(height) x \(channels)")
        }
        try writeAtomically(to: path) { temporary in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            image.width = UInt32(width)
            image.height = UInt32(height)
            image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
            let ok = pixels.withUnsafeBytes { buffer in
                png_image_write_to_file(&image, temporary, 0, buffer.baseAddress, 0, nil)
            }
            guard ok != 0 else {
                let message = withUnsafeBytes(of: &image.message) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                png_image_free(&image)
                throw InputError(path, "cannot write: \(message.isEmpty ? "libpng failed" : message)")
            }
        }
    }
}
