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
    /// normalised by `normalization`. With `augment`, each example takes a fixed number of draws
    /// from `rng`, in the order of `indices`: over an epoch whose order and generator both derive
    /// from (seed, epoch), how an image is augmented depends only on (seed, epoch, its index),
    /// whatever the batch size or thread count.
    func fill(_ batch: Tensor, labels: inout [Int32], indices: ArraySlice<Int>, augment: Bool,
              normalization: BatchMaker, rng: inout SeededGenerator) throws

    /// Per-channel mean and population standard deviation of the unnormalised examples in [0, 1]
    /// as evaluation sees them: the normalisation a new model is given.
    func channelStatistics() throws -> (mean: [Float], std: [Float])
}
