import Foundation
import InstanceSparsity

enum BenchCommand: Command {
    static let name = "bench"
    static let synopsis = "(MODEL [--random-inputs] | --model vgg16|resnet18|mobilenetv2 [--width W])"
    static let abstract = """
    Speed on this machine: batch-1 latency (median and p90 over --runs passes after warm-up,
    every core this process may run on working on each image), batched throughput (one image
    stream per core), and training images/s (batch 128, SGD step included), with MACs per image
    and peak memory. With a MODEL file, its test images are the inputs and --prune measures the
    sparse executor; with --model, random inputs and weights.
    """
    static let options = [
        Option("--model", "vgg16|resnet18|mobilenetv2", "measure a randomly initialised network (required without MODEL)"),
        Option("--width", "W", "channel multiplier with --model (default 1)"),
        Option("--random-inputs", "a MODEL file without its data (converted torchvision weights) on random inputs; --prune then needs stored, or a policy other than static-topk with --layers all or a list of maps (default: its test images)"),
        Option("--runs", "N", "timed batch-1 passes (default 300)"),
        Option("--train-steps", "N", "timed training steps at batch 128 (default 5)"),
        Option("--no-train", "skip the training measurement (default: measure it)"),
        Option("--profile", "print where the batch-1 time goes, step by step (default: off)"),
        Option("--passes-on-request", "after warm-up print 'ready', then for each line of standard input holding a count N run N batch-1 passes and print their times in ms on one line, then '|' and how many of them ran on one core (the split choice), until end of input (another program alternates them with a peer's passes: benchmarks/peers.py --interleave); nothing else is measured (default: off)"),
        Option("--always-split", "split every batch-1 pass across the cores (default: each pass splits or runs on one core, whichever the last passes found faster; the logits are the same)"),
    ] + PruningRequest.options + LayerSelection.options + LoadedModel.options + [Option.json]

