#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A problem with a file the user pointed us at. One line, path first, so the CLI can print it
/// as-is and the user knows which file to fix.
public struct InputError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}

/// So that `error.localizedDescription` says it too (it said "The operation could not be completed.
/// (InstanceSparsity.InputError error 1.)" to a new user's application).
extension InputError: LocalizedError {
    public var errorDescription: String? { description }
}

func systemErrorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// A file opened for reading at explicit offsets, so readers can check sizes declared inside a
/// file against its real size before they allocate anything.
final class InputFile {
    let path: String
    let size: Int
    private let fd: Int32

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    init(_ path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO (or some devices) for reading would otherwise block until a
        // writer appears, i.e. forever; such paths are rejected below as not regular files.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            throw InputError(path, code == ENOENT ? "no such file" : "cannot open: \(systemErrorText(code))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let text = systemErrorText()
            close(fd)
            throw InputError(path, "cannot stat: \(text)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw InputError(path, "not a regular file")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        self.fd = fd
        self.size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Fills `count` bytes at `offset`; a short read means the file shrank under us.
    func read(at offset: Int, into destination: UnsafeMutableRawPointer, count: Int) throws {
        var done = 0
        while done < count {
            let n = pread(fd, destination + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw InputError(path, "cannot read: \(systemErrorText())")
            }
            if n == 0 {
                throw InputError(path, "truncated: expected \(offset + count) bytes, file ended at \(offset + done)")
            }
            done += n
        }
    }

    func readBytes(at offset: Int, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(at: offset, into: buffer.baseAddress!, count: count)
            initialized = count
        }
    }

    func readAll() throws -> [UInt8] { try readBytes(at: 0, count: size) }
}
