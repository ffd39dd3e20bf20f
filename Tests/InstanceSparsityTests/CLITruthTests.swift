import Foundation
import InstanceSparsity
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What `isp` prints and does is what was asked, on the real binary: resume continues the stored
/// run, checkpoints remember their data, nothing is filled in silently or overwritten, long work
/// shows progress on stderr, help matches every command, and the demo finds its model from anywhere.
final class CLITruthTests: SyntheticDataTestCase {

    private func isp(_ arguments: [String], environment: [String: String] = [:], in cwd: String? = nil,
                     file: StaticString = #filePath, line: UInt = #line) throws -> ISP.Result {
        try ISP.run(arguments, in: cwd ?? directory, environment: environment, timeout: 120, file: file, line: line)
    }

    private func train(_ out: String, epochs: Int = 1, extra: [String] = []) throws -> ISP.Result {
        try isp(["train", "--model", "vgg16", "--width", "0.125", "--batch-size", "32", "--epochs", "\(epochs)",
                 "--data-dir", data, "--train-limit", "128", "--test-limit", "32", "--log-every", "1", "--out", out] + extra)
    }

    private func metadata(_ path: String) throws -> [String: String] { try SafeTensors.read(path: path).metadata }

    private func assertUsage(_ r: ISP.Result, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 2, r.stderr, file: file, line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "stderr lacks '\(m)': \(r.stderr)", file: file, line: line) }
    }

    // MARK: resume

    func testResumeContinuesTheStoredRunAndRefusesConflicts() throws {
        let out = "\(directory)/run.safetensors"
        XCTAssertEqual(try train(out).status, 0)
        let stored = try metadata(out)
        // Every option that shaped the run is in the file.
        for key in ["architecture", "width", "dataset", "data_dir", "train.epochs", "train.batch_size", "train.lr",
                    "train.warmup_epochs", "train.weight_decay", "train.seed", "train.feature_decay", "train.decay_layers",
                    "train.augment", "train.train_limit", "train.test_limit"] {
            XCTAssertNotNil(stored[key], "checkpoint lacks \(key)")
        }
        XCTAssertEqual(stored["train.train_limit"], "128")
        XCTAssertEqual(stored["data_dir"], URL(fileURLWithPath: data).standardizedFileURL.path)

        // Conflicting options: usage errors naming both values; the file is untouched.
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        let conflicts: [([String], [String])] = [
            (["--model", "resnet18"], ["--model resnet18", "vgg16"]), (["--lr", "0.1"], ["--lr 0.1", "0.05"]),
            (["--train-limit", "64"], ["--train-limit 64", "128"]), (["--width", "0.25"], ["--width 0.25", "0.125"]),
            (["--feature-decay", "0.001"], ["--feature-decay", "0.0"]), (["--no-augment"], ["--no-augment conflicts with train.augment true"]),
            (["--data-dir", directory], ["--data-dir", data]), (["--dataset", "cifar10"], ["--dataset cifar10", "fashion-mnist"]),
        ]
        for (flags, mentions) in conflicts {
            assertUsage(try isp(["train", "--resume", "--out", out, "--epochs", "2"] + flags), mentions: mentions + ["conflicts with"])
        }
        // A finished run is not silently "resumed"; fewer epochs than done is a mistake.
        assertUsage(try isp(["train", "--resume", "--out", out]), mentions: ["completed all 1 epochs", "--epochs"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), before)

        // --epochs extends the run on the stored data (128 images, not the whole split); options
        // equal to the stored ones are accepted.
        let r = try isp(["train", "--resume", "--out", out, "--epochs", "2", "--lr", "0.05", "--batch-size", "32"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("128 training and 32 test images"), r.stdout)
        XCTAssertTrue(r.stdout.contains("extending the run from 1 to 2 epochs"), r.stdout)
        XCTAssertEqual(try metadata(out)["train.epochs_completed"], "2")
        XCTAssertEqual(try metadata(out)["train.epochs"], "2")
        assertUsage(try isp(["train", "--resume", "--out", out, "--epochs", "1"]), mentions: ["--epochs 1 is fewer than the 2 epochs"])
    }

    /// --mean/--std replace the training split's statistics and are stored; a wrong count is a usage error.
    func testGivenNormalisationIsStored() throws {
        let out = "\(directory)/norm.safetensors"
        XCTAssertEqual(try train(out, extra: ["--mean", "0.5", "--std", "0.25"]).status, 0)
        let spec = try Checkpoint.load(path: out).network.spec
        XCTAssertEqual(spec.mean, [0.5])
        XCTAssertEqual(spec.std, [0.25])
        assertUsage(try train("\(directory)/n2.safetensors", extra: ["--mean", "0.5,0.4", "--std", "1,1"]), mentions: ["need 1 value (the images' channels), got 2"])
        assertUsage(try train("\(directory)/n3.safetensors", extra: ["--mean", "0.5"]), mentions: ["--mean and --std go together"])
        assertUsage(try train("\(directory)/n4.safetensors", extra: ["--mean", "x", "--std", "1"]), mentions: ["--mean expects comma-separated numbers"])
    }

    // MARK: data recorded in the checkpoint

    func testCommandsUseTheRecordedDataAndFailWhenItIsGone() throws {
        let out = "\(directory)/m.safetensors"
        XCTAssertEqual(try train(out).status, 0)
        let recorded = URL(fileURLWithPath: data).standardizedFileURL.path
        let runs: [[String]] = [
            ["eval", out], ["eval", out, "--prune", "max", "--alpha", "0.1", "--latency-images", "4", "--calibration", "16"],
            ["analyze", out, "--calibration", "16"],
            ["sweep", out, "--out", "\(directory)/sweep", "--policies", "max", "--calibration", "16"],
            ["bench", out, "--runs", "10", "--no-train"],
            ["demo", out, "--out", "\(directory)/demo", "--prune", "max", "--alpha", "0.1", "--calibration", "16", "--sweep-limit", "16"],
        ]
        for arguments in runs {
            let r = try isp(arguments)
            XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("data: fashion-mnist from \(recorded) (recorded in \(out))"), "\(arguments): \(r.stderr)")
        }
        // The sweep's rows line up whatever the policy's name (Foundation on Linux ignored %-12@).
        let sweep = try isp(["sweep", out, "--out", "\(directory)/sweep2", "--policies", "max,energy", "--calibration", "16"])
        let rows = (sweep.stdout + sweep.stderr).split(separator: "\n").filter { $0.contains(" alpha ") && $0.contains("FLOPs reduction") && !$0.hasPrefix("operating point") }
        XCTAssertGreaterThan(Set(rows.map { $0.split(separator: " ")[0] }).count, 1, sweep.stderr)
        XCTAssertEqual(Set(rows.map { $0.distance(from: $0.startIndex, to: $0.range(of: "accuracy")!.lowerBound) }).count, 1, sweep.stderr)
        let eval = try isp(["eval", out, "--json"])
        let object = try eval.json()
        XCTAssertEqual(object["images"] as? Int, SyntheticFashionMNIST.testCount, "the recorded data, not the 10000 default images")
        XCTAssertEqual(object["data_dir"] as? String, recorded)

        // Moved away: a one-line error naming the directory, never the default Fashion-MNIST.
        let moved = directory + "/moved"
        XCTAssertEqual(rename(data, moved), 0)
        for arguments in runs {
            let r = try isp(arguments)
            XCTAssertEqual(r.status, 1, "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("\(recorded): is the data directory recorded in \(out), and it no longer exists"), r.stderr)
        }
        // Told where it went, it says so.
        let r = try isp(["eval", out, "--data-dir", moved])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("data: fashion-mnist from \(moved) (--data-dir)"), r.stderr)
    }

    // MARK: no silent defaults

    func testPruningNeedsBothPolicyAndAlphaAndReportsThem() throws {
        let out = "\(directory)/m.safetensors"
        XCTAssertEqual(try train(out).status, 0)
        for command in [["eval", out], ["sweep", out, "--out", "\(directory)/s"], ["bench", out], ["demo", out]] {
            assertUsage(try isp(command + ["--prune", "mean"]), mentions: ["--prune mean needs --alpha"])
            assertUsage(try isp(command + ["--alpha", "0.5"]), mentions: ["--alpha needs --prune"])
        }
        assertUsage(try isp(["demo", out]), mentions: ["give --prune POLICY --alpha A"])
        let r = try isp(["eval", out, "--prune", "max", "--alpha", "0.1", "--layers", "all", "--latency-images", "4", "--calibration", "16"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("policy max, alpha 0.1, at 12 of 12 maps, layers all"), r.stdout)
        let j = try isp(["eval", out, "--prune", "max", "--alpha", "0.1", "--latency-images", "4", "--calibration", "16", "--json"])
        XCTAssertTrue(j.stdout.contains("\"alpha\" : 0.1,"), "alpha as written, not 0.10000000149: \(j.stdout)")
        let object = try j.json()
        XCTAssertEqual(object["policy"] as? String, "max")
        XCTAssertEqual(object["layer_selection"] as? String, "auto (top half by CV)")
        XCTAssertEqual((object["layers"] as? [String])?.count, 6)
        // --decay-layers: the documented default is what the checkpoint records.
        XCTAssertEqual(try metadata(out)["train.decay_layers"], "all")
        XCTAssertTrue(try isp(["help", "train"]).stdout.contains("(default all)"))
    }

    /// The default warm-up is the smaller of one epoch and a tenth of the run, so a short run's
    /// learning rate has decayed by its end instead of ending at the peak.
    func testShortRunsWarmUpBrieflyAndEndWithALowRate() throws {
        XCTAssertEqual(TrainingOptions.defaultWarmup(epochs: 1), 0.1)
        XCTAssertEqual(TrainingOptions.defaultWarmup(epochs: 30), 1)
        let out = "\(directory)/short.safetensors"
        let r = try train(out)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try metadata(out)["train.warmup_epochs"], "0.1")
        let rates = r.stdout.split(separator: "\n").compactMap { line -> Float? in
            guard let range = line.range(of: " lr ") else { return nil }
            return Float(line[range.upperBound...].prefix { $0 != " " })
        }
        XCTAssertEqual(rates.count, 4, r.stdout)
        // Four steps: the last runs at cosine(3/4) of the peak, 0.0073 (with a whole-epoch warm-up: the peak, 0.05).
        XCTAssertLessThan(rates.last ?? 1, 0.2 * 0.05, "a 1-epoch run must end far below the peak rate: \(rates)")
    }

    // MARK: nothing overwritten or lost

    func testTrainAndExportRefuseToReplaceFilesUnlessForced() throws {
        let out = "\(directory)/m.safetensors"
        XCTAssertEqual(try train(out).status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        let r = try train(out)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderrLines.last, "isp train: \(out): exists: pass --resume to continue it or --force to replace it")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), before)
        assertUsage(try isp(["train", "--resume", "--force", "--out", out]), mentions: ["give one of them"])
        XCTAssertEqual(try train(out, extra: ["--force", "--seed", "2"]).status, 0)
        XCTAssertEqual(try metadata(out)["train.seed"], "2")

        let copy = "\(directory)/copy.safetensors"
        XCTAssertEqual(try isp(["export", out, "--out", copy]).status, 0)
        let refused = try isp(["export", out, "--out", copy])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("\(copy): exists: pass --force"), refused.stderr)
        XCTAssertEqual(try isp(["export", out, "--out", copy, "--force"]).status, 0)
        // Not even --force writes an inference-only copy over the training checkpoint it reads,
        // nor through a link to it.
        let link = "\(directory)/link.safetensors"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: out)
        for target in [out, link] {
            assertUsage(try isp(["export", out, "--out", target, "--force"]), mentions: ["--out must not be MODEL itself"])
        }
        XCTAssertNotNil(try Checkpoint.load(path: out).velocity.first, "the optimizer state is still there")
    }

    /// Lists that name nothing, name something twice or have an empty item are usage errors, not
    /// fewer names (an empty --layers once ran dense under --prune); `--flag=value` reads as
    /// `--flag value`; after `--` everything is a positional; train will not replace its --init;
    /// info refuses a size the network would pool away as train does.
    func testArgumentListsAndConventions() throws {
        let out = "\(directory)/m.safetensors"
        XCTAssertEqual(try train(out).status, 0)
        let image = "\(directory)/-image.png"
        try PNG.write(path: image, width: 28, height: 28, channels: 1, pixels: [UInt8](repeating: 128, count: 28 * 28))
        let prune = ["--prune", "max", "--alpha", "0.1"]
        for (list, complaint) in [("", "an empty name in ''"), (",", "an empty name in ','"),
                                  ("features.3,", "an empty name"), ("features.3,features.3", "'features.3' is given twice")] {
            assertUsage(try isp(["predict", out, "./-image.png"] + prune + ["--layers", list]), mentions: ["--layers: " + complaint])
        }
        assertUsage(try isp(["tune", out, "--out", "\(directory)/t.safetensors", "--policies", ""]), mentions: ["--policies: an empty name"])
        assertUsage(try isp(["sweep", out, "--out", "\(directory)/s", "--policies", "max,max"]), mentions: ["'max' is given twice"])
        assertUsage(try isp(["train", "--init", out, "--out", out, "--force"]), mentions: ["--out must not be the --init file"])
        assertUsage(try isp(["info", "--model", "vgg16", "--input-size", "16"]), mentions: ["--input-size 16 is too small for vgg16"])

        let spaced = try isp(["predict", out, "--top", "2", "--json", "--", "-image.png"])
        XCTAssertEqual(spaced.status, 0, spaced.stderr)
        let joined = try isp(["predict", out, "--top=2", "--json", "--", "-image.png"])
        XCTAssertEqual(joined.status, 0, joined.stderr)
        let tops = try [spaced, joined].map { r -> [[String: Any]] in
            let images = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["images"] as? [[String: Any]])
            XCTAssertEqual(images.first?["image"] as? String, "-image.png")
            return try XCTUnwrap(images.first?["top"] as? [[String: Any]])
        }
        XCTAssertEqual(tops.map(\.count), [2, 2])
        XCTAssertEqual(tops[0].map { $0["class"] as? Int }, tops[1].map { $0["class"] as? Int })

        // A switch written with a value is refused, not read as the switch and a file named by the value.
        for written in ["--json=yes", "--dense=", "--json=false"] {
            assertUsage(try isp(["predict", out, "./-image.png", written]), mentions: ["\(written.split(separator: "=")[0]) takes no value"])
        }
        assertUsage(try isp(["info", out, "--json=no"]), mentions: ["--json takes no value"])
        // A short option is an unknown option, not a file; a name starting with '-' goes after --.
        assertUsage(try isp(["predict", out, "./-image.png", "-x"]), mentions: ["unknown option -x"])
        assertUsage(try isp(["predict", out, "-image.png"]), mentions: ["unknown option -image.png"])
        // Options that would change nothing are refused.
        assertUsage(try train("\(directory)/d.safetensors", extra: ["--decay-layers", "features.3"]), mentions: ["give --feature-decay"])
        assertUsage(try isp(["eval", out, "--prune", "max", "--alpha", "0.1", "--top-k", "100"]), mentions: ["--top-k 100 is more than the"])
        // More classes asked for than the model has: refused, not cut.
        assertUsage(try isp(["predict", out, "./-image.png", "--top", "11"]), mentions: ["--top 11 is more than the 10 classes"])
        assertUsage(try isp(["serve", out, "--top", "11", "--port", "0"]), mentions: ["--top 11 is more than the 10 classes"])
        let negativeZero = try isp(["predict", out, "./-image.png", "--prune", "max", "--alpha=-0", "--layers", "all"])
        XCTAssertEqual(negativeZero.status, 0, negativeZero.stderr)
        XCTAssertTrue(negativeZero.stderr.contains("max alpha 0.0 at"), negativeZero.stderr)
        assertUsage(try isp(["tune", out, "--out", "\(directory)/t.safetensors", "--images", "257"]),
                    mentions: ["--images 257: the training split has 256 images"])
        for extra in [["--version", "x"], ["help", "train", "x"], ["--help", "x"]] {
            let r = try isp(extra)
            XCTAssertEqual(r.status, 2, extra.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains("unexpected argument 'x'"), r.stderr)
        }
        let helpHelp = try isp(["help", "help"])
        XCTAssertEqual(helpHelp.status, 0, helpHelp.stderr)
        XCTAssertTrue(helpHelp.stdout.contains("isp help COMMAND"), helpHelp.stdout)
    }

    /// SIGINT or SIGTERM: the run stops between steps, says where and what the file holds, and
    /// exits 128 + the signal; the checkpoint on disk loads and matches the message.
    func testSignalsStopTrainingCleanly() throws {
        for (signal, status, name) in [(SIGINT, Int32(130), "SIGINT"), (SIGTERM, Int32(143), "SIGTERM")] {
            let out = "\(directory)/signal-\(name).safetensors"
            let (process, stdout, stderr) = try ISP.start(
                ["train", "--model", "vgg16", "--width", "0.125", "--batch-size", "8", "--epochs", "50", "--data-dir", data,
                 "--log-every", "1", "--out", out], in: directory, tag: name)
            // Interrupt once training is under way (the handlers are installed before the first step).
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, !((try? String(contentsOfFile: stdout, encoding: .utf8)) ?? "").contains(" step 2/") { usleep(5000) }
            if signal == SIGINT { usleep(800_000) }  // usually after the first checkpoint
            kill(process.processIdentifier, signal)
            let r = ISP.finish(process, stdout: stdout, stderr: stderr, timeout: 60)
            XCTAssertEqual(r.status, status, r.stderr)
            XCTAssertFalse(r.signaled)
            let last = r.stderrLines.last ?? ""
            XCTAssertTrue(last.hasPrefix("isp train: interrupted by \(name) at epoch "), last)
            if FileManager.default.fileExists(atPath: out) {
                let done = try XCTUnwrap(try metadata(out)["train.epochs_completed"])
                XCTAssertTrue(last.contains("\(out) holds the checkpoint after epoch \(done) of 50, intact; continue with: isp train --resume --out \(out)"), last)
                XCTAssertNoThrow(try Checkpoint.load(path: out))
            } else {
                XCTAssertTrue(last.hasSuffix("no checkpoint was written (the first comes after epoch 1)"), last)
            }
            XCTAssertEqual(ISP.temporaries(beside: out), [])
        }
    }

    // MARK: progress

    func testLongCommandsShowProgressOnStderrAndKeepStdoutClean() throws {
        let out = "\(directory)/m.safetensors"
        XCTAssertEqual(try train(out).status, 0)
        let now = ["ISP_PROGRESS_AFTER": "0"]  // every piece of work counts as long
        let cases: [([String], String)] = [
            (["eval", out, "--json"], "eval: "),
            (["eval", out, "--prune", "max", "--alpha", "0.1", "--latency-images", "8", "--calibration", "16", "--json"], "batch-1 latency: "),
            (["analyze", out, "--calibration", "32", "--json"], "calibration: "),
            (["sweep", out, "--out", "\(directory)/s", "--policies", "max", "--calibration", "16", "--json"], "sweep: "),
            (["bench", out, "--runs", "20", "--train-steps", "1", "--json"], "training: "),
            (["demo", out, "--out", "\(directory)/d", "--prune", "max", "--alpha", "0.1", "--calibration", "16", "--sweep-limit", "16", "--json"], "dense and pruned: "),
        ]
        for (arguments, label) in cases {
            let r = try isp(arguments, environment: now)
            XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
            let line = r.stderrLines.first { $0.contains(label) } ?? ""
            XCTAssertNotNil(line.range(of: #"\d+/\d+ \w+ \(\d+%\), \d+ \w+/s, (ETA|took) "#, options: .regularExpression),
                            "\(arguments): no progress line '\(label)' in \(r.stderr)")
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)), "\(arguments): stdout is not clean JSON: \(r.stdout)")
        }
        // The hook is never silently ignored.
        let bad = try isp(["info", out], environment: ["ISP_PROGRESS_AFTER": "soon"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderr, "isp: ISP_PROGRESS_AFTER must be a number of seconds, got 'soon'\n")
        // Without the override, short work prints no progress at all.
        XCTAssertFalse(try isp(["eval", out]).stderr.contains("eval: "))
    }

    // MARK: help

    func testHelpMatchesEveryCommand() throws {
        let version = try isp(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertEqual(version.stdout, "isp \(instanceSparsityVersion)\n")
        let overview = try isp(["--help"]).stdout
        let names = overview.split(separator: "\n").compactMap { $0.hasPrefix("  isp ") ? String($0.dropFirst(6).prefix { $0 != " " }) : nil }
        XCTAssertEqual(names.count, 13, overview)
        var valueOf: [String: (String, String)] = [:]  // flag -> (value name, command) across commands
        for name in names {
            let help = try isp(["help", name]), direct = try isp([name, "--help"])
            XCTAssertEqual(help.stdout, direct.stdout, "isp help \(name) differs from isp \(name) --help")
            let text = help.stdout
            let usage = String(text.split(separator: "\n")[0])
            // Every command that prints results offers them as JSON (serve answers JSON over HTTP).
            if name != "serve" { XCTAssertTrue(usage.contains("[--json]"), "\(name) prints results without --json") }
            // Every flag of the usage line has a described entry, and every entry is in the usage line.
            let usageFlags = Set(usage.matches(of: #/--[a-z0-9-]+/#).map { String($0.output) })
            let options = text.components(separatedBy: "options:\n").last ?? ""
            let entries = options.split(separator: "\n").filter { $0.hasPrefix("  --") }
            let described = Set(entries.map { String($0.dropFirst(2).prefix { $0 != " " }) })
            XCTAssertEqual(usageFlags, described, "\(name): usage and options differ")
            // Each description names its default (or that the option is required).
            var blocks: [String: String] = [:], current = ""
            for line in options.split(separator: "\n") {
                if line.hasPrefix("  --") { current = String(line.dropFirst(2).prefix { $0 != " " }); blocks[current] = String(line) }
                else if !current.isEmpty { blocks[current]! += " " + line.trimmingCharacters(in: .whitespaces) }
            }
            for (flag, block) in blocks {
                XCTAssertTrue(block.contains("default") || block.contains("required"), "\(name) \(flag): no default stated: \(block)")
            }
            // One name per concept: a flag takes the same value name in every command.
            for entry in entries {
                let parts = entry.dropFirst(2).split(separator: " ", maxSplits: 2)
                let flag = String(parts[0]), value = parts.count > 1 && !parts[1].hasPrefix("--") && parts[1].uppercased() == parts[1] || parts.count > 1 && parts[1].contains("|") ? String(parts[1]) : ""
                if let (seen, other) = valueOf[flag], flag != "--model", flag != "--out" {
                    XCTAssertEqual(seen, value, "\(flag) is '\(seen)' in \(other) but '\(value)' in \(name)")
                } else {
                    valueOf[flag] = (value, name)
                }
            }
            if usage.contains("--layers") { XCTAssertTrue(usage.contains("lowest-cv"), "\(name): --layers without lowest-cv") }
        }
        XCTAssertFalse(overview.contains("--sweep-images"))
    }

    func testTrainJSONSummary() throws {
        let r = try train("\(directory)/j.safetensors", extra: ["--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try r.json()
        XCTAssertEqual(object["epochs"] as? Int, 1)
        XCTAssertEqual(object["train_images"] as? Int, 128)
        XCTAssertNotNil(object["test_accuracy"] as? Double)
        XCTAssertTrue(r.stderr.contains("epoch 1/1 test accuracy"), "progress goes to stderr with --json")
    }

    /// `ISP_ISA=avx2` runs an AVX-512 machine as an AVX2 one (OpenBLAS's Haswell kernels and the
    /// engine's AVX2 kernels) and says so; a malformed value is a usage error naming it.
    func testInstructionSetCanBeChosen() throws {
        let args = ["bench", "--model", "vgg16", "--width", "0.125", "--runs", "10", "--no-train", "--json"]
        let r = try ISP.run(args, in: directory, environment: ["ISP_ISA": "avx2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try r.json()
        let blas = try XCTUnwrap(object["blas"] as? String)
        XCTAssertTrue(blas.contains("batch-1 convolution kernel avx2"), blas)
        XCTAssertTrue(blas.contains("OpenBLAS kernel Haswell"), blas)
        let bad = try ISP.run(args, in: directory, environment: ["ISP_ISA": "sse9"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderrLines, ["isp: ISP_ISA: 'sse9' is not an instruction set; use avx2 or avx512"])
    }

    /// `bench --passes-on-request` (benchmarks/interleave.py's partner): 'ready', then one line of
    /// that many positive times for each count read, with '|' and how many of them ran on one core;
    /// a line that is no count is a one-line error naming standard input; --json does not combine
    /// with it.
    func testBenchRunsPassesOnRequest() throws {
        let args = ["bench", "--model", "vgg16", "--width", "0.125", "--passes-on-request"]
        func counts(_ text: String) throws -> String {
            let path = "\(directory)/counts-\(text.count).txt"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let r = try ISP.run(args, in: directory, input: counts("3\n2\n"))
        XCTAssertEqual(r.status, 0, r.stderr)
        let replies = r.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: "|", omittingEmptySubsequences: false) }
        XCTAssertEqual(r.stdout.split(separator: "\n").first, "ready")
        XCTAssertEqual(replies.map(\.count), [2, 2], r.stdout)
        let lines = replies.map { $0[0].split(separator: " ").map { Double($0) } }
        XCTAssertEqual(lines.map(\.count), [3, 2], r.stdout)
        XCTAssertTrue(lines.joined().allSatisfy { ($0 ?? 0) > 0 }, r.stdout)
        let onOneCore = replies.map { Int($0[1].trimmingCharacters(in: .whitespaces)) }
        XCTAssertTrue(zip(onOneCore, [3, 2]).allSatisfy { count, n in count.map { (0...n).contains($0) } ?? false }, r.stdout)
        let bad = try ISP.run(args, in: directory, input: counts("2\nmany\n"))
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderrLines, ["isp bench: standard input: 'many' is not a count of passes from 1 to 100000"])
        let json = try ISP.run(args + ["--json"], in: directory, input: counts("1\n"))
        XCTAssertEqual(json.status, 2)
        XCTAssertTrue(json.stderr.contains("--json does not apply"), json.stderr)
    }

    // MARK: demo from anywhere

    /// An installed isp (PREFIX/bin/isp with PREFIX/share/isp/models, the layout `make install`
    /// writes) runs `demo` from any directory; without the models it says where it looked.
    func testDemoFindsTheShippedModelRelativeToTheExecutable() throws {
        let binary = try ISP.requireBinary()
        var model = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: model.path + "/models/vgg16-fd.safetensors") && model.path != "/" {
            model.deleteLastPathComponent()
        }
        let shipped = model.path + "/models/vgg16-fd.safetensors"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: shipped), "no shipped model in this checkout")
        let prefix = directory + "/prefix", elsewhere = directory + "/elsewhere"
        for d in [prefix + "/bin", prefix + "/share/isp/models", elsewhere] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: binary, toPath: prefix + "/bin/isp")
        let bare = try isp(["demo", "--data-dir", data], in: elsewhere, executable: prefix + "/bin/isp")
        XCTAssertEqual(bare.status, 1, bare.stderr)
        XCTAssertTrue(bare.stderr.contains("vgg16-fd.safetensors: the shipped model is not in \(prefix)/share/isp/models/vgg16-fd.safetensors"), bare.stderr)
        try FileManager.default.copyItem(atPath: shipped, toPath: prefix + "/share/isp/models/vgg16-fd.safetensors")
        let r = try isp(["demo", "--data-dir", data, "--calibration", "32", "--sweep-limit", "16"], in: elsewhere, executable: prefix + "/bin/isp")
        XCTAssertEqual(r.status, 0, r.stderr)
        // The shipped model's own operating point, stored in it by `isp tune`.
        XCTAssertTrue(r.stdout.contains("layers stored") && r.stdout.contains("(stored in \(prefix)/share/isp/models/vgg16-fd.safetensors, tuned on"), r.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: elsewhere + "/report/results.json"))
    }

    private func isp(_ arguments: [String], in cwd: String, executable: String) throws -> ISP.Result {
        try ISP.run(arguments, in: cwd, executable: executable, timeout: 120)
    }

    // MARK: report figures

    func testReportFiguresReadOnTheirOwn() throws {
        let out = "\(directory)/m.safetensors", report = "\(directory)/report"
        XCTAssertEqual(try train(out).status, 0)
        let r = try isp(["demo", out, "--out", report, "--prune", "max", "--alpha", "0.1", "--calibration", "16", "--sweep-limit", "32"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let svg = try String(contentsOfFile: report + "/sweep.svg", encoding: .utf8)
        XCTAssertTrue(svg.contains("operating point: max 0.1"), "operating point marked")
        XCTAssertTrue(svg.contains("Instance-wise curves start near"), "says where the instance-wise curves start and why")
        XCTAssertTrue(svg.contains("clip-path"), "lines below the zoomed axis are clipped, not drawn over the labels")
        let results = try String(contentsOfFile: report + "/results.json", encoding: .utf8)
        XCTAssertTrue(results.contains("\"alpha\" : 0.1,"), "alpha as written")
        XCTAssertFalse(results.contains("0.10000000149"))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(results.utf8)) as? [String: Any])
        XCTAssertEqual(object["dataset"] as? String, "fashion-mnist")
        let sweep = try XCTUnwrap(object["sweep"] as? [String: Any])
        let dense = try XCTUnwrap(sweep["accuracy_dense"] as? Double)
        // The y-axis starts at most 10 points (rounded to a tick) below dense, not at the worst point.
        let ticks = svg.matches(of: #/text-anchor="end">(\d+(?:\.\d+)?)<\/text>/#).compactMap { Double($0.output.1) }
        let lowest = try XCTUnwrap(ticks.min(), "y tick labels")
        XCTAssertGreaterThanOrEqual(lowest, 100 * dense - 15, "axis from \(lowest) with dense \(100 * dense)")
    }

    func testEasyHardSheetHasTitleHeadingsAndClassNames() throws {
        let images = Tensor(shape: [2, 1, 32, 32], repeating: 0.5)
        let set = Dataset(images: images, labels: [0, 9], classes: 10, name: "fashion-mnist", classNames: FashionMNIST.classNames)
        var grid = ImageGrid()
        grid.title = "easy and hard"
        grid.rows = [ImageGrid.Row(heading: "most pruned", tiles: [(0, ["63%", set.classNames[0]])]),
                     ImageGrid.Row(heading: "least pruned", tiles: [(1, ["12%", set.classNames[9]])])]
        let sheet = grid.render(data: set)
        func count(_ rgb: (UInt8, UInt8, UInt8), rows: Range<Int>) -> Int {
            var n = 0
            for y in rows where y < sheet.height {
                for x in 0..<sheet.width {
                    let o = (y * sheet.width + x) * 3
                    if sheet.pixels[o] == rgb.0 && sheet.pixels[o + 1] == rgb.1 && sheet.pixels[o + 2] == rgb.2 { n += 1 }
                }
            }
            return n
        }
        XCTAssertGreaterThan(count((0, 0, 0), rows: 0..<30), 100, "a title in black at the top")
        XCTAssertGreaterThan(count((40, 40, 140), rows: 0..<sheet.height), 100, "row headings")
        XCTAssertGreaterThan(count((200, 0, 0), rows: 0..<sheet.height), 30, "pruning ratios")
        // Class names: the second caption line of each tile is text in black below the image.
        let tileBottom = 8 + (6 * 3 + 12) + (6 * 2 + 8) + 32 * 3
        XCTAssertGreaterThan(count((0, 0, 0), rows: (tileBottom + 4 + 12)..<(tileBottom + 4 + 24)), 20, "class name under the ratio")
    }

    /// The Network Slimming pipeline on the binary: train with --bn-l1 (stored, checked on
    /// resume), slim by silent channels and by batch-norm scale to a MAC target, fine-tune the
    /// slimmed file with --init at its channel counts (with feature decay and --bn-l1), prune it
    /// instance-wise; an existing output is refused without --force.
    func testSlimAndFineTune() throws {
        let model = "\(directory)/m.safetensors", silent = "\(directory)/silent.safetensors", scaled = "\(directory)/scaled.safetensors"
        XCTAssertEqual(try train(model, extra: ["--bn-l1", "1e-4", "--feature-decay", "1e-3"]).status, 0)
        XCTAssertEqual(try metadata(model)["train.bn_l1"], "0.0001")
        assertUsage(try isp(["train", "--resume", "--out", model, "--epochs", "2", "--bn-l1", "0.001"]), mentions: ["--bn-l1 0.001", "0.0001", "conflicts with"])

        let r = try isp(["slim", model, "--out", silent, "--calibration", "64", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let s = try r.json()
        let maps = try XCTUnwrap(s["maps"] as? [[String: Any]])
        XCTAssertEqual(maps.count, 12)
        let slimmed = try Checkpoint.load(path: silent)
        let changed = maps.filter { ($0["channels_after"] as! Int) < ($0["channels_before"] as! Int) }
        XCTAssertEqual(slimmed.network.spec.channels, Dictionary(uniqueKeysWithValues: changed.map { ($0["name"] as! String, $0["channels_after"] as! Int) }))
        XCTAssertEqual(slimmed.network.slimmableMaps.map { $0.layout!.channels }, maps.map { $0["channels_after"] as! Int })
        XCTAssertEqual(s["macs_after"] as? Int, slimmed.network.macsPerImage)
        XCTAssertEqual(s["calibration_images"] as? Int, 64)
        XCTAssertEqual(s["test_images"] as? Int, SyntheticFashionMNIST.testCount)
        for key in ["accuracy_original", "accuracy_slimmed", "agreement", "images_with_active_removed_channels"] { XCTAssertNotNil(s[key] as? Double, key) }
        XCTAssertEqual(slimmed.metadata["slim.by"], "silent")
        XCTAssertNil(slimmed.metadata["train.epochs_completed"], "an inference file: nothing to resume")
        XCTAssertEqual(try isp(["info", silent]).stdout.contains("slimmed to its recorded channels"), !changed.isEmpty)
        let refused = try isp(["slim", model, "--out", silent])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("\(silent): exists: pass --force"), refused.stderr)
        assertUsage(try isp(["slim", model, "--out", scaled, "--by", "bn-scale"]), mentions: ["--macs-target"])
        assertUsage(try isp(["slim", model, "--out", scaled, "--macs-target", "0.5"]), mentions: ["--macs-target is for --by bn-scale"])

        let b = try isp(["slim", model, "--out", scaled, "--by", "bn-scale", "--macs-target", "0.5", "--json"])
        XCTAssertEqual(b.status, 0, b.stderr)
        let bs = try b.json()
        XCTAssertLessThanOrEqual(Double(try XCTUnwrap(bs["macs_after"] as? Int)), 0.5 * Double(try XCTUnwrap(bs["macs_before"] as? Int)))
        XCTAssertTrue(try isp(["info", scaled]).stdout.contains("slimmed to its recorded channels"))

        // Fine-tuning keeps the slimmed counts (and the width) without being told them.
        let tuned = "\(directory)/tuned.safetensors"
        let t = try isp(["train", "--model", "vgg16", "--init", scaled, "--feature-decay", "1e-3", "--bn-l1", "1e-4", "--batch-size", "32",
                         "--epochs", "1", "--data-dir", data, "--train-limit", "64", "--test-limit", "32", "--out", tuned])
        XCTAssertEqual(t.status, 0, t.stderr)
        let fine = try Checkpoint.load(path: tuned).network.spec
        XCTAssertEqual(fine.channels, try Checkpoint.load(path: scaled).network.spec.channels)
        XCTAssertEqual(fine.width, 0.125)
        let e = try isp(["eval", tuned, "--prune", "mean", "--alpha", "0.5", "--layers", "all", "--latency-images", "2", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let report = try e.json()
        XCTAssertEqual(report["channels"] as? [String: Int], fine.channels, "eval says which channel counts it ran")
    }
}

/// Normalisation has one source of truth: the statistics `isp train` computes from the training
/// split and stores in the checkpoint. The values the docs quote for padded Fashion-MNIST are
/// those of the shipped models, and the converter has no defaults of its own to disagree with them.
final class NormalisationSourceTests: XCTestCase {
    func testDocumentedStatisticsAreTheStoredOnes() throws {
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.path + "/Package.swift") && root.path != "/" { root.deleteLastPathComponent() }
        let shipped = root.path + "/models/vgg16-fd.safetensors"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: shipped), "no shipped model in this checkout")
        let spec = try Checkpoint.load(path: shipped).network.spec
        let mean = String(format: "%.4f", spec.mean[0]), std = String(format: "%.4f", spec.std[0])
        XCTAssertEqual([mean, std], ["0.2190", "0.3318"])
        for doc in ["README.md", "benchmarks/README.md"] {
            let text = try String(contentsOfFile: root.path + "/" + doc, encoding: .utf8)
            XCTAssertTrue(text.contains("'[\(mean)]'") && text.contains("'[\(std)]'"), "\(doc) quotes other statistics")
        }
        let converter = try String(contentsOfFile: root.path + "/benchmarks/convert.py", encoding: .utf8)
        XCTAssertNil(converter.range(of: #"\[0\.\d+\]\s*,\s*\[0\.\d+\]"#, options: .regularExpression), "convert.py has default statistics")
    }
}

/// `isp tune` stores an operating point in the checkpoint; `--prune stored` runs it without
/// calibration images, and a hostile stored point is refused with the file's name.
final class OperatingPointTests: TemporaryDirectoryTestCase {

    override func setUpWithError() throws {
        try super.setUpWithError()
        _ = try ISP.requireBinary()
        try SyntheticFashionMNIST.write(to: directory)
    }

    private func isp(_ arguments: [String]) throws -> ISP.Result { try ISP.run(arguments, in: directory, timeout: 120) }

    func testTuneStoresThePointAndPruneStoredUsesIt() throws {
        let model = "\(directory)/m.safetensors", tuned = "\(directory)/tuned.safetensors"
        XCTAssertEqual(try isp(["train", "--model", "vgg16", "--width", "0.125", "--batch-size", "32", "--epochs", "2", "--data-dir", directory,
                                "--train-limit", "192", "--out", model]).status, 0)
        let missing = try isp(["eval", model, "--prune", "stored"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("\(model): has no stored operating point"), missing.stderr)

        // By default up to 2000 images: all of a smaller split, and the count is reported.
        let whole = try isp(["tune", model, "--out", "\(directory)/whole.safetensors", "--calibration", "32", "--policies", "max", "--json"])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        XCTAssertEqual(try whole.json()["images"] as? Int, 256)
        let r = try isp(["tune", model, "--out", tuned, "--images", "64", "--calibration", "32", "--max-drop", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try r.json()
        XCTAssertEqual(summary["held_out"] as? Bool, true, "the last 64 of 256 images were not in the first 192")
        let accuracyDense = try XCTUnwrap(summary["accuracy_dense"] as? Double), accuracyPruned = try XCTUnwrap(summary["accuracy_pruned"] as? Double)
        XCTAssertLessThanOrEqual(100 * (accuracyDense - accuracyPruned), 2 + 1e-9)
        let loaded = try Checkpoint.load(path: tuned)
        let point = try XCTUnwrap(try OperatingPoint(metadata: loaded.metadata, network: loaded.network, path: tuned))
        XCTAssertEqual(point.policy.kind.rawValue, summary["policy"] as? String)
        XCTAssertEqual(point.layers, summary["layers"] as? [String])
        // Each stored gate's share of channels dropped is reported; gates left out as idle
        // dropped under 1% and are not stored.
        let dropped = try XCTUnwrap(summary["dropped_at_gate"] as? [String: Double])
        XCTAssertEqual(Set(dropped.keys), Set(point.layers))
        for share in dropped.values { XCTAssert(share >= 0 && share <= 1, "\(dropped)") }
        let leftOut = try XCTUnwrap(summary["idle_gates_left_out"] as? [String])
        XCTAssertTrue(Set(leftOut).isDisjoint(with: point.layers))
        if !leftOut.isEmpty { XCTAssert(dropped.values.allSatisfy { $0 >= 0.01 }, "\(dropped)") }
        XCTAssertEqual(loaded.velocity.count, loaded.network.parameters.count, "training state carried over")
        XCTAssertEqual(loaded.metadata["train.epochs_completed"], "2")

        // --prune stored: the same policy, alpha and maps, no calibration.
        let e = try isp(["eval", tuned, "--prune", "stored", "--latency-images", "4", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let report = try e.json()
        XCTAssertEqual(report["policy"] as? String, point.policy.kind.rawValue)
        XCTAssertEqual(report["alpha"] as? Double, Double("\(point.policy.alpha)"))
        XCTAssertEqual(report["layers"] as? [String], point.layers)
        XCTAssertEqual(Set(try XCTUnwrap(report["dropped_at_gate"] as? [String: Double]).keys), Set(point.layers))
        XCTAssertEqual(report["layer_selection"] as? String, "stored")
        XCTAssertFalse(e.stderr.contains("calibration"), "a stored point needs no calibration images")
        // info shows it (and says when a model has none).
        let i = try isp(["info", tuned, "--json"])
        let shown = try XCTUnwrap(try i.json()["operating_point"] as? [String: Any])
        XCTAssertEqual(shown["policy"] as? String, point.policy.kind.rawValue)
        XCTAssertEqual(shown["maps"] as? [String], point.layers)
        let measured = try XCTUnwrap(shown["measured"] as? [String: Any])
        XCTAssertEqual(measured["accuracy_pruned"] as? Double, Double(try XCTUnwrap(point.measured["accuracy_pruned"])), "numbers as numbers")
        XCTAssertEqual(measured["images"] as? String, point.measured["images"])
        XCTAssertTrue(try isp(["info", model]).stdout.contains("stored operating point: none"))
        // demo uses it without being told; contradicting flags are usage errors.
        let d = try isp(["demo", tuned, "--out", "\(directory)/report", "--sweep-limit", "16", "--json"])
        XCTAssertEqual(d.status, 0, d.stderr)
        XCTAssertEqual(try d.json()["policy"] as? String, point.policy.kind.rawValue)
        for extra in [["--alpha", "0.1"], ["--layers", "all"], ["--calibration", "10"]] {
            let u = try isp(["eval", tuned, "--prune", "stored"] + extra)
            XCTAssertEqual(u.status, 2, "\(extra): \(u.stderr)")
        }
        // reorder: the same point, accuracy and MACs from channels in another order; a model
        // without a point, MODEL as --out and an existing FILE without --force are refused.
        let reordered = "\(directory)/reordered.safetensors"
        let o = try isp(["reorder", tuned, "--out", reordered, "--calibration", "64", "--json"])
        XCTAssertEqual(o.status, 0, o.stderr)
        let ordered = try o.json()
        let orderedMaps = try XCTUnwrap(ordered["maps"] as? [[String: Any]])
        XCTAssertEqual(Set(orderedMaps.map { $0["name"] as! String }), Set(point.layers), "every VGG16 map can be reordered")
        XCTAssertLessThanOrEqual(try XCTUnwrap(ordered["largest_logit_difference"] as? Double),
                                 1e-4 * max(1, try XCTUnwrap(ordered["largest_logit"] as? Double)))
        let re = try XCTUnwrap(try OperatingPoint(metadata: try Checkpoint.load(path: reordered).metadata, network: loaded.network, path: reordered))
        XCTAssertEqual(re.policy, point.policy)
        XCTAssertEqual(re.layers, point.layers)
        let f = try isp(["eval", reordered, "--prune", "stored", "--latency-images", "4", "--json"])
        XCTAssertEqual(f.status, 0, f.stderr)
        let fromReordered = try f.json()
        for key in ["accuracy_dense", "accuracy_pruned"] { XCTAssertEqual(fromReordered[key] as? Double, report[key] as? Double, key) }
        XCTAssertEqual(try XCTUnwrap(fromReordered["macs_executed_mean"] as? Double), try XCTUnwrap(report["macs_executed_mean"] as? Double),
                       accuracy: 1e-3 * (report["macs_executed_mean"] as! Double))
        let none = try isp(["reorder", model, "--out", "\(directory)/none.safetensors"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("\(model): has no stored operating point"), none.stderr)
        XCTAssertEqual(try isp(["reorder", tuned, "--out", tuned]).status, 2)
        XCTAssertEqual(try isp(["reorder", tuned, "--out", reordered, "--calibration", "64"]).status, 1)
        // An existing other file is not replaced without --force; the model itself may be updated.
        XCTAssertEqual(try isp(["tune", model, "--out", tuned, "--images", "64", "--calibration", "32"]).status, 1)
        XCTAssertEqual(try isp(["tune", model, "--out", model, "--images", "64", "--calibration", "32", "--max-drop", "2"]).status, 0)
    }

    func testStoredPointsRoundTripAndHostileOnesAreRefused() throws {
        let network = try Network.make(ModelSpec(architecture: "vgg16", width: 0.0625))
        let channels = network.gateChannels
        let ranking = channels.map { c in (0..<c).reversed().map(Int32.init) }
        let point = OperatingPoint(policy: ThresholdPolicy(.staticTopK, alpha: 0.5), layers: ["features.3", "features.7"],
                                   ranking: ranking, measured: ["images": "test"])
        XCTAssertEqual(try OperatingPoint(metadata: point.metadata, network: network, path: "m"), point)
        XCTAssertNil(try OperatingPoint(metadata: [:], network: network, path: "m"))
        XCTAssertEqual(try point.plan(for: network).gates, [0, 1], "the maps feeding features.3 and features.7 are the first two gates")
        // With every map's channels reversed (`isp reorder`), the reversed ranking names 0, 1, 2, ...
        let reversed = Dictionary(uniqueKeysWithValues: network.slimmableMaps.map { ($0.label, Array((0..<$0.layout!.channels).reversed())) })
        XCTAssertEqual(reversed.count, network.gates.count, "every VGG16 map can be reordered")
        XCTAssertEqual(point.reordered(reversed, in: network).ranking, channels.map { c in (0..<c).map(Int32.init) })
        XCTAssertEqual(point.reordered([:], in: network), point)
        let hostile: [(String, String)] = [
            ("prune.policy", "median"), ("prune.alpha", "-1"), ("prune.alpha", "nan"), ("prune.layers", "features.99"),
            ("prune.ranking", "[[0]]"), ("prune.ranking", "not json"), ("prune.ranking", "[" + channels.map { _ in "[0,0]" }.joined(separator: ",") + "]"),
        ]
        for (key, value) in hostile {
            var m = point.metadata
            m[key] = value
            XCTAssertThrowsError(try OperatingPoint(metadata: m, network: network, path: "m.safetensors"), "\(key)=\(value)") { error in
                XCTAssertTrue("\(error)".hasPrefix("m.safetensors: metadata '\(key)'"), "\(error)")
            }
        }
    }
}
