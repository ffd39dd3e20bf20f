#if canImport(Glibc)
import Glibc
#endif

/// Writes `path` so that a crash or kill at any moment leaves either the old file or the complete
/// new one, never a torn mix: `body` writes `path + ".tmp"` (same directory, so the rename cannot
/// cross file systems), which is then flushed to disk and renamed over `path`.
func writeAtomically(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
    let temporary = path + ".tmp"
    try refuseSpecialFile(path)
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

/// rename() replaces whatever is at `path`: as root, `--out /dev/null` would turn the device into
/// a regular file. Only a regular file (or nothing) may be replaced.
private func refuseSpecialFile(_ path: String) throws {
    var st = stat()
    guard stat(path, &st) == 0 else { return }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
        let kind = (st.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
        throw InputError(path, "cannot write: is \(kind), and only a regular file is ever replaced")
    }
}

/// Checks, before any long work, that `path` can be written the way `writeAtomically` will write
/// it: not a directory or device, its temporary file can be created beside it, and (when
/// `bytesNeeded` is given) its file system has that much room. The probe leaves nothing behind.
public func checkOutputFile(_ path: String, bytesNeeded: Int = 0) throws {
    try refuseSpecialFile(path)
    let temporary = path + ".tmp"
    do {
        try probeWritable(temporary, reportAs: path)
    } catch let error as InputError {
        // A directory that exists and still takes no file (/proc, a read-only mount) is not "missing".
        let directory = path.contains("/") ? String(path[...path.lastIndex(of: "/")!]) : "."
        var st = stat()
        let exists = stat(directory, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
        throw InputError(path, "\(error.problem) (\(exists ? "its directory exists but takes no new files" : "the directory must exist and be writable"))")
    }
    guard bytesNeeded > 0 else { return }
    var fs = statvfs()
    guard statvfs(temporary.contains("/") ? String(temporary[...temporary.lastIndex(of: "/")!]) : ".", &fs) == 0 else { return }
    let free = Int(fs.f_bavail) &* Int(fs.f_frsize)
    guard free >= bytesNeeded else {
        throw InputError(path, "cannot write: needs \(megabytes(bytesNeeded)) free, but its file system has \(megabytes(free))")
    }
}

/// Creates `directory` (and its parents) if needed and checks that files can be written in it,
/// so commands that write a report fail at once instead of after their work.
public func prepareOutputDirectory(_ directory: String) throws {
    // mkdir -p by hand: Foundation's errors are multi-line NSError dumps, and we want errno.
    var prefix = directory.hasPrefix("/") ? "/" : ""
    for part in directory.split(separator: "/") {
        prefix += part
        guard mkdir(prefix, 0o777) == 0 || errno == EEXIST else {
            throw InputError(directory, "cannot create directory: \(systemErrorText())")
        }
        prefix += "/"
    }
    var st = stat()
    guard stat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
        throw InputError(directory, "cannot write: is not a directory")
    }
    try probeWritable(directory + "/.isp-probe.tmp", reportAs: directory)
}

/// Creates and removes `probe`, so a write that would fail later fails now; leaves nothing behind.
/// A plain open rather than FileManager.createFile, which writes a hidden file of its own.
private func probeWritable(_ probe: String, reportAs name: String) throws {
    defer { unlink(probe) }
    let file = try OutputFile(probe, reportAs: name)
    try file.close()
}

private func megabytes(_ bytes: Int) -> String {
    let tenths = (bytes + 52_428) / 104_857  // 0.1 MB, rounded
    return "\(tenths / 10).\(tenths % 10) MB"
}
