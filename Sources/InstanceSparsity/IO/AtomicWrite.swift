#if canImport(Glibc)
import Glibc
#endif

/// Writes `path` so that a crash or kill at any moment leaves either the old file or the complete
/// new one, never a torn mix: `body` writes `path + ".tmp"` (same directory, so the rename cannot
/// cross file systems), which is then flushed to disk and renamed over `path`.
func writeAtomically(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
    let temporary = path + ".tmp"
    do {
        try body(temporary)
        let fd = open(temporary, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw InputError(path, "cannot write: \(systemErrorText())") }
        // Without fsync the rename can reach the disk before the data does.
        if fsync(fd) != 0 {
            let text = systemErrorText()
            close(fd)
            throw InputError(path, "cannot write: \(text)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw InputError(path, "cannot write: \(systemErrorText())") }
    } catch {
        unlink(temporary)
        throw error
    }
    // Make the rename itself durable; best effort, as some file systems refuse to fsync directories.
    let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
    let dirfd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dirfd >= 0 { _ = fsync(dirfd); close(dirfd) }
}

/// A file being written with plain POSIX calls; errors are reported against the final path,
/// which is the one the user knows about.
final class OutputFile {
    private var fd: Int32
    private let reportedPath: String

    init(_ path: String, reportAs reportedPath: String) throws {
        self.reportedPath = reportedPath
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw InputError(reportedPath, "cannot write: \(systemErrorText())") }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    func write(_ bytes: UnsafeRawPointer, count: Int) throws {
        var done = 0
        while done < count {
            let n = Glibc.write(fd, bytes + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw InputError(reportedPath, "cannot write: \(systemErrorText())")
            }
            done += n
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { if let base = $0.baseAddress { try write(base, count: $0.count) } }
    }

    /// close can report deferred write errors (NFS, quota), so it is checked too.
    func close() throws {
        let result = Glibc.close(fd)
        fd = -1
        guard result == 0 else { throw InputError(reportedPath, "cannot write: \(systemErrorText())") }
    }
}

public func writeTextAtomically(_ text: String, to path: String) throws {
    try writeAtomically(to: path) { temporary in
        let file = try OutputFile(temporary, reportAs: path)
        try file.write(Array(text.utf8))
        try file.close()
    }
}
