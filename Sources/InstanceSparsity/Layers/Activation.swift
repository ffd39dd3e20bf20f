import CKernels

/// ReLU, or ReLU6 when `cap` is 6 (MobileNetV2). The gradient passes where 0 < y < cap.
/// When fused into the batch norm before it (`BatchNorm2d.cap`), it passes values and
/// gradients through unchanged: the norm has already applied it.
public final class ReLU: Layer, RunsOnEngine {
    public var engine = Engine.default
    public let cap: Float
    var isFused = false
    private var y: Tensor?
    private var dx: Tensor?
    private var shape: [Int] = []

    public init(cap: Float = .infinity) { self.cap = cap }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        shape = x.shape
        if isFused { return x }
        let out = Tensor.reuse(y, shape: x.shape)
        y = out
        let src = x.data, dst = out.data, cap = cap
        engine.forEachShare(of: x.count, minimumPerShare: 1 << 15) { r, _ in
            for i in r { dst[i] = min(max(src[i], 0), cap) }
        }
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        if isFused { return dy }
        let out = y!
        let g = Tensor.reuse(dx, shape: dy.shape)
        dx = g
        let yp = out.data, dyp = dy.data, dst = g.data, cap = cap
        engine.forEachShare(of: dy.count, minimumPerShare: 1 << 15) { r, _ in
            isp_relu_backward(yp + r.lowerBound, dyp + r.lowerBound, dst + r.lowerBound, Int64(r.count), cap)
        }
        return g
    }

    public var lastOutputShape: [Int] { shape }
}

/// The bounds the C kernels clamp to for an activation cap: nil (no activation) clamps nothing,
/// .infinity is ReLU, 6 is ReLU6.
func clampBounds(_ cap: Float?) -> (low: Float, high: Float) {
    cap.map { (0, $0) } ?? (-.infinity, .infinity)
}

/// An activation with cap `cap` (nil: none) applied to one value.
@inline(__always)
func activate(_ v: Float, _ cap: Float?) -> Float {
    guard let cap else { return v }
    return Swift.min(Swift.max(v, 0), cap)
}
