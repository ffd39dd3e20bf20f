import Foundation
import InstanceSparsity

/// A command of the `isp` tool: its name, what it does, the options it takes, and the work.
/// Usage line and help are generated from `synopsis` and `options`, so they cannot disagree with
/// what `run` reads: `Arguments` refuses to read an option the command did not declare.
protocol Command {
    static var name: String { get }
    /// The positional and required part of the usage line, e.g. "MODEL --out DIR".
    static var synopsis: String { get }
    static var abstract: String { get }
    static var options: [Option] { get }
    /// Runs alone on `engine` (the one `main` made).
    static func run(_ arguments: inout Arguments, engine: Engine) throws
    /// Runs as one of `processes` (under mpirun). Commands that split their work across
    /// processes implement it; the others run only alone.
    static func run(_ arguments: inout Arguments, processes: ProcessGroup, engine: Engine) throws
}

/// One option as the user sees it: the flag, the name of its value (nil for a switch), and a
/// description that ends with its default.
struct Option {
    let flag: String
    let value: String?
    let text: String

    init(_ flag: String, _ value: String, _ text: String) {
        self.flag = flag; self.value = value; self.text = text
    }

    /// A switch: present or not, no value.
    init(_ flag: String, _ text: String) {
        self.flag = flag; value = nil; self.text = text
    }

    var usage: String { value.map { "\(flag) \($0)" } ?? flag }
    static let json = Option("--json", "print the results as one JSON object on stdout (default: a table)")
}

extension Command {
    static func run(_ arguments: inout Arguments, processes: ProcessGroup, engine: Engine) throws {
        guard processes.size == 1 else {
            throw UsageError(message: "runs as one process: start it without mpirun (under mpirun: train, eval, sweep and analyze)")
        }
        try run(&arguments, engine: engine)
    }

    /// `isp NAME SYNOPSIS [--option VALUE] ...`: every option not already in the synopsis.
    static var usage: String {
        let named = Set(synopsis.split(whereSeparator: { " []()|".contains($0) }).map(String.init))
        let optional = options.filter { !named.contains($0.flag) }
        return (["isp", name] + (synopsis.isEmpty ? [] : [synopsis]) + optional.map { "[\($0.usage)]" }).joined(separator: " ")
    }

    /// The usage line, the abstract, and one entry per option with its description wrapped at
    /// 100 columns beside (or, for long flags, under) it.
    static var help: String {
        let column = 32, width = 100
        let lines = options.map { o -> String in
            var words = o.text.split(separator: " ").map(String.init)
            var out = "  " + o.usage
            out += out.count + 2 > column ? "\n" + String(repeating: " ", count: column) : String(repeating: " ", count: column - out.count)
            var length = column
            while !words.isEmpty {
                let word = words.removeFirst()
                if length > column && length + 1 + word.count > width {
                    out += "\n" + String(repeating: " ", count: column); length = column
                }
                if length > column { out += " "; length += 1 }
                out += word; length += word.count
            }
            return out
        }
        return "usage: \(usage)\n\n\(abstract)\n\noptions:\n" + lines.joined(separator: "\n") + "\n"
    }
}

/// A mistake in how the tool was called; exits with status 2 and the command's usage line.
struct UsageError: Error {
    let message: String
}

/// The command line after the command name: `--flag value` (or `--flag=value`) options, `--switch`
/// flags, positionals; after `--`, positionals only (a file named like an option). Every option
/// read is removed; `finish()` rejects whatever is left, so typos never pass silently.
struct Arguments {
    private var items: [String]
    /// What followed `--`.
    private var trailing: [String]
    private let declared: Set<String>?
    /// Flags written `--flag=value`: a switch so written is refused, not read as the switch and a
    /// positional `value`.
    private let givenWithValue: Set<String>

