import Foundation

public struct EvaluationResult {
    public var accuracy: Double
    public var loss: Double
    public var images: Int
    public var imagesPerSecond: Double
}

/// Test-set accuracy and mean cross-entropy in evaluation mode (running BN statistics).
public func evaluate(_ network: Network, on data: some DataSplit, batchSize: Int = 256, progress: Progress? = nil) throws -> EvaluationResult {
    let batches = BatchStream(data, maker: BatchMaker(spec: network.spec), order: Array(0..<data.count), batchSize: batchSize,
                              augment: false, rng: SeededGenerator(seed: 0))
    var correct = 0, lossSum = 0.0
    let start = Date()
    while let (batch, labels) = try batches.next() {
        let logits = network.forward(batch, training: false)
        let r = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels[...], grad: nil)
        correct += r.correct
        lossSum += Double(r.loss) * Double(labels.count)
        progress?.advance(labels.count)
    }
    let seconds = Date().timeIntervalSince(start)
    return EvaluationResult(accuracy: Double(correct) / Double(max(data.count, 1)),
                            loss: lossSum / Double(max(data.count, 1)),
                            images: data.count, imagesPerSecond: Double(data.count) / max(seconds, 1e-9))
}
