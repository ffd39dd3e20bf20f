import Foundation
import InstanceSparsity
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `isp` binary as a subprocess (shared with InterruptionTests).
enum ISP {
    struct Result {
        var status: Int32
        var signaled: Bool
        var stdout: String
        var stderr: String
        var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
        /// Standard output as the JSON object a `--json` run prints (a failure if it is not one).
        func json(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "not a JSON object: \(stdout)",
                          file: file, line: line)
        }
    }

    /// The `isp` built with the tests: next to the test bundle, else `.build/release/isp` above
    /// this source file; ISP_BINARY overrides both.
    static let binary: String? = {
        var candidates: [String] = []
        if let forced = ProcessInfo.processInfo.environment["ISP_BINARY"] { candidates.append(forced) }
        let bundle = URL(fileURLWithPath: Bundle.main.bundlePath)
        candidates.append(bundle.appendingPathComponent("isp").path)
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("isp").path)
        if let executable = Bundle.main.executableURL {
            candidates.append(executable.deletingLastPathComponent().appendingPathComponent("isp").path)
        }
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            candidates.append(directory.appendingPathComponent(".build/release/isp").path)
            directory = directory.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// The binary, or a skip for a plain `swift test` that did not build it; under CI (`CI` set,
    /// as `.ci/run` runs `make test`, which builds it) a missing binary is a failure.
    static func requireBinary() throws -> String {
        let missing = "isp binary not found next to the test bundle or in .build/release"
        if ProcessInfo.processInfo.environment["CI"] != nil { return try XCTUnwrap(binary, missing) }
        guard let binary else { throw XCTSkip(missing) }
        return binary
    }

    /// The temporary files isp's atomic writes of `path` made beside it (`PATH.tmp-XXXXXX`) and left.
    static func temporaries(beside path: String) -> [String] {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? ".", prefix = (slash.map { String(path[path.index(after: $0)...]) } ?? path) + ".tmp-"
        guard let dir = opendir(directory.isEmpty ? "/" : directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasPrefix(prefix) { names.append(directory + "/" + name) }
        }
        return names
    }

    /// Starts `isp arguments` (or `executable`) with stdout and stderr going to files in
    /// `directory` and standard input read from the file `input` (default: empty); `environment`
    /// adds to the inherited variables.
    static func start(_ arguments: [String], in directory: String, tag: String = "run", environment: [String: String] = [:],
                      executable: String? = nil, input: String? = nil) throws -> (Process, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable ?? requireBinary())
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = "\(directory)/\(tag).stdout", err = "\(directory)/\(tag).stderr"
        for p in [out, err] { _ = FileManager.default.createFile(atPath: p, contents: nil) }
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        process.standardInput = try input.map { try FileHandle(forReadingFrom: URL(fileURLWithPath: $0)) } ?? FileHandle.nullDevice
        try process.run()
        return (process, out, err)
    }

    static func finish(_ process: Process, stdout: String, stderr: String, timeout: TimeInterval,
                       file: StaticString = #filePath, line: UInt = #line) -> Result {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(2000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            XCTFail("isp \(process.arguments ?? []) did not finish within \(timeout) s", file: file, line: line)
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                      stdout: (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")
    }

    static func run(_ arguments: [String], in directory: String, environment: [String: String] = [:], executable: String? = nil,
                    input: String? = nil, timeout: TimeInterval = 120, file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let (process, out, err) = try start(arguments, in: directory, environment: environment, executable: executable, input: input)
        return finish(process, stdout: out, stderr: err, timeout: timeout, file: file, line: line)
    }
}