    /// `declared`: the flags the command documents; reading any other is a programming error.
    init(_ items: [String], declared: [Option]? = nil) {
        let end = items.firstIndex(of: "--") ?? items.endIndex
        var givenWithValue: Set<String> = []
        self.items = items[..<end].flatMap { item -> [String] in
            guard item.hasPrefix("--"), let equals = item.firstIndex(of: "=") else { return [item] }
            givenWithValue.insert(String(item[..<equals]))
            return [String(item[..<equals]), String(item[item.index(after: equals)...])]
        }
        self.givenWithValue = givenWithValue
        trailing = end < items.endIndex ? Array(items[(end + 1)...]) : []
        self.declared = declared.map { Set($0.map(\.flag)) }
    }

    private func checkDeclared(_ name: String) {
        precondition(declared?.contains(name) ?? true, "option \(name) is read but not declared in the command's options")
    }

    /// Whether the command takes `name` (commands sharing a group of options may leave one out).
    func declares(_ name: String) -> Bool { declared?.contains(name) ?? true }

    /// Whether the user wrote `name`, without consuming it.
    func contains(_ name: String) -> Bool { items.contains(name) }

    mutating func flag(_ name: String) throws -> Bool {
        checkDeclared(name)
        guard let i = items.firstIndex(of: name) else { return false }
        if givenWithValue.contains(name) { throw UsageError(message: "\(name) takes no value (write \(name) alone)") }
        items.remove(at: i)
        try checkOnce(name)
        return true
    }

    /// A repeated option would otherwise be reported as "unknown", which misleads.
    private func checkOnce(_ name: String) throws {
        if items.contains(name) { throw UsageError(message: "\(name) is given more than once") }
    }

    mutating func option(_ name: String) throws -> String? {
        checkDeclared(name)
        guard let i = items.firstIndex(of: name) else { return nil }
        guard i + 1 < items.count, !items[i + 1].hasPrefix("--") else { throw UsageError(message: "\(name) needs a value") }
        let value = items[i + 1]
        items.removeSubrange(i...(i + 1))
        try checkOnce(name)
        return value
    }

    /// A comma-separated list (nil when not given): one that names nothing, has an empty item or
    /// names something twice is refused, not read as fewer names.
    mutating func list(_ name: String) throws -> [String]? {
        guard let text = try option(name) else { return nil }
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if names.contains("") { throw UsageError(message: "\(name): an empty name in '\(text)'") }
        if let twice = names.indices.first(where: { names[..<$0].contains(names[$0]) }) {
            throw UsageError(message: "\(name): '\(names[twice])' is given twice")
        }
        return names
    }

    mutating func number<T: LosslessStringConvertible & Comparable>(_ name: String, default value: T,
                                                                      in range: ClosedRange<T>) throws -> T {
        try optionalNumber(name, in: range) ?? value
    }

    mutating func optionalNumber<T: LosslessStringConvertible & Comparable>(_ name: String, in range: ClosedRange<T>) throws -> T? {
        guard let text = try option(name) else { return nil }
        let whole = T.self is any BinaryInteger.Type
        guard let v = T(text) else { throw UsageError(message: "\(name) expects a \(whole ? "whole number" : "number"), got '\(text)'") }
        guard range.contains(v) else {
            // Int.max stands for "no upper bound": say only the lower one.
            let bounds = "\(range.upperBound)" == "\(Int.max)" ? "at least \(range.lowerBound)" : "in \(range.lowerBound)...\(range.upperBound)"
            throw UsageError(message: "\(name) must be \(bounds), got \(text)")
        }
        if let zero = T("0"), v == zero { return zero }  // -0 as 0, which it equals (and prints as)
        return v
    }

    mutating func choice(_ name: String, default value: String, from allowed: [String]) throws -> String {
        try optionalChoice(name, from: allowed) ?? value
    }

