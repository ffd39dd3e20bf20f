import Dispatch
import Foundation
import InstanceSparsity

/// A failure with its own exit status (an interrupted run exits 128 + the signal, as shells report it).
struct ExitError: Error {
    let message: String
    let status: Int32
}

/// SIGINT and SIGTERM ask `stop` to end the run between two steps, so the checkpoint on disk is
/// never the one being written; a second signal ends the process at once (the atomic write still
/// leaves the previous checkpoint intact). Keep the returned sources alive while it matters.
func catchStopSignals(_ stop: StopRequest) -> [DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { number in
        signal(number, SIG_IGN)  // delivered through the dispatch source instead
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
            if stop.signal != nil {
                note("isp: second signal, stopping at once")
                exit(128 + number)
            }
            note("isp: \(number == SIGINT ? "SIGINT" : "SIGTERM") received, stopping after the current step (again to stop at once)")
            stop.request(signal: number)
        }
        source.resume()
        return source
    }
}
