import COpenBLAS
import CKernels
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

/// Which OpenBLAS kernels run, and how the program makes sure they are the fast ones.
///
/// Debian's OpenBLAS picks its Haswell kernels even on AVX-512 CPUs; `OPENBLAS_CORETYPE` fixes that
/// but is read when the library loads, before `main`. So `ensureFastKernels` re-executes the program
/// once with the variable set, and only when the CPU really has AVX-512 (the SkylakeX kernels would
/// die with SIGILL elsewhere).
///
/// `ISP_ISA=avx2` runs everything as on an AVX2-only machine: OpenBLAS's Haswell kernels and the
/// engine's AVX2 kernels (how figures for both kinds of machine come from one AVX-512 machine);
/// `ensureFastKernels` returns the instruction set for the program's `Engine`.
public enum BLASRuntime {
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
    public static func requestedISA() throws -> InstructionSet? {
        guard let raw = getenv("ISP_ISA") else { return nil }
        let name = String(cString: raw)
        guard let isa = InstructionSet(rawValue: name) else {
            throw InputError("ISP_ISA", "'\(name)' is not an instruction set; use avx2 or avx512")
        }
        guard isa == .avx2 || InstructionSet.best == .avx512 else { throw InputError("ISP_ISA", "avx512 asked for, but this CPU has no AVX-512") }
        return isa
    }

    /// Call first thing in `main`. Returns only if no re-exec was needed or it failed, with the
    /// instruction set the program's engine runs (`ISP_ISA`'s, else the best the CPU has); throws
    /// when `ISP_ISA` is malformed. Also makes BLAS single-threaded: the engine splits work across
    /// cores itself (`Engine`).
    @discardableResult
    public static func ensureFastKernels() throws -> InstructionSet {
        openblas_set_num_threads(1)
        let isa = try requestedISA()
        guard getenv("OPENBLAS_CORETYPE") == nil else { return isa ?? .best }  // the user's choice stands
        let kernels: String
        if isa == .avx2 {
            // Haswell's, as an AVX2 machine would run, not whatever else OpenBLAS detected: on an
            // Intel Xeon of family 6 model 207 (Emerald Rapids) that is Prescott's SSE3 kernels.
            guard coreName != "Haswell" else { return .avx2 }
            kernels = "Haswell"
        } else {
            guard cpuHasAVX512, !coreUsesAVX512 else { return isa ?? .best }
            kernels = "SkylakeX"
        }
        setenv("OPENBLAS_CORETYPE", kernels, 1)
        let args = CommandLine.unsafeArgv
        execv("/proc/self/exe", args)
        // execv only returns on failure; keep running with the default kernels.
        return isa ?? .best
    }

    /// OpenBLAS's kernels and how they were chosen, and what `engine` runs.
    public static func summary(engine: Engine) -> String {
        let reason: String
        if let forced = getenv("OPENBLAS_CORETYPE") {
            reason = "OPENBLAS_CORETYPE=\(String(cString: forced))" + (getenv("ISP_ISA").map { ", ISP_ISA=\(String(cString: $0))" } ?? "")
        } else {
            reason = cpuHasAVX512 ? "auto-detected" : "auto-detected; CPU has no AVX-512, so SkylakeX kernels are not used"
        }
        return "OpenBLAS kernel \(coreName) (\(reason)) for training, single-threaded on each of \(engine.threads) cores; "
            + "batch-1 convolution kernel \(engine.isa.rawValue) (\(engine.datapathFloats * 32)-bit datapath) on \(engine.threads) threads"
    }
}

import Foundation
