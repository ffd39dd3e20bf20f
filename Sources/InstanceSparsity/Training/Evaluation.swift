import Foundation

public struct EvaluationResult {
    public var accuracy: Double
    public var loss: Double
    public var images: Int
    public var imagesPerSecond: Double
}

/// Test-set accuracy and mean cross-entropy in evaluation mode (running BN statistics). Several
/// processes split the batches (each a contiguous run of them) and add up the per-batch figures,
/// which are then summed in batch order: the same numbers as one process, bit for bit.
public func evaluate(_ network: Network, on data: some DataSplit, batchSize: Int = 256, progress: Progress? = nil,
                     processes: ProcessGroup = SingleProcess()) throws -> EvaluationResult {
    let batches = Array(0..<data.count).batches(of: batchSize), mine = processes.share(of: batches.count)
    let myImages = batches[mine].reduce(0) { $0 + $1.count }
    let stream = BatchStream(data, maker: BatchMaker(spec: network.spec), batches: Array(batches[mine]), augmentation: nil)
    // Per batch: correct answers and the summed loss; zero for other processes' batches.
    var correct = [Double](repeating: 0, count: batches.count), losses = correct
    let start = Date()
    for k in mine {
        guard let (batch, labels) = try stream.next() else { break }
        let logits = network.forward(batch, training: false)
        let r = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels[...], grad: nil)
        correct[k] = Double(r.correct)
        losses[k] = Double(r.loss) * Double(labels.count)
        // Process 0 shows its part scaled to the whole (parts are nearly equal).
        progress?.advance(labels.count * data.count / myImages)
    }
    processes.gather(&correct)
    processes.gather(&losses)
    let seconds = Date().timeIntervalSince(start), n = Double(max(data.count, 1))
    return EvaluationResult(accuracy: correct.reduce(0, +) / n, loss: losses.reduce(0, +) / n,
                            images: data.count, imagesPerSecond: Double(data.count) / max(seconds, 1e-9))
}
