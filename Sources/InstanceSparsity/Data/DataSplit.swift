/// One split of a data set as training and evaluation see it: labelled examples, each turned
/// into a normalised C x H x W network input on request. `Dataset` holds a split in memory;
/// `ImageFolder` decodes its images from files batch by batch.
public protocol DataSplit {
    var name: String { get }
    var count: Int { get }
    var labels: [Int32] { get }
    var classes: Int { get }
    var classNames: [String] { get }
    /// The shape of one example as the network sees it.
    var channels: Int { get }
    var height: Int { get }
    var width: Int { get }

    /// Fills `batch` (resized to B x C x H x W) and `labels` with the examples at `indices`,
    /// normalised by `normalization`, augmented when `augmentation` is given (each example from
    /// its own generator, `Augmentation.generator(forImage:)` of its index).
    func fill(_ batch: Tensor, labels: inout [Int32], indices: ArraySlice<Int>, augmentation: Augmentation?,
              normalization: BatchMaker) throws

    /// Per-channel mean and population standard deviation of the unnormalised examples in [0, 1]
    /// as evaluation sees them: the normalisation a new model is given.
    func channelStatistics() throws -> (mean: [Float], std: [Float])
}

/// Some examples of another split, in a given order: the last N training images that choose an
/// operating point, the first N test images of a quick sweep. Works for every kind of split.
public struct DataSubset: DataSplit {
    public let base: any DataSplit
    public let indices: [Int]

    public init(_ base: any DataSplit, indices: [Int]) {
        precondition(indices.allSatisfy { (0..<base.count).contains($0) }, "subset indices outside 0..<\(base.count)")
        self.base = base; self.indices = indices
    }

    public var name: String { base.name }
    public var count: Int { indices.count }
    public var labels: [Int32] { indices.map { base.labels[$0] } }
    public var classes: Int { base.classes }
    public var classNames: [String] { base.classNames }
    public var channels: Int { base.channels }
    public var height: Int { base.height }
    public var width: Int { base.width }

    public func fill(_ batch: Tensor, labels: inout [Int32], indices chosen: ArraySlice<Int>, augmentation: Augmentation?,
                     normalization: BatchMaker) throws {
        try base.fill(batch, labels: &labels, indices: chosen.map { indices[$0] }[...], augmentation: augmentation,
                      normalization: normalization)
    }

    /// Over the subset's own examples, as evaluation sees them.
    public func channelStatistics() throws -> (mean: [Float], std: [Float]) {
        try Dataset(unnormalized: self, indices: Array(0..<count)).channelStatistics()
    }
}

extension Dataset {
    /// The examples `indices` of any split, in memory as evaluation sees them before normalisation
    /// (for pictures of them, or statistics).
    public init(unnormalized data: some DataSplit, indices: [Int]) throws {
        let images = Tensor(shape: [0])
        var labels: [Int32] = []
        let identity = BatchMaker(mean: [Float](repeating: 0, count: data.channels), std: [Float](repeating: 1, count: data.channels))
        try data.fill(images, labels: &labels, indices: indices[...], augmentation: nil, normalization: identity)
        if indices.isEmpty { images.resize([0, data.channels, data.height, data.width]) }
        self.init(images: images, labels: labels, classes: data.classes, name: data.name, classNames: data.classNames)
    }
}
