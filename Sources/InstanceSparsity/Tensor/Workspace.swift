import CKernels
import Dispatch
import Synchronization

/// Per-core scratch memory shared by all layers (they run one after another), and the rule for
/// splitting a batch across cores.
public final class Workspace {
    public static let cores = Int(isp_usable_cores())  // honours taskset, unlike activeProcessorCount
    static let perCore = (0..<cores).map { Workspace(index: $0) }
    /// Which core's scratch this is (0..<cores).
    let index: Int

    private init(index: Int) { self.index = index }

    private var columnBuffer = Tensor(shape: [0])
    private var productBuffer = Tensor(shape: [0])
    private var gradientBuffer = Tensor(shape: [0])

    /// im2col matrix.
    func columns(_ count: Int) -> UnsafeMutablePointer<Float> { columnBuffer.resize([count]); return columnBuffer.data }
    /// GEMM result before scattering to NCHW.
    func product(_ count: Int) -> UnsafeMutablePointer<Float> { productBuffer.resize([count]); return productBuffer.data }
    /// A zeroed private weight gradient (the GEMM path uses it for shares other than the first).
    func weightGradient(_ count: Int) -> UnsafeMutablePointer<Float> {
        gradientBuffer.resize([count]); gradientBuffer.zero(); return gradientBuffer.data
    }
    /// What the last `weightGradient` buffer holds now.
    var weightGradientSums: UnsafePointer<Float> { UnsafePointer(gradientBuffer.data) }

    /// Runs `body` once per core with a contiguous share of 0..<n and that core's scratch space.
    static func forEachShare(of n: Int, _ body: (Range<Int>, Workspace) -> Void) {
        let shares = min(n, cores)
        if shares <= 1 { body(0..<n, perCore[0]); return }
        DispatchQueue.concurrentPerform(iterations: shares) { t in
            body((n * t / shares)..<(n * (t + 1) / shares), perCore[t])
        }
    }

    /// Runs `body` over 0..<n in pieces of `grain` (the last may be shorter), each core claiming
    /// the next piece when it is free, with that core's scratch space. For pieces whose results do
    /// not depend on which core computes them: a core the machine takes away for a while then
    /// leaves its work to the others instead of holding up the whole layer.
    static func forEachPiece(of n: Int, grain: Int, _ body: (Range<Int>, Workspace) -> Void) {
        let pieces = (n + grain - 1) / grain, workers = min(pieces, cores)
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { t in
            while true {
                let piece = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard piece < pieces else { return }
                body((piece * grain)..<min(n, (piece + 1) * grain), perCore[t])
            }
        }
    }

    /// Adds the private weight gradients of shares 1..<shares into `target`.
    static func sumWeightGradients(into target: UnsafeMutablePointer<Float>, count: Int, shares: Int) {
        guard shares > 1 else { return }
        parallelRanges(count, minimumPerTask: 1 << 15) { r in
            for t in 1..<shares {
                let g = perCore[t].gradientBuffer.data
                for i in r { target[i] += g[i] }
            }
        }
    }
}
