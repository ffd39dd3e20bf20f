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
    /// A run whose tables or JSON could not all be written to stdout (a full disk, a quota) did not
    /// succeed: it ends with status 1 and says so, instead of 0 and a short file.
    func exit(_ status: Int32) -> Never {
        var status = status
        if let problem = standardOutputProblem() {
            errors.write("isp: standard output: cannot write: \(problem)\n".data(using: .utf8)!)
            if status == 0 { status = 1 }
        }
        if let mpi { mpi.finish(status: status) }
        Foundation.exit(status)
    }

    /// Why stdout lost output, if it did: the error of flushing what is left, or of an earlier write
    /// (stdio keeps only that one failed; the reason of that one is gone by now).
    private func standardOutputProblem() -> String? {
        errno = 0
        if fflush(stdout) != 0 { return String(cString: strerror(errno)) }
        return ferror(stdout) != 0 ? "a write to it failed" : nil
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