    mutating func optionalChoice(_ name: String, from allowed: [String]) throws -> String? {
        guard let v = try option(name) else { return nil }
        guard allowed.contains(v) else { throw UsageError(message: "\(name) must be one of \(allowed.joined(separator: ", ")), got '\(v)'") }
        return v
    }

    /// The next positional argument (not an option, or after `--`), if any.
    mutating func positional() -> String? {
        guard let i = items.firstIndex(where: { !Arguments.looksLikeOption($0) }) else {
            return trailing.isEmpty ? nil : trailing.removeFirst()
        }
        return items.remove(at: i)
    }

    /// `--name` or `-x`, not `-` (standard input) or a negative number (an option's value): a
    /// file named so goes after `--`.
    private static func looksLikeOption(_ item: String) -> Bool {
        item.hasPrefix("-") && item != "-" && Double(item) == nil
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
            throw UsageError(message: Arguments.looksLikeOption(extra) ? "unknown option \(extra)" : "unexpected argument '\(extra)'")
        }
        if let extra = trailing.first { throw UsageError(message: "unexpected argument '\(extra)'") }
    }
}

/// One JSON object on stdout, keys sorted, for `--json`.
func printJSON(_ object: [String: Any]) {
    print(jsonText(object))
}

func jsonText(_ object: [String: Any]) -> String {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}

/// A Float as JSON shows it to a reader: 0.1, not 0.10000000149011612 (the shortest decimal that
/// reads back as the same Float).
func jsonNumber(_ v: Float) -> Double { Double("\(v)") ?? Double(v) }

/// Notes about what a command is doing (data used, progress) go to stderr: stdout is for results.
func note(_ text: String) {
    FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
}

/// Where a command's running commentary goes: stdout beside a table, stderr when stdout is
/// reserved for the `--json` object.
func commentary(json: Bool) -> (String) -> Void {
    json ? { note($0) } : { print($0) }
}

/// Writes a table with right-aligned numeric columns, padded by terminal columns (a CJK class
/// name takes two a character).
func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(terminalColumns).max()! }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { c, s in
            let pad = String(repeating: " ", count: widths[c] - terminalColumns(s))
            return c == 0 ? s + pad : pad + s
        }.joined(separator: "  ")
    }
    print(line(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    for r in rows { print(line(r)) }
}

/// Checks, before any work, the --out FILE of a command that writes a new file from MODEL: not
/// MODEL itself (even through a link: the command would replace what it read), writable, and new
/// unless --force.
func checkNewOutput(_ out: String, force: Bool, model: String) throws {
    if sameFile(out, model) { throw UsageError(message: "--out must not be MODEL itself") }
    try checkOutputFile(out)
    if FileManager.default.fileExists(atPath: out) && !force { throw InputError(out, "exists: pass --force to replace it") }
}

/// `--input-size` for building `model` (a usage error when the network would pool it away).
func checkInputSize(_ size: Int, for model: String) throws {
    let smallest = Network.smallestInput(for: model)
    if size < smallest { throw UsageError(message: "--input-size \(size) is too small for \(model): it needs at least \(smallest)") }
}

/// Whether two paths name one file, even through links.
func sameFile(_ a: String, _ b: String) -> Bool {
    let resolved = { (path: String) in URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path }
    return resolved(a) == resolved(b)
}

func formatCount(_ n: Int) -> String {
    let v = Double(n)
    if v >= 1e9 { return String(format: "%.2fG", v / 1e9) }
    if v >= 1e6 { return String(format: "%.2fM", v / 1e6) }
    if v >= 1e3 { return String(format: "%.1fK", v / 1e3) }
    return "\(n)"
}

/// Settings of the program's own output, decided once here and passed down as values.
enum Output {
    /// ISP_PROGRESS_AFTER=SECONDS moves the first progress line (tests set 0 to see one on short work).
    static let progress = Progress.Style(firstAfter: ProcessInfo.processInfo.environment["ISP_PROGRESS_AFTER"].flatMap(Double.init) ?? 3)
}
