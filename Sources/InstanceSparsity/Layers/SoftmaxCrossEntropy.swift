/// Mean softmax cross-entropy over a batch of logits (N x classes) and its gradient.
public enum SoftmaxCrossEntropy {
    /// Returns the mean loss, the number of correct argmax predictions, and writes
    /// dL/dlogits into `grad` (already divided by N) when given.
    public static func evaluate(logits: Tensor, labels: ArraySlice<Int32>, grad: Tensor?) -> (loss: Float, correct: Int) {
        let n = logits.shape[0], k = logits.shape[1]
        var total: Double = 0, correct = 0
        for i in 0..<n {
            let row = logits.data + i * k
            var maxValue = -Float.infinity, best = 0
            for j in 0..<k where row[j] > maxValue { maxValue = row[j]; best = j }
            var sum: Float = 0
            for j in 0..<k { sum += expf(row[j] - maxValue) }
            let label = Int(labels[labels.startIndex + i])
            total += Double(logf(sum) - (row[label] - maxValue))
            if best == label { correct += 1 }
            if let g = grad {
                let grow = g.data + i * k
                for j in 0..<k { grow[j] = (expf(row[j] - maxValue) / sum - (j == label ? 1 : 0)) / Float(n) }
            }
        }
        return (Float(total / Double(n)), correct)
    }
}

#if canImport(Glibc)
import Glibc
#endif
