/// y = x W^T + b on a batch of feature vectors (N x in); inputs of rank 4 are flattened.
public final class Linear: Layer {
    public let weight: Parameter  // out x in
    public let bias: Parameter
    private var x: Tensor?
    private var y: Tensor?
    private var dx: Tensor?

    public init(inFeatures: Int, outFeatures: Int, rng: inout SeededGenerator) {
        let w = Tensor(shape: [outFeatures, inFeatures])
        let bound = 1 / Float(inFeatures).squareRoot()  // PyTorch's default uniform(-1/sqrt(in), 1/sqrt(in))
        for i in 0..<w.count { w[i] = (rng.uniform() * 2 - 1) * bound }
        let b = Tensor(shape: [outFeatures])
        for i in 0..<b.count { b[i] = (rng.uniform() * 2 - 1) * bound }
        weight = Parameter(w, decays: true)
        bias = Parameter(b, decays: false)
    }

    var inFeatures: Int { weight.value.shape[1] }
    var outFeatures: Int { weight.value.shape[0] }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let n = input.shape[0]
        precondition(input.count == n * inFeatures, "linear expects \(inFeatures) features, got shape \(input.shape)")
        x = input
        let out = Tensor.reuse(y, shape: [n, outFeatures])
        y = out
        for i in 0..<n { (out.data + i * outFeatures).update(from: bias.value.data, count: outFeatures) }
        gemm(transB: true, m: n, n: outFeatures, k: inFeatures, a: input.data, lda: inFeatures, b: weight.value.data,
             ldb: inFeatures, beta: 1, c: out.data, ldc: outFeatures)
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let input = x!, n = dy.shape[0]
        gemm(transA: true, m: outFeatures, n: inFeatures, k: n, a: dy.data, lda: outFeatures,
             b: input.data, ldb: inFeatures, beta: 1, c: weight.grad.data, ldc: inFeatures)
        for i in 0..<n { for o in 0..<outFeatures { bias.grad.data[o] += dy.data[i * outFeatures + o] } }
        let g = Tensor.reuse(dx, shape: input.shape)
        dx = g
        gemm(m: n, n: inFeatures, k: outFeatures, a: dy.data, lda: outFeatures,
             b: weight.value.data, ldb: inFeatures, c: g.data, ldc: inFeatures)
        return g
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var macsPerImage: Int { inFeatures * outFeatures }
    public var lastOutputShape: [Int] { y?.shape ?? [] }
}