final class CLITests: TemporaryDirectoryTestCase {
    private var garbage = "", missing = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        _ = try ISP.requireBinary()
        garbage = "\(directory)/garbage.safetensors"
        try Data("this is not a model\n".utf8).write(to: URL(fileURLWithPath: garbage))
        missing = "\(directory)/no-such-model.safetensors"
    }

    private func isp(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ISP.Result {
        try ISP.run(arguments, in: directory, timeout: 60, file: file, line: line)
    }

    /// Exit 2, the problem and then `usage: isp COMMAND ...` on stderr, nothing done.
    private func assertUsageError(_ arguments: [String], mentions: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try isp(arguments, file: file, line: line)
        let command = arguments[0]
        XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.signaled, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(mentions), "\(arguments): stderr lacks '\(mentions)': \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderrLines.first?.hasPrefix("isp \(command): ") ?? false, "\(arguments): \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderrLines.contains { $0.hasPrefix("usage: isp \(command) ") }, "\(arguments): no usage line in \(r.stderr)",
                      file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 2, "\(arguments): \(r.stderr)", file: file, line: line)
    }

    /// Exit 1 and exactly one line on stderr that names `path`.
    private func assertInputFailure(_ arguments: [String], names path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try isp(arguments, file: file, line: line)
        XCTAssertEqual(r.status, 1, "\(arguments): \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.signaled, file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, "\(arguments): not one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(path), "\(arguments): stderr does not name \(path): \(r.stderr)", file: file, line: line)
    }

    private var commandNames: [String] {
        get throws {
            let r = try isp(["--help"])
            XCTAssertEqual(r.status, 0)
            return r.stdout.split(separator: "\n").compactMap { line in
                line.hasPrefix("  isp ") ? String(line.dropFirst(6).prefix { $0 != " " }) : nil
            }
        }
    }

    func testHelpForEveryCommand() throws {
        print("isp binary under test: \(try ISP.requireBinary())")
        let names = try commandNames
        XCTAssertTrue(Set(["train", "eval", "info", "analyze", "sweep", "bench"]).isSubset(of: names), "\(names)")
        for name in names {
            for flag in ["--help", "-h"] {
                let r = try isp([name, flag])
                XCTAssertEqual(r.status, 0, "\(name) \(flag): \(r.stderr)")
                XCTAssertTrue(r.stdout.hasPrefix("usage: isp \(name)"), "\(name) \(flag): \(r.stdout)")
                XCTAssertEqual(r.stderr, "")
            }
        }
        XCTAssertEqual(try isp(["help"]).status, 0)
    }

    func testUnknownCommandAndNoArguments() throws {
        for arguments in [["bogus"], [], ["--bogus"], ["TRAIN"]] {
            let r = try isp(arguments)
            XCTAssertEqual(r.status, 2, "\(arguments)")
            if let first = arguments.first {
                XCTAssertTrue(r.stderr.contains("unknown command '\(first)'"), r.stderr)
            }
            // The overview lists every command's usage line, on stderr since this is an error.
            XCTAssertTrue(r.stderr.contains("  isp train --out FILE"), "\(arguments): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("  isp eval MODEL"), "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "\(arguments)")
        }
    }

    func testUnknownFlags() throws {
        let out = "\(directory)/model.safetensors"
        // Everything else on these lines is fine (or not yet looked at): the typo must be reported
        // as a usage error before any file is opened.
        let cases: [(args: [String], flag: String)] = [
            (["train", "--model", "vgg16", "--out", out, "--epochs", "1", "--no-such-flag"], "--no-such-flag"),
            (["train", "--model", "vgg16", "--out", out, "--epoch", "1"], "--epoch"),
            (["eval", garbage, "--no-such-flag"], "--no-such-flag"),
            (["eval", missing, "--prune", "mean", "--alpha", "0.5", "--lr", "1"], "--lr"),
            (["info", "--model", "vgg16", "--no-such-flag"], "--no-such-flag"),
            (["info", garbage, "--no-such-flag"], "--no-such-flag"),
            (["analyze", garbage, "--no-such-flag"], "--no-such-flag"),
            (["analyze", garbage, "--test-limit", "5"], "--test-limit"),  // it reads no test images
            (["sweep", garbage, "--out", "\(directory)/sweep", "--no-such-flag"], "--no-such-flag"),
            (["bench", garbage, "--no-such-flag"], "--no-such-flag"),
            (["bench", "--model", "vgg16", "--no-such-flag"], "--no-such-flag"),
        ]
        for c in cases { try assertUsageError(c.args, mentions: "unknown option \(c.flag)") }
        try assertUsageError(["eval", garbage, "extra-positional"], mentions: "unexpected argument 'extra-positional'")
        // Options that would otherwise do nothing, or mean nothing.
        try assertUsageError(["eval", garbage, "--latency-images", "5"], mentions: "--latency-images needs --prune")
        try assertUsageError(["eval", garbage, "--layers", "all"], mentions: "--layers needs --prune")  // before MODEL loads
        try assertUsageError(["serve", garbage, "--host", "localhost"], mentions: "--host must be an IPv4 address")
        try assertUsageError(["eval", garbage, "--prune", "energy", "--alpha", "1.5"], mentions: "--alpha for energy is a share, at most 1")
        try assertUsageError(["eval", garbage, "--prune", "static-topk", "--alpha", "2"], mentions: "--alpha for static-topk is a share")
        if try commandNames.contains("demo") {
            try assertUsageError(["demo", garbage, "--no-such-flag"], mentions: "unknown option --no-such-flag")
        }
    }

    func testMissingValues() throws {
        let cases: [(args: [String], flag: String)] = [
            (["train", "--out"], "--out"),
            (["train", "--model", "vgg16", "--out", "x.safetensors", "--epochs"], "--epochs"),
            (["train", "--out", "--model", "vgg16"], "--out"),
            (["eval", garbage, "--batch-size"], "--batch-size"),
            (["eval", garbage, "--alpha", "--prune", "mean"], "--alpha"),
            (["info", "--model"], "--model"),
            (["analyze", garbage, "--calibration"], "--calibration"),
            (["sweep", garbage, "--out"], "--out"),
            (["bench", "--model", "vgg16", "--runs"], "--runs"),
        ]
        for c in cases { try assertUsageError(c.args, mentions: "\(c.flag) needs a value") }
        try assertUsageError(["train", "--model", "vgg16"], mentions: "--out FILE is required")
        try assertUsageError(["train", "--out", "x.safetensors", "--width", "0.5"], mentions: "--model is required")
        try assertUsageError(["eval"], mentions: "MODEL (a .safetensors checkpoint) is required")
        try assertUsageError(["sweep", garbage], mentions: "--out DIR is required")
    }

    func testOutOfRangeNumbers() throws {
        let out = "\(directory)/model.safetensors"
        let train = ["train", "--model", "vgg16", "--out", out]
        let cases: [(args: [String], mentions: String)] = [
            (train + ["--epochs", "-1"], "--epochs must be in 1...10000, got -1"),
            (train + ["--epochs", "0"], "--epochs must be in"),
            (train + ["--epochs", "1e9"], "--epochs expects a whole number, got '1e9'"),
            (train + ["--epochs", "1.5"], "--epochs expects a whole number, got '1.5'"),
            (train + ["--train-limit", "0"], "--train-limit must be at least 1, got 0"),
            (train + ["--epochs", "three"], "--epochs expects a whole number"),
            (train + ["--width", "0"], "--width must be in 0.0625...4.0, got 0"),
            (train + ["--width", "nan"], "--width"),
            (train + ["--width", "inf"], "--width must be in"),
            (train + ["--batch-size", "0"], "--batch-size must be in"),
            (train + ["--lr", "0"], "--lr must be in"),
            (train + ["--lr", "-0.1"], "--lr must be in"),
            (train + ["--weight-decay", "-1"], "--weight-decay must be in"),
            (train + ["--seed", "-1"], "--seed"),
            (train + ["--feature-decay", "1e9"], "--feature-decay must be in"),
            (train + ["--dataset", "mnist"], "--dataset must be one of"),
            (train + ["--dataset", "folder"], "--dataset folder needs --data-dir DIR"),
            (train + ["--dataset", "cifar10"], "--dataset cifar10 needs --data-dir DIR"),
            (train + ["--dataset", "folder", "--data-dir", directory, "--input-size", "16"], "--input-size 16 is too small for vgg16: it needs at least 32"),
            (["eval", garbage, "--alpha", "-1"], "--alpha must be in 0.0...1000.0, got -1"),
            (["eval", garbage, "--prune", "mean", "--alpha", "-1"], "--alpha must be in"),
            (["eval", garbage, "--prune", "median"], "--prune must be one of"),
            (["eval", garbage, "--batch-size", "99999"], "--batch-size must be in"),
            (["info", "--model", "vgg16", "--width", "0"], "--width must be in"),
            (["info", "--model", "vgg16", "--classes", "1"], "--classes must be in"),
            (["analyze", garbage, "--calibration", "0"], "--calibration must be in"),
            (["sweep", garbage, "--out", "\(directory)/s", "--alpha", "-1"], "--alpha must be in"),
            (["bench", "--model", "vgg16", "--runs", "1"], "--runs must be in"),
            (["sweep", garbage, "--out", "\(directory)/s", "--layers", "all", "--top-k", "3"],
             "--top-k selects maps by CV: it needs --layers auto or lowest-cv, not --layers all"),
            (["sweep", garbage, "--out", "\(directory)/s", "--layers", "lowest-cv", "--cv-min", "0.5"],
             "--cv-min selects maps by CV: it needs --layers auto, not --layers lowest-cv"),
        ]
        for c in cases { try assertUsageError(c.args, mentions: c.mentions) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a usage error must not create the output")
    }

    func testMissingOrGarbageModelFiles() throws {
        var names = ["eval", "info", "analyze", "bench"]
        if try commandNames.contains("demo") { names.append("demo") }
        let truncated = "\(directory)/truncated.safetensors"
        try SafeTensors.write(path: truncated, tensors: [("w", Tensor(shape: [64]))], metadata: ["architecture": "vgg16"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: truncated))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: truncated))
        let notCheckpoint = "\(directory)/plain.safetensors"
        try SafeTensors.write(path: notCheckpoint, tensors: [("w", Tensor(shape: [4]))], metadata: [:])
        for model in [missing, garbage, truncated, notCheckpoint, directory] {
            // demo needs an operating point for a model that is not the shipped one.
            for name in names { try assertInputFailure([name, model] + (name == "demo" ? ["--prune", "max", "--alpha", "0.1"] : []), names: model) }
            try assertInputFailure(["sweep", model, "--out", "\(directory)/sweep"], names: model)
        }
        // Output of `info` for a valid model still works (the fixture is sane).
        let network = try Network.make(ModelSpec(architecture: "vgg16", width: 0.0625))
        let good = "\(directory)/good.safetensors"
        try Checkpoint.save(network, to: good)
        let r = try isp(["info", good])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testTrainRefusesUnwritableOutputBeforeTraining() throws {
        let empty = "\(directory)/no-data"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        for out in ["/nonexistent-dir/x.safetensors", "\(directory)/missing-subdir/x.safetensors", "\(directory)/garbage.safetensors/x"] {
            let start = Date()
            // The data directory is empty: had the run got as far as loading data, the error
            // would name a data file instead.
            let r = try isp(["train", "--model", "vgg16", "--width", "0.0625", "--epochs", "1", "--data-dir", empty, "--out", out])
            XCTAssertEqual(r.status, 1, "\(out): \(r.stderr)")
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(out) && r.stderr.contains("cannot write"), r.stderr)
            XCTAssertFalse(r.stdout.contains("steps/epoch"), r.stdout)
            XCTAssertLessThan(Date().timeIntervalSince(start), 20)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/nonexistent-dir"))
    }

    /// A directory, FIFO or device where a file should go is refused up front: rename() would
    /// replace it (as root, `--out /dev/null` once turned the device into a regular file).
    func testOutputThatIsNotARegularFileIsRefused() throws {
        let empty = "\(directory)/no-data", fifo = "\(directory)/fifo"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let network = try Network.make(ModelSpec(architecture: "vgg16", width: 0.0625))
        let good = "\(directory)/good.safetensors"
        try Checkpoint.save(network, to: good)
        for out in [empty, fifo] {
            let r = try isp(["train", "--model", "vgg16", "--width", "0.0625", "--epochs", "1", "--data-dir", empty, "--out", out])
            XCTAssertEqual(r.status, 1, "\(out): \(r.stderr)")
            XCTAssertEqual(r.stderrLines, ["isp train: \(out): cannot write: is \(out == fifo ? "not a regular file" : "a directory"), and only a regular file is ever replaced"])
            try assertInputFailure(["export", good, "--out", out], names: out)
        }
        var st = stat()
        XCTAssertEqual(stat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO, "the FIFO was replaced")
        XCTAssertEqual(ISP.temporaries(beside: fifo), [])
        // Report directories that cannot be made fail before the sweep, in one line naming them.
        if FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/t10k-images-idx3-ubyte.gz") {
            for out in ["\(good)/report", "/proc/isp-report"] {
                let start = Date()
                try assertInputFailure(["sweep", good, "--out", out, "--test-limit", "16", "--calibration", "16"], names: out)
                try assertInputFailure(["demo", good, "--out", out, "--test-limit", "16", "--calibration", "16", "--prune", "max", "--alpha", "0.1"], names: out)
                XCTAssertLessThan(Date().timeIntervalSince(start), 30)
            }
        }
    }

    /// Nothing of the user's is opened to write but OUT itself: not a file of theirs named OUT.tmp,
    /// nor what a symbolic link of that name points to, whether the write happens or is refused (the
    /// temporary file has a name of its own). Options that cannot apply are refused. And a run whose
    /// tables or JSON stdout cannot take ends with status 1 and one line saying so, not 0 and a short
    /// file.
    func testUsersFilesBesideTheOutputAreLeftAloneAndLostStandardOutputFails() throws {
        let network = try Network.make(ModelSpec(architecture: "vgg16", width: 0.0625))
        let good = "\(directory)/good.safetensors", kept = "\(directory)/important.txt"
        try Checkpoint.save(network, to: good)
        try "important".write(toFile: kept, atomically: false, encoding: .utf8)
        let written = "\(directory)/written.safetensors", refused = "\(directory)/refused.safetensors"
        XCTAssertEqual(symlink(kept, written + ".tmp"), 0)
        try "mine".write(toFile: refused + ".tmp", atomically: false, encoding: .utf8)
        try Checkpoint.save(network, to: refused)
        let r = try isp(["export", good, "--out", written])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertInputFailure(["export", good, "--out", refused], names: refused)  // exists: needs --force
        XCTAssertEqual(try String(contentsOfFile: kept, encoding: .utf8), "important")
        XCTAssertEqual(try String(contentsOfFile: refused + ".tmp", encoding: .utf8), "mine")
        XCTAssertEqual(ISP.temporaries(beside: written) + ISP.temporaries(beside: refused), [])
        XCTAssertNoThrow(try Checkpoint.load(path: written))

        // Options that cannot apply are refused, not ignored.
        try assertUsageError(["bench", good, "--runs", "10", "--no-train", "--train-steps", "3"], mentions: "--train-steps does not apply with --no-train")
        let image = "\(directory)/gray.png"
        try PNG.write(path: image, width: 28, height: 28, channels: 1, pixels: [UInt8](repeating: 128, count: 28 * 28))
        let tooMany = try isp(["predict", good, image, "--top", "11"])
        XCTAssertEqual(tooMany.status, 2, tooMany.stderr)
        XCTAssertTrue(tooMany.stderr.contains("isp predict: --top 11 is more than the 10 classes of \(good)"), tooMany.stderr)
        let all = try isp(["predict", good, image, "--top", "10", "--json"])
        XCTAssertEqual(all.status, 0, all.stderr)

        guard let full = FileHandle(forWritingAtPath: "/dev/full") else { throw XCTSkip("no /dev/full") }
        for arguments in [["info", good, "--json"], ["--version"]] {
            let process = Process(), err = "\(directory)/full.stderr"
            _ = FileManager.default.createFile(atPath: err, contents: nil)
            process.executableURL = URL(fileURLWithPath: try ISP.requireBinary())
            process.arguments = arguments
            process.standardOutput = full
            process.standardError = FileHandle(forWritingAtPath: err)
            try process.run()
            process.waitUntilExit()
            let stderr = try String(contentsOfFile: err, encoding: .utf8)
            XCTAssertEqual(process.terminationStatus, 1, "\(arguments): \(stderr)")
            XCTAssertEqual(stderr, "isp: standard output: cannot write: a write to it failed\n", "\(arguments)")
        }
    }

    /// `train --dataset folder`: PNG and JPEG files of several kinds train a model that records
    /// its classes and preprocessing; an undecodable file stops the run with one line naming it,
    /// and --skip-bad skips it and says so.
    func testTrainOnAClassFolder() throws {
        let root = directory + "/pets"
        let files = ["train/cat/a.png": "png_rgb8.png", "train/cat/b.jpg": "jpeg_baseline.jpg", "train/cat/c.png": "png_palette.png",
                     "train/dog/a.jpg": "jpeg_cmyk.jpg", "train/dog/b.png": "png_rgba16.png", "train/dog/c.jpeg": "jpeg_progressive.jpg",
                     "val/cat/a.png": "png_gray8.png", "val/dog/a.jpg": "jpeg_444.jpg"]
        for (path, fixture) in files {
            try FileManager.default.createDirectory(atPath: (root + "/" + path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: ImageTests.fixtures + "/" + fixture, toPath: root + "/" + path)
        }
        func train(_ out: String, _ extra: [String] = []) throws -> ISP.Result {
            try isp(["train", "--model", "resnet18", "--width", "0.0625", "--dataset", "folder", "--data-dir", root,
                     "--input-size", "32", "--epochs", "1", "--batch-size", "4", "--out", directory + "/" + out] + extra)
        }
        let r = try train("pets.safetensors")
        XCTAssertEqual(r.status, 0, r.stderr)
        let metadata = try SafeTensors.read(path: directory + "/pets.safetensors").metadata
        XCTAssertEqual(metadata["class_names"], "[\"cat\",\"dog\"]")
        XCTAssertEqual(metadata["preprocessing"], "padded-crop")
        XCTAssertEqual(metadata["input_size"], "32")
        XCTAssertEqual(metadata["input_channels"], "3")
        XCTAssertEqual(metadata["dataset"], "folder")
        // Fine-tuning keeps the file's input size and channels (a 224 default ran this 32x32 model
        // at 49 times its MACs).
        let tuned = try isp(["train", "--init", directory + "/pets.safetensors", "--dataset", "folder", "--data-dir", root, "--epochs", "1",
                             "--batch-size", "4", "--out", directory + "/ft.safetensors"])
        XCTAssertEqual(tuned.status, 0, tuned.stderr)
        let tunedMetadata = try SafeTensors.read(path: directory + "/ft.safetensors").metadata
        XCTAssertEqual(tunedMetadata["input_size"], "32")
        XCTAssertEqual(tunedMetadata["input_channels"], "3")
        // A model of other classes is refused on the folder, not scored against its folders' order.
        let other = directory + "/ten-classes.safetensors"
        try Checkpoint.save(try Network.make(ModelSpec(architecture: "resnet18", width: 0.0625, inputChannels: 3, inputSize: 32, classes: 10)),
                            to: other)
        try assertInputFailure(["eval", other, "--dataset", "folder", "--data-dir", root], names: other)

        let broken = root + "/train/dog/d.jpg"
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: ImageTests.fixtures + "/jpeg_baseline.jpg"))
        try jpeg.prefix(jpeg.count / 2).write(to: URL(fileURLWithPath: broken))
        try assertInputFailure(["train", "--model", "resnet18", "--width", "0.0625", "--dataset", "folder", "--data-dir", root,
                                "--input-size", "32", "--epochs", "1", "--out", directory + "/broken.safetensors"], names: broken)
        let skipping = try train("skipping.safetensors", ["--skip-bad"])
        XCTAssertEqual(skipping.status, 0, skipping.stderr)
        XCTAssertTrue((skipping.stdout + skipping.stderr).contains("skipped 1 of 7 files in \(root)/train that cannot be decoded (first: \(broken): cannot decode JPEG: truncated"),
                      skipping.stdout + skipping.stderr)
        try assertInputFailure(["train", "--model", "resnet18", "--dataset", "folder", "--data-dir", directory, "--out",
                                directory + "/none.safetensors"], names: directory + "/train")
        // The folder edited since: --resume would go on on other images; refused, naming the counts.
        try FileManager.default.removeItem(atPath: broken)
        try FileManager.default.copyItem(atPath: ImageTests.fixtures + "/png_rgb8.png", toPath: root + "/train/dog/e.png")
        let edited = try isp(["train", "--resume", "--out", directory + "/pets.safetensors", "--epochs", "2"])
        XCTAssertEqual(edited.status, 1, edited.stderr)
        XCTAssertTrue(edited.stderr.contains("\(directory)/pets.safetensors: was trained with 6 training images; the data (\(root)) now gives 7"),
                      edited.stderr)
    }

    /// A repeated option is named as such, not reported as unknown.
    func testRepeatedOptions() throws {
        try assertUsageError(["train", "--model", "vgg16", "--out", "x.safetensors", "--epochs", "2", "--epochs", "3"],
                             mentions: "--epochs is given more than once")
        try assertUsageError(["eval", garbage, "--json", "--json"], mentions: "--json is given more than once")
        // An unknown model is a usage error before any data is loaded or output probed.
        let r = try isp(["train", "--model", "vgg17", "--out", "/nonexistent-dir/x.safetensors", "--data-dir", "/nonexistent-dir"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("isp train: unknown model 'vgg17'"), r.stderr)
    }
}
