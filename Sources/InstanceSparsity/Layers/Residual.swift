/// out = activation(branch(x) + shortcut(x)), the residual add of ResNet's basic block and
/// MobileNetV2's inverted residual. A nil shortcut is the identity; a nil activation is linear.
///
/// `branchName` nil puts the branch's children directly under this block (ResNet: `conv1`, `bn1`,
/// ...); a name nests them (MobileNetV2: `conv.0.0`, ...). The shortcut is named `downsample`.
public final class Residual: Layer, RunsOnEngine {
    public var engine = Engine.default
    public let branch: Sequential
    public let branchName: String?
    public let shortcut: Sequential?
    public let activation: ReLU?
    private var sum: Tensor?
    private var dx: Tensor?

    public init(branch: Sequential, branchName: String? = nil, shortcut: Sequential? = nil, activation: ReLU? = nil) {
        self.branch = branch; self.branchName = branchName
        self.shortcut = shortcut; self.activation = activation
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let main = branch.forward(x, training: training)
        let side = shortcut?.forward(x, training: training) ?? x
        precondition(main.shape == side.shape, "residual shapes differ: \(main.shape) vs \(side.shape)")
        let s = Tensor.reuse(sum, shape: main.shape)
        sum = s
        let a = main.data, b = side.data, o = s.data
        engine.forEachShare(of: s.count, minimumPerShare: 1 << 15) { r, _ in for i in r { o[i] = a[i] + b[i] } }
        return activation?.forward(s, training: training) ?? s
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let ds = activation?.backward(dy) ?? dy
        let dMain = branch.backward(ds)
        let dSide = shortcut?.backward(ds) ?? ds
        let g = Tensor.reuse(dx, shape: dMain.shape)
        dx = g
        let a = dMain.data, b = dSide.data, o = g.data
        engine.forEachShare(of: g.count, minimumPerShare: 1 << 15) { r, _ in for i in r { o[i] = a[i] + b[i] } }
        return g
    }

    public var children: [(name: String, layer: Layer)] {
        var result: [(name: String, layer: Layer)] = branchName.map { [($0, branch as Layer)] } ?? branch.children
        if let s = shortcut { result.append(("downsample", s)) }
        return result
    }

    public var lastOutputShape: [Int] { sum?.shape ?? [] }
}