    static func run(_ a: inout Arguments, engine: Engine) throws {
        let json = try a.flag("--json"), profile = try a.flag("--profile"), skipTraining = try a.flag("--no-train")
        let alwaysSplit = try a.flag("--always-split"), onRequest = try a.flag("--passes-on-request")
        let runs = try a.number("--runs", default: 300, in: 10...1_000_000)
        let givenTrainSteps: Int? = try a.optionalNumber("--train-steps", in: 1...10_000)
        if skipTraining && givenTrainSteps != nil { throw UsageError(message: "--train-steps does not apply with --no-train") }
        let trainSteps = givenTrainSteps ?? 5
        if onRequest && (json || profile) {
            throw UsageError(message: "--passes-on-request answers in its own form on standard output; \(json ? "--json" : "--profile") does not apply")
        }
        let modelName = try a.option("--model"), randomInputs = try a.flag("--random-inputs")
        let width: Float? = try a.optionalNumber("--width", in: 0.0625...4)
        let pruningRequest = try PruningRequest.read(&a)
        let selection = try LayerSelection(&a)
        var network: Network
        var images: Tensor
        var plan: PruningPlan?
        var layerRule = ""
        if let modelName {
            if let flag = (LoadedModel.options + LayerSelection.options).map(\.flag).first(where: a.contains) {
                throw UsageError(message: "\(flag) applies to a MODEL file, not to --model")
            }
            try a.finish()
            guard ModelSpec.architectures.contains(modelName) else { throw UsageError(message: "unknown model '\(modelName)'") }
            guard pruningRequest == nil else { throw UsageError(message: "--prune needs a trained MODEL file (pruning random weights measures nothing)") }
            guard !randomInputs else { throw UsageError(message: "--random-inputs is for a MODEL file (--model always uses random inputs)") }
            network = try Network.make(ModelSpec(architecture: modelName, width: width ?? 1), engine: engine)
            images = randomImages(network.spec)
        } else if randomInputs {
            guard let path = a.positional() else { throw UsageError(message: "--random-inputs needs a MODEL file") }
            if let flag = LoadedModel.options.map(\.flag).first(where: a.contains) { throw UsageError(message: "\(flag) reads data; --random-inputs reads none") }
            try a.finish()
            let loaded = try Checkpoint.load(path: path, engine: engine)
            network = loaded.network
            images = randomImages(network.spec)
            if let pruningRequest {
                let pruning = try ResolvedPruning.withoutCalibration(pruningRequest, network: network, metadata: loaded.metadata,
                                                                     path: path, selection: selection)
                plan = pruning.plan; layerRule = pruning.layerRule
            }
        } else {
            if width != nil { throw UsageError(message: "--width applies to --model; a MODEL file has its own") }
            let model = try LoadedModel(&a, engine: engine)
            network = model.network
            let n = min(64, model.test.count)
            images = Tensor(shape: [0])
            var labels: [Int32] = []
            try BatchMaker(spec: network.spec).fill(images, labels: &labels, from: model.test, indices: Array(0..<n)[...], augmentation: nil)
            if let pruningRequest {
                let pruning = try ResolvedPruning.resolve(pruningRequest, model: model, selection: selection)
                plan = pruning.plan
                layerRule = pruning.layerRule
                note("pruning: \(pruning.choice.kind.rawValue) alpha \(pruning.choice.alpha), layers \(pruning.layerRule): \(pruning.plan.gates.sorted().map { network.gates[$0].label }.joined(separator: ", ")) (\(pruning.choice.origin))")
            } else if let flag = selection.given.first {
                throw UsageError(message: "\(flag) needs --prune")
            }
        }
        let spec = network.spec, size = images.count / images.shape[0], count = images.shape[0]

        // Batch-1 latency.
        let executor = SparseExecutor(network)
        executor.choosesSplit = !alwaysSplit
        plan?.apply(to: executor)
        for i in 0..<30 { executor.forward(images.data + (i % count) * size) }
        if onRequest { return try runPassesOnRequest(executor, images: images) }
        let passesBefore = executor.passes, onOneCoreBefore = executor.passesOnOneCore
        var times: [Double] = []
        var macs = 0
        let latencyProgress = Progress("batch-1 latency", total: runs, unit: "runs", style: Output.progress)
        for i in 0..<runs {
            latencyProgress.advance()
            let start = DispatchTime.now().uptimeNanoseconds
            executor.forward(images.data + (i % count) * size)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            if i < count { macs += executor.run(images.data + i * size).macs }
        }
        latencyProgress.finish()
        let onOneCore = Double(executor.passesOnOneCore - onOneCoreBefore) / Double(executor.passes - passesBefore)
        macs /= min(runs, count)
        times.sort()
        let median = times[times.count / 2], p90 = times[Int(0.9 * Double(times.count - 1))]

        // Throughput: one executor per core, each on its own images.
        let streamImages = 256
        let start = Date()
        engine.forEachShare(of: streamImages) { share, _ in
            let e = SparseExecutor(network)
            e.useAllCores = false
            plan?.apply(to: e)
            for i in share { e.forward(images.data + (i % count) * size) }
        }
        let throughput = Double(streamImages) / Date().timeIntervalSince(start)

        // Training: full steps on random data at batch 128.
        var trainRate = 0.0
        if !skipTraining {
            let trainee = try Network.make(spec, seed: 1, engine: engine)
            let batch = Tensor(shape: [128, spec.inputChannels, spec.inputSize, spec.inputSize])
            var rng = SeededGenerator(seed: 2)
            for i in 0..<batch.count { batch[i] = rng.normal() }
            let labels = (0..<128).map { Int32($0 % spec.classes) }
            let sgd = SGD(parameters: trainee.parameters.map(\.parameter), momentum: 0.9, nesterov: true, weightDecay: 5e-4, engine: engine)
            let grad = Tensor(shape: [128, spec.classes])
            func step() {
                trainee.zeroGradients()
                let logits = trainee.forward(batch, training: true)
                _ = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels[...], grad: grad)
                trainee.backward(grad)
                sgd.step(learningRate: 0.01)
            }
            step()
            let t0 = Date()
            let trainProgress = Progress("training", total: 128 * trainSteps, style: Output.progress)
            for _ in 0..<trainSteps { step(); trainProgress.advance(128) }
            trainProgress.finish()
            trainRate = Double(128 * trainSteps) / Date().timeIntervalSince(t0)
        }
        let peakMB = try peakResidentMegabytes()

