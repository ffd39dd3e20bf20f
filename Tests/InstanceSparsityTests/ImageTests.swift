import Foundation
import InstanceSparsity
import XCTest

/// PNG and JPEG decoding, resizing and the preprocessing recipes against what PIL and torchvision
/// compute (fixtures from benchmarks/make_image_fixtures.py), and class folders: order, errors,
/// skipping bad files, and reproducible streamed batches.
final class ImageTests: TemporaryDirectoryTestCase {
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
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(contents)))
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

    // MARK: class folders

    /// Copies fixture `name` to `path` (creating folders).
    func place(_ name: String, at path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixtures + "/" + name, toPath: path)
    }

    func testFolderOrderFollowsTorchvision() throws {
        let root = directory + "/data"
        // Classes sort by code point (upper case before lower case, "é" last); files by name,
        // subfolders after their parent's files; extensions ignore case; other files are skipped.
        for (path, name) in [("train/b/z.png", "png_rgb8.png"), ("train/b/a.JPG", "jpeg_baseline.jpg"),
                             ("train/b/sub/c.png", "png_gray8.png"), ("train/b/notes.txt", "manifest.json"),
                             ("train/B/x.jpeg", "jpeg_gray.jpg"), ("train/\u{e9}t\u{e9}/p.Png", "png_palette.png"),
                             ("train/a/q.png", "png_rgba16.png"), ("val/b/v.png", "png_rgb16.png"),
                             ("val/a/w.jpg", "jpeg_progressive.jpg")] {
            try place(name, at: root + "/" + path)
        }
        let preprocessing = Preprocessing(inputSize: 16, channels: 3)
        let train = try ImageFolder(root: root, split: .train, preprocessing: preprocessing)
        XCTAssertEqual(train.classNames, ["B", "a", "b", "\u{e9}t\u{e9}"])
        XCTAssertEqual(train.files.map { String($0.dropFirst(root.count + 1)) },
                       ["train/B/x.jpeg", "train/a/q.png", "train/b/a.JPG", "train/b/z.png", "train/b/sub/c.png",
                        "train/\u{e9}t\u{e9}/p.Png"])
        XCTAssertEqual(train.labels, [0, 1, 2, 2, 2, 3])
        let val = try ImageFolder(root: root, split: .test, preprocessing: preprocessing)
        XCTAssertEqual(val.classNames, train.classNames)
        XCTAssertEqual(val.labels, [1, 2])  // labels by name, from train's classes
        try FileManager.default.moveItem(atPath: root + "/val", toPath: root + "/test")
        XCTAssertEqual(try ImageFolder(root: root, split: .test, preprocessing: preprocessing).count, 2)

        // Every file decodes and fills a batch of the right shape, finite and normalised.
        let batch = Tensor(shape: [0])
        var labels: [Int32] = []
        let maker = BatchMaker(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        try maker.fill(batch, labels: &labels, from: train, indices: Array(0..<train.count)[...], augmentation: Augmentation(seed: 1))
        XCTAssertEqual(batch.shape, [6, 3, 16, 16])
        XCTAssertEqual(labels, train.labels)
        XCTAssertTrue(batch.allFinite)
        XCTAssertEqual(try train.channelStatistics().mean.count, 3)
    }

    func testFolderErrors() throws {
        let root = directory + "/data", preprocessing = Preprocessing(inputSize: 16, channels: 1)
        func open(_ split: Split = .train, skipBad: Bool = false) throws -> ImageFolder {
            try ImageFolder(root: root, split: split, preprocessing: preprocessing, skipBad: skipBad)
        }
        assertInputError(root, "no such directory") { _ = try open() }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        assertInputError(root + "/train", "no such directory") { _ = try open() }
        try FileManager.default.createDirectory(atPath: root + "/train", withIntermediateDirectories: true)
        assertInputError(root + "/train", "no class folders") { _ = try open() }
        try place("png_gray8.png", at: root + "/train/cat/1.png")
        assertInputError(root + "/train", "only one class folder ('cat')") { _ = try open() }
        try FileManager.default.createDirectory(atPath: root + "/train/dog", withIntermediateDirectories: true)
        try place("manifest.json", at: root + "/train/dog/readme.txt")
        assertInputError(root + "/train/dog", "no image files in this class folder") { _ = try open() }
        try place("jpeg_gray.jpg", at: root + "/train/dog/1.jpg")
        XCTAssertEqual(try open().count, 2)
        assertInputError(root + "/val", "no such directory (nor \(root)/test)") { _ = try open(.test) }
        try place("png_gray8.png", at: root + "/val/cow/1.png")
        assertInputError(root + "/val/cow", "class 'cow' has no folder in \(root)/train") { _ = try open(.test) }

        // Bad files: each stops a batch with its name and problem, or is skipped with skipBad.
        let png = try Self.bytes("png_rgb8.png")
        let bad: [(String, [UInt8], String)] = [
            ("train/cat/empty.png", [], "empty file (0 bytes)"),
            ("train/cat/text.jpg", Array("not an image".utf8), "not a PNG or JPEG file"),
            ("train/dog/cut.png", Array(png.prefix(300)), "cannot decode PNG"),
            ("train/dog/huge.png", pngWithSize(png, width: 30000, height: 30000), "more than the limit of 100000000"),
        ]
        for (path, contents, _) in bad { XCTAssertTrue(FileManager.default.createFile(atPath: root + "/" + path, contents: Data(contents))) }
        let folder = try open()
        XCTAssertEqual(folder.count, 6)
        for (path, _, problem) in bad {
            let index = folder.files.firstIndex(of: root + "/" + path)!
            assertInputError(root + "/" + path, problem) {
                var labels: [Int32] = []
                try BatchMaker(mean: [0], std: [1]).fill(Tensor(shape: [0]), labels: &labels, from: folder,
                                                          indices: [0, index][...], augmentation: nil)
            }
        }
        let skipping = try open(skipBad: true)
        XCTAssertEqual(skipping.count, 2)
        XCTAssertEqual(skipping.skipped.count, 4)
        XCTAssertEqual(Set(skipping.skipped.map(\.path)), Set(bad.map { root + "/" + $0.0 }))
        XCTAssertEqual(skipping.labels, [0, 1])
    }

    /// Streamed batches depend only on (seed, epoch, image index): the same augmentation seed gives
    /// the same images whatever the batch size, whether they are filled ahead on another thread,
    /// or which part of a batch is filled where (as processes of a data-parallel run split it).
    func testStreamedBatchesAreReproducible() throws {
        let root = directory + "/data"
        let names = ["photo.jpg", "png_rgb8.png", "jpeg_444.jpg", "png_palette.png", "png_rgba8.png", "jpeg_cmyk.jpg"]
        for (i, name) in names.enumerated() { try place(name, at: root + "/train/\(i % 2)/\(i).\((name as NSString).pathExtension)") }
        for recipe in Preprocessing.Recipe.allCases {
            let folder = try ImageFolder(root: root, split: .train,
                                         preprocessing: Preprocessing(inputSize: 24, channels: 3, recipe: recipe))
            let maker = BatchMaker(mean: [0.4, 0.5, 0.6], std: [0.2, 0.3, 0.25])
            let order = [3, 0, 5, 1, 4, 2], augmentation = Augmentation(seed: 9)
            let batch = Tensor(shape: [0])
            var labels: [Int32] = []
            try maker.fill(batch, labels: &labels, from: folder, indices: order[...], augmentation: augmentation)
            let whole = batch.array
            for size in [4, 1] {
                let stream = BatchStream(folder, maker: maker, order: order, batchSize: size, augmentation: augmentation)
                var streamed: [Float] = []
                while let (b, l) = try stream.next() {
                    streamed += b.array
                    XCTAssertEqual(l.count, b.shape[0])
                }
                XCTAssertEqual(streamed, whole, "\(recipe), batches of \(size)")
            }
            // Two halves filled apart, in the other order, as two processes would fill them.
            try maker.fill(batch, labels: &labels, from: folder, indices: order[3...], augmentation: augmentation)
            var halves = batch.array
            try maker.fill(batch, labels: &labels, from: folder, indices: order[..<3], augmentation: augmentation)
            halves = batch.array + halves
            XCTAssertEqual(halves, whole, "\(recipe)")
            // Another epoch's seed augments differently; evaluation is the same every time.
            try maker.fill(batch, labels: &labels, from: folder, indices: order[...], augmentation: Augmentation(seed: 10))
            XCTAssertNotEqual(batch.array, whole)
            try maker.fill(batch, labels: &labels, from: folder, indices: order[...], augmentation: nil)
            let first = batch.array
            try maker.fill(batch, labels: &labels, from: folder, indices: order[...], augmentation: nil)
            XCTAssertEqual(batch.array, first)
        }
    }

    /// A folder of 32 x 32 PNGs written from an in-memory data set gives that data set's batches
    /// (the padded-crop recipe draws as the in-memory augmentation does), up to the last bit of
    /// the byte-to-float conversion (ToTensor's / 255 against the IDX reader's * (1 / 255)).
    func testFolderMatchesInMemoryData() throws {
        let n = 12, side = 32
        var rng = SeededGenerator(seed: 5)
        let images = Tensor(shape: [n, 1, side, side])
        var labels: [Int32] = []
        for i in 0..<n {
            var bytes = [UInt8](repeating: 0, count: side * side)
            for j in 0..<bytes.count { bytes[j] = UInt8(truncatingIfNeeded: rng.next()) }
            for j in 0..<bytes.count { images.data[i * side * side + j] = Float(bytes[j]) * (1 / 255) }
            labels.append(Int32(i % 3))
            let path = directory + "/data/train/class\(i % 3)/\(String(format: "%02d", i)).png"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try PNG.write(path: path, width: side, height: side, channels: 1, pixels: bytes)
        }
        let folder = try ImageFolder(root: directory + "/data", split: .train, preprocessing: Preprocessing(inputSize: side, channels: 1))
        // The folder lists class0's files first: the in-memory set in the folder's order, so that
        // an image has the same index (and so the same augmentation) in both.
        let byName = folder.files.map { Int(($0 as NSString).lastPathComponent.prefix(2))! }
        let memory = try Dataset(unnormalized: Dataset(images: images, labels: labels, classes: 3, name: "toy"), indices: byName)
        let maker = BatchMaker(mean: [0.5], std: [0.3])
        for augment in [false, true] {
            let augmentation = augment ? Augmentation(seed: 2) : nil
            let x = Tensor(shape: [0]), y = Tensor(shape: [0])
            var lx: [Int32] = [], ly: [Int32] = []
            try maker.fill(x, labels: &lx, from: folder, indices: Array(0..<n)[...], augmentation: augmentation)
            try maker.fill(y, labels: &ly, from: memory, indices: Array(0..<n)[...], augmentation: augmentation)
            XCTAssertEqual(lx, ly)
            XCTAssertEqual(x.shape, y.shape)
            var worst: Float = 0
            for i in 0..<x.count { worst = max(worst, abs(x.data[i] - y.data[i])) }
            XCTAssertLessThan(worst, 1e-6, "augment \(augment)")
        }
        XCTAssertEqual(folder.classNames, ["class0", "class1", "class2"])
        let (mean, std) = try folder.channelStatistics()
        let (mean0, std0) = memory.channelStatistics()
        XCTAssertEqual(mean[0], mean0[0], accuracy: 1e-6)
        XCTAssertEqual(std[0], std0[0], accuracy: 1e-6)
    }

    func testModelSpecKeepsClassNamesAndPreprocessing() throws {
        let spec = ModelSpec(architecture: "resnet18", width: 0.5, inputChannels: 3, inputSize: 96, classes: 3,
                             dataset: "folder", classNames: ["cat", "dog", "\u{e9}l\u{e9}phant \"big\""],
                             preprocessing: .resizedCrop, dataDirectory: "/data/pets")
        let metadata = spec.metadata
        XCTAssertEqual(metadata["preprocessing"], "resized-crop")
        XCTAssertTrue(metadata["preprocessing_summary"]!.contains("Resize(110) + CenterCrop(96)"))
        XCTAssertEqual(try ModelSpec(metadata: metadata, path: "m"), spec)
        // Older checkpoints have none of the new fields.
        var old = metadata
        for key in ["class_names", "preprocessing", "preprocessing_summary", "data_dir"] { old[key] = nil }
        let loaded = try ModelSpec(metadata: old, path: "m")
        XCTAssertEqual(loaded.classNames, [])
        XCTAssertNil(loaded.preprocessing)
        XCTAssertNil(loaded.dataDirectory)
        var bad = metadata
        bad["class_names"] = "[\"cat\"]"
        assertInputError("m", "metadata 'class_names' should be a list of 3 strings") { _ = try ModelSpec(metadata: bad, path: "m") }
        bad["class_names"] = "[\"cat\",\"dog\",\"cat\"]"
        assertInputError("m", "metadata 'class_names' names class 0 and class 2 both 'cat'") { _ = try ModelSpec(metadata: bad, path: "m") }
        bad = metadata
        bad["preprocessing"] = "zoom"
        assertInputError("m", "metadata 'preprocessing' is 'zoom'") { _ = try ModelSpec(metadata: bad, path: "m") }
    }

    // MARK: throughput (opt-in)

    static func residentMB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return 0 }
        return pages * 4096 / 1_048_576
    }

    /// Images per second of decoding alone and of whole batches (decode, crop, resize, flip,
    /// normalise) streamed through BatchStream on all cores, and the resident memory while
    /// streaming. Opt-in: ISP_BENCH_FOLDER=DIR (e.g. from benchmarks/make_synthetic_folder.py);
    /// ISP_BENCH_IMAGES=N streams only the first N images of a shuffled epoch per configuration.
    func testLoaderThroughputAndMemory() throws {
        guard let root = ProcessInfo.processInfo.environment["ISP_BENCH_FOLDER"] else {
            throw XCTSkip("set ISP_BENCH_FOLDER=DIR to measure the loader on DIR/train")
        }
        let batchSize = 64
        let limit = ProcessInfo.processInfo.environment["ISP_BENCH_IMAGES"].flatMap { Int($0) }
        let baseline = Self.residentMB()
        let probe = try ImageFolder(root: root, split: .train, preprocessing: Preprocessing(inputSize: 224, channels: 3))
        var start = Date()
        var failed = [Bool](repeating: false, count: probe.count)
        failed.withUnsafeMutableBufferPointer { failed in
            DispatchQueue.concurrentPerform(iterations: min(probe.count, limit ?? .max)) { i in
                failed[i] = (try? ImageDecoder.decode(path: probe.files[i], channels: 3)) == nil
            }
        }
        print(String(format: "loader: %d files (resident %.0f MB before listing them, %.0f MB after), decode only: %.0f img/s",
                     probe.count, baseline, Self.residentMB(), Double(min(probe.count, limit ?? .max)) / Date().timeIntervalSince(start)))
        XCTAssertFalse(failed.contains(true))
        for (size, recipe) in [(224, Preprocessing.Recipe.resizedCrop), (32, .resizedCrop), (32, .paddedCrop)] {
            let folder = try ImageFolder(root: root, split: .train,
                                         preprocessing: Preprocessing(inputSize: size, channels: 3, recipe: recipe))
            let maker = BatchMaker(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
            for augment in [true, false] {
                var order = Array(0..<folder.count), rng = SeededGenerator(seed: 1)
                order.shuffle(using: &rng)
                order = Array(order.prefix(limit ?? order.count))
                let stream = BatchStream(folder, maker: maker, order: order, batchSize: batchSize,
                                         augmentation: augment ? Augmentation(seed: rng.next()) : nil)
                var resident: [Double] = [], images = 0
                start = Date()
                while let (batch, labels) = try stream.next() {
                    XCTAssertEqual(batch.shape, [labels.count, 3, size, size])
                    images += labels.count
                    resident.append(Self.residentMB())
                }
                let seconds = Date().timeIntervalSince(start)
                let settled = resident.dropFirst(resident.count / 5)
                print(String(format: "loader: %@ %d %@, batches of %d: %.0f img/s; resident %.0f MB after the first fifth, %.0f-%.0f MB after",
                             recipe.rawValue, size, augment ? "train" : "eval", batchSize, Double(images) / seconds,
                             resident[resident.count / 5], settled.min()!, settled.max()!))
            }
        }
    }

}
