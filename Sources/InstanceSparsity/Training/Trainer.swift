import Foundation
import Synchronization

/// Everything that shapes a training run. All of it is stored in the checkpoint (`metadata`), so
/// `--resume` continues the same experiment; only `logEvery` is about output, not the result.
public struct TrainingOptions: Equatable {
    public var epochs = 30
    public var batchSize = 128
    public var learningRate: Float = 0.05
    public var momentum: Float = 0.9
    public var nesterov = true
    public var weightDecay: Float = 5e-4
    /// Linear warm-up length in epochs (fractions allowed); nil means `defaultWarmup(epochs:)`.
    public var warmupEpochs: Double? = nil
    public var seed: UInt64 = 1
    /// lambda of the feature decay regulariser; 0 trains the plain baseline.
    public var featureDecay: Float = 0
    /// Labels of the gates to regularise; nil means all of them.
    public var decayLayers: [String]? = nil
    /// Network Slimming's L1 strength on the slimmable maps' batch-norm scales (`ScaleSparsity`); 0: none.
    public var scaleSparsity: Float = 0
    /// Random crop (pad 4) and horizontal flip of training images.
    public var augment = true
    /// The first N images of each split (nil: all).
    public var trainLimit: Int? = nil
    public var testLimit: Int? = nil
    /// Class folders: files that cannot be decoded are left out rather than an error.
    public var skipBad = false
    /// Several processes: batch-norm statistics over the batch of all of them (as one process
    /// would compute them), not over each one's part (PyTorch DDP's default, and this one's).
    public var syncBatchNorm = false
    public var logEvery = 50

    public init() {}

    /// One epoch, or a tenth of the run if that is shorter, as PyTorch recipes warm up: a short
    /// run must not end at the peak rate (a 1-epoch run with a 1-epoch warm-up reached 45.7%).
    public static func defaultWarmup(epochs: Int) -> Double { min(1, Double(epochs) / 10) }

    public var resolvedWarmupEpochs: Double { warmupEpochs ?? Self.defaultWarmup(epochs: epochs) }

    /// The options as checkpoint metadata (warm-up resolved, so extending a run keeps it).
    public var metadata: [String: String] {
        ["train.epochs": "\(epochs)", "train.batch_size": "\(batchSize)", "train.lr": "\(learningRate)",
         "train.momentum": "\(momentum)", "train.nesterov": "\(nesterov)", "train.weight_decay": "\(weightDecay)",
         "train.warmup_epochs": "\(resolvedWarmupEpochs)", "train.seed": "\(seed)",
         "train.feature_decay": "\(featureDecay)", "train.decay_layers": decayLayers?.joined(separator: ",") ?? "all",
         "train.augment": "\(augment)", "train.train_limit": trainLimit.map(String.init) ?? "all",
         "train.test_limit": testLimit.map(String.init) ?? "all", "train.skip_bad": "\(skipBad)",
         "train.bn_l1": "\(scaleSparsity)", "train.sync_bn": "\(syncBatchNorm)"]
    }

