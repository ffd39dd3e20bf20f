import Foundation
import InstanceSparsity
import XCTest

final class DataIOTests: TemporaryDirectoryTestCase {

    // MARK: helpers

    private func path(_ name: String) -> String { "\(directory)/\(name)" }

    @discardableResult
    private func write(_ bytes: [UInt8], to name: String) throws -> String {
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    private func idx(dims: [Int], data: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
        SyntheticFashionMNIST.idx(dims: dims, data: data, type: type)
    }

    private func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".tmp-") }
    }

    // MARK: gzip and IDX

    func testGzipRoundTripAndConcatenatedMembers() throws {
        let a = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }, b: [UInt8] = [1, 2, 3]
        let packed = Gzip.compress(a)
        XCTAssertTrue(Gzip.isGzip(packed))
        XCTAssertEqual(try Gzip.decompress(packed, maxOutput: 1 << 20).bytes, a)
        let both = try Gzip.decompress(packed + Gzip.compress(b), maxOutput: 1 << 20)
        XCTAssertEqual(both.bytes, a + b)
        XCTAssertTrue(both.complete)
        let capped = try Gzip.decompress(packed, maxOutput: 10)
        XCTAssertEqual(capped.bytes, Array(a.prefix(10)))
        XCTAssertFalse(capped.complete)
        XCTAssertFalse(try Gzip.decompress(Array(packed.dropLast(8)), maxOutput: 1 << 20).complete)
    }

    func testIDXRawAndGzipRoundTrip() throws {
        let data = (0..<24).map { UInt8($0 * 10) }
        let raw = try write(idx(dims: [2, 3, 4], data: data), to: "a-idx3-ubyte")
        let gz = try write(Gzip.compress(idx(dims: [2, 3, 4], data: data)), to: "a-idx3-ubyte.gz")
        for p in [raw, gz] {
            let result = try IDX.read(path: p)
            XCTAssertEqual(result.dims, [2, 3, 4])
            XCTAssertEqual(result.bytes, data)
        }
    }

    func testIDXErrors() throws {
        let bad = try write([0x50, 0x4b, 3, 4, 0, 0, 0, 0], to: "bad")
        assertInputError(bad, "not an IDX file (bad magic 0x504b0304)") { _ = try IDX.read(path: bad) }
        let dtype = try write([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], to: "float")
        assertInputError(dtype, "unsupported IDX data type 0x0d") { _ = try IDX.read(path: dtype) }
        let rank = try write([0, 0, 8, 5] + [UInt8](repeating: 0, count: 20), to: "rank")
        assertInputError(rank, "declares 5 dimensions") { _ = try IDX.read(path: rank) }
        let short = try write(idx(dims: [10, 4], data: [1, 2, 3]), to: "short")
        assertInputError(short, "truncated: header says 40 bytes of data, file has 3") { _ = try IDX.read(path: short) }
        let long = try write(idx(dims: [2], data: [1, 2, 3]), to: "long")
        assertInputError(long, "1 unexpected bytes") { _ = try IDX.read(path: long) }
        let shortGz = try write(Gzip.compress(idx(dims: [10, 4], data: [1, 2, 3])), to: "short.gz")
        assertInputError(shortGz, "truncated: header says 40 bytes of data, file has 3") { _ = try IDX.read(path: shortGz) }
        // A declared 16 GB in a tiny gzip must fail fast, not allocate.
        let huge = try write(Gzip.compress(idx(dims: [65536, 65536, 4], data: [1, 2, 3])), to: "huge.gz")
        assertInputError(huge, "truncated: header says 17179869184 bytes of data, file has 3") { _ = try IDX.read(path: huge) }
        let longGz = try write(Gzip.compress(idx(dims: [2], data: [1, 2, 3])), to: "long.gz")
        assertInputError(longGz, "longer than the 2 bytes") { _ = try IDX.read(path: longGz) }
        let cutGz = try write(Array(Gzip.compress(idx(dims: [2], data: [1, 2])).dropLast(4)), to: "cut.gz")
        assertInputError(cutGz, "truncated gzip stream") { _ = try IDX.read(path: cutGz) }
        var garbled = Gzip.compress(idx(dims: [300], data: [UInt8](repeating: 7, count: 300)))
        garbled[12] ^= 0xff
        let corrupt = try write(garbled, to: "corrupt.gz")
        assertInputError(corrupt, "corrupt gzip data") { _ = try IDX.read(path: corrupt) }
        assertInputError(path("missing"), "no such file") { _ = try IDX.read(path: path("missing")) }
    }

    // MARK: Fashion-MNIST

    private func writeFashion(prefix: String, images: Int, labels: [UInt8], gzip: Bool = true, side: Int = 28) throws {
        let pixels = (0..<images * side * side).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let imageFile = idx(dims: [images, side, side], data: pixels)
        let labelFile = idx(dims: [labels.count], data: labels)
        try write(gzip ? Gzip.compress(imageFile) : imageFile, to: "\(prefix)-images-idx3-ubyte" + (gzip ? ".gz" : ""))
        try write(gzip ? Gzip.compress(labelFile) : labelFile, to: "\(prefix)-labels-idx1-ubyte" + (gzip ? ".gz" : ""))
    }

    func testFashionMNISTPadsTo32AndScales() throws {
        try writeFashion(prefix: "train", images: 3, labels: [0, 9, 4])
        let set = try DatasetLoader.load(name: "fashion-mnist", directory: directory, split: .train, limit: nil)
        XCTAssertEqual(set.images.shape, [3, 1, 32, 32])
        XCTAssertEqual(set.labels, [0, 9, 4])
        XCTAssertEqual(set.name, "fashion-mnist")
        XCTAssertEqual([set.count, set.channels, set.height, set.width, set.classes], [3, 1, 32, 32, 10])
        let v = set.images.array
        for i in 0..<3 {
            for y in 0..<32 {
                for x in 0..<32 {
                    let inside = (2..<30).contains(y) && (2..<30).contains(x)
                    let expected = inside ? Float((i * 784 + (y - 2) * 28 + (x - 2)) % 251) / 255 : 0
                    XCTAssertEqual(v[i * 1024 + y * 32 + x], expected, accuracy: 1e-6)
                }
            }
        }
        let limited = try DatasetLoader.load(name: "fashion-mnist", directory: directory, split: .train, limit: 2)
        XCTAssertEqual(limited.images.shape, [2, 1, 32, 32])
        XCTAssertEqual(limited.labels, [0, 9])
    }

    func testFashionMNISTAcceptsUncompressedFiles() throws {
        try writeFashion(prefix: "t10k", images: 2, labels: [1, 2], gzip: false)
        let set = try FashionMNIST.load(directory: directory, split: .test, limit: nil)
        XCTAssertEqual(set.labels, [1, 2])
    }

    func testFashionMNISTErrors() throws {
        // A directory the user chose gets asked about; only the default place suggests the package.
        assertInputError(path("train-images-idx3-ubyte.gz"), "no such file (nor train-images-idx3-ubyte; is this the Fashion-MNIST directory?)") {
            _ = try FashionMNIST.load(directory: directory, split: .train, limit: nil)
        }
        try writeFashion(prefix: "train", images: 3, labels: [0, 12, 4])
        let labels = path("train-labels-idx1-ubyte.gz"), images = path("train-images-idx3-ubyte.gz")
        assertInputError(labels, "label 12 at index 1 is out of range") {
            _ = try FashionMNIST.load(directory: directory, split: .train, limit: nil)
        }
        try writeFashion(prefix: "train", images: 3, labels: [0, 1])
        assertInputError(images, "has 3 images but \(labels) has 2 labels") {
            _ = try FashionMNIST.load(directory: directory, split: .train, limit: nil)
        }
        try writeFashion(prefix: "train", images: 1, labels: [0], side: 32)
        assertInputError(images, "expected images of N x 28 x 28, got 1 x 32 x 32") {
            _ = try FashionMNIST.load(directory: directory, split: .train, limit: nil)
        }
    }

    func testLoaderDispatchErrors() {
        assertInputError("mnist", "unknown dataset (expected fashion-mnist, cifar10, folder)") {
            _ = try DatasetLoader.load(name: "mnist", directory: nil, split: .train, limit: nil)
        }
        assertInputError("cifar10", "--data-dir") {
            _ = try DatasetLoader.load(name: "cifar10", directory: nil, split: .train, limit: nil)
        }
        // A --data-dir that is no directory is named, not the first file looked for in it.
        let missing = path("no-such-dir"), file = path("a-file")
        FileManager.default.createFile(atPath: file, contents: Data([1]))
        for (name, wanted) in [("fashion-mnist", "Fashion-MNIST IDX files"), ("cifar10", "CIFAR-10 binary version's .bin files")] {
            assertInputError(missing, "no such directory (pass --data-dir with the \(wanted))") {
                _ = try DatasetLoader.load(name: name, directory: missing, split: .test, limit: nil)
            }
            assertInputError(file, "is not a directory") {
                _ = try DatasetLoader.load(name: name, directory: file, split: .test, limit: nil)
            }
        }
    }

    // MARK: CIFAR-10

    private func cifarRecords(_ labels: [UInt8], base: UInt8 = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        for (i, label) in labels.enumerated() {
            bytes.append(label)
            // R, G and B planes get distinct constant values so plane order is visible.
            for plane in 0..<3 { bytes += [UInt8](repeating: base + UInt8(i * 3 + plane + 1), count: 1024) }
        }
        return bytes
    }

    func testCIFAR10PlaneOrderAndBatches() throws {
        let nested = path("cifar-10-batches-bin")
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: true)
        for b in 1...5 { try write(cifarRecords([UInt8(b), 0], base: UInt8(b * 10)), to: "cifar-10-batches-bin/data_batch_\(b).bin") }
        try write(cifarRecords([7]), to: "cifar-10-batches-bin/test_batch.bin")

        let test = try DatasetLoader.load(name: "cifar10", directory: directory, split: .test, limit: nil)
        XCTAssertEqual(test.images.shape, [1, 3, 32, 32])
        XCTAssertEqual(test.labels, [7])
        XCTAssertEqual(test.name, "cifar10")
        let v = test.images.array
        XCTAssertEqual(v[0], 1 / 255, accuracy: 1e-7)
        XCTAssertEqual(v[1023], 1 / 255, accuracy: 1e-7)
        XCTAssertEqual(v[1024], 2 / 255, accuracy: 1e-7)
        XCTAssertEqual(v[2048], 3 / 255, accuracy: 1e-7)

        let train = try CIFAR10.load(directory: nested, split: .train, limit: nil)
        XCTAssertEqual(train.labels, [1, 0, 2, 0, 3, 0, 4, 0, 5, 0])
        XCTAssertEqual(train.images[9 * 3072 + 2048], Float(50 + 6) / 255, accuracy: 1e-7)
        let limited = try CIFAR10.load(directory: directory, split: .train, limit: 3)
        XCTAssertEqual(limited.labels, [1, 0, 2])
        XCTAssertEqual(limited.images.shape, [3, 3, 32, 32])
    }

    func testCIFAR10Errors() throws {
        assertInputError(path("test_batch.bin"), "no such file") {
            _ = try CIFAR10.load(directory: directory, split: .test, limit: nil)
        }
        let bad = try write([UInt8](repeating: 0, count: 3072), to: "test_batch.bin")
        assertInputError(bad, "size 3072 bytes is not a positive multiple of 3073") {
            _ = try CIFAR10.load(directory: directory, split: .test, limit: nil)
        }
        try write(cifarRecords([3, 10]), to: "test_batch.bin")
        assertInputError(bad, "label 10 at record 1 is out of range") {
            _ = try CIFAR10.load(directory: directory, split: .test, limit: nil)
        }
    }

    func testChannelStatistics() {
        // Channel 0 holds 0 and 1 in equal numbers (mean 0.5, std 0.5); channel 1 is constant 0.25.
        var values: [Float] = []
        for _ in 0..<2 { values += [0, 1, 1, 0] + [0.25, 0.25, 0.25, 0.25] }
        let set = Dataset(images: Tensor(shape: [2, 2, 2, 2], values: values), labels: [0, 1], classes: 2, name: "toy")
        let (mean, std) = set.channelStatistics()
        XCTAssertEqual(mean[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(std[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(mean[1], 0.25, accuracy: 1e-6)
        XCTAssertEqual(std[1], 0, accuracy: 1e-6)
    }

    /// Loads the installed data set; opt-in (ISP_TEST_REAL_DATA=1) because it takes about a second.
    func testInstalledFashionMNIST() throws {
        guard ProcessInfo.processInfo.environment["ISP_TEST_REAL_DATA"] == "1" else {
            throw XCTSkip("set ISP_TEST_REAL_DATA=1 to load \(FashionMNIST.defaultDirectory)")
        }
        let train = try DatasetLoader.load(name: "fashion-mnist", directory: nil, split: .train, limit: nil)
        let test = try DatasetLoader.load(name: "fashion-mnist", directory: nil, split: .test, limit: nil)
        XCTAssertEqual(train.images.shape, [60000, 1, 32, 32])
        XCTAssertEqual(test.images.shape, [10000, 1, 32, 32])
        XCTAssertEqual(Set(train.labels), Set(0..<10))
        let (mean, std) = train.channelStatistics()
        // Known Fashion-MNIST statistics (0.2860, 0.3530 at 28x28), diluted by the zero border.
        XCTAssertEqual(mean[0], 0.2860 * 784 / 1024, accuracy: 1e-3)
        XCTAssertGreaterThan(std[0], 0.3)
        print("fashion-mnist train mean \(mean) std \(std)")
    }

    // MARK: safetensors

    /// Batch norm's step counters survive a save and a load (so `isp export` and `convert.py
    /// to-torch` pass them on), above 2^32 too.
    func testBatchCountersSurviveSaveAndLoad() throws {
        let network = try Network.make(ModelSpec(architecture: "vgg16", width: 0.0625, inputChannels: 1, inputSize: 32, classes: 10))
        var counters: [Int64] = []
        for (_, bn) in network.batchNorms { bn.batchesTracked = (1 << 33) + Int64(counters.count); counters.append(bn.batchesTracked) }
        let p = path("counted.safetensors")
        try Checkpoint.save(network, to: p)
        let loaded = try Checkpoint.load(path: p).network.batchNorms.map { $0.layer.batchesTracked }
        XCTAssertFalse(counters.isEmpty)
        XCTAssertEqual(loaded, counters)
    }

    /// A checkpoint without one of its network's tensors is refused by that tensor's name, also
    /// when the weights that are left would be too few for the network (the count check comes first).
    func testCheckpointMissingATensorNamesIt() throws {
        let network = try Network.make(ModelSpec(architecture: "vgg16", width: 0.0625, inputChannels: 1, inputSize: 32, classes: 10))
        let full = path("full.safetensors"), cut = path("cut.safetensors")
        try Checkpoint.save(network, to: full)
        let contents = try SafeTensors.read(path: full)
        let kept = contents.order.filter { $0 != "features.0.weight" }.map { (name: $0, tensor: contents.tensors[$0]!) }
        try SafeTensors.write(path: cut, tensors: kept, metadata: contents.metadata)
        assertInputError(cut, "missing tensor 'features.0.weight' needed by vgg16 width 0.0625") { _ = try Checkpoint.load(path: cut) }
    }

    /// A NaN or infinity in a weight or batch-norm statistic is refused by the tensor's name: it
    /// would score every image NaN and exit 0.
    func testCheckpointWithANonFiniteValueIsRefused() throws {
        let network = try Network.make(ModelSpec(architecture: "vgg16", width: 0.0625, inputChannels: 1, inputSize: 32, classes: 10))
        for (name, value) in [("classifier.weight", Float.nan), ("features.1.running_var", Float.infinity)] {
            let full = path("full.safetensors"), bad = path("bad.safetensors")
            try Checkpoint.save(network, to: full)
            let contents = try SafeTensors.read(path: full)
            let tensors = contents.order.compactMap { n in contents.tensors[n].map { (name: n, tensor: $0) } }
            let target = try XCTUnwrap(contents.tensors[name], name)
            target[target.count - 1] = value
            try SafeTensors.write(path: bad, tensors: tensors, metadata: contents.metadata)
            assertInputError(bad, "tensor '\(name)' holds a NaN or infinite value") { _ = try Checkpoint.load(path: bad) }
        }
    }

    func testSafeTensorsRoundTrip() throws {
        let p = path("model.safetensors")
        let a = Tensor(shape: [2, 3], values: [1, -2, 3.5, 4, 5, .pi])
        let b = Tensor(shape: [4], values: [0.25, 0, -0, 1e-30])
        let scalar = Tensor(shape: [], values: [42])
        try SafeTensors.write(path: p, tensors: [("z.weight", a), ("a.bias", b), ("s", scalar)],
                              int64: [("bn.num_batches_tracked", [], [123])],
                              metadata: ["arch": "resnet \"x\"\n", "epoch": "3"])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        let headerLength = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(headerLength % 8, 0)
        XCTAssertEqual(bytes.count, 8 + headerLength + (6 + 4 + 1) * 4 + 8)

        let contents = try SafeTensors.read(path: p)
        XCTAssertEqual(contents.order, ["z.weight", "a.bias", "s"])
        XCTAssertEqual(contents.tensors["z.weight"]?.shape, [2, 3])
        XCTAssertEqual(contents.tensors["z.weight"]?.array, a.array)
        XCTAssertEqual(contents.tensors["a.bias"]?.array, b.array)
        XCTAssertEqual(contents.tensors["s"]?.shape, [])
        XCTAssertEqual(contents.tensors["s"]?.array, [42])
        XCTAssertNil(contents.tensors["bn.num_batches_tracked"])
        XCTAssertEqual(contents.counters, ["bn.num_batches_tracked": 123])
        XCTAssertEqual(contents.metadata, ["arch": "resnet \"x\"\n", "epoch": "3"])
        XCTAssertEqual(try leftovers(), [])

        // Overwriting replaces the file atomically and still leaves no temporary behind.
        try SafeTensors.write(path: p, tensors: [("only", b)], metadata: [:])
        XCTAssertEqual(try SafeTensors.read(path: p).order, ["only"])
        XCTAssertEqual(try leftovers(), [])
    }

    func testSafeTensorsWriteErrors() {
        let p = path("no-such-dir/model.safetensors")
        assertInputError(p, "cannot write: No such file or directory") {
            try SafeTensors.write(path: p, tensors: [("a", Tensor(shape: [1]))], metadata: [:])
        }
        let q = path("dup.safetensors")
        assertInputError(q, "duplicate or reserved tensor name 'a'") {
            try SafeTensors.write(path: q, tensors: [("a", Tensor(shape: [1])), ("a", Tensor(shape: [1]))], metadata: [:])
        }
    }

    /// A safetensors file from raw parts; `declared` overrides the header length field.
    private func rawSafeTensors(_ header: String, data: [UInt8] = [], declared: UInt64? = nil,
                                headerBytes: [UInt8]? = nil, name: String = "raw.safetensors") throws -> String {
        let h = headerBytes ?? Array(header.utf8)
        let n = declared ?? UInt64(h.count)
        let length = (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
        return try write(length + h + data, to: name)
    }

    func testSafeTensorsSkipsOnlyNumBatchesTrackedInt64() throws {
        let good = try rawSafeTensors(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}"#,
                                      data: [0, 0, 0x80, 0x3f] + [UInt8](repeating: 0, count: 8))
        let contents = try SafeTensors.read(path: good)
        XCTAssertEqual(contents.order, ["w"])
        XCTAssertEqual(contents.tensors["w"]?.array, [1])
        let other = try rawSafeTensors(#"{"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#,
                                       data: [UInt8](repeating: 0, count: 8), name: "i64.safetensors")
        assertInputError(other, "tensor 'step' has dtype I64; only F32 is supported") { _ = try SafeTensors.read(path: other) }
    }

    func testSafeTensorsRejectsMalformedFiles() throws {
        let f32 = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let cases: [(header: String, data: [UInt8], declared: UInt64?, bytes: [UInt8]?, problem: String)] = [
            (f32, [UInt8](repeating: 0, count: 8), 9999, nil, "header length 9999 is larger than the 62 bytes"),
            (f32, [UInt8](repeating: 0, count: 8), 1 << 62, nil, "header length 4611686018427387904 is larger"),
            (f32, [UInt8](repeating: 0, count: 4), nil, nil, "is truncated: tensor 'w' ends at byte 8 of the data, which holds 4 (data_offsets [0, 8])"),
            ("", [], nil, [0x7b, 0xff, 0xfe, 0x7d], "header is not valid UTF-8"),
            (#"{"w": {"dtype": "F32",}"#, [], nil, nil, "header is not valid JSON"),
            ("[1, 2]", [], nil, nil, "header is not a JSON object"),
            (#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}"#, [UInt8](repeating: 0, count: 12), nil, nil,
             "tensor 'w' has shape [2] (8 bytes as F32) but data_offsets [0, 12] span 12 bytes"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
             [UInt8](repeating: 0, count: 12), nil, nil, "tensors 'a' and 'b' overlap"),
            (#"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, [UInt8](repeating: 0, count: 4), nil, nil,
             "tensor 'w' has dtype BF16; only F32 is supported"),
            (#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, [], nil, nil, "no 'shape' array of non-negative integers"),
            (#"{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, [], nil, nil, "no 'shape' array"),
            (#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, [], nil, nil, "no 'data_offsets' pair"),
            (#"{"w":{"shape":[2],"data_offsets":[0,8]}}"#, [], nil, nil, "tensor 'w' has no string 'dtype'"),
            (#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#, [], nil, nil, "impossibly large shape"),
            (#"{"__metadata__":{"epoch":3}}"#, [], nil, nil, "metadata 'epoch' is not a string"),
            (#"{"w":[1,2]}"#, [], nil, nil, "entry 'w' is not a JSON object"),
        ]
        for (i, c) in cases.enumerated() {
            let p = try rawSafeTensors(c.header, data: c.data, declared: c.declared, headerBytes: c.bytes, name: "case\(i).safetensors")
            assertInputError(p, c.problem) { _ = try SafeTensors.read(path: p) }
        }
        // What torch.save writes (a zip archive; a pickle before PyTorch 1.6) is named as such.
        for (i, start) in [[UInt8]([0x50, 0x4b, 0x03, 0x04]), [0x80, 0x02, 0x8a, 0x0a]].enumerated() {
            let p = try write(start + [UInt8](repeating: 0, count: 60), to: "torch\(i).pt")
            assertInputError(p, "is a PyTorch file (torch.save), not safetensors: convert it with benchmarks/convert.py") { _ = try SafeTensors.read(path: p) }
        }
        let tiny = try write([1, 2, 3], to: "tiny.safetensors")
        assertInputError(tiny, "too short for a safetensors file") { _ = try SafeTensors.read(path: tiny) }

        // A valid file cut short: the declared header no longer fits, or the data does not.
        let p = path("full.safetensors")
        try SafeTensors.write(path: p, tensors: [("w", Tensor(shape: [16]))], metadata: [:])
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        let cutData = try write(Array(full.dropLast(4)), to: "cut-data.safetensors")
        assertInputError(cutData, "is truncated: tensor") { _ = try SafeTensors.read(path: cutData) }
        // An image where a model goes is named as one.
        for (bytes, kind) in [([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0] as [UInt8], "a PNG image"),
                              ([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46], "a JPEG image")] {
            let image = try write(bytes, to: "image-\(kind.last!).safetensors")
            assertInputError(image, "is \(kind), not a safetensors model") { _ = try SafeTensors.read(path: image) }
        }
        let cutHeader = try write(Array(full.prefix(20)), to: "cut-header.safetensors")
        assertInputError(cutHeader, "is larger than the 12 bytes after the length field") { _ = try SafeTensors.read(path: cutHeader) }
    }

    // MARK: PNG, SVG, text

    func testPNGSignatureAndAtomicity() throws {
        let p = path("image.png")
        let pixels = (0..<(4 * 3 * 3)).map { UInt8($0 * 7) }
        try PNG.write(path: p, width: 4, height: 3, channels: 3, pixels: pixels)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        try PNG.write(path: path("gray.png"), width: 2, height: 2, channels: 1, pixels: [0, 64, 128, 255])
        XCTAssertEqual(try leftovers(), [])
        assertInputError(p, "4 channels") { try PNG.write(path: p, width: 1, height: 1, channels: 4, pixels: [0, 0, 0, 0]) }
        assertInputError(p, "3 bytes for 2 x 2 x 1") { try PNG.write(path: p, width: 2, height: 2, channels: 1, pixels: [0, 0, 0]) }
    }

    func testWriteTextAtomically() throws {
        let p = path("notes.txt")
        try writeTextAtomically("first", to: p)
        try writeTextAtomically("second ✓", to: p)
        XCTAssertEqual(try String(contentsOfFile: p, encoding: .utf8), "second ✓")
        XCTAssertEqual(try leftovers(), [])
        let missing = path("nope/notes.txt")
        assertInputError(missing, "cannot write") { try writeTextAtomically("x", to: missing) }
    }

    /// Output checks: refuse what rename() must not replace, probe without leaving anything,
    /// and refuse a file system without room, all before any work.
    func testOutputChecks() throws {
        let fifo = path("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertInputError(fifo, "is not a regular file") { try writeTextAtomically("x", to: fifo) }
        assertInputError(fifo, "is not a regular file") { try checkOutputFile(fifo) }
        assertInputError(directory, "is a directory") { try checkOutputFile(directory) }
        var st = stat()
        XCTAssertEqual(stat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO)

        let out = path("model.safetensors")
        try checkOutputFile(out, bytesNeeded: 1)
        assertInputError(out, "free, but its file system has") { try checkOutputFile(out, bytesNeeded: 1 << 60) }
        assertInputError(path("missing/x"), "the directory must exist and be writable") { try checkOutputFile(path("missing/x")) }
        assertInputError("/proc/x.safetensors", "its directory exists but takes no new files") { try checkOutputFile("/proc/x.safetensors") }

        let nested = path("a/b/report")
        try prepareOutputDirectory(nested)
        try prepareOutputDirectory(nested)  // existing is fine
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: nested), [])
        let plain = try write([1], to: "plain")
        assertInputError(plain + "/report", "cannot create directory: Not a directory") { try prepareOutputDirectory(plain + "/report") }
        assertInputError(plain, "is not a directory") { try prepareOutputDirectory(plain) }
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: directory)), ["fifo", "a", "plain"], "a probe was left behind")
    }

    private func assertWellFormed(_ svg: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(svg.hasPrefix("<svg"), file: file, line: line)
        XCTAssertTrue(svg.hasSuffix("</svg>\n"), file: file, line: line)
        XCTAssertEqual(svg.components(separatedBy: "<text").count, svg.components(separatedBy: "</text>").count, file: file, line: line)
        XCTAssertFalse(svg.contains("nan") || svg.contains("inf"), file: file, line: line)
    }

    func testSVGCharts() {
        var plot = LinePlot(title: "Loss & <accuracy>", xLabel: "epoch", yLabel: "loss")
        plot.add(name: "train", points: [(0, 2.3), (1, 1.1), (2, .nan), (3, 0.4)])
        plot.add(name: "test", points: [(0, 2.4), (1, 1.3), (3, 0.6)], dashed: true)
        let line = plot.render()
        assertWellFormed(line)
        XCTAssertTrue(line.contains("Loss &amp; &lt;accuracy&gt;"))
        XCTAssertTrue(line.contains(">train</text>") && line.contains(">test</text>"))
        XCTAssertTrue(line.contains("stroke-dasharray"))
        XCTAssertTrue(line.contains(">0.5</text>") && line.contains(">2.5</text>"), "nice y ticks at steps of 0.5")

        let histogram = Histogram(title: "Activations", xLabel: "value", values: [0, 0.1, 0.5, 1, 1, 7], bins: 4, range: 0...1)
        XCTAssertEqual(histogram.counts().counts, [2, 0, 1, 2])
        XCTAssertEqual(histogram.counts().excluded, 1)
        let h = histogram.render()
        assertWellFormed(h)
        XCTAssertTrue(h.contains("Activations") && h.contains("1 of 6 values outside"))

        let bars = BarChart(title: "CV per layer", xLabel: "layer", yLabel: "CV",
                            labels: (1...12).map { "conv\($0)" }, values: (1...12).map { Double($0) / 10 })
        let b = bars.render()
        assertWellFormed(b)
        XCTAssertTrue(b.contains("CV per layer") && b.contains(">conv12</text>"))
        assertWellFormed(LinePlot(title: "empty", xLabel: "x", yLabel: "y").render())
        assertWellFormed(Histogram(title: "empty", xLabel: "x", values: []).render())
    }
}
