import CKernels

/// How a layer decides, for one instance, which channels of a feature map to keep (method §3).
///
/// `alpha` means: the multiplier of the mean or max saliency (`mean`, `max`), the share of
/// squared saliency to keep (`energy`), the fixed threshold (`absolute`), or the share of channels
/// kept (`static-topk`, where the kept set comes from calibration and is the same for every input).
public struct ThresholdPolicy: Equatable {
    public enum Kind: String, CaseIterable {
        case mean, max, energy, absolute
        case staticTopK = "static-topk"
    }

    public var kind: Kind
    public var alpha: Float

    public init(_ kind: Kind, alpha: Float) { self.kind = kind; self.alpha = alpha }

    /// Writes the indices of kept channels (ascending) into `kept` and returns how many.
    /// `ranking` is the calibration order (most salient first) used by `static-topk`.
    /// At least one channel is always kept, so a layer never goes silent by rule.
    public func select(saliency s: UnsafePointer<Float>, channels c: Int, ranking: [Int32]?,
                       into kept: UnsafeMutablePointer<Int32>, isa: InstructionSet) -> Int {
        var count = 0
        switch kind {
        case .mean, .max, .absolute, .energy:
            // Every channel at or above a cut, compared as the policy defines it.
            var cut: Float = 0, squared = false
            switch kind {
            case .mean: for i in 0..<c { cut += s[i] }; cut = alpha * cut / Float(c)
            case .max: cut = alpha * isp_max_saliency(s, Int32(c))
            case .energy:
                // The fewest largest channels whose squared saliencies reach alpha of the total.
                cut = withUnsafeTemporaryAllocation(of: Float.self, capacity: c) { isp_energy_cut(s, Int32(c), alpha, $0.baseAddress!) }
                squared = true
            default: cut = alpha
            }
            count = Int(isp_select_channels(isa.kernel, s, Int32(c), cut, squared ? 1 : 0, kept))
            if count == 0 {
                var best = 0
                for i in 1..<c where s[i] > s[best] { best = i }
                kept[0] = Int32(best); count = 1
            }
        case .staticTopK:
            guard let ranking else { preconditionFailure("static-topk needs the calibration's channel ranking (PruningPlan checks)") }
            count = Swift.max(1, Swift.min(c, Int((alpha * Float(c)).rounded())))
            for i in 0..<count { kept[i] = ranking[i] }
            sortAscending(kept, count)
        }
        return count
    }

    private func sortAscending(_ p: UnsafeMutablePointer<Int32>, _ n: Int) {
        var buffer = UnsafeMutableBufferPointer(start: p, count: n)
        buffer.sort()
    }
}