    /// The options a checkpoint was trained with, held to the same ranges as the flags (a batch
    /// size of 0 from an edited file would otherwise divide by zero). `path` names the file in errors.
    public init(metadata m: [String: String], path: String) throws {
        func value<T: LosslessStringConvertible>(_ key: String) throws -> T {
            guard let text = m[key], let v = T(text) else { throw InputError(path, "training metadata '\(key)' is missing or malformed") }
            return v
        }
        func value<T: LosslessStringConvertible & Comparable>(_ key: String, in range: ClosedRange<T>) throws -> T {
            let v: T = try value(key)
            guard range.contains(v) else {
                throw InputError(path, "training metadata '\(key)' is \(v), outside \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
        /// "all" or a count; checkpoints from before these keys existed used every image.
        func limit(_ key: String) throws -> Int? {
            guard let text = m[key], text != "all" else { return nil }
            return try value(key, in: 1...Int.max)
        }
        epochs = try value("train.epochs", in: 1...10_000); batchSize = try value("train.batch_size", in: 1...4096)
        learningRate = try value("train.lr", in: 1e-6...10); momentum = try value("train.momentum", in: 0...1)
        nesterov = try value("train.nesterov"); weightDecay = try value("train.weight_decay", in: 0...1)
        warmupEpochs = try value("train.warmup_epochs", in: 0...1000); seed = try value("train.seed")
        featureDecay = try value("train.feature_decay", in: 0...100)
        let layers: String = try value("train.decay_layers")
        decayLayers = layers == "all" ? nil : layers.split(separator: ",").map(String.init)
        augment = m["train.augment"] == nil ? true : try value("train.augment")
        trainLimit = try limit("train.train_limit")
        testLimit = try limit("train.test_limit")
        skipBad = m["train.skip_bad"] == nil ? false : try value("train.skip_bad")
        scaleSparsity = m["train.bn_l1"] == nil ? 0 : try value("train.bn_l1", in: 0...100)
        syncBatchNorm = m["train.sync_bn"] == nil ? false : try value("train.sync_bn")
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case nonFinite(epoch: Int, step: Int, what: String)
    /// Several processes: a batch (the last of an epoch, or all) has fewer images than processes.
    case batchSmallerThanProcesses(images: Int, processes: Int, trainImages: Int, batchSize: Int)
    /// Several processes hold different weights (`when`: "before training", "after epoch 3").
    case weightsDiffer(ranks: [Int], when: String)
    /// Several processes were started with different training options or data.
    case setupDiffers(ranks: [Int])
    /// Stopped by a signal between steps (`step` steps of `epoch` were done).
    case interrupted(signal: Int32, epoch: Int, step: Int, stepsPerEpoch: Int)

    public var description: String {
        switch self {
        case let .nonFinite(epoch, step, what):
            return "training diverged at epoch \(epoch) step \(step): \(what); the last good checkpoint is kept (try a lower --lr)"
        case let .batchSmallerThanProcesses(images, processes, trainImages, batchSize):
            guard batchSize >= processes else {
                return "--batch-size \(batchSize) is smaller than the \(processes) processes (each needs at least one image of every batch): give at least \(processes)"
            }
            return "\(trainImages) training images in batches of \(batchSize) give a batch of \(images) images, fewer than the \(processes) processes (each needs at least one image of every batch): choose a --batch-size or --train-limit that leaves none or at least \(processes) for the last batch"
        case let .weightsDiffer(ranks, when):
            return "\(TrainingError.naming(ranks)) other weights than rank 0 \(when): every process must start from the same files (the same --init or --resume checkpoint on every machine)"
        case let .setupDiffers(ranks):
            return "\(TrainingError.naming(ranks)) other training options or data than rank 0 (the options, or the number of training or test images): every process must get the same command line and the same data"
        case let .interrupted(signal, epoch, step, steps):
            return "interrupted by \(signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "signal \(signal)") at epoch \(epoch) step \(step)/\(steps)"
        }
    }

    /// "rank 1 holds", "ranks 1, 3 hold".
    private static func naming(_ ranks: [Int]) -> String {
        ranks.count == 1 ? "rank \(ranks[0]) holds" : "ranks \(ranks.map(String.init).joined(separator: ", ")) hold"
    }
}

/// A stop asked for from outside the training loop (a signal handler): the loop checks it between
/// steps, so a checkpoint being written is always finished first.
public final class StopRequest: Sendable {
    private let raised = Atomic<Int32>(0)

    public init() {}

    public func request(signal: Int32) { raised.store(signal, ordering: .relaxed) }
    public var signal: Int32? { let s = raised.load(ordering: .relaxed); return s == 0 ? nil : s }
}

/// The training loop: SGD over shuffled, augmented batches, evaluation after each epoch, and an
/// atomic checkpoint after each epoch.
///
/// Data parallel over `processes`: every batch is one of the whole run (which images and how they
/// are augmented depend only on the seed, the epoch and the image index), each process takes a
/// contiguous part of it, and the gradients of the parts, each scaled by its share of the batch,
/// are added across processes before the same SGD step on every process. With `syncBatchNorm`
/// the batch-norm statistics are the whole batch's too, so N processes compute what one would,
/// up to the order of float sums; without, each process normalises its part (as PyTorch DDP) and
/// the running statistics are averaged over processes after every epoch.
public final class Trainer {
    public let network: Network
    public let options: TrainingOptions
    public let optimizer: SGD
    public let processes: ProcessGroup
    private let train: any DataSplit
    private let test: any DataSplit
    private let regularized: [ChannelGate]
    private let scaleSparsity: ScaleSparsity
    /// All parameters' gradients end to end, for adding them up across processes in one call.
    private let gradientSums: Tensor
    /// Time spent adding gradients across processes (waiting for the slowest included), and steps.
    public private(set) var allReduceSeconds = 0.0
    public private(set) var steps = 0

    public init(network: Network, train: any DataSplit, test: any DataSplit, options: TrainingOptions,
                processes: ProcessGroup = SingleProcess()) {
        self.network = network; self.train = train; self.test = test; self.options = options
        self.processes = processes
        optimizer = SGD(parameters: network.parameters.map(\.parameter), momentum: options.momentum,
                        nesterov: options.nesterov, weightDecay: options.weightDecay, engine: network.engine)
        let chosen = options.decayLayers.map(Set.init)
        regularized = network.gates.filter { chosen?.contains($0.label) ?? true }
        for gate in network.gates { gate.featureDecay = 0 }
        for gate in regularized { gate.featureDecay = options.featureDecay }
        scaleSparsity = ScaleSparsity(network, strength: options.scaleSparsity)
        let together = processes.size > 1
        for (_, bn) in network.batchNorms { bn.synchronized = together && options.syncBatchNorm ? processes : nil }
        gradientSums = Tensor(shape: [together ? network.parameterCount : 0])
    }

    /// Optimizer velocity by parameter name, as `Checkpoint.save(..., velocity:)` stores it.
    public var namedVelocity: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: zip(network.parameters.map(\.name), optimizer.velocity))
    }

    /// Restores optimizer velocity saved by `Checkpoint.save(..., velocity:)`.
    public func restoreVelocity(_ saved: [String: Tensor]) {
        for ((name, _), v) in zip(network.parameters, optimizer.velocity) {
            if let s = saved[name], s.shape == v.shape { v.copy(from: s) }
        }
    }

    public var stepsPerEpoch: Int { (train.count + options.batchSize - 1) / options.batchSize }

    /// Trains epochs `startEpoch..<options.epochs`, calling `checkpoint(epochsCompleted)` after each.
    /// `stop` is checked before every step and before each epoch's evaluation.
    public func run(startEpoch: Int = 0, stop: StopRequest? = nil, log: (String) -> Void,
                    checkpoint: (Int, EvaluationResult) throws -> Void) throws {
        let schedule = LearningRateSchedule(peak: options.learningRate,
                                            warmupSteps: Int((options.resolvedWarmupEpochs * Double(stepsPerEpoch)).rounded()),
                                            totalSteps: options.epochs * stepsPerEpoch)
        let maker = BatchMaker(spec: network.spec)
        let dLogits = Tensor(shape: [0])
        let runStart = Date()
        var imagesSeen = 0
        let smallest = train.count % options.batchSize == 0 ? options.batchSize : min(options.batchSize, train.count % options.batchSize)
        guard smallest >= processes.size else {
            throw TrainingError.batchSmallerThanProcesses(images: smallest, processes: processes.size, trainImages: train.count,
                                                          batchSize: options.batchSize)
        }
        try checkSameSetup()
        try checkSameWeights(when: "before training")
        for epoch in startEpoch..<options.epochs {
            // Every epoch's randomness derives from (seed, epoch), so resuming reproduces it.
            var rng = SeededGenerator(seed: options.seed &* 1_000_003 &+ UInt64(epoch))
            var order = Array(0..<train.count)
            order.shuffle(using: &rng)
            let dropoutSeed = rng.next(), augmentation = Augmentation(seed: rng.next())
            // The batches of the whole run, and this process's part of each, filled ahead on another thread.
            let batches = order.batches(of: options.batchSize)
            let parts = batches.map { processes.share(of: $0.count) }
            let stream = BatchStream(train, maker: maker, batches: zip(batches, parts).map { batch, part in
                batch[(batch.startIndex + part.lowerBound)..<(batch.startIndex + part.upperBound)]
            }, augmentation: options.augment ? augmentation : nil)
            var lossSum = 0.0, correct = 0, seen = 0, penaltySum = 0.0
            var intervalStart = Date(), intervalImages = 0
            for step in 0..<stepsPerEpoch {
                if let signal = stop?.signal {
                    throw TrainingError.interrupted(signal: signal, epoch: epoch + 1, step: step, stepsPerEpoch: stepsPerEpoch)
                }
                guard let (batch, labels) = try stream.next() else { break }
                var stepDraws = SeededGenerator(seed: dropoutSeed, item: step)
                let stepSeed = stepDraws.next()
                network.root.visit { _, layer in (layer as? Dropout)?.reseed(stepSeed, firstRow: parts[step].lowerBound) }
                // This process's loss is its share of the batch's mean loss: the mean over its
                // images times images / batch images. Feature decay is part of it.
                let whole = batches[step].count, share = Float(labels.count) / Float(whole)
                for gate in regularized { gate.featureDecay = options.featureDecay * share }
                network.zeroGradients()
                let logits = network.forward(batch, training: true)
                dLogits.resize(logits.shape)
                let (loss, right) = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels[...], grad: dLogits)
                for i in 0..<dLogits.count { dLogits[i] *= share }
                // The scales' term is on the weights, the same on every process: each adds its share.
                let penalty = regularized.reduce(scaleSparsity.penalty * share) { $0 + $1.penalty }
                guard loss.isFinite && penalty.isFinite else {
                    let culprit = firstNonFiniteLayer(batch, training: true).map { "first non-finite output at \($0)" }
                        ?? "every layer output is finite"
                    throw TrainingError.nonFinite(epoch: epoch + 1, step: step + 1, what: "loss is \(loss), regularizer \(penalty); \(culprit)")
                }
                network.backward(dLogits)
                sumGradients()
                // After the sum: every process adds the same subgradient once.
                scaleSparsity.accumulateGradient()
                if let bad = firstNonFiniteGradient() {
                    throw TrainingError.nonFinite(epoch: epoch + 1, step: step + 1, what: "gradient of '\(bad)' is not finite")
                }
                optimizer.step(learningRate: schedule.rate(atStep: epoch * stepsPerEpoch + step))
                lossSum += Double(loss) * Double(labels.count)
                penaltySum += Double(penalty) * Double(whole)
                correct += right; seen += labels.count
                intervalImages += whole; imagesSeen += whole
                if (step + 1) % options.logEvery == 0 || step + 1 == stepsPerEpoch {
                    // Sums over all processes: every process takes part, process 0 prints.
                    var totals = [lossSum, penaltySum, Double(correct), Double(seen)]
                    processes.sumAll(&totals)
                    let rate = Double(intervalImages) / max(Date().timeIntervalSince(intervalStart), 1e-9)
                    let overall = Double(imagesSeen) / max(Date().timeIntervalSince(runStart), 1e-9)
                    let remaining = Double((options.epochs - epoch) * train.count - Int(totals[3])) / overall
                    var line = String(format: "epoch %d/%d step %d/%d loss %.4f acc %.2f%%", epoch + 1, options.epochs,
                                      step + 1, stepsPerEpoch, totals[0] / totals[3], 100 * totals[2] / totals[3])
                    if !regularized.isEmpty && options.featureDecay > 0 {
                        line += String(format: " reg %.4f silent %.1f%%", totals[1] / totals[3], 100 * silentFraction())
                    } else if options.scaleSparsity > 0 {
                        line += String(format: " reg %.4f", totals[1] / totals[3])
                    }
                    line += String(format: " lr %.4f %.0f img/s ETA %@", schedule.rate(atStep: epoch * stepsPerEpoch + step),
                                   rate, formatDuration(remaining))
                    if processes.size > 1 {
                        line += String(format: " (%d processes, allreduce %.1f ms/step)", processes.size, 1000 * allReduceSeconds / Double(steps))
                    }
                    log(line)
                    intervalStart = Date(); intervalImages = 0
                }
            }
            if let signal = stop?.signal {
                throw TrainingError.interrupted(signal: signal, epoch: epoch + 1, step: stepsPerEpoch, stepsPerEpoch: stepsPerEpoch)
            }
            if processes.size > 1 && !options.syncBatchNorm { averageRunningStatistics() }
            let result = try evaluate(network, on: test, processes: processes)
            var totals = [lossSum, Double(correct), Double(seen)]
            processes.sumAll(&totals)
            log(String(format: "epoch %d/%d test accuracy %.2f%% loss %.4f (train loss %.4f acc %.2f%%)", epoch + 1,
                       options.epochs, 100 * result.accuracy, result.loss, totals[0] / totals[2], 100 * totals[1] / totals[2]))
            if let what = try nonFiniteState(testLoss: result.loss) {
                throw TrainingError.nonFinite(epoch: epoch + 1, step: stepsPerEpoch, what: what)
            }
            try checkSameWeights(when: "after epoch \(epoch + 1)")
            try checkpoint(epoch + 1, result)
        }
    }

    /// Adds every process's gradients up (each already scaled by its share of the batch), in one
    /// collective over all parameters end to end. One call after the backward pass: against a
    /// bucketed allreduce overlapped with backward, see docs/DISTRIBUTED.md for the measurement.
    private func sumGradients() {
        steps += 1
        guard processes.size > 1 else { return }
        let start = Date()
        var offset = 0
        for (_, p) in network.parameters {
            (gradientSums.data + offset).update(from: p.grad.data, count: p.grad.count)
            offset += p.grad.count
        }
        processes.sumAll(gradientSums.data, count: offset)
        offset = 0
        for (_, p) in network.parameters {
            p.grad.data.update(from: gradientSums.data + offset, count: p.grad.count)
            offset += p.grad.count
        }
        allReduceSeconds += Date().timeIntervalSince(start)
    }

    /// Per-process batch norm keeps per-process running statistics: every process takes their
    /// mean over processes, so all evaluate and save the same network.
    private func averageRunningStatistics() {
        let buffers = network.batchNorms.flatMap { [$0.layer.runningMean, $0.layer.runningVar] }
        var values = buffers.flatMap(\.array)
        processes.sumAll(&values)
        var offset = 0
        for b in buffers {
            for i in 0..<b.count { b[i] = values[offset + i] / Float(processes.size) }
            offset += b.count
        }
    }

    /// Processes that should hold the same weights compare a fingerprint of all parameters and
    /// buffers with process 0's; one that differs stops the run rather than train a different model.
    private func checkSameWeights(when: String) throws {
        guard processes.size > 1 else { return }
        let tensors = network.parameters.map(\.parameter.value) + network.root.namedBuffers.map(\.tensor)
        var hash = Trainer.fingerprintStart
        for t in tensors {
            for i in 0..<t.count { hash = Trainer.fingerprint(hash, UInt64(t[i].bitPattern)) }
        }
        let ranks = processes.ranksDiffering(from: [hash])
        guard ranks.isEmpty else { throw TrainingError.weightsDiffer(ranks: ranks, when: when) }
    }

    /// Processes started with other options (`--lr 0.2` on one machine) would train one model from
    /// a mixture of steps, and the weights would match until the first step: they compare a
    /// fingerprint of their options and split sizes before it.
    private func checkSameSetup() throws {
        guard processes.size > 1 else { return }
        let text = options.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined()
            + "train=\(train.count) test=\(test.count)"
        let hash = text.utf8.reduce(Trainer.fingerprintStart) { Trainer.fingerprint($0, UInt64($1)) }
        let ranks = processes.ranksDiffering(from: [hash])
        guard ranks.isEmpty else { throw TrainingError.setupDiffers(ranks: ranks) }
    }

    /// FNV-1a, a value at a time.
    private static let fingerprintStart: UInt64 = 0xcbf2_9ce4_8422_2325
    private static func fingerprint(_ hash: UInt64, _ value: UInt64) -> UInt64 { (hash ^ value) &* 0x100_0000_01b3 }

    /// Share of (instance, channel) pairs at the regularised gates whose saliency is under 0.01:
    /// how sparse the features of the last batch were.
    private func silentFraction() -> Double {
        var silent = 0, total = 0
        for gate in regularized {
            let s = gate.saliency
            for i in 0..<s.count where s[i] < 0.01 { silent += 1 }
            total += s.count
        }
        return Double(silent) / Double(max(total, 1))
    }

    private func firstNonFiniteGradient() -> String? {
        network.parameters.first { !$0.parameter.grad.allFinite }?.name
    }

    /// The per-step checks see the loss and gradients, not the weights after the last step or the
    /// running statistics: never let a broken network replace the last good checkpoint. A broken
    /// weight names its layer; otherwise the test batches are rerun to find where the output breaks.
    private func nonFiniteState(testLoss: Double) throws -> String? {
        let tensors = network.parameters.map { ($0.name, $0.parameter.value) } + network.root.namedBuffers.map { ($0.name, $0.tensor) }
        if let bad = tensors.first(where: { !$0.1.allFinite }) { return "'\(bad.0)' is not finite after the epoch" }
        guard testLoss.isFinite else {
            let maker = BatchMaker(spec: network.spec), batch = Tensor(shape: [0])
            var labels: [Int32] = []
            for start in stride(from: 0, to: test.count, by: 256) {
                try maker.fill(batch, labels: &labels, from: test, indices: Array(start..<min(start + 256, test.count))[...],
                               augmentation: nil)
                if let layer = firstNonFiniteLayer(batch, training: false) {
                    return "test loss is \(testLoss) after the epoch; first non-finite output at \(layer)"
                }
            }
            return "test loss is \(testLoss) after the epoch; every layer output is finite"
        }
        return nil
    }

    /// Where a forward pass on `input` first produces a NaN or Inf: reruns it one layer at a time,
    /// descending into containers, and names the deepest layer (with its kind) whose output breaks
    /// while its input was finite. Only for diagnosing a failure: in training mode it also updates
    /// batch-norm statistics, which no longer matter once training has stopped.
    func firstNonFiniteLayer(_ input: Tensor, training: Bool) -> String? {
        func describe(_ layer: Layer, _ path: String) -> String {
            "layer '\(path.isEmpty ? "(root)" : path)' (\(type(of: layer)))"
        }
        func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : path + "." + name }
        /// The culprit inside `layer` if any, else nil and the layer's output.
        func locate(_ layer: Layer, _ path: String, _ x: Tensor) -> (culprit: String?, output: Tensor) {
            if let sequential = layer as? Sequential {
                var h = x
                for (name, child) in sequential.children {
                    let (culprit, output) = locate(child, join(path, name), h)
                    if culprit != nil { return (culprit, output) }
                    h = output
                }
                return (nil, h)
            }
            if let block = layer as? Residual {
                // The branch's children sit directly under the block unless the branch is named.
                let branch = locate(block.branch, block.branchName.map { join(path, $0) } ?? path, x)
                if branch.culprit != nil { return branch }
                if let shortcut = block.shortcut {
                    let side = locate(shortcut, join(path, "downsample"), x)
                    if side.culprit != nil { return side }
                }
            }
            let output = layer.forward(x, training: training)
            return (output.allFinite ? nil : describe(layer, path), output)
        }
        guard input.allFinite else { return "the input batch" }
        return locate(network.root, "", input).culprit
    }
}

public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds)
    return s >= 3600 ? String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) : String(format: "%dm%02ds", s / 60, s % 60)
}
