import CMPIShim
import Foundation
import InstanceSparsity

/// The processes `mpirun` started, as a `ProcessGroup` over MPI_COMM_WORLD (Open MPI).
public final class MPIProcessGroup: ProcessGroup {
    public let rank: Int
    public let size: Int
    /// The cores this process runs its threads on, e.g. "1" or "0-3" (see `init`).
    public let cores: String

    /// Whether Open MPI's launcher started this process: it sets OMPI_COMM_WORLD_SIZE. Only then
    /// does isp initialise MPI; started on its own it never touches MPI.
    public static var launchedByMPIRun: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

    /// Initialises MPI and gives this process its share of its node's cores: the processes on
    /// the node that were given the same cores split them (`isp_mpi_take_local_cores`), so N
    /// processes on a node run cores / N threads each. Call before anything counts cores
    /// (`Engine.threads` reads the affinity mask this narrows) or starts threads.
    public init() {
        isp_mpi_init()
        rank = Int(isp_mpi_rank())
        size = Int(isp_mpi_size())
        _ = isp_mpi_take_local_cores()
        var text = [CChar](repeating: 0, count: 256)
        isp_mpi_allowed_cores(&text, Int32(text.count))
        cores = String(cString: text)
    }

    public func sumAll(_ buffer: UnsafeMutablePointer<Float>, count: Int) { isp_mpi_allreduce_float(buffer, Int64(count)) }
    public func sumAll(_ buffer: UnsafeMutablePointer<Double>, count: Int) { isp_mpi_allreduce_double(buffer, Int64(count)) }
    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, from root: Int) {
        isp_mpi_broadcast(buffer, Int64(bytes), Int32(root))
    }

    /// Ends this process after the others have finished too.
    public func finish(status: Int32) -> Never {
        isp_mpi_finalize()
        exit(status)
    }

    /// Ends every process of the job now (MPI_Abort), with `status` as mpirun's exit status.
    public func abort(status: Int32) -> Never {
        isp_mpi_abort(status)
        exit(status)
    }
}
