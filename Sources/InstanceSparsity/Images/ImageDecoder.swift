import CImageCodecs

/// An 8-bit image, rows top to bottom, channels interleaved (1 = gray, 3 = RGB).
public struct Image8 {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "\(pixels.count) bytes for \(width) x \(height) x \(channels)")
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }
}

/// PNG and JPEG files decoded as torchvision's default loader sees them: PIL's
/// `Image.open(f).convert("RGB")`, or `convert("L")` for one channel.
public enum ImageDecoder {
    /// Headers declaring more pixels are refused before decoding: 100 megapixels is about 5x
    /// the largest ImageNet image, and a 4-channel image of that size needs 400 MB to decode.
    public static let maxPixels = 100_000_000

    /// The extensions of the formats decoded here.
    public static let decodedExtensions = [".jpg", ".jpeg", ".png"]
    /// torchvision's IMG_EXTENSIONS (matched case-insensitively): a class folder lists the same
    /// files as torchvision's ImageFolder. Only PNG and JPEG contents are decoded; a file with
    /// another extension, or whose contents are neither, is an error.
    public static let extensions = decodedExtensions + [".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"]

    public static func decode(path: String, channels: Int, maxPixels: Int = maxPixels) throws -> Image8 {
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
        let file = try InputFile(path)
        guard file.size > 0 else { throw InputError(path, "empty file (0 bytes)") }
        return try decode(try file.readAll(), path: path, channels: channels, maxPixels: maxPixels)
    }

    /// Decodes file contents; `path` names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String, channels: Int, maxPixels: Int = maxPixels) throws -> Image8 {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        let isPNG = bytes.starts(with: png), isJPEG = bytes.starts(with: [0xFF, 0xD8, 0xFF])
        guard isPNG || isJPEG else {
            throw InputError(path, "not a PNG or JPEG file (unrecognised signature)")
        }
        var image = isp_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer { data in
            message.withUnsafeMutableBufferPointer { text in
                isPNG ? isp_png_decode(data.baseAddress, data.count, Int64(maxPixels), &image, text.baseAddress, text.count)
                      : isp_jpeg_decode(data.baseAddress, data.count, Int64(maxPixels), &image, text.baseAddress, text.count)
            }
        }
        guard status == 0 else {
            let text = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let oneLine = text.split(whereSeparator: \.isNewline).joined(separator: " ")
            throw InputError(path, "cannot decode \(isPNG ? "PNG" : "JPEG"): \(oneLine.isEmpty ? "unknown error" : oneLine)")
        }
        defer { isp_image_free(&image) }
        let w = Int(image.width), h = Int(image.height)
        guard w > 0, h > 0 else { throw InputError(path, "zero-sized image (\(w) x \(h))") }
        let source = UnsafeBufferPointer(start: image.pixels, count: w * h * Int(image.channels))
        let pixels = convert(source, pixels: w * h, from: Int(image.channels), cmyk: image.cmyk != 0, to: channels)
        return Image8(width: w, height: h, channels: channels, pixels: pixels)
    }

    /// PIL's `convert("RGB")` / `convert("L")` from its modes L, LA, RGB, RGBA and CMYK: alpha is
    /// dropped, not composited; gray is PIL's ITU-R 601-2 luma in 16-bit fixed point (its L24
    /// macro); CMYK is inverted first (PIL reads every CMYK JPEG as Adobe-inverted, "CMYK;I")
    /// and then each colour is (255 - C) * (255 - K) / 255, rounded as PIL's MULDIV255.
    static func convert(_ source: UnsafeBufferPointer<UInt8>, pixels n: Int, from c: Int, cmyk: Bool, to out: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: n * out) { dst, initialized in
            let src = source.baseAddress!
            func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
                UInt8(truncatingIfNeeded: (Int(r) * 19595 + Int(g) * 38470 + Int(b) * 7471 + 0x8000) >> 16)
            }
            func mulDiv255(_ a: Int, _ b: Int) -> Int { let t = a * b + 128; return ((t >> 8) + t) >> 8 }
            for i in 0..<n {
                let p = src + i * c
                var r: UInt8, g: UInt8, b: UInt8
                if cmyk {
                    // Stored inverted: the samples are 255 - C, 255 - M, 255 - Y, 255 - K.
                    let nk = Int(p[3])
                    r = UInt8(clamping: nk - mulDiv255(255 - Int(p[0]), nk))
                    g = UInt8(clamping: nk - mulDiv255(255 - Int(p[1]), nk))
                    b = UInt8(clamping: nk - mulDiv255(255 - Int(p[2]), nk))
                } else if c <= 2 {
                    r = p[0]; g = p[0]; b = p[0]
                } else {
                    r = p[0]; g = p[1]; b = p[2]
                }
                if out == 3 {
                    dst[3 * i] = r; dst[3 * i + 1] = g; dst[3 * i + 2] = b
                } else {
                    dst[i] = c <= 2 && !cmyk ? p[0] : luma(r, g, b)
                }
            }
            initialized = n * out
        }
    }
}
