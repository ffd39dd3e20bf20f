/// Network Slimming's sparsity term (Liu et al., ICCV 2017): strength * sum |gamma| over the
/// scales of the batch norms that make the slimmable maps, added to the training loss so that
/// unimportant channels get small scales and `ChannelSlimming.largestScales` can remove them.
/// Its subgradient is strength * sign(gamma), taken as 0 at gamma = 0 (as torch.sign does).
public struct ScaleSparsity {
    public let strength: Float
    private let scales: [Parameter]

    public init(_ network: Network, strength: Float) {
        self.strength = strength
        scales = network.slimmableMaps.map { (network.layer(at: $0.layout!.norm) as! BatchNorm2d).weight }
    }

    /// strength * sum |gamma|: the term's share of the loss.
    public var penalty: Float {
        guard strength > 0 else { return 0 }
        let sum = scales.reduce(0.0) { total, gamma in (0..<gamma.value.count).reduce(total) { $0 + Double(abs(gamma.value[$1])) } }
        return strength * Float(sum)
    }

    /// Adds the term's subgradient to the scales' gradients (after the backward pass).
    public func accumulateGradient() {
        guard strength > 0 else { return }
        for gamma in scales {
            let v = gamma.value.data, g = gamma.grad.data
            for c in 0..<gamma.value.count where v[c] != 0 { g[c] += v[c] > 0 ? strength : -strength }
        }
    }
}
