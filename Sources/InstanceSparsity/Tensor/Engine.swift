import CKernels
import Dispatch
import Synchronization

/// One thread's scratch memory, shared by all layers (they run one after another).
public final class Workspace {
    /// Which of the pool's workspaces this is (0..<threads): per-thread state kept elsewhere, such as a
    /// layer's own staging, is indexed by it.
    public let index: Int

    init(index: Int) { self.index = index }

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
}

/// The instruction set the engine's kernels run.
public enum InstructionSet: String, CaseIterable {
    case avx2, avx512

    /// The best this CPU runs.
    public static var best: InstructionSet { isp_cpu_isa() == ISP_AVX512 ? .avx512 : .avx2 }
    /// Every one this CPU runs (tests check each).
    public static var supported: [InstructionSet] { best == .avx512 ? [.avx2, .avx512] : [.avx2] }

    /// As the C kernels take it.
    var kernel: isp_isa { self == .avx512 ? ISP_AVX512 : ISP_AVX2 }
}

/// How the engine runs: the instruction set of its kernels and the threads that split its work,
/// with one `Workspace` each. One value, made once and passed down: a `Network` hands its engine
/// to its layers, a `SparseExecutor` runs on its network's. `isp` makes its engine in `main`
/// (`ISP_ISA` picks the instruction set); a library user who does not care gets `Engine.default`,
/// the best instruction set on every usable core.
///
/// The threads are the caller and the persistent workers of `isp_parallel`, one pool for the
/// process, for training and inference alike. Between batch-1 inference's splits they spin
/// (`keepWarm`): it hands out a dozen jobs of 50-200 microseconds per image, and waking a sleeping
/// thread for each would cost more than the split saves; after other splits they sleep, so that
/// they do not take the cores from others through training's serial parts. Engines share them;
/// each has its own workspaces, which training passes use, so one engine trains one network at a
/// time. (Data loading, which runs no kernel and uses no workspace, splits on `Engine.default`.)
///
/// Two ways to split 0..<n, and every parallel loop of the engine is one of them:
/// - `forEachShare`: contiguous shares, share t always the same range with workspace t, so a
///   result summed share by share does not depend on timing (weight gradients);
/// - `forEachPiece`: pieces claimed by whichever thread is free, for work whose result does not
///   depend on which thread computes it: a core the machine takes away for a while then leaves
///   its pieces to the others instead of holding up the whole step.
///
/// Not re-entrant: a split started inside another (from a task, or from another thread while the
/// pool is busy) runs on the calling thread alone, with the same shares and workspaces.
public final class Engine {
    /// Threads that run a split, the caller included: those this process may use (its affinity
    /// mask, which `taskset` and mpirun narrow).
    public let threads: Int
    public let isa: InstructionSet
    /// Floats the CPU's FMA units take per instruction with `isa`: 8 with AVX2, 16 with AVX-512
    /// except on AMD Zen 4, which runs 512-bit instructions as two 256-bit halves (8). Where the
    /// 3x3 convolutions start on Winograd's transforms depends on it
    /// (`ConvolutionPlan.narrowestWinogradOutput`).
    public let datapathFloats: Int
    /// One per thread: a task uses the workspace of its share or of its slot, never another's.
    let workspaces: [Workspace]
    /// False: every task of a split runs on the calling thread, one after another (`onOneCore`).
    public let usesPool: Bool
    /// Where the pool adds what each split's threads did (`timingSplits`; nil: nowhere).
    let splitTimes: UnsafeMutablePointer<isp_split_times>?

    /// For library users who do not choose: the best instruction set, every usable core.
    public static let `default` = Engine()

    /// An engine whose kernels run `isa` (one the CPU has) on every core this process may use.
    public convenience init(isa: InstructionSet = .best) {
        precondition(isa == .avx2 || InstructionSet.best == .avx512, "this CPU has no AVX-512")
        let threads = Int(isp_parallel_threads())
        self.init(isa: isa, datapathFloats: Int(isp_cpu_datapath_floats(isa.kernel)), threads: threads,
                  workspaces: (0..<threads).map { Workspace(index: $0) }, usesPool: true, splitTimes: nil)
    }

    private init(isa: InstructionSet, datapathFloats: Int, threads: Int, workspaces: [Workspace], usesPool: Bool,
                 splitTimes: UnsafeMutablePointer<isp_split_times>?) {
        self.isa = isa; self.datapathFloats = datapathFloats; self.threads = threads; self.workspaces = workspaces
        self.usesPool = usesPool; self.splitTimes = splitTimes
    }

