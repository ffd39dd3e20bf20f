/// ReLU, or ReLU6 when `cap` is 6 (MobileNetV2). The gradient passes where 0 < y < cap.
public final class ReLU: Layer {
    public let cap: Float
    private var y: Tensor?
    private var dx: Tensor?

    public init(cap: Float = .infinity) { self.cap = cap }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let out = Tensor.reuse(y, shape: x.shape)
        y = out
        let src = x.data, dst = out.data, cap = cap
        parallelRanges(x.count, minimumPerTask: 1 << 15) { r in
            for i in r { dst[i] = min(max(src[i], 0), cap) }
        }
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let out = y!
        let g = Tensor.reuse(dx, shape: dy.shape)
        dx = g
        let yp = out.data, dyp = dy.data, dst = g.data, cap = cap
        parallelRanges(dy.count, minimumPerTask: 1 << 15) { r in
            for i in r { dst[i] = (yp[i] > 0 && yp[i] < cap) ? dyp[i] : 0 }
        }
        return g
    }

    public var lastOutputShape: [Int] { y?.shape ?? [] }
}
