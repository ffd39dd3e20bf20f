import CKernels

/// A feature map that feeds a convolution: where feature decay regularises during training and
/// where instance-wise pruning drops channels at inference.
///
/// In the forward pass it is the identity (or multiplies by a 0/1 channel mask for masked-dense
/// execution) and records each instance's channel saliency s_c = ||F_c||_2 / sqrt(HW) (in
/// training only with feature decay, the one use there). With a
/// feature-decay coefficient lambda it adds lambda * sum_c s_c per instance to the loss (averaged
/// over the batch) and the matching gradient F_c / (sqrt(HW) ||F_c||) to the backward pass.
public final class ChannelGate: Layer, RunsOnEngine {
    public var engine = Engine.default
    /// The convolution this map feeds, e.g. "features.3" (the first one where it feeds several,
    /// e.g. "layer2.0.conv1" for the map that also feeds "layer2.0.downsample.0"); names the layer in reports.
    public let label: String
    /// Where the map's channels live when they can be removed for good (`isp slim`); nil for a
    /// map tied to others (ResNet-18's block outputs).
    public let layout: MapLayout?
    public var featureDecay: Float = 0
    /// N x C of 0 or 1; nil means keep everything.
    public var mask: Tensor?
    public private(set) var saliency = Tensor(shape: [0, 0])
    private var input: Tensor?
    private var y: Tensor?
    private var dx: Tensor?

    public init(label: String, layout: MapLayout? = nil) { self.label = label; self.layout = layout }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.shape[0], c = x.shape[1], hw = x.count / (n * c)
        var out = x
        if let m = mask {
            precondition(m.shape == [n, c], "mask shape \(m.shape) does not match \(x.shape)")
            out = Tensor.reuse(y, shape: x.shape)
            y = out
            for plane in 0..<(n * c) {
                let src = x.data + plane * hw, dst = out.data + plane * hw, keep = m.data[plane]
                for j in 0..<hw { dst[j] = src[j] * keep }
            }
        }
        input = out
        // Training without feature decay has no use for it (it is one more pass over the map).
        guard !training || featureDecay > 0 else { return out }
        saliency.resize([n, c])
        let s = saliency.data, src = UnsafePointer(out.data), isa = engine.isa
        let height = x.shape.count == 4 ? x.shape[2] : 1, width = hw / height
        engine.forEachShare(of: n * c, minimumPerShare: 64) { r, _ in
            ChannelGate.measure(src, planes: r, height: height, width: width, into: s, isa: isa)
        }
        return out
    }

    /// s[p] = ||plane p||_2 / sqrt(height x width) for the planes in `planes` of x: the saliency of
    /// the method, one computation for training and for the sparse executor, so both round alike and
    /// decide alike right at a threshold (and alike on either instruction set: `isp_plane_norms`).
    static func measure(_ x: UnsafePointer<Float>, planes: Range<Int>, height: Int, width: Int, into s: UnsafeMutablePointer<Float>,
                        isa: InstructionSet) {
        let hw = height * width
        isp_plane_norms(isa.kernel, x + planes.lowerBound * hw, Int32(planes.count), Int32(height), Int32(width),
                        1 / Float(hw).squareRoot(), s + planes.lowerBound)
    }

    /// The same saliency, bit for bit, of `channels` planes of height x width from their rows' sums
    /// of squares (height x channels), measured apart, a block of rows whole where `wholeBlocks`
    /// says so (`isp_block_square_sums`), its rows one by one elsewhere (`isp_row_square_sums`):
    /// for maps the cores wrote by rows, each measuring its own.
    static func measure(rowSums sums: UnsafePointer<Float>, wholeBlocks: UnsafePointer<Float>, channels c: Int, height: Int, width: Int,
                        into s: UnsafeMutablePointer<Float>) {
        isp_norms_from_row_sums(sums, wholeBlocks, Int32(c), Int32(height), 1 / Float(height * width).squareRoot(), s)
    }

    /// lambda / N * sum over instances and channels of s: this gate's share of the batch loss.
    public var penalty: Float {
        guard featureDecay > 0, saliency.shape[0] > 0 else { return 0 }
        var total: Float = 0
        for i in 0..<saliency.count { total += saliency[i] }
        return featureDecay * total / Float(saliency.shape[0])
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard featureDecay > 0 || mask != nil else { return dy }
        let f = input!
        let n = f.shape[0], c = f.shape[1], hw = f.count / (n * c)
        let g = Tensor.reuse(dx, shape: dy.shape)
        dx = g
        let coefficient = featureDecay / Float(n) / Float(hw).squareRoot()
        let s = saliency.data, m = mask?.data, fp = f.data, d = dy.data, gp = g.data
        engine.forEachShare(of: n * c, minimumPerShare: 64) { r, _ in
            for plane in r {
                let keep = m?[plane] ?? 1
                // ||F_c|| = s_c * sqrt(HW); an all-zero channel gets the zero subgradient. Without
                // feature decay (only a mask) the saliency was not measured and is not needed.
                let norm = coefficient > 0 ? s[plane] * Float(hw).squareRoot() : 0
                let k = norm > 0 ? coefficient / norm : 0
                for j in 0..<hw {
                    let idx = plane * hw + j
                    gp[idx] = keep * d[idx] + k * fp[idx]
                }
            }
        }
        return g
    }

    public var lastOutputShape: [Int] { input?.shape ?? [] }
}
