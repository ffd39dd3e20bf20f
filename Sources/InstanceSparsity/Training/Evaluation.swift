import Foundation

public struct EvaluationResult {
    public var accuracy: Double
    public var loss: Double
    public var images: Int
    public var imagesPerSecond: Double
}

/// Test-set accuracy and mean cross-entropy in evaluation mode (running BN statistics).
public func evaluate(_ network: Network, on data: Dataset, batchSize: Int = 256, progress: Progress? = nil) -> EvaluationResult {
    let maker = BatchMaker(spec: network.spec)
    let batch = Tensor(shape: [0])
    var labels: [Int32] = [], rng = SeededGenerator(seed: 0)
    var correct = 0, lossSum = 0.0
    let start = Date()
    var i = 0
    while i < data.count {
        let end = min(i + batchSize, data.count)
        maker.fill(batch, labels: &labels, from: data, indices: Array(i..<end)[...], augment: false, rng: &rng)
        let logits = network.forward(batch, training: false)
        let r = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels[...], grad: nil)
        correct += r.correct
        lossSum += Double(r.loss) * Double(end - i)
        progress?.advance(end - i)
        i = end
    }
    let seconds = Date().timeIntervalSince(start)
    return EvaluationResult(accuracy: Double(correct) / Double(max(data.count, 1)),
                            loss: lossSum / Double(max(data.count, 1)),
                            images: data.count, imagesPerSecond: Double(data.count) / max(seconds, 1e-9))
}
