import Foundation
import InstanceSparsity
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Hostile inputs for every reader: thousands of deterministic mutations of a small valid file
/// (truncations, flipped bytes, huge declared sizes, broken headers, wrong shapes). Each one must
/// load or throw a one-line `InputError` naming the file; nothing may crash, hang or allocate
/// far more than the input is worth.
final class FuzzTests: TemporaryDirectoryTestCase {

    // MARK: harness

    /// Counts what happened to the mutated inputs of one reader.
    private struct Tally {
        var tried = 0, loaded = 0, rejected = 0
        var slowest = 0.0
        var problems: [String: Int] = [:]
    }

    private static func peakResidentMB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024  // Linux reports KiB
    }

    /// Runs one mutated input: it must load (and pass `validate`) or throw a one-line InputError
    /// naming one of `paths`.
    private func attempt(_ tally: inout Tally, paths: [String], file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> Void) {
        tally.tried += 1
        let start = Date()
        do {
            try body()
            tally.loaded += 1
        } catch let error as InputError {
            tally.rejected += 1
            if !paths.contains(error.path) {
                XCTFail("error names \(error.path), expected one of \(paths): \(error)", file: file, line: line)
            }
            if error.problem.isEmpty || error.description != "\(error.path): \(error.problem)"
                || error.description.contains("\n") || error.description.contains("\r") {
                XCTFail("malformed error message: \(error.description.debugDescription)", file: file, line: line)
            }
            // Negative sizes in a message mean an arithmetic overflow somewhere.
            if error.problem.range(of: #"has -\d"#, options: .regularExpression) != nil {
                XCTFail("negative size in \(error.description)", file: file, line: line)
            }
            let words = error.problem.split(separator: " ").prefix(3).joined(separator: " ")
            let key = String(words.filter { !$0.isNumber })
            tally.problems[key, default: 0] += 1
        } catch {
            XCTFail("not an InputError: \(type(of: error)) \(error)", file: file, line: line)
        }
        let elapsed = Date().timeIntervalSince(start)
        tally.slowest = max(tally.slowest, elapsed)
        if elapsed > 2 { XCTFail("one input took \(elapsed) s (a hang in the making)", file: file, line: line) }
    }

    private func report(_ name: String, _ tally: Tally, seconds: Double, minimum: Int = 2000,
                        file: StaticString = #filePath, line: UInt = #line) {
        let kinds = tally.problems.sorted { $0.value > $1.value }.prefix(6).map { "\($0.key) (\($0.value))" }
        print("fuzz \(name): \(tally.tried) mutated inputs, \(tally.loaded) loaded, \(tally.rejected) rejected, "
              + String(format: "%.2f s, slowest %.1f ms; top errors: ", seconds, tally.slowest * 1000)
              + kinds.joined(separator: "; "))
        XCTAssertGreaterThanOrEqual(tally.tried, minimum, "\(name): too few mutated inputs", file: file, line: line)
        XCTAssertGreaterThan(tally.rejected, 0, file: file, line: line)
    }

    /// Wraps a whole reader campaign with the time and memory budget.
    private func campaign(_ name: String, file: StaticString = #filePath, line: UInt = #line,
                          _ body: (inout Tally) throws -> Void) rethrows {
        let memoryBefore = Self.peakResidentMB()
        let start = Date()
        var tally = Tally()
        try body(&tally)
        let seconds = Date().timeIntervalSince(start)
        let memoryAfter = Self.peakResidentMB(), growth = memoryAfter - memoryBefore
        report(name, tally, seconds: seconds, file: file, line: line)
        print(String(format: "fuzz %@: peak resident memory %.1f MB before, %.1f MB after", name, memoryBefore, memoryAfter))
        XCTAssertLessThan(growth, 500, "\(name): peak resident memory grew by \(growth) MB", file: file, line: line)
        XCTAssertLessThan(seconds, 30, "\(name) took \(seconds) s", file: file, line: line)
    }

    /// Replaces `path` (unlink and create: much cheaper on ext4 than truncating in place, which
    /// flushes the old blocks).
    private func write(_ bytes: [UInt8], to path: String) {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                precondition(n > 0)
                done += n
            }
        }
        close(fd)
    }

    private func remove(_ path: String) { unlink(path) }

    // MARK: mutations

    /// Deterministic mutations of byte strings.
    private struct Mutator {
        var rng: SeededGenerator

        init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

        mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &rng) }
        mutating func chance(_ p: Double) -> Bool { Double(rng.next() >> 11) / Double(1 << 53) < p }
        mutating func pick<T>(_ items: [T]) -> T { items[int(0..<items.count)] }
        mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: rng.next()) }

        static let interestingBytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xfe, 0xff, 0x08, 0x20, 0x22, 0x5b, 0x7b, 0x2c]
        static let interestingWords: [UInt64] = [0, 1, 0x7f, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff,
                                                 1 << 32, 1 << 40, 1 << 62, 0x7fff_ffff_ffff_ffff,
                                                 0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff, 100_000_001]

        /// One random mutation, biased to `focus` (say, the header) when given.
        mutating func mutate(_ base: [UInt8], focus: Range<Int>? = nil) -> [UInt8] {
            var b = base
            func position() -> Int {
                if let focus, !focus.isEmpty, chance(0.75) { return int(focus.clamped(to: 0..<max(b.count, 1))) }
                return int(0..<max(b.count, 1))
            }
            if b.isEmpty { return [byte()] }
            switch int(0..<10) {
            case 0: b[position()] ^= 1 << UInt8(int(0..<8))                                  // one bit
            case 1: b[position()] = byte()                                                    // one byte
            case 2: for _ in 0..<int(2..<9) { b[position()] ^= byte() | 1 }                   // several bytes
            case 3: b[position()] = pick(Self.interestingBytes)
            case 4:                                                                           // insert
                let p = int(0..<(b.count + 1))
                b.insert(contentsOf: (0..<int(1..<9)).map { _ in byte() }, at: p)
            case 5:                                                                           // delete a range
                let p = position(), n = min(int(1..<17), b.count - p)
                b.removeSubrange(p..<(p + n))
            case 6:                                                                           // duplicate a chunk
                let p = position(), n = min(int(1..<33), b.count - p)
                b.insert(contentsOf: b[p..<(p + n)], at: int(0..<(b.count + 1)))
            case 7, 8:                                                                        // a huge or odd integer, LE or BE
                let word = pick(Self.interestingWords), width = pick([4, 8]), p = position()
                let bigEndian = chance(0.5)
                for i in 0..<width where p + i < b.count {
                    let shift = UInt64(8 * (bigEndian ? width - 1 - i : i))
                    b[p + i] = UInt8(truncatingIfNeeded: word >> shift)
                }
            default:                                                                          // cut and append garbage
                b.removeSubrange(int(0..<b.count)...)
                b += (0..<int(0..<9)).map { _ in byte() }
            }
            return b
        }

        /// Truncation lengths: all of them for small files, otherwise every length near both ends
        /// and `samples` spread across the length classes in between.
        mutating func truncations(of count: Int, samples: Int = 400) -> [Int] {
            if count <= 1500 { return Array(0..<count) }
            var lengths = Set(0..<300)
            lengths.formUnion((count - 64)..<count)
            var length = 300
            while length < count { lengths.insert(length); length = length * 5 / 4 }  // length classes
            for _ in 0..<samples { lengths.insert(int(0..<count)) }
            return lengths.sorted()
        }
    }

    // MARK: IDX

    private func idx(dims: [Int], data: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
        SyntheticFashionMNIST.idx(dims: dims, data: data, type: type)
    }

    /// Dimensions that overflow, nearly overflow, or promise far more data than there is.
    private static let hostileDims: [[Int]] = [
        [0], [0, 28, 28], [1, 0, 0], [0xffff_ffff], [0xffff_ffff, 0xffff_ffff],
        [0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff], [65536, 65536, 4], [1 << 31, 1 << 31, 2],
        // Products of exactly Int.max and just below it: `header + size + 1` must not overflow.
        [1_532_540_863, 47_388_607, 127], [7, 7, 73, 127], [0x7fff_ffff, 0x7fff_ffff, 2], [3, 5, 8],
        [4, 28, 28], [60000, 28, 28], [3, 5, 6], [3, 5, 7, 1], [105], [104], [106],
    ]

    func testIDXMutations() throws {
        var mutator = Mutator(seed: 0x1D1D)
        let data = (0..<105).map { _ in mutator.byte() }
        let valid = idx(dims: [3, 5, 7], data: data)
        let raw = "\(directory)/x-idx3-ubyte", gz = "\(directory)/x-idx3-ubyte.gz"
        write(valid, to: raw)
        XCTAssertEqual(try IDX.read(path: raw).bytes, data)

        campaign("IDX") { tally in
            func check(_ bytes: [UInt8], _ path: String) {
                write(bytes, to: path)
                attempt(&tally, paths: [path]) {
                    let result = try IDX.read(path: path)
                    XCTAssertEqual(result.bytes.count, result.dims.reduce(1, *))
                }
            }
            let compressed = Gzip.compress(valid)
            // Every truncation of the raw and of the gzipped file.
            for n in mutator.truncations(of: valid.count) { check(Array(valid.prefix(n)), raw) }
            for n in mutator.truncations(of: compressed.count) { check(Array(compressed.prefix(n)), gz) }
            // Hostile headers, raw and gzipped, with the real data, none, or a little more.
            for dims in Self.hostileDims {
                for payload in [data, [], Array(data.prefix(3)), data + data] {
                    check(idx(dims: dims, data: payload), raw)
                    check(Gzip.compress(idx(dims: dims, data: payload)), gz)
                }
            }
            for rank in [0, 1, 2, 4, 5, 255] { check(idx(dims: [3, 5, 7], data: data).enumerated().map { $0.offset == 3 ? UInt8(rank) : $0.element }, raw) }
            for type in [0x00, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0xff] as [UInt8] {
                check(idx(dims: [3, 5, 7], data: data, type: type), raw)
                check(Gzip.compress(idx(dims: [3, 5, 7], data: data, type: type)), gz)
            }
            // Random mutations: of the raw file, of the file before compression, and of the
            // compressed stream itself (flipped bits in deflate data, damaged gzip header/trailer).
            for _ in 0..<1200 { check(mutator.mutate(valid, focus: 0..<16), raw) }
            for _ in 0..<600 { check(Gzip.compress(mutator.mutate(valid, focus: 0..<16)), gz) }
            for _ in 0..<1200 { check(mutator.mutate(compressed), gz) }
            // Garbage after a complete member, and two members.
            check(compressed + [0, 0, 0, 0], gz)
            check(compressed + compressed, gz)
            check(Gzip.compress(Array(valid.prefix(50))) + Gzip.compress(Array(valid.dropFirst(50))), gz)
        }
    }

    // MARK: Fashion-MNIST

    func testFashionMNISTMutations() throws {
        var mutator = Mutator(seed: 0xFA5)
        let count = 4
        let pixels = (0..<count * 784).map { _ in mutator.byte() }
        let labels: [UInt8] = [0, 9, 3, 7]
        let images = idx(dims: [count, 28, 28], data: pixels), labelFile = idx(dims: [count], data: labels)
        let imagesGz = Gzip.compress(images), labelsGz = Gzip.compress(labelFile)
        let base = "\(directory)/train"
        let names = ["images": "\(base)-images-idx3-ubyte", "labels": "\(base)-labels-idx1-ubyte"]
        let every = names.values.flatMap { [$0, $0 + ".gz"] }

        campaign("Fashion-MNIST") { tally in
            /// Writes the pair (gz or raw, as given) and loads it.
            func check(images: [UInt8], imagesGzip: Bool, labels: [UInt8], labelsGzip: Bool, limit: Int? = nil) {
                for p in every { remove(p) }
                write(images, to: names["images"]! + (imagesGzip ? ".gz" : ""))
                write(labels, to: names["labels"]! + (labelsGzip ? ".gz" : ""))
                attempt(&tally, paths: every) {
                    let set = try FashionMNIST.load(directory: directory, split: .train, limit: limit)
                    XCTAssertEqual(set.images.shape, [set.count, 1, 32, 32])
                    XCTAssertTrue(set.labels.allSatisfy { (0..<10).contains($0) })
                }
            }
            check(images: imagesGz, imagesGzip: true, labels: labelsGz, labelsGzip: true)
            XCTAssertEqual(tally.loaded, 1, "the unmutated pair must load")

            // Truncations of each file, compressed and not.
            for n in mutator.truncations(of: imagesGz.count, samples: 300) {
                check(images: Array(imagesGz.prefix(n)), imagesGzip: true, labels: labelsGz, labelsGzip: true)
            }
            for n in mutator.truncations(of: images.count, samples: 200) {
                check(images: Array(images.prefix(n)), imagesGzip: false, labels: labelFile, labelsGzip: false)
            }
            for n in mutator.truncations(of: labelsGz.count) {
                check(images: imagesGz, imagesGzip: true, labels: Array(labelsGz.prefix(n)), labelsGzip: true)
            }
            for n in mutator.truncations(of: labelFile.count) {
                check(images: images, imagesGzip: false, labels: Array(labelFile.prefix(n)), labelsGzip: false)
            }
            // Shapes and counts that disagree, labels out of range, hostile dimensions.
            for dims in Self.hostileDims + [[4, 27, 28], [4, 28, 29], [4, 32, 32], [4, 784], [4, 28, 28, 1], [3, 28, 28], [5, 28, 28]] {
                let gzip = mutator.chance(0.5)
                let file = idx(dims: dims, data: pixels)
                check(images: gzip ? Gzip.compress(file) : file, imagesGzip: gzip, labels: labelsGz, labelsGzip: true)
            }
            for dims in Self.hostileDims + [[3], [5], [4, 1], [2, 2]] {
                check(images: imagesGz, imagesGzip: true, labels: Gzip.compress(idx(dims: dims, data: labels)), labelsGzip: true)
            }
            for bad in [10, 11, 128, 255] as [UInt8] {
                for i in 0..<count {
                    var l = labels
                    l[i] = bad
                    check(images: images, imagesGzip: false, labels: idx(dims: [count], data: l), labelsGzip: false)
                }
            }
            for limit in [1, 2, 3, 4, 5, 1000, Int.max] {
                check(images: imagesGz, imagesGzip: true, labels: labelsGz, labelsGzip: true, limit: limit)
            }
            // Random mutations of either file at either stage.
            for i in 0..<1600 {
                let limit: Int? = mutator.chance(0.2) ? mutator.int(1..<6) : nil
                switch i % 4 {
                case 0: check(images: Gzip.compress(mutator.mutate(images, focus: 0..<16)), imagesGzip: true,
                              labels: labelsGz, labelsGzip: true, limit: limit)
                case 1: check(images: mutator.mutate(imagesGz), imagesGzip: true, labels: labelsGz, labelsGzip: true, limit: limit)
                case 2: check(images: images, imagesGzip: false, labels: mutator.mutate(labelFile), labelsGzip: false, limit: limit)
                default: check(images: mutator.mutate(images, focus: 0..<16), imagesGzip: false,
                               labels: mutator.mutate(labelsGz), labelsGzip: true, limit: limit)
                }
            }
            // Missing files and directories where files should be.
            for p in every { remove(p) }
            attempt(&tally, paths: every) { _ = try FashionMNIST.load(directory: directory, split: .train, limit: nil) }
            write(labelsGz, to: names["labels"]! + ".gz")
            try? FileManager.default.createDirectory(atPath: names["images"]! + ".gz", withIntermediateDirectories: false)
            attempt(&tally, paths: every) { _ = try FashionMNIST.load(directory: directory, split: .train, limit: nil) }
            try? FileManager.default.removeItem(atPath: names["images"]! + ".gz")
        }
    }

    // MARK: CIFAR-10

    func testCIFAR10Mutations() throws {
        var mutator = Mutator(seed: 0xC1FA)
        let record = 3073
        func records(_ labels: [UInt8]) -> [UInt8] {
            labels.flatMap { [$0] + (0..<3072).map { _ in mutator.byte() } }
        }
        let valid = records([3, 8])
        let test = "\(directory)/test_batch.bin"
        let batches = (1...5).map { "\(directory)/data_batch_\($0).bin" }
        let trainBatches = (1...5).map { records([UInt8($0), UInt8(9 - $0)]) }

        campaign("CIFAR-10") { tally in
            func check(_ bytes: [UInt8], limit: Int? = nil) {
                write(bytes, to: test)
                attempt(&tally, paths: [test]) {
                    let set = try CIFAR10.load(directory: directory, split: .test, limit: limit)
                    XCTAssertEqual(set.images.shape, [set.count, 3, 32, 32])
                    XCTAssertTrue(set.labels.allSatisfy { (0..<10).contains($0) })
                }
            }
            check(valid)
            XCTAssertEqual(tally.loaded, 1)
            // Every length from empty to one byte short of two records, and a few longer.
            for n in 0..<valid.count { check(Array(valid.prefix(n))) }
            for extra in 1...16 { check(valid + (0..<extra).map { _ in mutator.byte() }) }
            // Every label value in both records.
            for label in 0...255 {
                var b = valid
                b[label % 2 == 0 ? 0 : record] = UInt8(label)
                check(b)
            }
            for _ in 0..<400 { check(mutator.mutate(valid, focus: 0..<2), limit: mutator.chance(0.3) ? mutator.int(1..<4) : nil) }

            // The training split reads five files; damage one of them at a time.
            for (i, p) in batches.enumerated() { write(trainBatches[i], to: p) }
            for i in 0..<400 {
                let victim = i % 5
                let damaged = i % 3 == 0 ? Array(trainBatches[victim].prefix(mutator.int(0..<(2 * record))))
                                         : mutator.mutate(trainBatches[victim], focus: 0..<1)
                write(damaged, to: batches[victim])
                let limit: Int? = mutator.chance(0.3) ? mutator.int(1..<12) : nil
                attempt(&tally, paths: batches) {
                    let set = try CIFAR10.load(directory: directory, split: .train, limit: limit)
                    XCTAssertEqual(set.images.shape, [set.count, 3, 32, 32])
                }
                write(trainBatches[victim], to: batches[victim])
            }
            remove(batches[2])
            attempt(&tally, paths: batches) { _ = try CIFAR10.load(directory: directory, split: .train, limit: nil) }
        }
    }

    // MARK: safetensors

    /// A safetensors file from a header and a data buffer, with an optional lying length field.
    private func safetensors(header: [UInt8], data: [UInt8], declared: UInt64? = nil) -> [UInt8] {
        let n = declared ?? UInt64(header.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + header + data
    }

    /// Random headers assembled from hostile field values.
    private func hostileHeader(_ m: inout Mutator, dataSize: Int) -> [UInt8] {
        let dtypes = [#""F32""#, #""F32""#, #""F16""#, #""BF16""#, #""F64""#, #""I64""#, #""I32""#, #""U8""#, #""BOOL""#,
                      #""""#, #""f32""#, "1", "null", "[]", #""F32\u0000""#]
        let shapes = ["[2,3]", "[6]", "[]", "[0]", "[-1]", "[2.5]", "[1e30]", #"["2"]"#, "[4294967296,4294967296]",
                      "[9223372036854775807]", "[3037000500,3037000500]", "[2,3,4,5,6,7,8,9]", "null", "{}", "[true]",
                      "[18446744073709551615]", "[0,4611686018427387904]", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,6]"]
        func offsets() -> String {
            let b = m.pick([0, 0, 4, 8, 24, dataSize, dataSize - 4, -4, 1 << 62, Int.max, Int.max - 3])
            let len = m.pick([24, 24, 0, 4, -24, 1 << 62, Int.max])
            let (e, overflow) = b.addingReportingOverflow(len)
            return m.pick(["[\(b),\(overflow ? Int.max : e)]", "[\(b)]", "[\(b),\(e),\(e)]", "[\(b).0,\(e)]",
                           "[\(b),1e300]", "null", "[\(b),\(overflow ? Int.max : e)]"])
        }
        var items: [String] = []
        for i in 0..<m.int(0..<5) {
            let name = m.pick(["w", "w", "b\(i)", "", "__metadata__", "x.num_batches_tracked", "\u{1F600}", "a\\\"b"])
            var fields: [String] = []
            if m.chance(0.95) { fields.append(#""dtype":"# + m.pick(dtypes)) }
            if m.chance(0.95) { fields.append(#""shape":"# + m.pick(shapes)) }
            if m.chance(0.95) { fields.append(#""data_offsets":"# + offsets()) }
            if m.chance(0.05) { fields.append(#""extra":{"deep":[1,2,{"x":null}]}"#) }
            let value = m.chance(0.95) ? "{" + fields.joined(separator: ",") + "}" : m.pick(["[1,2]", "7", "null", #""F32""#])
            items.append("\"\(name)\":\(value)")
        }
        if m.chance(0.3) {
            items.append(m.pick([#""__metadata__":{"a":"b"}"#, #""__metadata__":{"a":1}"#, #""__metadata__":[]"#,
                                 #""__metadata__":{"a":"\ud800"}"#, #""__metadata__":null"#]))
        }
        var text = Array(("{" + items.joined(separator: ",") + "}").utf8)
        switch m.int(0..<10) {
        case 0: text.insert(m.pick([0xff, 0xc0, 0x80, 0xed, 0xf8]), at: m.int(0..<(text.count + 1)))  // not UTF-8
        case 1: text.removeSubrange(m.int(0..<text.count)...)                                         // cut JSON
        case 2: text = m.mutate(text)
        case 3: text = Array(String(repeating: "[", count: m.pick([100, 10_000, 100_000])).utf8)       // deep nesting
        case 4: text = Array(("[" + items.joined(separator: ",") + "]").utf8)
        default: break
        }
        return text
    }

    // MARK: PNG and JPEG

    /// Mutations of small valid files of several kinds, decoded to RGB and to gray. The pixel
    /// limit is lowered to 4 megapixels so headers inflated by the mutations stay cheap; the
    /// 100-megapixel refusal itself is tested in ImageTests.
    private func imageCampaign(_ name: String, bases: [String], seed: UInt64, focus: Range<Int>,
                               repair: ([UInt8]) -> [UInt8] = { $0 }) throws {
        var mutator = Mutator(seed: seed)
        let path = "\(directory)/image"
        let files = try bases.map { try ImageTests.bytes($0) }
        campaign(name) { tally in
            func check(_ bytes: [UInt8]) {
                write(bytes, to: path)
                let channels = tally.tried % 2 == 0 ? 3 : 1
                attempt(&tally, paths: [path]) {
                    let image = try ImageDecoder.decode(path: path, channels: channels, maxPixels: 4_000_000)
                    XCTAssertTrue(image.width > 0 && image.height > 0 && image.width * image.height <= 4_000_000)
                    XCTAssertEqual(image.pixels.count, image.width * image.height * image.channels)
                }
            }
            for file in files {
                for n in mutator.truncations(of: file.count, samples: 150) { check(Array(file.prefix(n))) }
                for _ in 0..<500 { check(mutator.mutate(file, focus: focus)) }
                for _ in 0..<300 { check(mutator.mutate(mutator.mutate(file))) }
                for _ in 0..<500 { check(repair(mutator.mutate(file, focus: focus))) }
            }
        }
    }

    func testPNGMutations() throws {
        // The signature and IHDR are the first 33 bytes.
        try imageCampaign("PNG", bases: ["png_rgb8.png", "png_palette4_trns.png", "png_gray16_interlaced.png", "png_rgba16.png"],
                          seed: 0x9A6, focus: 0..<40, repair: Self.fixingPNGChecksums)
    }

    /// Recomputes the CRC of every chunk that still fits, so mutations reach libpng's header
    /// checks and the compressed data instead of stopping at a checksum.
    static func fixingPNGChecksums(_ png: [UInt8]) -> [UInt8] {
        var b = png, i = 8
        while i + 12 <= b.count {
            let length = Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length >= 0, i + 12 + length <= b.count else { break }
            let crc = ImageTests.crc32(Array(b[(i + 4)..<(i + 8 + length)]))
            for k in 0..<4 { b[i + 8 + length + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(k))) }
            i += 12 + length
        }
        return b
    }

    func testJPEGMutations() throws {
        try imageCampaign("JPEG", bases: ["jpeg_baseline.jpg", "jpeg_progressive.jpg", "jpeg_cmyk.jpg", "jpeg_gray.jpg"],
                          seed: 0x1B6, focus: 0..<400)
    }

    func testSafeTensorsMutations() throws {
        var mutator = Mutator(seed: 0x5AFE)
        let p = "\(directory)/model.safetensors"
        try SafeTensors.write(path: p, tensors: [("z.weight", Tensor(shape: [2, 3], values: [1, -2, 3.5, 4, 5, .pi])),
                                                 ("a.bias", Tensor(shape: [4], values: [0.25, 0, -0, 1e-30])),
                                                 ("s", Tensor(shape: [], values: [42]))],
                              int64: [("bn.num_batches_tracked", [], [123])], metadata: ["arch": "x", "epoch": "3"])
        let valid = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        let headerLength = valid[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        let header = Array(valid[8..<(8 + headerLength)]), data = Array(valid[(8 + headerLength)...])

        campaign("SafeTensors") { tally in
            func check(_ bytes: [UInt8]) {
                write(bytes, to: p)
                attempt(&tally, paths: [p]) {
                    let contents = try SafeTensors.read(path: p)
                    XCTAssertEqual(Set(contents.order), Set(contents.tensors.keys))
                }
            }
            check(valid)
            XCTAssertEqual(tally.loaded, 1)
            for n in mutator.truncations(of: valid.count) { check(Array(valid.prefix(n))) }
            // Lying header lengths: huge, past the end, one off, inside the header.
            for declared in Mutator.interestingWords + [UInt64(headerLength - 1), UInt64(headerLength + 1),
                                                        UInt64(valid.count - 8), UInt64(valid.count - 7), 2, 8] {
                check(safetensors(header: header, data: data, declared: declared))
            }
            // Single and multiple byte mutations, mostly in the length field and the header.
            for _ in 0..<1500 { check(mutator.mutate(valid, focus: 0..<(8 + headerLength))) }
            // Generated hostile headers with data buffers of various sizes.
            for _ in 0..<1500 {
                let size = mutator.pick([0, 4, 24, 40, 64, 100])
                let text = hostileHeader(&mutator, dataSize: size)
                check(safetensors(header: text, data: (0..<size).map { _ in mutator.byte() }))
            }
            // Overlapping and adjacent ranges.
            for (a, b) in [((0, 24), (20, 44)), ((0, 24), (0, 24)), ((24, 48), (0, 24)), ((0, 0), (0, 24)), ((8, 8), (0, 24))] {
                let text = #"{"a":{"dtype":"F32","shape":[\#((a.1 - a.0) / 4)],"data_offsets":[\#(a.0),\#(a.1)]},"b":{"dtype":"F32","shape":[\#((b.1 - b.0) / 4)],"data_offsets":[\#(b.0),\#(b.1)]}}"#
                check(safetensors(header: Array(text.utf8), data: [UInt8](repeating: 0, count: 48)))
            }
        }
    }

    // MARK: Checkpoint

    func testCheckpointMutations() throws {
        var mutator = Mutator(seed: 0xC4EC)
        let p = "\(directory)/net.safetensors", work = "\(directory)/base.safetensors"
        // The smallest network there is (about 59,000 weights); most mutations use the file without
        // optimizer state, which is half the size, and some the one with it.
        let network = try Network.make(ModelSpec(architecture: "vgg16", width: 0.0625), seed: 3)
        let sgd = SGD(parameters: network.parameters.map(\.parameter), momentum: 0.9, nesterov: true, weightDecay: 0)
        try Checkpoint.save(network, to: work, metadata: ["train.epochs_completed": "1"],
                            velocity: Dictionary(uniqueKeysWithValues: zip(network.parameters.map(\.name), sgd.velocity)))
        let withOptimizer = [UInt8](try Data(contentsOf: URL(fileURLWithPath: work)))
        let optimizerHeaderLength = withOptimizer[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        let optimizerContents = try SafeTensors.read(path: work)
        XCTAssertEqual(try Checkpoint.load(path: work).velocity.count, network.parameters.count)
        try Checkpoint.save(network, to: work, metadata: ["train.epochs_completed": "1"])
        let valid = [UInt8](try Data(contentsOf: URL(fileURLWithPath: work)))
        let headerLength = valid[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        let contents = try SafeTensors.read(path: work)
        XCTAssertNoThrow(try Checkpoint.load(path: work))

        campaign("Checkpoint") { tally in
            func check(_ bytes: [UInt8]) {
                write(bytes, to: p)
                attempt(&tally, paths: [p]) { _ = try Checkpoint.load(path: p) }
            }
            /// Rewrites the checkpoint with edited tensors or metadata (a well-formed file that
            /// disagrees with the architecture).
            func check(tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
                var header: [String: Any] = ["__metadata__": metadata]
                var data: [UInt8] = []
                for (name, tensor) in tensors {
                    guard header[name] == nil else { return }  // duplicate or reserved: no such file
                    header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [data.count, data.count + 4 * tensor.count]]
                    tensor.array.withUnsafeBytes { data += $0 }
                }
                let json = try! JSONSerialization.data(withJSONObject: header)
                check(safetensors(header: [UInt8](json), data: data))
            }
            let tensors = contents.order.map { (name: $0, tensor: contents.tensors[$0]!) }
            check(valid)
            XCTAssertEqual(tally.loaded, 1)

            for n in mutator.truncations(of: valid.count, samples: 200) { check(Array(valid.prefix(n))) }
            for _ in 0..<1000 { check(mutator.mutate(valid, focus: 0..<(8 + headerLength))) }
            for _ in 0..<250 { check(mutator.mutate(withOptimizer, focus: 0..<(8 + optimizerHeaderLength))) }

            // Metadata that describes another network, or nonsense; "width": "8" or 100000 classes
            // must not build a multi-gigabyte network before noticing the file is tiny.
            let edits: [String: [String]] = [
                "architecture": ["resnet18", "mobilenetv2", "vgg17", "", "VGG16"],
                "width": ["8", "4", "2", "1", "0.5", "0.125", "0.07", "0.05", "1e-30", "0", "-1", "nan", "inf", "8.0001", "0x1p3", ""],
                "classes": ["100000", "99999", "11", "9", "2", "1", "0", "-10", "1e5", "100001"],
                "input_channels": ["3", "64", "0", "65", "2"],
                "input_size": ["8", "1024", "7", "1025", "64"],
                "mean": ["[0]", "[0,0,0]", "[]", "[1e999]", "[\"a\"]", "nan", "", "[0.5]"],
                "std": ["[1]", "[0]", "[-1]", "[1,1]", "[1e-45]", "{}", "[2]"],
                "dataset": ["cifar10", "", "\u{0}"],
            ]
            for (key, values) in edits.sorted(by: { $0.key < $1.key }) {
                for value in values {
                    var metadata = contents.metadata
                    metadata[key] = value
                    check(tensors: tensors, metadata: metadata)
                    metadata[key] = nil
                    check(tensors: tensors, metadata: metadata)
                }
            }
            for _ in 0..<300 {  // several fields at once
                var metadata = contents.metadata
                for _ in 0..<mutator.int(1..<4) {
                    let key = mutator.pick(edits.keys.sorted())
                    metadata[key] = mutator.pick(edits[key]!)
                }
                check(tensors: tensors, metadata: metadata)
            }
            // Tensors that disagree with the architecture: missing, renamed, reshaped, extra,
            // optimizer state of the wrong shape.
            for i in 0..<tensors.count {
                var edited = tensors
                edited.remove(at: i)
                check(tensors: edited, metadata: contents.metadata)
                let t = tensors[i].tensor
                let shapes = [[t.count], [t.count, 1], t.shape.reversed(), t.shape.map { $0 + 1 }, [], [0]]
                let shape = shapes[i % shapes.count]
                edited = tensors
                edited[i].tensor = Tensor(shape: shape)
                check(tensors: edited, metadata: contents.metadata)
                edited = tensors
                edited[i].name = mutator.pick(["", "features.0.weightx", Checkpoint.optimizerPrefix + tensors[i].name, "__metadata__", tensors[(i + 1) % tensors.count].name])
                check(tensors: edited, metadata: contents.metadata)
            }
            for name in ["extra", "features.99.weight", Checkpoint.optimizerPrefix + "features.0.weight", Checkpoint.optimizerPrefix + "nothing"] {
                check(tensors: tensors + [(name, Tensor(shape: [3, 2]))], metadata: contents.metadata)
            }
            // Optimizer state that is missing, misshapen or misnamed.
            let velocity = optimizerContents.order.map { (name: $0, tensor: optimizerContents.tensors[$0]!) }
            for i in stride(from: 0, to: velocity.count, by: 3) {
                var edited = velocity
                switch i % 4 {
                case 0: edited.remove(at: i)
                case 1: edited[i].tensor = Tensor(shape: [edited[i].tensor.count + 1])
                case 2: edited[i].name = Checkpoint.optimizerPrefix + edited[i].name
                default: edited[i].tensor = Tensor(shape: edited[i].tensor.shape.reversed())
                }
                check(tensors: edited, metadata: optimizerContents.metadata)
            }
            // dtypes other than F32 for a real weight, by editing the header text in place.
            let text = String(decoding: valid[8..<(8 + headerLength)], as: UTF8.self)
            for dtype in ["F16", "I64", "F64", "U8", "I32", "BF16"] {
                var count = 0
                for range in allRanges(of: #""dtype":"F32""#, in: text) {
                    count += 1
                    if count % 7 != 1 { continue }
                    let edited = text.replacingCharacters(in: range, with: #""dtype":"\#(dtype)""#)
                    check(safetensors(header: Array(edited.utf8), data: Array(valid[(8 + headerLength)...])))
                }
            }
        }
    }

    private func allRanges(of needle: String, in text: String) -> [Range<String.Index>] {
        var result: [Range<String.Index>] = []
        var start = text.startIndex
        while let r = text.range(of: needle, range: start..<text.endIndex) {
            result.append(r)
            start = r.upperBound
        }
        return result
    }

    // MARK: special files

    /// What a reader thread reports; read only after the semaphore says it is done.
    private final class Outcome: @unchecked Sendable { var text = "" }

    /// A FIFO or a device where a file should be must be refused at once, not block in open().
    func testSpecialFilesDoNotBlock() throws {
        let fifo = "\(directory)/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let readers: [(String, (String) throws -> Void)] = [
            ("IDX", { _ = try IDX.read(path: $0) }),
            ("SafeTensors", { _ = try SafeTensors.read(path: $0) }),
            ("Checkpoint", { _ = try Checkpoint.load(path: $0) }),
        ]
        for (name, read) in readers {
            for path in [fifo, "/dev/zero", "/dev/null", directory] {
                let done = DispatchSemaphore(value: 0)
                let result = Outcome()
                Thread {
                    do { try read(path); result.text = "loaded" } catch let e as InputError {
                        result.text = e.path == path ? e.problem : "wrong path \(e)"
                    } catch { result.text = "\(error)" }
                    done.signal()
                }.start()
                if done.wait(timeout: .now() + 5) == .timedOut {
                    // Unblock the reader so the test process can finish, then fail.
                    let fd = open(fifo, O_WRONLY | O_NONBLOCK)
                    if fd >= 0 { close(fd) }
                    _ = done.wait(timeout: .now() + 5)
                    XCTFail("\(name) blocked on \(path)")
                    continue
                }
                XCTAssertTrue(result.text.contains("not a regular file"), "\(name) on \(path): \(result.text)")
            }
        }
        // The same through the data set loaders, which look for their files by name.
        let fashion = "\(directory)/train-images-idx3-ubyte.gz"
        XCTAssertEqual(mkfifo(fashion, 0o600), 0)
        XCTAssertEqual(mkfifo("\(directory)/train-labels-idx1-ubyte.gz", 0o600), 0)
        XCTAssertThrowsError(try FashionMNIST.load(directory: directory, split: .train, limit: nil)) { error in
            XCTAssertEqual((error as? InputError)?.path, fashion)
        }
        XCTAssertEqual(mkfifo("\(directory)/test_batch.bin", 0o600), 0)
        XCTAssertThrowsError(try CIFAR10.load(directory: directory, split: .test, limit: nil)) { error in
            XCTAssertTrue("\(error)".contains("test_batch.bin"), "\(error)")
        }
    }
}
