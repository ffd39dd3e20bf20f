import Foundation
import InstanceSparsity

/// A command of the `isp` tool: its name, one usage line, a help text and the work.
protocol Command {
    static var name: String { get }
    static var usage: String { get }
    static var help: String { get }
    static func run(_ arguments: inout Arguments) throws
}

/// A mistake in how the tool was called; exits with status 2 and the command's usage line.
struct UsageError: Error {
    let message: String
}

/// The command line after the command name: `--flag value` options, `--switch` flags, positionals.
/// Every option read is removed; `finish()` rejects whatever is left, so typos never pass silently.
struct Arguments {
    private var items: [String]

    init(_ items: [String]) { self.items = items }

    mutating func flag(_ name: String) throws -> Bool {
        guard let i = items.firstIndex(of: name) else { return false }
        items.remove(at: i)
        try checkOnce(name)
        return true
    }

    /// A repeated option would otherwise be reported as "unknown", which misleads.
    private func checkOnce(_ name: String) throws {
        if items.contains(name) { throw UsageError(message: "\(name) is given more than once") }
    }

    mutating func option(_ name: String) throws -> String? {
        guard let i = items.firstIndex(of: name) else { return nil }
        guard i + 1 < items.count, !items[i + 1].hasPrefix("--") else { throw UsageError(message: "\(name) needs a value") }
        let value = items[i + 1]
        items.removeSubrange(i...(i + 1))
        try checkOnce(name)
        return value
    }

    mutating func number<T: LosslessStringConvertible & Comparable>(_ name: String, default value: T,
                                                                      in range: ClosedRange<T>) throws -> T {
        try optionalNumber(name, in: range) ?? value
    }

    mutating func optionalNumber<T: LosslessStringConvertible & Comparable>(_ name: String, in range: ClosedRange<T>) throws -> T? {
        guard let text = try option(name) else { return nil }
        guard let v = T(text) else { throw UsageError(message: "\(name) expects a number, got '\(text)'") }
        guard range.contains(v) else { throw UsageError(message: "\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(text)") }
        return v
    }

    mutating func choice(_ name: String, default value: String, from allowed: [String]) throws -> String {
        let v = try option(name) ?? value
        guard allowed.contains(v) else { throw UsageError(message: "\(name) must be one of \(allowed.joined(separator: ", ")), got '\(v)'") }
        return v
    }

    /// The next positional argument (not starting with "--"), if any.
    mutating func positional() -> String? {
        guard let i = items.firstIndex(where: { !$0.hasPrefix("--") }) else { return nil }
        return items.remove(at: i)
    }

    /// `--stem imagenet|cifar`, nil when not given.
    mutating func stem() throws -> ModelSpec.Stem? {
        guard let name = try option("--stem") else { return nil }
        guard let stem = ModelSpec.Stem(rawValue: name) else {
            throw UsageError(message: "--stem must be one of \(ModelSpec.Stem.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
        }
        return stem
    }

    func finish() throws {
        if let extra = items.first {
            throw UsageError(message: extra.hasPrefix("--") ? "unknown option \(extra)" : "unexpected argument '\(extra)'")
        }
    }
}

/// One JSON object on stdout, keys sorted, for `--json`.
func printJSON(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: data, as: UTF8.self))
}

/// Writes a table with right-aligned numeric columns.
func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max()! }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { c, s in
            c == 0 ? s.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                   : String(repeating: " ", count: widths[c] - s.count) + s
        }.joined(separator: "  ")
    }
    print(line(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    for r in rows { print(line(r)) }
}

func formatCount(_ n: Int) -> String {
    let v = Double(n)
    if v >= 1e9 { return String(format: "%.2fG", v / 1e9) }
    if v >= 1e6 { return String(format: "%.2fM", v / 1e6) }
    if v >= 1e3 { return String(format: "%.1fK", v / 1e3) }
    return "\(n)"
}
