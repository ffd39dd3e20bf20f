public enum Split: String { case train, test }

/// A whole split in memory: images N x C x H x W scaled to [0, 1], labels in 0..<classes.
public struct Dataset {
    public var images: Tensor
    public var labels: [Int32]
    public var classes: Int
    public var name: String
    /// What each label means ("T-shirt/top", "airplane", ...); numbers when the data does not say.
    public var classNames: [String]

    public init(images: Tensor, labels: [Int32], classes: Int, name: String, classNames: [String]? = nil) {
        precondition(images.shape.count == 4 && images.shape[0] == labels.count,
                     "images \(images.shape) do not match \(labels.count) labels")
        self.images = images
        self.labels = labels
        self.classes = classes
        self.name = name
        self.classNames = classNames ?? (0..<classes).map(String.init)
    }

    public var count: Int { labels.count }
    public var channels: Int { images.shape[1] }
    public var height: Int { images.shape[2] }
    public var width: Int { images.shape[3] }

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
    public static let names = ["fashion-mnist", "cifar10"]

    /// Where a dataset lives when no directory is given: Debian's package for Fashion-MNIST;
    /// CIFAR-10 has no standard place.
    public static func defaultDirectory(for name: String) -> String? {
        name == "fashion-mnist" ? FashionMNIST.defaultDirectory : nil
    }

    /// `limit` keeps the first `limit` examples of the split (for quick runs).
    public static func load(name: String, directory: String?, split: Split, limit: Int?) throws -> Dataset {
        if let limit, limit < 1 {
            throw InputError("--limit", "must be at least 1, got \(limit)")
        }
        switch name {
        case "fashion-mnist":
            return try FashionMNIST.load(directory: directory ?? FashionMNIST.defaultDirectory, split: split, limit: limit)
        case "cifar10":
            guard let directory else {
                throw InputError(name, "no default location; pass --data-dir with the CIFAR-10 binary version (data_batch_1.bin ... test_batch.bin)")
            }
            return try CIFAR10.load(directory: directory, split: split, limit: limit)
        default:
            throw InputError(name, "unknown dataset (expected \(names.joined(separator: " or ")))")
        }
    }
}
