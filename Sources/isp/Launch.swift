import Foundation
import InstanceSparsity
import InstanceSparsityMPI

/// How isp was started: on its own, or as one of the processes of `mpirun -np N isp ...`.
/// Decided once, first thing in main (before anything counts cores), and handed to the command.
struct Launch {
    let processes: ProcessGroup
    private let mpi: MPIProcessGroup?
    /// Where this process reports its own failure: its stderr, even where the rest is silenced.
    private let errors: FileHandle

    /// MPI is initialised only when mpirun started this process (OMPI_COMM_WORLD_SIZE is set).
    /// Then process 0 alone prints: the others' stdout and stderr go to /dev/null (each keeps a
    /// copy of its stderr for its failure), so tables, JSON and progress appear once.
    init() {
        guard MPIProcessGroup.launchedByMPIRun else {
            processes = SingleProcess(); mpi = nil; errors = FileHandle.standardError
            return
        }
        let group = MPIProcessGroup()
        processes = group; mpi = group
        errors = FileHandle(fileDescriptor: dup(STDERR_FILENO), closeOnDealloc: true)
        if group.rank > 0 {
            let null = open("/dev/null", O_WRONLY)
            dup2(null, STDOUT_FILENO); dup2(null, STDERR_FILENO); close(null)
        }
        note("isp: process 0 of \(group.size) (mpirun), threads on cores \(group.cores)")
    }

    /// Ends this process; under MPI after the others have finished too. Usage errors end so:
    /// every process meets them (all read the same command line), and process 0 says it once.
    func exit(_ status: Int32) -> Never {
        if let mpi { mpi.finish(status: status) }
        Foundation.exit(status)
    }

    /// A failed run. Under MPI the failing process names itself and ends the whole job (MPI_Abort):
    /// the others may be waiting for it in a collective. Checkpoints are written atomically, so the
    /// last good one stays intact.
    func fail(command: String, _ message: String, status: Int32) -> Never {
        guard let mpi else {
            errors.write("isp \(command): \(message)\n".data(using: .utf8)!)
            Foundation.exit(status)
        }
        errors.write("isp \(command): rank \(mpi.rank): \(message)\n".data(using: .utf8)!)
        mpi.abort(status: status)
    }
}
