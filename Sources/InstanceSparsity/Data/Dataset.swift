public enum Split: String { case train, test }

/// A pixel byte as a network input before normalisation, as torchvision's ToTensor makes it: a
/// division by 255. Every reader uses this, so the same image gives bit-identical inputs from an
/// IDX file, a CIFAR-10 record or a PNG.
@inline(__always) func unitScale(_ byte: UInt8) -> Float { Float(byte) / 255 }

/// A whole split in memory: images N x C x H x W scaled to [0, 1], labels in 0..<classes.
public struct Dataset: DataSplit {
    public var images: Tensor
    public var labels: [Int32]
    public var classes: Int
    public var classNames: [String]
    public var name: String

    /// `classNames` default to the class numbers.
    public init(images: Tensor, labels: [Int32], classes: Int, name: String, classNames: [String]? = nil) {
        precondition(images.shape.count == 4 && images.shape[0] == labels.count,
                     "images \(images.shape) do not match \(labels.count) labels")
        precondition(classNames == nil || classNames!.count == classes, "\(classNames!.count) names for \(classes) classes")
        self.images = images
        self.labels = labels
        self.classes = classes
        self.classNames = classNames ?? (0..<classes).map(String.init)
        self.name = name
    }

    public var count: Int { labels.count }
    public var channels: Int { images.shape[1] }
    public var height: Int { images.shape[2] }
    public var width: Int { images.shape[3] }

    /// Copies the examples, shifted and flipped when augmenting.
    public func fill(_ batch: Tensor, labels: inout [Int32], indices: ArraySlice<Int>, augmentation: Augmentation?,
                     normalization: BatchMaker) {
        let c = channels, h = height, w = width, size = c * h * w
        batch.resize([indices.count, c, h, w])
        labels.removeAll(keepingCapacity: true)
        var shifts = [BatchMaker.Shift]()
        for index in indices {
            labels.append(self.labels[index])
            shifts.append(augmentation?.shift(forImage: index) ?? BatchMaker.noShift)
        }
        let order = Array(indices), src = images.data, dst = batch.data
        Engine.default.forEachPiece(of: order.count, pieces: order.count) { items, _ in
            for i in items {
                normalization.copy(src + order[i] * size, to: dst + i * size, channels: c, height: h, width: w, shift: shifts[i])
            }
        }
    }

    /// Per-channel mean and (population) standard deviation over every pixel of every image.
    /// Accumulates in Double: tens of millions of Float additions would lose digits.
    public func channelStatistics() -> (mean: [Float], std: [Float]) {
        let plane = height * width
        let n = count
        guard n > 0, plane > 0 else {
            return (Array(repeating: 0, count: channels), Array(repeating: 0, count: channels))
        }
        var mean = [Float](), std = [Float]()
        let data = images.data
        for c in 0..<channels {
            var sum = 0.0, sumSquares = 0.0
            for i in 0..<n {
                let p = data + (i * channels + c) * plane
                for j in 0..<plane {
                    let v = Double(p[j])
                    sum += v
                    sumSquares += v * v
                }
            }
            let total = Double(n * plane)
            let m = sum / total
            mean.append(Float(m))
            std.append(Float(max(sumSquares / total - m * m, 0).squareRoot()))
        }
        return (mean, std)
    }
}

public enum DatasetLoader {
    /// The data sets by name: two fixed formats and ImageFolder-style class folders.
    public static let names = ["fashion-mnist", "cifar10", "folder"]

    /// Where a dataset lives when no directory is given: Debian's package for Fashion-MNIST;
    /// the others have no standard place.
    public static func defaultDirectory(for name: String) -> String? {
        name == "fashion-mnist" ? FashionMNIST.defaultDirectory : nil
    }

    /// What a class-folder data set needs besides its directory.
    public struct FolderOptions {
        public var preprocessing: Preprocessing
        public var skipBad: Bool

        public init(preprocessing: Preprocessing, skipBad: Bool = false) {
            self.preprocessing = preprocessing; self.skipBad = skipBad
        }
    }

    /// Any data set by name: the in-memory ones through `load`, and "folder", an ImageFolder
    /// layout under `directory` (streamed), which needs `folder`.
    public static func open(name: String, directory: String?, split: Split, limit: Int?,
                            folder: FolderOptions?) throws -> any DataSplit {
        guard name == "folder" else { return try load(name: name, directory: directory, split: split, limit: limit) }
        try check(limit: limit)
        guard let directory else {
            throw InputError(name, "no default location; pass --data-dir DIR with DIR/train/<class>/ and DIR/val/<class>/")
        }
        guard let folder else { throw InputError(directory, "a folder data set needs an input size and channel count") }
        return try ImageFolder(root: directory, split: split, preprocessing: folder.preprocessing, limit: limit,
                               skipBad: folder.skipBad)
    }

    /// `limit` keeps the first `limit` examples of the split (for quick runs).
    public static func load(name: String, directory: String?, split: Split, limit: Int?) throws -> Dataset {
        try check(limit: limit)
        // A mistyped --data-dir is named as such, not as the first file looked for in it (the
        // default place's loader says which package to install).
        let files = ["fashion-mnist": "Fashion-MNIST IDX files", "cifar10": "CIFAR-10 binary version's .bin files"]
        if let directory, let wanted = files[name], directory != defaultDirectory(for: name), !ImageFolder.isDirectory(directory) {
            throw InputError(directory, "\(InputFile.exists(directory) ? "is not a directory" : "no such directory") (pass --data-dir with the \(wanted))")
        }
        switch name {
        case "fashion-mnist":
            return try FashionMNIST.load(directory: directory ?? FashionMNIST.defaultDirectory, split: split, limit: limit)
        case "cifar10":
            guard let directory else {
                throw InputError(name, "no default location; pass --data-dir with the CIFAR-10 binary version (data_batch_1.bin ... test_batch.bin)")
            }
            return try CIFAR10.load(directory: directory, split: split, limit: limit)
        case "folder":
            throw InputError(directory ?? name, "class folders are streamed from disk, not loaded whole: open them with DatasetLoader.open")
        default:
            throw InputError(name, "unknown dataset (expected \(names.joined(separator: ", ")))")
        }
    }

    private static func check(limit: Int?) throws {
        if let limit, limit < 1 { throw InputError("image limit", "must be at least 1, got \(limit)") }
    }
}
