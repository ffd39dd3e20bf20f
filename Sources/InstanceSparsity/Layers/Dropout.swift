/// Inverted dropout: in training each element is zeroed with probability p and the survivors
/// scaled by 1/(1-p), so evaluation is the identity. Each row of the batch draws its mask from its
/// own generator, seeded from the step's seed and the row's place in the whole batch: the same
/// masks whichever process computes which rows (`reseed`).
public final class Dropout: Layer {
    public let p: Float
    private var seed: UInt64
    /// Where this process's rows start in the batch of all processes.
    private var firstRow = 0
    private var mask: Tensor?
    private var y: Tensor?
    private var dx: Tensor?
    private var shape: [Int] = []

    public init(p: Float, seed: UInt64) {
        self.p = p
        self.seed = seed
    }

    /// The masks of the next forward passes: from `seed`, for rows that start at `firstRow` of
    /// the batch of all processes. The trainer reseeds every step from (seed, epoch, step).
    public func reseed(_ seed: UInt64, firstRow: Int = 0) { self.seed = seed; self.firstRow = firstRow }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        shape = x.shape
        guard training, p > 0 else { mask = nil; return x }
        let m = Tensor.reuse(mask, shape: x.shape), out = Tensor.reuse(y, shape: x.shape)
        mask = m; y = out
        let scale = 1 / (1 - p), row = x.count / max(x.shape[0], 1)
        for r in 0..<x.shape[0] {
            var rng = SeededGenerator(seed: seed, item: firstRow + r)
            for i in (r * row)..<((r + 1) * row) {
                m[i] = rng.uniform() < p ? 0 : scale
                out[i] = x[i] * m[i]
            }
        }
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let m = mask else { return dy }
        let g = Tensor.reuse(dx, shape: dy.shape)
        dx = g
        for i in 0..<dy.count { g[i] = dy[i] * m[i] }
        return g
    }

    public var lastOutputShape: [Int] { shape }
}
