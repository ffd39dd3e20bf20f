/// The processes of one job and the collective operations between them, handed to training and
/// evaluation as a value: `SingleProcess` when isp runs alone (every operation is the identity),
/// MPI under `mpirun` (the InstanceSparsityMPI target, which only the isp executable links, so
/// the library needs no MPI). Every process must call the collectives in the same order with the
/// same counts; each returns the same values on every process.
public protocol ProcessGroup: AnyObject {
    /// This process, 0..<size; process 0 prints and writes files.
    var rank: Int { get }
    var size: Int { get }
    /// Replaces the `count` values at `buffer` by their sums over all processes.
    func sumAll(_ buffer: UnsafeMutablePointer<Float>, count: Int)
    func sumAll(_ buffer: UnsafeMutablePointer<Double>, count: Int)
    /// Copies `bytes` bytes at `buffer` on process `root` to `buffer` on every process.
    func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, from root: Int)
}

extension ProcessGroup {
    public var isRoot: Bool { rank == 0 }

    /// This process's contiguous part of 0..<n, the rank-th of `size` nearly equal parts (the
    /// first is never larger than the others).
    public func share(of n: Int) -> Range<Int> { (n * rank / size)..<(n * (rank + 1) / size) }

    public func sumAll(_ values: inout [Double]) {
        values.withUnsafeMutableBufferPointer { if let base = $0.baseAddress { sumAll(base, count: $0.count) } }
    }

    public func sumAll(_ values: inout [Float]) {
        values.withUnsafeMutableBufferPointer { if let base = $0.baseAddress { sumAll(base, count: $0.count) } }
    }

    /// Every process's part of an array, put together on every process: each fills its own
    /// indices and leaves zeros elsewhere, and the sum is the whole. Adding zeros changes no
    /// value, so the gathered values are bit for bit those computed (integers up to 2^53 too).
    public func gather(_ values: inout [Double]) { sumAll(&values) }

    /// The processes whose `values` differ (bit for bit) from process 0's, the same list on every
    /// process: each compares with process 0's, then all learn every answer, so that all stop
    /// together (process 0 alone would go on to write a checkpoint before the others' abort).
    public func ranksDiffering(from values: [UInt64]) -> [Int] {
        guard size > 1, !values.isEmpty else { return [] }
        var root = values
        root.withUnsafeMutableBytes { broadcast($0.baseAddress!, bytes: $0.count, from: 0) }
        var differs = [Double](repeating: 0, count: size)
        differs[rank] = root == values ? 0 : 1
        gather(&differs)
        return differs.indices.filter { differs[$0] != 0 }
    }
}

/// isp running alone: rank 0 of 1, and every collective leaves the values as they are.
public final class SingleProcess: ProcessGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sumAll(_ buffer: UnsafeMutablePointer<Float>, count: Int) {}
    public func sumAll(_ buffer: UnsafeMutablePointer<Double>, count: Int) {}
    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, from root: Int) {}
}
