import Foundation
import InstanceSparsity
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Tiny `isp train` runs on synthetic Fashion-MNIST files: a run killed while it writes a
/// checkpoint leaves the previous checkpoint (or none), never a torn file, and `--resume` then
/// ends with exactly the weights of an uninterrupted run; a diverging run stops with a clear
/// message and leaves the last good checkpoint untouched.
final class InterruptionTests: TemporaryDirectoryTestCase {
    private static let epochs = 3

    override func setUpWithError() throws {
        try super.setUpWithError()
        _ = try ISP.requireBinary()
        try SyntheticFashionMNIST.write(to: directory)
    }

    // MARK: fixtures

    private var dataFlags: [String] { ["--data-dir", directory, "--train-limit", "256", "--test-limit", "64"] }

    private func trainArguments(out: String, epochs: Int = InterruptionTests.epochs, extra: [String] = []) -> [String] {
        ["train", "--model", "vgg16", "--width", "0.125", "--batch-size", "32", "--epochs", "\(epochs)",
         "--seed", "11", "--log-every", "1", "--out", out] + dataFlags + extra
    }

    private func resumeArguments(out: String) -> [String] { ["train", "--resume", "--out", out, "--log-every", "1"] + dataFlags }

    private func bytes(_ path: String) -> [UInt8]? { (try? Data(contentsOf: URL(fileURLWithPath: path))).map { [UInt8]($0) } }

    private func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Every tensor of `a` and `b` bit for bit; returns the names that differ.
    private func differences(_ a: String, _ b: String) throws -> [String] {
        let x = try SafeTensors.read(path: a), y = try SafeTensors.read(path: b)
        XCTAssertEqual(Set(x.tensors.keys), Set(y.tensors.keys))
        var different: [String] = []
        for name in x.order {
            guard let s = x.tensors[name], let t = y.tensors[name], s.shape == t.shape else { different.append(name); continue }
            if !zip(s.buffer, t.buffer).allSatisfy({ $0.bitPattern == $1.bitPattern }) {
                let worst = zip(s.buffer, t.buffer).map { abs($0 - $1) }.max() ?? 0
                different.append("\(name) (max |diff| \(worst))")
            }
        }
        return different
    }

    /// A run to completion: the reference weights W.
    private func referenceRun() throws -> String {
        let out = "\(directory)/reference.safetensors"
        let r = try ISP.run(trainArguments(out: out), in: directory)
        XCTAssertEqual(r.status, 0, r.stderr)
        let loaded = try Checkpoint.load(path: out)
        XCTAssertEqual(loaded.metadata["train.epochs_completed"], "\(Self.epochs)")
        XCTAssertEqual(ISP.temporaries(beside: out), [])
        return out
    }

    // MARK: kill -9 during a checkpoint

    private struct Kill {
        var hit: Bool            // killed while a temporary file of OUT existed
        var temporary: String?   // the torn temporary file left behind (OUT.tmp-XXXXXX), if any
        var temporaryBytes: Int  // its size (-1 if none)
        var attempts: Int
    }

    /// Starts a fresh run and SIGKILLs it the moment a temporary file of OUT appears after epoch
    /// `epoch`'s test accuracy line (so the probe file made at start-up is not mistaken for it).
    private func killDuringCheckpoint(out: String, epoch: Int, maxAttempts: Int = 6) throws -> Kill {
        for attempt in 1...maxAttempts {
            unlink(out)
            for stale in ISP.temporaries(beside: out) { unlink(stale) }
            let (process, stdout, stderr) = try ISP.start(trainArguments(out: out), in: directory, tag: "kill\(epoch)-\(attempt)")
            let marker = "epoch \(epoch)/\(Self.epochs) test accuracy"
            let deadline = Date().addingTimeInterval(120)
            var killed = false
            // Wait for the line that precedes the checkpoint (stdout is line-buffered)...
            while process.isRunning && Date() < deadline {
                if let text = try? String(contentsOfFile: stdout, encoding: .utf8), text.contains(marker) { break }
                usleep(300)
            }
            // ...then spin until the temporary file exists and kill at once.
            var spins = 0, temporary: String? = nil
            while process.isRunning && Date() < deadline {
                if let found = ISP.temporaries(beside: out).first {
                    kill(process.processIdentifier, SIGKILL)
                    killed = true
                    temporary = found
                    break
                }
                spins += 1
                if spins % 5000 == 0, let text = try? String(contentsOfFile: stdout, encoding: .utf8),
                   text.contains("epoch \(epoch + 1)/") || text.contains("saved ") {
                    break  // missed the window
                }
            }
            let r = ISP.finish(process, stdout: stdout, stderr: stderr, timeout: 120)
            if killed && r.signaled && r.status == SIGKILL {
                var st = stat()
                let size = temporary.map { stat($0, &st) == 0 ? Int(st.st_size) : -1 } ?? -1
                return Kill(hit: true, temporary: size >= 0 ? temporary : nil, temporaryBytes: size, attempts: attempt)
            }
            if !killed { kill(process.processIdentifier, SIGKILL) }
            print("interruption: attempt \(attempt) at epoch \(epoch) missed the checkpoint window; retrying")
        }
        return Kill(hit: false, temporary: nil, temporaryBytes: -1, attempts: maxAttempts)
    }

