import COpenBLAS
import CKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// C = alpha * op(A) * op(B) + beta * C, row-major, through OpenBLAS.
@inline(__always)
public func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Runs `body(i)` for i in 0..<n on all cores. Work items should be coarse (whole channels or
/// images): dispatch costs a few microseconds.
@inline(__always)
public func parallelFor(_ n: Int, _ body: (Int) -> Void) {
    if n <= 1 { if n == 1 { body(0) }; return }
    DispatchQueue.concurrentPerform(iterations: n, execute: body)
}

/// Splits 0..<n into one contiguous range per core and runs them in parallel.
@inline(__always)
public func parallelRanges(_ n: Int, minimumPerTask: Int = 1, _ body: (Range<Int>) -> Void) {
    let tasks = max(1, min(BLASRuntime.threads, n / max(minimumPerTask, 1)))
    if tasks == 1 { body(0..<n); return }
    DispatchQueue.concurrentPerform(iterations: tasks) { t in
        body((n * t / tasks)..<(n * (t + 1) / tasks))
    }
}

/// Splits 0..<n into contiguous ranges and runs them on the inference pool, whose workers spin
/// between jobs (`isp_parallel`): for the many short jobs of batch-1 inference, where waking a
/// Dispatch worker per job costs as much as the split saves. `tasksPerThread` ranges per thread,
/// so that when another program takes a core, the threads still running claim most of the work
/// instead of waiting for a half that is stuck behind the scheduler.
public func inferenceRanges(_ n: Int, tasksPerThread: Int = 2, _ body: (Range<Int>) -> Void) {
    let tasks = max(1, min(Int(isp_parallel_threads()) * tasksPerThread, n))
    if tasks == 1 { body(0..<n); return }
    withoutActuallyEscaping(body) { body in
        var call = { (t: Int) in body((n * t / tasks)..<(n * (t + 1) / tasks)) }
        withUnsafeMutablePointer(to: &call) { context in
            isp_parallel(Int32(tasks), { context, t in
                context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(t))
            }, context)
        }
    }
}

/// Which OpenBLAS kernels run, and how the program makes sure they are the fast ones.
///
/// Debian's OpenBLAS picks its Haswell kernels even on AVX-512 CPUs; `OPENBLAS_CORETYPE` fixes that
/// but is read when the library loads, before `main`. So `ensureFastKernels` re-executes the program
/// once with the variable set, and only when the CPU really has AVX-512 (the SkylakeX kernels would
/// die with SIGILL elsewhere).
///
/// `ISP_ISA=avx2` runs everything as on an AVX2-only machine: OpenBLAS's Haswell kernels and the
/// engine's AVX2 kernels (how figures for both kinds of machine come from one AVX-512 machine).
public enum BLASRuntime {
    public static var threads: Int { Workspace.cores }
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's AVX-512 kernel families (it already picks Cooperlake on some AVX-512 CPUs).
    static var coreUsesAVX512: Bool { ["SkylakeX", "Cooperlake", "SapphireRapids"].contains(coreName) }

    public static var cpuHasAVX512: Bool {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return false }
        return flags.split(separator: " ").contains("avx512f")
    }

    /// The instruction set `ISP_ISA` asks for: nil when unset (the best the CPU has).
    public static func requestedISA() throws -> String? {
        guard let raw = getenv("ISP_ISA") else { return nil }
        let isa = String(cString: raw)
        guard ["avx2", "avx512"].contains(isa) else { throw InputError("ISP_ISA", "'\(isa)' is not an instruction set; use avx2 or avx512") }
        guard isa == "avx2" || cpuHasAVX512 else { throw InputError("ISP_ISA", "avx512 asked for, but this CPU has no AVX-512") }
        return isa
    }

    /// Call first thing in `main`. Returns only if no re-exec was needed or it failed; throws when
    /// `ISP_ISA` is malformed. Also makes BLAS single-threaded: the engine splits work across
    /// cores itself (`Workspace`).
    public static func ensureFastKernels() throws {
        openblas_set_num_threads(1)
        let isa = try requestedISA()
        if isa == "avx2" { ConvolutionKernel.allowAVX512(false) }
        guard getenv("OPENBLAS_CORETYPE") == nil else { return }  // the user's choice stands
        let kernels: String
        if isa == "avx2" {
            // Haswell's, as an AVX2 machine would run, not whatever else OpenBLAS detected: on an
            // Intel Xeon of family 6 model 207 (Emerald Rapids) that is Prescott's SSE3 kernels.
            guard coreName != "Haswell" else { return }
            kernels = "Haswell"
        } else {
            guard cpuHasAVX512, !coreUsesAVX512 else { return }
            kernels = "SkylakeX"
        }
        setenv("OPENBLAS_CORETYPE", kernels, 1)
        let args = CommandLine.unsafeArgv
        execv("/proc/self/exe", args)
        // execv only returns on failure; keep running with the default kernels.
    }

    public static var summary: String {
        let reason: String
        if let forced = getenv("OPENBLAS_CORETYPE") {
            reason = "OPENBLAS_CORETYPE=\(String(cString: forced))" + (getenv("ISP_ISA").map { ", ISP_ISA=\(String(cString: $0))" } ?? "")
        } else {
            reason = cpuHasAVX512 ? "auto-detected" : "auto-detected; CPU has no AVX-512, so SkylakeX kernels are not used"
        }
        return "OpenBLAS kernel \(coreName) (\(reason)) for training, single-threaded on each of \(Workspace.cores) cores; "
            + "batch-1 convolution kernel \(ConvolutionKernel.isa) on \(isp_parallel_threads()) threads"
    }
}

import Foundation
