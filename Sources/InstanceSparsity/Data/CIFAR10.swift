/// CIFAR-10, binary version: records of 1 label byte and 3072 pixel bytes stored as R, G and B
/// planes of 32x32, which is already the C x H x W layout we want.
public enum CIFAR10 {
    public static let classes = 10
    public static let classNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    static let side = 32, pixels = 3 * 32 * 32, record = 1 + 3 * 32 * 32

    public static func load(directory: String, split: Split, limit: Int?) throws -> Dataset {
        // The archive unpacks into cifar-10-batches-bin/; accept the parent directory too.
        let nested = "\(directory)/cifar-10-batches-bin"
        let base = InputFile.exists("\(nested)/test_batch.bin") ? nested : directory
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        let want = limit ?? Int.max

        var chunks: [(path: String, bytes: [UInt8], records: Int)] = []
        var total = 0
        for name in names where total < want {
            let path = "\(base)/\(name)"
            guard InputFile.exists(path) else {
                throw InputError(path, "no such file (pass --data-dir pointing at the CIFAR-10 binary version)")
            }
            let file = try InputFile(path)
            guard file.size > 0, file.size % record == 0 else {
                throw InputError(path, "size \(file.size) bytes is not a positive multiple of \(record) (1 label byte + \(pixels) pixel bytes per record)")
            }
            let records = min(file.size / record, want - total)
            let bytes = try file.readBytes(at: 0, count: records * record)
            for r in 0..<records where Int(bytes[r * record]) >= classes {
                throw InputError(path, "label \(bytes[r * record]) at record \(r) is out of range (expected 0...\(classes - 1))")
            }
            chunks.append((path, bytes, records))
            total += records
        }

        let tensor = Tensor(shape: [total, 3, side, side])
        var labels = [Int32]()
        labels.reserveCapacity(total)
        var first = 0
        for chunk in chunks {
            let out = tensor.data + first * pixels
            chunk.bytes.withUnsafeBufferPointer { source in
                let src = source.baseAddress!
                Engine.default.forEachShare(of: chunk.records, minimumPerShare: 256) { range, _ in
                    for r in range {
                        let image = src + r * record + 1, dst = out + r * pixels
                        for j in 0..<pixels { dst[j] = unitScale(image[j]) }
                    }
                }
            }
            for r in 0..<chunk.records { labels.append(Int32(chunk.bytes[r * record])) }
            first += chunk.records
        }
        return Dataset(images: tensor, labels: labels, classes: classes, name: "cifar10", classNames: classNames)
    }
}