        let steps = profile ? executor.profile(images.data, runs: max(20, runs / 5), images: count) : []
        let peak = profile ? engine.measureMultiplyAddPeak() : 0
        if json {
            var object: [String: Any] = [
                "architecture": spec.architecture, "width": jsonNumber(spec.width), "stem": spec.stem.rawValue,
                "input_size": spec.inputSize, "macs": macs,
                "latency_ms_median": median, "latency_ms_p90": p90, "latency_passes_on_one_core": onOneCore,
                "throughput_images_per_s": throughput,
                "train_images_per_s": skipTraining ? NSNull() : trainRate as Any, "peak_rss_mb": peakMB, "runs": runs, "blas": BLASRuntime.summary(engine: engine),
            ]
            if let plan { object["policy"] = plan.policy.kind.rawValue; object["alpha"] = jsonNumber(plan.policy.alpha); object["layers"] = layerRule }
            if profile {
                object["profile_ms"] = steps.map {
                    ["step": $0.label, "ms": 1000 * $0.seconds, "macs": $0.macs, "splits": $0.splits, "caller_ms": 1000 * $0.callerSeconds,
                     "worker_ms": 1000 * $0.workerSeconds, "wait_ms": 1000 * $0.waitSeconds]
                }
                object["multiply_add_peak_per_s"] = peak
            }
            printJSON(object)
            return
        }
        print(BLASRuntime.summary(engine: engine))
        printTable(["model", "MACs/image", "batch-1 median", "batch-1 p90", "on one core", "throughput", "training", "peak memory"], [[
            "\(spec.architecture) w\(spec.width) \(spec.stem.rawValue) \(spec.inputSize)px" + (plan.map { " \($0.policy.kind.rawValue) \($0.policy.alpha)" } ?? ""),
            formatCount(macs), String(format: "%.3f ms", median), String(format: "%.3f ms", p90), String(format: "%.0f%%", 100 * onOneCore),
            String(format: "%.0f img/s", throughput), skipTraining ? "-" : String(format: "%.0f img/s", trainRate),
            String(format: "%.0f MB", peakMB),
        ]])
        if profile {
            let total = steps.filter { !$0.label.hasSuffix("(add)") }.reduce(0) { $0 + $1.seconds }
            print("\nbatch-1 profile (medians, ms per image; residual '(add)' rows include their branch, '(bands)' rows are blocks run by bands of rows; peak: "
                  + String(format: "%.1f", peak / 1e9) + " G multiply-adds/s on \(engine.threads) threads, \(engine.isa.rawValue), measured now;"
                  + " splits: the step's jobs on the pool, the ms the caller and the busiest worker ran their tasks, and the caller then waited):")
            printTable(["step", "ms", "share", "MACs", "GMAC/s", "of peak", "splits", "caller", "worker", "waited"], steps.map { step in
                let rate = Double(step.macs) / step.seconds, split = step.splits > 0
                return [step.label, String(format: "%.4f", 1000 * step.seconds), String(format: "%.1f%%", 100 * step.seconds / total),
                        step.macs > 0 ? formatCount(step.macs) : "-", step.macs > 0 ? String(format: "%.1f", rate / 1e9) : "-",
                        step.macs > 0 ? String(format: "%.0f%%", 100 * rate / peak) : "-", split ? "\(step.splits)" : "-",
                        split ? String(format: "%.4f", 1000 * step.callerSeconds) : "-", split ? String(format: "%.4f", 1000 * step.workerSeconds) : "-",
                        split ? String(format: "%.4f", 1000 * step.waitSeconds) : "-"]
            })
        }
    }

    /// Batch-1 passes in the counts standard input asks for, each count answered with one line of
    /// times (ms), then '|' and how many of those passes ran their splits on one core. This VM's
    /// speed moves by up to 1.4x within seconds (docs/RESULTS.md, stop 51), so two engines compare
    /// fairly only when their passes alternate in short blocks; separate runs, each of hundreds of
    /// passes, measured the phase as much as the engine. (The count on one core: stop 61 saw an
    /// interleaved run's passes take 1.4x those of its separate rounds, and could not tell whether
    /// the split choice had gone to one core.)
    static func runPassesOnRequest(_ executor: SparseExecutor, images: Tensor) throws {
        let size = images.count / images.shape[0], count = images.shape[0]
        var next = 0
        print("ready")
        fflush(stdout)
        while let line = readLine() {
            guard let n = Int(line.trimmingCharacters(in: .whitespaces)), (1...100_000).contains(n) else {
                throw InputError("standard input", "'\(line)' is not a count of passes from 1 to 100000")
            }
            var times: [String] = []
            let onOneCoreBefore = executor.passesOnOneCore
            for _ in 0..<n {
                let start = DispatchTime.now().uptimeNanoseconds
                executor.forward(images.data + next * size)
                times.append(String(format: "%.4f", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6))
                next = (next + 1) % count
            }
            print(times.joined(separator: " ") + " | \(executor.passesOnOneCore - onOneCoreBefore)")
            fflush(stdout)
        }
    }

    /// Peak resident memory of this program (VmHWM). Not getrusage's ru_maxrss: that survives
    /// exec, so under a parent that forked us (benchmarks/peers.py, 986 MB of Python and
    /// PyTorch) it reported the parent's size instead of ours (476 MB).
    static func peakResidentMegabytes() throws -> Double {
        let path = "/proc/self/status"
        guard let status = try? String(contentsOfFile: path, encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else {
            throw InputError(path, "has no readable VmHWM line (peak memory)")
        }
        return kilobytes / 1024
    }

    /// 64 normalised images of the network's input shape, values from a standard normal.
    static func randomImages(_ spec: ModelSpec) -> Tensor {
        var rng = SeededGenerator(seed: 1)
        let images = Tensor(shape: [64, spec.inputChannels, spec.inputSize, spec.inputSize])
        for i in 0..<images.count { images[i] = rng.normal() }
        return images
    }
}
