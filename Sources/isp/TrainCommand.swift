import Foundation
import InstanceSparsity

enum TrainCommand: Command {
    static let name = "train"
    static let usage = "isp train --model vgg16|resnet18|mobilenetv2 [--width W] [--dataset fashion-mnist|cifar10] [--data-dir DIR] [--epochs N] [--batch-size B] [--lr LR] [--weight-decay WD] [--seed S] [--train-limit N] [--test-limit N] [--feature-decay LAMBDA] [--decay-layers auto|LIST] [--stem imagenet|cifar] [--init FILE] --out FILE [--resume]"
    static let help = """
    Trains a network with SGD (momentum 0.9, Nesterov), cosine learning rate with one warm-up
    epoch, random crop (pad 4) and horizontal flip. Prints progress every --log-every steps and the
    test accuracy after each epoch, and writes FILE (safetensors) atomically after each epoch.

      --width W            channel multiplier (default 1; 0.5 halves every layer)
      --epochs N           default 30          --batch-size B   default 128
      --lr LR              peak learning rate (default 0.05)
      --warmup N           epochs of linear learning-rate warm-up (default 1)
      --weight-decay WD    default 5e-4        --seed S         default 1
      --train-limit N      use the first N training images (quick runs)
      --feature-decay L    lambda of the instance-wise l2,1 feature regulariser (default 0)
      --decay-layers L     auto (every map that feeds a convolution) or comma-separated conv names
      --stem S             imagenet (torchvision's strides and pooling) or cifar; default: the --init
                           file's, else imagenet above 64x64 images
      --init FILE          start from FILE's weights (fine-tuning); a classifier with another class
                           count is replaced by a fresh one
      --resume             continue FILE from its last completed epoch with its stored options
      --log-every N        progress line interval in steps (default 50)
    """

