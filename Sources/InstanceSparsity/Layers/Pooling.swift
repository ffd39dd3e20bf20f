/// Max pooling with a square window and no padding; remembers the winner of each window.
public final class MaxPool2d: Layer {
    public let kernel: Int, stride: Int
    private var y: Tensor?
    private var dx: Tensor?
    private var argmax: [Int32] = []
    private var inputShape: [Int] = []

    public init(kernel: Int = 2, stride: Int = 2) { self.kernel = kernel; self.stride = stride }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], ih = x.shape[2], iw = x.shape[3]
        let oh = (ih - kernel) / stride + 1, ow = (iw - kernel) / stride + 1
        let out = Tensor.reuse(y, shape: [x.shape[0], x.shape[1], oh, ow])
        y = out
        if argmax.count < out.count { argmax = [Int32](repeating: 0, count: out.count) }
        let k = kernel, s = stride, src = x.data, dst = out.data
        argmax.withUnsafeMutableBufferPointer { am in
            let am = am.baseAddress!
            parallelRanges(planes, minimumPerTask: 16) { r in
                for pl in r {
                    let xin = src + pl * ih * iw
                    if k == 2 && s == 2 {  // the usual case, without the inner loops
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                let i = 2 * oy * iw + 2 * ox
                                var best = xin[i], bestIndex = i
                                if xin[i + 1] > best { best = xin[i + 1]; bestIndex = i + 1 }
                                if xin[i + iw] > best { best = xin[i + iw]; bestIndex = i + iw }
                                if xin[i + iw + 1] > best { best = xin[i + iw + 1]; bestIndex = i + iw + 1 }
                                let o = pl * oh * ow + oy * ow + ox
                                dst[o] = best
                                am[o] = Int32(bestIndex)
                            }
                        }
                        continue
                    }
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var best = -Float.infinity, bestIndex = 0
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let idx = (oy * s + ky) * iw + ox * s + kx
                                    if xin[idx] > best { best = xin[idx]; bestIndex = idx }
                                }
                            }
                            let o = pl * oh * ow + oy * ow + ox
                            dst[o] = best
                            am[o] = Int32(bestIndex)
                        }
                    }
                }
            }
        }
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let g = Tensor.reuse(dx, shape: inputShape)
        dx = g
        let planes = inputShape[0] * inputShape[1], inPlane = inputShape[2] * inputShape[3]
        let outPlane = dy.count / planes, d = dy.data, gx = g.data
        argmax.withUnsafeBufferPointer { am in
            parallelRanges(planes, minimumPerTask: 16) { r in
                (gx + r.lowerBound * inPlane).update(repeating: 0, count: r.count * inPlane)
                for pl in r {
                    for o in 0..<outPlane { gx[pl * inPlane + Int(am[pl * outPlane + o])] += d[pl * outPlane + o] }
                }
            }
        }
        return g
    }

    public var lastOutputShape: [Int] { y?.shape ?? [] }
}

/// Average pooling with a square window and no padding.
public final class AvgPool2d: Layer {
    public let kernel: Int, stride: Int
    private var y: Tensor?
    private var dx: Tensor?
    private var inputShape: [Int] = []

    public init(kernel: Int = 2, stride: Int = 2) { self.kernel = kernel; self.stride = stride }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], ih = x.shape[2], iw = x.shape[3]
        let oh = (ih - kernel) / stride + 1, ow = (iw - kernel) / stride + 1
        let out = Tensor.reuse(y, shape: [x.shape[0], x.shape[1], oh, ow])
        y = out
        let k = kernel, s = stride, scale = 1 / Float(kernel * kernel)
        for pl in 0..<planes {
            let xin = x.data + pl * ih * iw
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc: Float = 0
                    for ky in 0..<k { for kx in 0..<k { acc += xin[(oy * s + ky) * iw + ox * s + kx] } }
                    out.data[pl * oh * ow + oy * ow + ox] = acc * scale
                }
            }
        }
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let g = Tensor.reuse(dx, shape: inputShape)
        dx = g
        g.zero()
        let planes = inputShape[0] * inputShape[1], ih = inputShape[2], iw = inputShape[3]
        let oh = dy.shape[2], ow = dy.shape[3], k = kernel, s = stride, scale = 1 / Float(kernel * kernel)
        for pl in 0..<planes {
            let gx = g.data + pl * ih * iw
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let v = dy.data[pl * oh * ow + oy * ow + ox] * scale
                    for ky in 0..<k { for kx in 0..<k { gx[(oy * s + ky) * iw + ox * s + kx] += v } }
                }
            }
        }
        return g
    }

    public var lastOutputShape: [Int] { y?.shape ?? [] }
}

/// Mean over each channel's H x W: N x C x H x W -> N x C.
public final class GlobalAvgPool: Layer {
    private var y: Tensor?
    private var dx: Tensor?
    private var inputShape: [Int] = []

    public init() {}

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        let out = Tensor.reuse(y, shape: [x.shape[0], x.shape[1]])
        y = out
        let scale = 1 / Float(hw)
        for pl in 0..<planes {
            var acc: Float = 0
            let p = x.data + pl * hw
            for j in 0..<hw { acc += p[j] }
            out.data[pl] = acc * scale
        }
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let g = Tensor.reuse(dx, shape: inputShape)
        dx = g
        let planes = inputShape[0] * inputShape[1], hw = inputShape[2] * inputShape[3]
        let scale = 1 / Float(hw)
        for pl in 0..<planes { (g.data + pl * hw).update(repeating: dy.data[pl] * scale, count: hw) }
        return g
    }

    public var lastOutputShape: [Int] { y?.shape ?? [] }
}
