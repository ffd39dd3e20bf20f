#if canImport(Glibc)
import Glibc
#endif

/// Writes `path` so that a crash or kill at any moment leaves either the old file or the complete
/// new one, never a torn mix: `body` writes a temporary file of its own beside `path` (same
/// directory, so the rename cannot cross file systems), which is then flushed to disk, given the
/// permissions a new file gets, and renamed over `path`. (A kill -9 in the middle leaves that
/// temporary file, `PATH.tmp-XXXXXX`, behind.)
func writeAtomically(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
    try refuseSpecialFile(path)
    let temporary = try createTemporaryFile(beside: path)
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
        // mkstemp made it 0600; a file written the ordinary way gets 0666 less the umask.
        let mask = umask(0)
        umask(mask)
        guard chmod(temporary, 0o666 & ~mask) == 0, rename(temporary, path) == 0 else {
            throw InputError(path, "cannot write: \(systemErrorText())")
        }
    } catch {
        unlink(temporary)
        throw error
    }
    // Make the rename itself durable; best effort, as some file systems refuse to fsync directories.
    let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
    let dirfd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dirfd >= 0 { _ = fsync(dirfd); close(dirfd) }
}

/// Creates an empty file with a name no other file has, `path + ".tmp-XXXXXX"`, and returns its
/// name. Never a fixed name: `PATH.tmp` could be a file of the user's, or a symbolic link to one,
/// and opening it to write would have emptied that file.
private func createTemporaryFile(beside path: String, reportAs name: String? = nil) throws -> String {
    var template = Array((path + ".tmp-XXXXXX").utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw InputError(name ?? path, "cannot write: \(systemErrorText())") }
    close(fd)
    return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// A file being written with plain POSIX calls; errors are reported against the final path,
/// which is the one the user knows about.
final class OutputFile {
    private var fd: Int32
    private let reportedPath: String

    init(_ path: String, reportAs reportedPath: String) throws {
        self.reportedPath = reportedPath
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
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
    do {
        try probeWritable(beside: path, reportAs: path)
    } catch let error as InputError {
        // A directory that exists and still takes no file (/proc, a read-only mount) is not "missing".
        let directory = path.contains("/") ? String(path[...path.lastIndex(of: "/")!]) : "."
        var st = stat()
        let exists = stat(directory, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
        throw InputError(path, "\(error.problem) (\(exists ? "its directory exists but takes no new files" : "the directory must exist and be writable"))")
    }
    guard bytesNeeded > 0 else { return }
    var fs = statvfs()
    guard statvfs(path.contains("/") ? String(path[...path.lastIndex(of: "/")!]) : ".", &fs) == 0 else { return }
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
    try probeWritable(beside: directory + "/.isp-probe", reportAs: directory)
}

/// Creates a temporary file beside `path` and removes it, so a write that would fail later fails
/// now; touches no other file and leaves nothing behind.
private func probeWritable(beside path: String, reportAs name: String) throws {
    unlink(try createTemporaryFile(beside: path, reportAs: name))
}

private func megabytes(_ bytes: Int) -> String {
    let tenths = (bytes + 52_428) / 104_857  // 0.1 MB, rounded
    return "\(tenths / 10).\(tenths % 10) MB"
}
