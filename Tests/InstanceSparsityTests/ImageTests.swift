import Foundation
import InstanceSparsity
import XCTest

/// PNG and JPEG decoding, resizing and the preprocessing recipes against what PIL and torchvision
/// compute (fixtures from benchmarks/make_image_fixtures.py), and class folders: order, errors,
/// skipping bad files, and reproducible streamed batches.
final class ImageTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures/images"

    struct Manifest: Decodable {
        struct Entry: Decodable { var file: String; var pil_mode: String; var width: Int; var height: Int }
        struct Transform: Decodable {
            var file: String; var mode: String; var kind: String; var size: Int; var box: [Int]?; var output: String
        }
        var images: [Entry]
        var transforms: [Transform]
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: fixtures + "/manifest.json")))
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + name)))
    }

    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "images-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: decoding

    /// Every PNG kind decodes to PIL's bytes exactly; JPEGs too (libjpeg-turbo with PIL's
    /// settings: accurate integer IDCT, fancy upsampling), for RGB and for one channel (L).
    func testDecodesEveryKindAsPIL() throws {
        let manifest = try Self.manifest()
        XCTAssertGreaterThanOrEqual(manifest.images.count, 20)
        var kinds = Set<String>()
        for entry in manifest.images {
            for (mode, channels) in [("RGB", 3), ("L", 1)] {
                let image = try ImageDecoder.decode(path: Self.fixtures + "/" + entry.file, channels: channels)
                XCTAssertEqual(image.width, entry.width, entry.file)
                XCTAssertEqual(image.height, entry.height, entry.file)
                XCTAssertEqual(image.channels, channels)
                let expected = try Self.bytes("\(entry.file).\(mode).u8")
                XCTAssertEqual(image.pixels.count, expected.count, entry.file)
                let differing = zip(image.pixels, expected).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "\(entry.file) as \(mode): \(differing) of \(expected.count) bytes differ from PIL")
            }
            kinds.insert(entry.pil_mode)
        }
        XCTAssertEqual(kinds, ["1", "L", "LA", "I;16", "P", "RGB", "RGBA", "CMYK"])
    }

    func testDecodeErrorsNameTheFile() throws {
        let png = try Self.bytes("png_rgb8.png"), jpeg = try Self.bytes("jpeg_baseline.jpg")
        func check(_ name: String, _ contents: [UInt8], _ problem: String, line: UInt = #line) {
            let path = directory + "/" + name
            FileManager.default.createFile(atPath: path, contents: Data(contents))
            assertInputError(path, problem, line: line) { _ = try ImageDecoder.decode(path: path, channels: 3) }
        }
        check("empty.png", [], "empty file (0 bytes)")
        check("text.jpg", Array("hello, world\n".utf8), "not a PNG or JPEG file")
        check("truncated.png", Array(png.prefix(png.count / 2)), "cannot decode PNG")
        check("truncated.jpg", Array(jpeg.prefix(jpeg.count / 2)), "cannot decode JPEG: truncated")
        check("progressive-truncated.jpg", Array(try Self.bytes("jpeg_progressive.jpg").dropLast(200)), "truncated")
        // IHDR width 0, and 20000 x 20000 (CRCs fixed so libpng reads the header).
        check("zero.png", pngWithSize(png, width: 0, height: 29), "cannot decode PNG")
        check("huge.png", pngWithSize(png, width: 20000, height: 20000),
              "header declares 20000 x 20000 pixels, more than the limit of 100000000")
        check("huge.jpg", jpegWithSize(jpeg, width: 12000, height: 9000),
              "header declares 12000 x 9000 pixels, more than the limit of 100000000")
        check("zero.jpg", jpegWithSize(jpeg, width: 37, height: 0), "cannot decode JPEG")
        assertInputError(directory, "not a regular file") { _ = try ImageDecoder.decode(path: directory, channels: 3) }
        assertInputError(directory + "/missing.png", "no such file") {
            _ = try ImageDecoder.decode(path: directory + "/missing.png", channels: 1)
        }
    }

    /// `png` with its IHDR size replaced (and the chunk's CRC recomputed).
    func pngWithSize(_ png: [UInt8], width: UInt32, height: UInt32) -> [UInt8] {
        var b = png
        for (k, v) in [(16, width), (20, height)] {
            for i in 0..<4 { b[k + i] = UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32(i))) }
        }
        let crc = Self.crc32(Array(b[12..<29]))
        for i in 0..<4 { b[29 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
        return b
    }

    /// `jpeg` with the size in its first SOF marker replaced.
    func jpegWithSize(_ jpeg: [UInt8], width: Int, height: Int) -> [UInt8] {
        var b = jpeg, i = 2
        while i + 9 < b.count {
            let marker = b[i + 1], length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if (0xC0...0xC2).contains(marker) {
                b[i + 5] = UInt8(height >> 8); b[i + 6] = UInt8(height & 255)
                b[i + 7] = UInt8(width >> 8); b[i + 8] = UInt8(width & 255)
                return b
            }
            i += 2 + length
        }
        XCTFail("no SOF marker")
        return b
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    // MARK: resizing and recipes

    /// torchvision's Resize(round(S / 0.875)) + CenterCrop(S) and resized_crop at fixed boxes, on
    /// PIL images, byte for byte (PIL's fixed-point bilinear filter with antialiasing), shrinking
    /// and enlarging, RGB and L.
    func testTransformsMatchTorchvision() throws {
        let manifest = try Self.manifest()
        XCTAssertGreaterThanOrEqual(manifest.transforms.count, 10)
        for t in manifest.transforms {
            let channels = t.mode == "L" ? 1 : 3, s = t.size
            let image = try ImageDecoder.decode(path: Self.fixtures + "/" + t.file, channels: channels)
            let preprocessing = Preprocessing(inputSize: s, channels: channels, recipe: .resizedCrop)
            var out = [UInt8](repeating: 0, count: s * s * channels)
            out.withUnsafeMutableBufferPointer { buffer in
                if t.kind == "eval" {
                    preprocessing.evaluationCrop(image, into: buffer.baseAddress!)
                } else {
                    let b = t.box!
                    preprocessing.resizedCrop(image, box: (b[0], b[1], b[2], b[3]), into: buffer.baseAddress!)
                }
            }
            let expected = try Self.bytes(t.output)  // C x H x W
            var differing = 0
            for ch in 0..<channels {
                for i in 0..<(s * s) where out[i * channels + ch] != expected[ch * s * s + i] { differing += 1 }
            }
            XCTAssertEqual(differing, 0, "\(t.output): \(differing) of \(expected.count) values differ from torchvision")
        }
    }

    func testRandomResizedCropBoxes() {
        var rng = SeededGenerator(seed: 3)
        var areas: [Double] = []
        for _ in 0..<2000 {
            let box = Preprocessing.randomResizedCropBox(width: 500, height: 375, rng: &rng)
            XCTAssertTrue(box.top >= 0 && box.left >= 0 && box.top + box.height <= 375 && box.left + box.width <= 500)
            let ratio = Double(box.width) / Double(box.height)
            XCTAssertTrue(ratio > 0.74 && ratio < 1.35, "\(box)")
            areas.append(Double(box.width * box.height) / (500 * 375))
        }
        // Areas are drawn uniformly in [0.08, 1] and kept when the box fits: mostly small ones.
        XCTAssertGreaterThan(areas.min()!, 0.075)
        XCTAssertLessThanOrEqual(areas.max()!, 1)
        XCTAssertGreaterThan(areas.filter { $0 < 0.5 }.count, 1000)
        // A strip no box of ratio 3/4..4/3 and share >= 8% fits: torchvision's fallback, the
        // centre crop clamped to ratio 4/3 (width round(10 * 4/3) = 13).
        let strip = Preprocessing.randomResizedCropBox(width: 1000, height: 10, rng: &rng)
        XCTAssertEqual(strip.top, 0); XCTAssertEqual(strip.height, 10)
        XCTAssertEqual(strip.width, 13); XCTAssertEqual(strip.left, (1000 - 13) / 2)
        let tall = Preprocessing.randomResizedCropBox(width: 9, height: 1000, rng: &rng)
        XCTAssertEqual(tall.width, 9); XCTAssertEqual(tall.height, 12); XCTAssertEqual(tall.top, (1000 - 12) / 2)
    }

    func testRecipeDefaults() {
        XCTAssertEqual(Preprocessing(inputSize: 224, channels: 3).recipe, .resizedCrop)
        XCTAssertEqual(Preprocessing(inputSize: 224, channels: 3).evaluationResize, 256)
        XCTAssertEqual(Preprocessing(inputSize: 32, channels: 1).recipe, .paddedCrop)
        XCTAssertEqual(Preprocessing(inputSize: 32, channels: 1).evaluationResize, 32)
        XCTAssertEqual(Preprocessing(inputSize: 32, channels: 3, recipe: .resizedCrop).evaluationResize, 37)
    }

    // MARK: helpers

    func assertInputError(_ path: String, _ problem: String, file: StaticString = #filePath, line: UInt = #line,
                          _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error containing '\(problem)'", file: file, line: line)
        } catch let error as InputError {
            XCTAssertEqual(error.path, path, file: file, line: line)
            XCTAssertTrue(error.problem.contains(problem), "'\(error.problem)' lacks '\(problem)'", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }
}
