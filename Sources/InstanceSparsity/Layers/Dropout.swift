/// Inverted dropout: in training each element is zeroed with probability p and the survivors
/// scaled by 1/(1-p), so evaluation is the identity.
public final class Dropout: Layer {
    public let p: Float
    private var rng: SeededGenerator
    private var mask: Tensor?
    private var y: Tensor?
    private var dx: Tensor?
    private var shape: [Int] = []

    public init(p: Float, seed: UInt64) {
        self.p = p
        rng = SeededGenerator(seed: seed)
    }

    /// Restarts the mask stream, so a resumed run draws the same masks as an uninterrupted one.
    public func reseed(_ seed: UInt64) { rng = SeededGenerator(seed: seed) }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        shape = x.shape
        guard training, p > 0 else { mask = nil; return x }
        let m = Tensor.reuse(mask, shape: x.shape), out = Tensor.reuse(y, shape: x.shape)
        mask = m; y = out
        let scale = 1 / (1 - p)
        for i in 0..<x.count {
            m[i] = rng.uniform() < p ? 0 : scale
            out[i] = x[i] * m[i]
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
