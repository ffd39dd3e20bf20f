import Foundation

/// Progress of a long piece of work as lines on stderr (done/total, rate, ETA), so stdout keeps
/// only results. Silent for work that ends within `Style.firstAfter` seconds. `advance` may be
/// called from several threads at once.
public final class Progress: @unchecked Sendable {
    /// How progress is shown: set once by the program, passed down to the work.
    public struct Style: Sendable {
        /// Seconds before the first line: short work prints nothing.
        public var firstAfter: Double
        /// Seconds between lines.
        public var every: Double
        /// On a terminal one line is rewritten in place; in a log each update is a new line.
        public var rewrite: Bool

        public init(firstAfter: Double = 3, every: Double? = nil, rewrite: Bool? = nil) {
            let terminal = rewrite ?? (isatty(STDERR_FILENO) == 1)
            self.firstAfter = firstAfter
            self.every = every ?? (terminal ? 0.5 : 5)
            self.rewrite = terminal
        }
    }

    public let label: String
    public let total: Int
    public let unit: String
    private let style: Style
    private let lock = NSLock()
    private let start = DispatchTime.now().uptimeNanoseconds
    private var done = 0
    private var lastLine: UInt64? = nil

    public init(_ label: String, total: Int, unit: String = "images", style: Style) {
        self.label = label; self.total = total; self.unit = unit; self.style = style
    }

    public func advance(_ n: Int = 1) {
        lock.lock()
        defer { lock.unlock() }
        done += n
        let now = DispatchTime.now().uptimeNanoseconds
        let elapsed = Double(now - start) / 1e9
        guard elapsed >= style.firstAfter else { return }
        if let last = lastLine, Double(now - last) / 1e9 < style.every { return }
        lastLine = now
        write(line(elapsed: elapsed), final: false)
    }

    /// Ends the display: on a terminal the rewritten line is closed, in a log a last line says how
    /// long it took. Nothing if no line was printed.
    public func finish() {
        lock.lock()
        defer { lock.unlock() }
        guard lastLine != nil else { return }
        write(line(elapsed: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9), final: true)
        lastLine = nil
    }

    private func line(elapsed: Double) -> String {
        let rate = Double(done) / max(elapsed, 1e-9)
        let share = total > 0 ? String(format: " (%.0f%%)", 100 * Double(done) / Double(total)) : ""
        let eta = done < total ? ", ETA " + formatDuration(Double(total - done) / max(rate, 1e-9)) : ", took " + formatDuration(elapsed)
        return "\(label): \(done)/\(total) \(unit)\(share), " + String(format: "%.0f", rate) + " \(unit)/s" + eta
    }

    private func write(_ text: String, final: Bool) {
        let out = style.rewrite ? "\r\u{1B}[K" + text + (final ? "\n" : "") : text + "\n"
        FileHandle.standardError.write(out.data(using: .utf8)!)
    }
}