    /// Killed during the first checkpoint: there is no checkpoint, or (if the kill landed just
    /// after the rename) the complete first one.
    func testKillDuringFirstCheckpointLeavesNoTornFile() throws {
        let out = "\(directory)/first.safetensors"
        let k = try killDuringCheckpoint(out: out, epoch: 1)
        guard k.hit else { return XCTFail("could not kill inside the checkpoint window in \(k.attempts) attempts") }
        print("interruption: killed during checkpoint 1 after \(k.attempts) attempt(s); OUT \(exists(out) ? "present" : "absent"), its temporary file \(k.temporaryBytes) bytes")
        if exists(out) {
            let loaded = try Checkpoint.load(path: out)
            XCTAssertEqual(loaded.metadata["train.epochs_completed"], "1")
        }
    }

    /// Killed during a later checkpoint: the previous one is intact, and resuming from it ends
    /// with bit-identical weights to the uninterrupted run.
    func testKillDuringCheckpointThenResumeMatchesUninterruptedRun() throws {
        let reference = try referenceRun()
        for epoch in 2...Self.epochs {
            let out = "\(directory)/killed-at-\(epoch).safetensors"
            let k = try killDuringCheckpoint(out: out, epoch: epoch)
            guard k.hit else {
                XCTFail("could not kill inside checkpoint \(epoch)'s window in \(k.attempts) attempts")
                continue
            }
            // Never a torn file: the previous epoch's checkpoint, or this epoch's if the kill
            // came right after the rename.
            XCTAssertTrue(exists(out), "checkpoint \(epoch - 1) is gone")
            let loaded = try Checkpoint.load(path: out)
            let completed = Int(loaded.metadata["train.epochs_completed"] ?? "") ?? -1
            XCTAssertTrue([epoch - 1, epoch].contains(completed), "epochs_completed \(completed)")
            XCTAssertEqual(loaded.velocity.count, loaded.network.parameters.count, "optimizer state saved")
            let full = bytes(reference)?.count ?? 0
            print("interruption: killed during checkpoint \(epoch) after \(k.attempts) attempt(s); OUT holds epoch \(completed); torn temporary file \(k.temporaryBytes) of \(full) bytes")

            let r = try ISP.run(resumeArguments(out: out), in: directory)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("resuming \(out) after epoch \(completed)"), r.stdout)
            // The killed run's torn temporary file stays (kill -9 gives no chance to remove it, and
            // no other run can know it is not in use); the resumed run leaves none of its own.
            XCTAssertEqual(Set(ISP.temporaries(beside: out)), Set([k.temporary].compactMap { $0 }), "resume left a temporary file behind")
            let different = try differences(reference, out)
            XCTAssertEqual(different, [], "resumed weights differ from the uninterrupted run")
            let a = try SafeTensors.read(path: reference).metadata, b = try SafeTensors.read(path: out).metadata
            XCTAssertEqual(a, b)
        }
    }

    // MARK: where files go

    private func listing(_ path: String) -> Set<String> {
        Set((FileManager.default.enumerator(atPath: path)?.allObjects as? [String]) ?? [])
    }

    /// train, resume, export, eval and sweep touch nothing but the paths named on the command line
    /// (their temporary files are gone afterwards): not the data directory, not the working
    /// directory, not the directory of the output beyond the named file.
    func testCommandsWriteOnlyTheNamedPaths() throws {
        let work = "\(directory)/cwd", outputs = "\(directory)/outputs"
        for d in [work, outputs] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let data = listing(directory)
        let model = "\(outputs)/model.safetensors", small = "\(outputs)/small.safetensors", report = "\(outputs)/report"
        let runs: [[String]] = [
            trainArguments(out: model, epochs: 1),
            resumeArguments(out: model) + ["--epochs", "2"],
            ["export", model, "--out", small],
            ["eval", small, "--data-dir", directory, "--test-limit", "32"],
            ["sweep", small, "--out", report, "--data-dir", directory, "--test-limit", "32", "--calibration", "32", "--policies", "mean"],
        ]
        for arguments in runs {
            let r = try ISP.run(arguments, in: work)
            XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
        }
        XCTAssertEqual(listing(directory).subtracting(data).filter { !$0.hasPrefix("cwd/") && !$0.hasPrefix("outputs/") }, [])
        XCTAssertEqual(listing(work), ["run.stdout", "run.stderr"], "only the test's own logs")  // written by the harness
        XCTAssertEqual(listing(outputs), ["model.safetensors", "small.safetensors", "report", "report/sweep.json",
                                          "report/sweep.svg", "report/pruning-hist.svg", "report/easy-hard.png"])
    }

    // MARK: divergence

    private func assertDivergence(_ r: ISP.Result, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        XCTAssertFalse(r.signaled, file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr, file: file, line: line)
        // The step and the layer: a weight or gradient by name, or the first layer whose output broke.
        // A broken tensor may be named right away (a running variance after the epoch) or after the loss.
        let pattern = #"^isp train: training diverged at epoch \d+ step \d+: (.*(nan|inf|not finite).*)?('[\w.]+' is not finite|gradient of '[\w.]+'|first non-finite output at layer '[\w.]+' \(\w+\)).*last good checkpoint is kept"#
        XCTAssertNotNil(r.stderr.range(of: pattern, options: .regularExpression), r.stderr, file: file, line: line)
    }

    /// Rewrites a checkpoint with its optimizer velocity for one weight set to `value`: the next
    /// optimizer step throws that weight far out, and the step after overflows.
    private func poisonVelocity(_ path: String, value: Float) throws {
        let contents = try SafeTensors.read(path: path)
        let name = Checkpoint.optimizerPrefix + "features.0.weight"
        let target = try XCTUnwrap(contents.tensors[name])
        for i in 0..<target.count { target.data[i] = value }
        try SafeTensors.write(path: path, tensors: contents.order.map { ($0, contents.tensors[$0]!) }, metadata: contents.metadata)
    }

    func testDivergenceStopsAndKeepsLastGoodCheckpoint() throws {
        // A good first epoch, then a run that diverges: once within an epoch (caught by the loss
        // check at a step), once on the epoch's last step (caught only after the epoch, before
        // the checkpoint would be overwritten with a broken network).
        let good = "\(directory)/good.safetensors"
        // A one-epoch warm-up (the default of isp 0.2): the poisoned velocity below diverges at the
        // places this test is about from the weights that schedule gives.
        let first = try ISP.run(trainArguments(out: good, epochs: 1, extra: ["--warmup", "1"]), in: directory)
        XCTAssertEqual(first.status, 0, first.stderr)
        // Epochs 1 of 3 done, as if the run had been stopped after the first checkpoint.
        let contents = try SafeTensors.read(path: good)
        var metadata = contents.metadata
        metadata["train.epochs"] = "\(Self.epochs)"
        try SafeTensors.write(path: good, tensors: contents.order.map { ($0, contents.tensors[$0]!) }, metadata: metadata)
        try poisonVelocity(good, value: 1e38)
        let before = bytes(good)

        for trainLimit in ["256", "32"] {  // 8 steps per epoch, then a single one
            let out = "\(directory)/diverge-\(trainLimit).safetensors"
            try Data(before!).write(to: URL(fileURLWithPath: out))
            var arguments = resumeArguments(out: out)
            arguments[arguments.firstIndex(of: "--train-limit")! + 1] = trainLimit
            if trainLimit != "256" {  // the stored run's limit (a different --train-limit would be a conflict)
                let poisoned = try SafeTensors.read(path: out)
                var edited = poisoned.metadata
                edited["train.train_limit"] = trainLimit
                edited["train.images"] = trainLimit  // the split it gives, which --resume checks
                try SafeTensors.write(path: out, tensors: poisoned.order.map { ($0, poisoned.tensors[$0]!) }, metadata: edited)
            }
            let fileBefore = bytes(out)
            let r = try ISP.run(arguments, in: directory)
            assertDivergence(r)
            print("interruption: divergence with --train-limit \(trainLimit): \(r.stderr.trimmingCharacters(in: .newlines))")
            XCTAssertTrue(bytes(out) == fileBefore, "the last good checkpoint was modified")
            XCTAssertEqual(ISP.temporaries(beside: out), [])
            XCTAssertNoThrow(try Checkpoint.load(path: out))
        }

        // A NaN planted in the last linear layer of the clean checkpoint: refused on loading, by
        // the tensor's name. Planted in that layer's velocity instead, the first step's update
        // makes its weights NaN, the loss of the next step is NaN, and the message names exactly
        // that layer. (A NaN inside the convolutions may be hidden by ReLU and max pooling, and is
        // then caught after the epoch by name.)
        let linear = try XCTUnwrap(contents.order.last { !$0.hasPrefix(Checkpoint.optimizerPrefix) && $0.hasSuffix(".weight") && contents.tensors[$0]!.shape.count == 2 })
        for poisoned in [linear, Checkpoint.optimizerPrefix + linear] {
            let plantedTensors = contents.order.map { name -> (String, Tensor) in
                let t = contents.tensors[name]!
                guard name == poisoned else { return (name, t) }
                let copy = Tensor(shape: t.shape, values: t.array)
                copy.data[copy.count / 2] = .nan
                return (name, copy)
            }
            let planted = "\(directory)/planted.safetensors"
            try SafeTensors.write(path: planted, tensors: plantedTensors, metadata: metadata)
            let plantedBytes = bytes(planted)
            let p = try ISP.run(resumeArguments(out: planted), in: directory)
            if poisoned == linear {
                XCTAssertEqual(p.status, 1, p.stderr)
                XCTAssertTrue(p.stderr.contains("\(planted): tensor '\(linear)' holds a NaN or infinite value"), p.stderr)
            } else {
                assertDivergence(p)
                let layer = String(linear.dropLast(".weight".count))
                XCTAssertTrue(p.stderr.contains("at epoch 2 step 2: loss is") && p.stderr.contains("layer '\(layer)' (Linear)"), p.stderr)
                print("interruption: NaN planted in \(poisoned): \(p.stderr.trimmingCharacters(in: .newlines))")
            }
            XCTAssertEqual(bytes(planted), plantedBytes)
        }

        // An absurd learning rate from scratch: with a warm-up batch norm usually keeps it finite.
        // Either the run completes with a finite network, or it stops with the message and an intact file.
        let wild = "\(directory)/wild.safetensors"
        let r = try ISP.run(trainArguments(out: wild, extra: ["--lr", "10", "--weight-decay", "0"]), in: directory)
        if r.status == 0 {
            let loaded = try SafeTensors.read(path: wild)
            for (name, t) in loaded.tensors { XCTAssertTrue(t.buffer.allSatisfy(\.isFinite), "\(name) not finite") }
            print("interruption: --lr 10 --weight-decay 0 finished without diverging (test accuracy \(loaded.metadata["test_accuracy"] ?? "?"))")
        } else {
            assertDivergence(r)
            if exists(wild) { XCTAssertNoThrow(try Checkpoint.load(path: wild)) }
        }

        // With weight decay 1 the same rate scales every weight by -9 per step, which diverges
        // whatever the data: stopped in the first epoch with the message, and nothing written.
        let diverged = "\(directory)/diverged.safetensors"
        let d = try ISP.run(trainArguments(out: diverged, extra: ["--lr", "10", "--weight-decay", "1"]), in: directory)
        assertDivergence(d)
        print("interruption: --lr 10 --weight-decay 1: \(d.stderr.trimmingCharacters(in: .newlines))")
        XCTAssertFalse(exists(diverged) || !ISP.temporaries(beside: diverged).isEmpty, "a diverged first epoch must write nothing")
    }

    /// Training state in the checkpoint is as untrusted as the rest of it.
    func testResumeRejectsHostileTrainingMetadata() throws {
        let good = "\(directory)/state.safetensors"
        let first = try ISP.run(trainArguments(out: good, epochs: 1), in: directory)
        XCTAssertEqual(first.status, 0, first.stderr)
        let contents = try SafeTensors.read(path: good)
        let edits: [(String, String?)] = [
            ("train.batch_size", "0"), ("train.batch_size", "-5"), ("train.epochs", "0"), ("train.epochs", "99999999"),
            ("train.lr", "1e30"), ("train.lr", "nan"), ("train.momentum", "-1"), ("train.weight_decay", "inf"),
            ("train.epochs_completed", "-1"), ("train.epochs_completed", "7"), ("train.epochs_completed", "x"),
            ("train.epochs_completed", nil), ("train.seed", "-1"), ("train.nesterov", "maybe"), ("train.feature_decay", nil),
        ]
        for (key, value) in edits {
            let path = "\(directory)/edited.safetensors"
            var metadata = contents.metadata
            metadata[key] = value
            try SafeTensors.write(path: path, tensors: contents.order.map { ($0, contents.tensors[$0]!) }, metadata: metadata)
            let r = try ISP.run(resumeArguments(out: path), in: directory, timeout: 60)
            XCTAssertEqual(r.status, 1, "\(key)=\(value ?? "nil"): \(r.stderr)")
            XCTAssertFalse(r.signaled, "\(key)=\(value ?? "nil") crashed")
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(path), r.stderr)
            XCTAssertFalse(r.stdout.contains("step 1/"), "\(key)=\(value ?? "nil") started training")
        }
    }
}