    /// This engine with the pool left out: the same shares, pieces and workspaces, every task run
    /// on the calling thread in order. Its results are bit for bit this engine's (each share sums
    /// what it sums here, and pieces do not depend on who runs them); only the cores differ. For
    /// batch-1 inference when exchanging data between the cores costs more than splitting saves
    /// (`SplitChoice`). Not for use beside this engine's own splits: it shares their workspaces.
    public var onOneCore: Engine {
        Engine(isa: isa, datapathFloats: datapathFloats, threads: threads, workspaces: workspaces, usesPool: false, splitTimes: nil)
    }

    /// This engine with each split on the pool adding what its threads did to `times` (profiles:
    /// the same splits and results, two clock reads a thread more per split). Not for use beside
    /// this engine's own splits: it shares their workspaces.
    func timingSplits(into times: UnsafeMutablePointer<isp_split_times>) -> Engine {
        Engine(isa: isa, datapathFloats: datapathFloats, threads: threads, workspaces: workspaces, usesPool: usesPool, splitTimes: times)
    }

    /// Multiply-adds per second that all threads reach together with this ISA when nothing limits
    /// them but the FMA units: the ceiling a profile compares each step with. Measured (about 20 ms),
    /// since the clock under AVX-512 differs by CPU: 88 G per core AVX-512 and 47 G AVX2 on an
    /// Intel Xeon (Emerald Rapids) 2-vCPU VM, 2026-11-30; 144 G per core AVX-512 on an AMD EPYC
    /// Zen 5 2-vCPU VM, 2026-12-01.
    public func measureMultiplyAddPeak() -> Double {
        let rounds: Int64 = 200_000
        var best = 0.0
        for _ in 0..<3 {  // the best of three: a preempted thread only lowers a round
            let done = Atomic<Int>(0), start = DispatchTime.now().uptimeNanoseconds
            forEachShare(of: threads) { _, _ in
                var sink: Float = 0
                done.wrappingAdd(Int(isp_fma_peak_run(isa.kernel, rounds, &sink)), ordering: .relaxed)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, Double(done.load(ordering: .relaxed)) / seconds)
        }
        return best
    }

    /// Runs `body(share, workspace)` on contiguous shares of 0..<n, one per thread but each of at
    /// least `minimumPerShare` (at least one share): share t is n * t / shares..<n * (t + 1) / shares
    /// with `workspaces[t]`, whatever the timing. The caller runs share 0 and, unless a worker is
    /// late, worker t - 1 share t, so a split by the same shares step after step keeps each share's
    /// data on one core.
    public func forEachShare(of n: Int, minimumPerShare: Int = 1, keepWarm: Bool = false, _ body: (Range<Int>, Workspace) -> Void) {
        let shares = max(1, min(threads, n / max(minimumPerShare, 1)))
        run(tasks: shares, keepWarm: keepWarm) { t in body((n * t / shares)..<(n * (t + 1) / shares), workspaces[t]) }
    }

    /// Runs `body(piece, workspace)` on 0..<n cut into `pieces` contiguous pieces of near-equal size
    /// (at most n), each claimed by the next free thread, which passes its own workspace. By default
    /// two pieces per thread: when another program takes a core, the threads still running claim
    /// most of the work instead of waiting for a half that is stuck behind the scheduler.
    /// `keepWarm`: the caller splits again within microseconds (batch-1 inference), so the threads
    /// spin for it instead of sleeping.
    public func forEachPiece(of n: Int, pieces: Int? = nil, keepWarm: Bool = false, _ body: (Range<Int>, Workspace) -> Void) {
        let pieces = min(pieces ?? 2 * threads, n)
        if pieces <= 1 { if n > 0 { body(0..<n, workspaces[0]) }; return }
        let next = Atomic<Int>(0)
        run(tasks: min(threads, pieces), keepWarm: keepWarm) { t in
            while true {
                let piece = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard piece < pieces else { return }
                body((n * piece / pieces)..<(n * (piece + 1) / pieces), workspaces[t])
            }
        }
    }

    /// Runs `task(t)` for t in 0..<tasks on the pool (the caller takes part).
    private func run(tasks: Int, keepWarm: Bool, _ task: (Int) -> Void) {
        if tasks == 1 || !usesPool { for t in 0..<tasks { task(t) }; return }
        withoutActuallyEscaping(task) { task in
            var call = task
            withUnsafeMutablePointer(to: &call) { context in
                isp_parallel(Int32(tasks), { context, t in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(t))
                }, context, keepWarm ? 1 : 0, splitTimes)
            }
        }
    }

    /// Adds the private weight gradients (`Workspace.weightGradient`) of shares 1..<shares into
    /// `target`, in share order.
    func sumWeightGradients(into target: UnsafeMutablePointer<Float>, count: Int, shares: Int) {
        guard shares > 1 else { return }
        forEachShare(of: count, minimumPerShare: 1 << 15) { r, _ in
            for t in 1..<shares {
                let g = workspaces[t].weightGradientSums
                for i in r { target[i] += g[i] }
            }
        }
    }
}
