import Foundation
import InstanceSparsity

enum TrainCommand: Command {
    static let name = "train"
    static let usage = "isp train --model vgg16|resnet18|mobilenetv2 [--width W] [--dataset fashion-mnist|cifar10|folder] [--data-dir DIR] [--input-size S] [--input-channels 1|3] [--skip-bad] [--epochs N] [--batch-size B] [--lr LR] [--weight-decay WD] [--seed S] [--train-limit N] [--test-limit N] [--feature-decay LAMBDA] [--decay-layers auto|LIST] --out FILE [--resume]"
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
      --dataset folder     DIR/train/<class>/ and DIR/val/<class>/ (or test/), PNG and JPEG images of
                           any size, streamed from disk; preprocessed as torchvision's recipes
      --input-size S       folder images become S x S (default 224; up to 64 CIFAR-style crops)
      --input-channels C   1 (gray) or 3 (RGB, default) for folder images
      --skip-bad           decode every folder image first and skip those that fail
      --resume             continue FILE from its last completed epoch with its stored options
      --log-every N        progress line interval in steps (default 50)
    """

    static func run(_ a: inout Arguments) throws {
        guard let out = try a.option("--out") else { throw UsageError(message: "--out FILE is required") }
        let resume = try a.flag("--resume")
        let modelName = try a.option("--model")
        let width: Float = try a.number("--width", default: 1, in: 0.0625...4)
        let datasetName = try a.choice("--dataset", default: "fashion-mnist", from: ["fashion-mnist", "cifar10", "folder"])
        let dataDir = try a.option("--data-dir")
        let inputSize: Int? = try a.optionalNumber("--input-size", in: 8...1024)
        let inputChannels: Int? = try a.optionalNumber("--input-channels", in: 1...3)
        let skipBad = try a.flag("--skip-bad")
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
        if datasetName != "folder", inputSize != nil || inputChannels != nil || skipBad {
            throw UsageError(message: "--input-size, --input-channels and --skip-bad apply to --dataset folder only")
        }
        if let inputChannels, inputChannels == 2 { throw UsageError(message: "--input-channels must be 1 or 3") }
        let folder = DatasetLoader.FolderOptions(
            preprocessing: Preprocessing(inputSize: inputSize ?? 224, channels: inputChannels ?? 3), skipBad: skipBad)
        if !resume {
            guard let modelName else { throw UsageError(message: "--model is required (vgg16, resnet18 or mobilenetv2)") }
            guard ModelSpec.architectures.contains(modelName) else {
                throw UsageError(message: "unknown model '\(modelName)' (expected \(ModelSpec.architectures.joined(separator: ", ")))")
            }
        }

        print(BLASRuntime.summary)
        try checkOutputFile(out)
        let train = try DatasetLoader.open(name: datasetName, directory: dataDir, split: .train, limit: trainLimit, folder: folder)
        let test = try DatasetLoader.open(name: datasetName, directory: dataDir, split: .test, limit: testLimit, folder: folder)
        for split in [train, test] {
            if let folder = split as? ImageFolder, !folder.skipped.isEmpty {
                print("skipped \(folder.skipped.count) of \(folder.count + folder.skipped.count) files in \(folder.directory) that cannot be decoded (first: \(folder.skipped[0]))")
            }
        }

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
            let spec = network.spec
            guard spec.inputChannels == train.channels, spec.inputSize == train.height, spec.classes == train.classes else {
                throw InputError(out, "was trained on \(spec.classes) classes of \(spec.inputChannels) x \(spec.inputSize) x \(spec.inputSize) inputs; the data gives \(train.classes) classes of \(train.channels) x \(train.height) x \(train.width)")
            }
            startEpoch = done
            velocity = loaded.velocity
            print("resuming \(out) after epoch \(done) of \(options.epochs) with its stored options")
        } else {
            guard let modelName else { throw UsageError(message: "--model is required") }  // checked above
            let stats = try train.channelStatistics()
            let images = train as? ImageFolder
            let spec = ModelSpec(architecture: modelName, width: width, inputChannels: train.channels,
                                 inputSize: train.height, classes: train.classes, mean: stats.mean,
                                 std: stats.std.map { max($0, 1e-6) }, dataset: datasetName, classNames: train.classNames,
                                 preprocessing: images?.preprocessing.recipe, dataDirectory: images == nil ? nil : dataDir)
            network = try Network.make(spec, seed: options.seed)
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
        print("\(network.spec.architecture) width \(network.spec.width): \(formatCount(network.parameterCount)) parameters, \(formatCount(network.macsPerImage)) MACs/image; \(train.count) training and \(test.count) test images; \(trainer.stepsPerEpoch) steps/epoch")
        try trainer.run(startEpoch: startEpoch, log: { print($0) }) { epochs, result in
            var meta = options.metadata
            meta["train.epochs_completed"] = "\(epochs)"
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
