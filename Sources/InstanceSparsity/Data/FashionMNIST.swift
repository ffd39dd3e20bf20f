/// Fashion-MNIST from its IDX files. Images are padded from 28x28 to 32x32 so the same networks
/// (and the same pooling arithmetic) serve both data sets.
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classes = 10
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    static let side = 28, padded = 32

    public static func load(directory: String, split: Split, limit: Int?) throws -> Dataset {
        let prefix = split == .train ? "train" : "t10k"
        let imagesPath = try locate(directory, "\(prefix)-images-idx3-ubyte")
        let labelsPath = try locate(directory, "\(prefix)-labels-idx1-ubyte")

        let images = try IDX.read(path: imagesPath)
        guard images.dims.count == 3, images.dims[1] == side, images.dims[2] == side else {
            throw InputError(imagesPath, "expected images of N x \(side) x \(side), got \(images.dims.map(String.init).joined(separator: " x "))")
        }
        let labels = try IDX.read(path: labelsPath)
        guard labels.dims.count == 1 else {
            throw InputError(labelsPath, "expected a 1-dimensional label file, got \(labels.dims.count) dimensions")
        }
        guard images.dims[0] == labels.dims[0] else {
            throw InputError(imagesPath, "has \(images.dims[0]) images but \(labelsPath) has \(labels.dims[0]) labels")
        }
        if let bad = labels.bytes.firstIndex(where: { Int($0) >= classes }) {
            throw InputError(labelsPath, "label \(labels.bytes[bad]) at index \(bad) is out of range (expected 0...\(classes - 1))")
        }

        let n = min(images.dims[0], limit ?? Int.max)
        let tensor = Tensor(shape: [n, 1, padded, padded])  // zero-filled, so the border is already padding
        let out = tensor.data
        let offset = (padded - side) / 2
        images.bytes.withUnsafeBufferPointer { source in
            let src = source.baseAddress!
            Engine.default.forEachShare(of: n, minimumPerShare: 256) { range, _ in
                for i in range {
                    let image = src + i * side * side
                    let target = out + i * padded * padded + offset * padded + offset
                    for y in 0..<side {
                        let row = image + y * side, dst = target + y * padded
                        for x in 0..<side { dst[x] = unitScale(row[x]) }
                    }
                }
            }
        }
        return Dataset(images: tensor, labels: labels.bytes[..<n].map { Int32($0) }, classes: classes, name: "fashion-mnist", classNames: classNames)
    }

    /// The files ship gzipped, but people often unpack them; take whichever is there.
    static func locate(_ directory: String, _ base: String) throws -> String {
        let gz = "\(directory)/\(base).gz", raw = "\(directory)/\(base)"
        if InputFile.exists(gz) { return gz }
        if InputFile.exists(raw) { return raw }
        let hint = directory == defaultDirectory ? "install dataset-fashion-mnist or pass --data-dir" : "nor \(base); is this the Fashion-MNIST directory?"
        throw InputError(gz, "no such file (\(hint))")
    }
}
