import Dispatch

/// The batches of one pass over a split, each filled on a background thread while the caller
/// works on the one before: decoding and augmenting images overlaps training. Two batches exist
/// at a time (the one handed out, the one being filled), so memory does not grow with the split.
public final class BatchStream: @unchecked Sendable {
    private let split: any DataSplit
    private let maker: BatchMaker
    private let batches: [ArraySlice<Int>]
    private let augmentation: Augmentation?
    private final class Slot {
        let batch = Tensor(shape: [0])
        var labels: [Int32] = []
    }
    private let slots = [Slot(), Slot()]
    private var failure: Error?
    private var position = 0
    private let queue = DispatchQueue(label: "isp.batch-stream")
    private let group = DispatchGroup()

    /// `batches` lists the indices of each batch in order.
    public init(_ split: any DataSplit, maker: BatchMaker, batches: [ArraySlice<Int>], augmentation: Augmentation?) {
        self.split = split; self.maker = maker; self.batches = batches; self.augmentation = augmentation
        if !batches.isEmpty { start(0) }
    }

    /// Consecutive batches of `batchSize` (the last may be short) of `order`.
    public convenience init(_ split: any DataSplit, maker: BatchMaker, order: [Int], batchSize: Int, augmentation: Augmentation?) {
        self.init(split, maker: maker, batches: order.batches(of: batchSize), augmentation: augmentation)
    }

    private func start(_ k: Int) {
        queue.async(group: group) { [self] in
            do {
                let slot = slots[k % 2]
                try maker.fill(slot.batch, labels: &slot.labels, from: split, indices: batches[k], augmentation: augmentation)
            } catch {
                failure = error
            }
        }
    }

    /// The next batch and its labels, or nil after the last. The tensor is reused two batches
    /// later: the caller must be done with it by then.
    public func next() throws -> (batch: Tensor, labels: [Int32])? {
        guard position < batches.count else { return nil }
        group.wait()
        if let failure { throw failure }
        let slot = slots[position % 2], labels = slot.labels
        position += 1
        if position < batches.count { start(position) }
        return (slot.batch, labels)
    }
}

extension Array where Element == Int {
    /// Consecutive slices of `size` elements; the last may be shorter.
    public func batches(of size: Int) -> [ArraySlice<Int>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