    static func run(_ a: inout Arguments) throws {
        guard let out = try a.option("--out") else { throw UsageError(message: "--out FILE is required") }
        let resume = try a.flag("--resume")
        let modelName = try a.option("--model")
        let width: Float = try a.number("--width", default: 1, in: 0.0625...4)
        let datasetName = try a.choice("--dataset", default: "fashion-mnist", from: ["fashion-mnist", "cifar10"])
        let dataDir = try a.option("--data-dir")
        let stem = try a.stem(), initPath = try a.option("--init")
        var options = TrainingOptions()
        options.epochs = try a.number("--epochs", default: options.epochs, in: 1...10_000)
        options.batchSize = try a.number("--batch-size", default: options.batchSize, in: 1...4096)
        options.learningRate = try a.number("--lr", default: options.learningRate, in: 1e-6...10)
        options.weightDecay = try a.number("--weight-decay", default: options.weightDecay, in: 0...1)
        options.seed = try a.number("--seed", default: options.seed, in: 0...UInt64.max)
        options.warmupEpochs = try a.number("--warmup", default: options.warmupEpochs, in: 0...1000)
        options.featureDecay = try a.number("--feature-decay", default: 0, in: 0...100)
        options.logEvery = try a.number("--log-every", default: options.logEvery, in: 1...1_000_000)
        let decayLayers = try a.option("--decay-layers") ?? "auto"
        options.decayLayers = decayLayers == "auto" ? nil : decayLayers.split(separator: ",").map(String.init)
        let trainLimit: Int? = try a.optionalNumber("--train-limit", in: 1...Int.max)
        let testLimit: Int? = try a.optionalNumber("--test-limit", in: 1...Int.max)
        try a.finish()
        // Usage mistakes first, before the output probe and the data sets (seconds to load).
        if resume && (initPath != nil || stem != nil) { throw UsageError(message: "--resume continues FILE as it is: no --init or --stem") }
        if !resume {
            guard let modelName else { throw UsageError(message: "--model is required (vgg16, resnet18 or mobilenetv2)") }
            guard ModelSpec.architectures.contains(modelName) else {
                throw UsageError(message: "unknown model '\(modelName)' (expected \(ModelSpec.architectures.joined(separator: ", ")))")
            }
        }

        print(BLASRuntime.summary)
        try checkOutputFile(out)
        let train = try DatasetLoader.load(name: datasetName, directory: dataDir, split: .train, limit: trainLimit)
        let test = try DatasetLoader.load(name: datasetName, directory: dataDir, split: .test, limit: testLimit)

        let network: Network
        var startEpoch = 0
        var velocity: [String: Tensor] = [:]
        if resume {
            let loaded = try Checkpoint.load(path: out)
            guard let done = loaded.metadata["train.epochs_completed"].flatMap(Int.init) else {
                throw InputError(out, "has no training state to resume (train.epochs_completed missing)")
            }
            options = try storedOptions(loaded.metadata, path: out, logEvery: options.logEvery)
            guard (0...options.epochs).contains(done) else {
                throw InputError(out, "training metadata 'train.epochs_completed' is \(done), outside 0...\(options.epochs)")
            }
            network = loaded.network
            startEpoch = done
            velocity = loaded.velocity
            print("resuming \(out) after epoch \(done) of \(options.epochs) with its stored options")
        } else {
            guard let modelName else { throw UsageError(message: "--model is required") }  // checked above
            let initial = try initPath.map { try Checkpoint.load(path: $0) }
            let stats = train.channelStatistics()
            let spec = ModelSpec(architecture: modelName, width: width, stem: stem ?? initial?.network.spec.stem, inputChannels: train.channels,
                                 inputSize: train.height, classes: train.classes, mean: stats.mean,
                                 std: stats.std.map { max($0, 1e-6) }, dataset: datasetName)
            network = try Network.make(spec, seed: options.seed)
            if let initial { try network.loadWeights(from: initial, replacingClassifier: true) }
        }
        if let wanted = options.decayLayers {
            let known = Set(network.gates.map(\.label))
            if let bad = wanted.first(where: { !known.contains($0) }) {
                throw UsageError(message: "--decay-layers: '\(bad)' is not a map feeding a convolution; valid: \(network.gates.map(\.label).joined(separator: ","))")
            }
        }
        // Each checkpoint of S bytes is written beside the file it replaces: the first needs S free,
        // later ones S beside the previous checkpoint, i.e. 2S minus what the existing file frees.
        let size = Checkpoint.estimatedBytes(network, withOptimizer: true)
        let later = options.epochs - startEpoch > 1
        try checkOutputFile(out, bytesNeeded: later ? max(size, 2 * size - existingSize(out)) : size)
        let trainer = Trainer(network: network, train: train, test: test, options: options)
        trainer.restoreVelocity(velocity)
        print("\(network.spec.architecture) width \(network.spec.width), \(network.spec.stem.rawValue) stem: \(formatCount(network.parameterCount)) parameters, \(formatCount(network.macsPerImage)) MACs/image; \(train.count) training and \(test.count) test images; \(trainer.stepsPerEpoch) steps/epoch")
        try trainer.run(startEpoch: startEpoch, log: { print($0) }) { epochs, result in
            var meta = options.metadata
            meta["train.epochs_completed"] = "\(epochs)"
            if let initPath { meta["train.init"] = initPath }
            meta["test_accuracy"] = String(format: "%.4f", result.accuracy)
            try Checkpoint.save(network, to: out, metadata: meta, optimizer: trainer.optimizer)
        }
        print("saved \(out)")
    }

    /// The options stored by the run being resumed, held to the same ranges as the flags (a
    /// batch size of 0 from an edited file would otherwise divide by zero).
    static func storedOptions(_ m: [String: String], path: String, logEvery: Int) throws -> TrainingOptions {
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
        var o = TrainingOptions()
        o.epochs = try value("train.epochs", in: 1...10_000); o.batchSize = try value("train.batch_size", in: 1...4096)
        o.learningRate = try value("train.lr", in: 1e-6...10); o.momentum = try value("train.momentum", in: 0...1)
        o.nesterov = try value("train.nesterov"); o.weightDecay = try value("train.weight_decay", in: 0...1)
        o.warmupEpochs = try value("train.warmup_epochs", in: 0...1000); o.seed = try value("train.seed")
        o.featureDecay = try value("train.feature_decay", in: 0...100)
        let layers: String = try value("train.decay_layers")
        o.decayLayers = layers == "all" ? nil : layers.split(separator: ",").map(String.init)
        o.logEvery = logEvery
        return o
    }

    static func existingSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }
}
