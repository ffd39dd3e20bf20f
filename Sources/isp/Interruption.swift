import Foundation
import InstanceSparsity
#if canImport(Glibc)
import Glibc
#endif

/// A failure with its own exit status (an interrupted run exits 128 + the signal, as shells report it).
struct ExitError: Error {
    let message: String
    let status: Int32
}

/// Where the signal handler writes the signal number: a pipe, the one async-signal-safe way out
/// of a handler. Created before any handler is installed.
private let signalPipe: [Int32] = {
    var fds: [Int32] = [-1, -1]
    // Not inside precondition: a build with -Ounchecked drops its condition, call and all (the
    // release builds of the first versions did, and the pipe was never made).
    let created = pipe(&fds)
    if created != 0 { fatalError("cannot create a pipe: \(String(cString: strerror(errno)))") }
    return fds
}()

/// SIGINT and SIGTERM, whichever thread the kernel delivers them to, go to `react` on a thread of
/// its own (not in signal context, so it may lock, allocate and print). A real handler rather than
/// a dispatch source: with the signal ignored, Linux drops it before a source sees it whenever it
/// lands on a thread that does not block it (libmicrohttpd's, OpenBLAS's), and the server never
/// heard its SIGTERM.
func handleStopSignals(_ react: @escaping @Sendable (Int32) -> Void) {
    let readEnd = signalPipe[0]
    let reader = Thread {
        while true {
            var number: UInt8 = 0
            let n = read(readEnd, &number, 1)
            if n == 1 { react(Int32(number)) } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }
    reader.start()
    for number in [SIGINT, SIGTERM] {
        signal(number) { received in
            var byte = UInt8(truncatingIfNeeded: received)
            _ = write(signalPipe[1], &byte, 1)
        }
    }
}

/// The first SIGINT or SIGTERM is recorded in `stop` and handed to `first`; a second ends the
/// process at once. Training checks `stop` between two steps, so the checkpoint on disk is never
/// the one being written (a second signal still leaves the previous checkpoint intact: the write
/// is atomic); serving drains, which an upload stalled mid-body holds up to libmicrohttpd's
/// 30-second timeout.
func catchStopSignals(_ stop: StopRequest, first: @escaping @Sendable (Int32) -> Void) {
    handleStopSignals { number in
        if stop.signal != nil {
            note("isp: second signal, stopping at once")
            exit(128 + number)
        }
        stop.request(signal: number)
        first(number)
    }
}
