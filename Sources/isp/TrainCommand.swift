import Foundation
import InstanceSparsity

enum TrainCommand: Command {
    static let name = "train"
    static let synopsis = "--out FILE (--model vgg16|resnet18|mobilenetv2 | --init FILE | --resume)"
    static let abstract = """
    Trains a network with SGD (momentum 0.9, Nesterov) and a cosine learning rate after a linear
    warm-up, with random crop (pad 4) and horizontal flip (class folders above 64 pixels:
    torchvision's RandomResizedCrop and flip). Prints progress every --log-every steps
    and the test accuracy after each epoch, and writes FILE (safetensors) atomically after each
    epoch. Every option that shapes the run is stored in FILE: --resume continues the same
    experiment, and an option that contradicts the stored one is a usage error. --epochs N with
    --resume extends the run; the learning rate then follows the schedule of an N-epoch run (same
    warm-up, cosine over N epochs), so it rises at the resumed epoch by the difference between the
    two schedules, as the run prints. SIGINT or SIGTERM stop between steps: the run says where it
    stopped and what FILE holds, and exits 130 or 143.
    Under `mpirun -np N` it trains data parallel: each batch of --batch-size images is split
    across the N processes and their gradients added up (MPI allreduce); which images form each
    batch and how each is augmented depend only on --seed, the epoch and the image, not on N.
    Process 0 alone prints and writes FILE (which --resume reads on every process: keep it on a
    directory all machines share). A process that fails stops the job (MPI_Abort), naming its rank.
    """
    static let options = [
        Option("--out", "FILE", "the checkpoint, rewritten atomically after every epoch (required)"),
        Option("--model", "vgg16|resnet18|mobilenetv2", "the network (default: the --init file's; required without --init or --resume)"),
        Option("--resume", "continue FILE from its last completed epoch, with its stored options (default: a new run)"),
        Option("--force", "replace an existing FILE with a new run (default: refuse to)"),
        Option("--width", "W", "channel multiplier; 0.5 halves every layer (default: the --init file's, else 1)"),
        Option("--stem", "imagenet|cifar", "imagenet: torchvision's strides and pooling; cifar: stride-1 stems for small images (default: the --init file's, else imagenet above 64x64 inputs)"),
        Option("--init", "FILE", "start from FILE's weights (fine-tuning), with its width and, for a slimmed FILE ('isp slim'), its channel counts; its classifier is kept for the same classes, reordered for the same classes in another order (class folders sort by name), else replaced by a fresh one; the run's 'classifier:' line says which (default: random initialisation)"),
        Option("--dataset", DatasetLoader.names.joined(separator: "|"), "the dataset (default fashion-mnist)"),
        Option("--data-dir", "DIR", "where the dataset's files are, recorded in FILE (default: \(FashionMNIST.defaultDirectory) for fashion-mnist; the others have none; folder: DIR/train/<class>/ and DIR/val/<class>/ or test/)"),
        Option("--input-size", "S", "folder images become S x S: torchvision's RandomResizedCrop + flip for training, Resize(S/0.875) + CenterCrop for evaluation; up to 64 the CIFAR recipe (default: the --init file's, else 224)"),
        Option("--input-channels", "C", "folder images as gray (1) or RGB (3) (default: the --init file's, else 3)"),
        Option("--mean", "LIST", "per-channel normalisation mean, comma-separated, e.g. 0.485,0.456,0.406 for ImageNet statistics (default: computed from the training split)"),
        Option("--std", "LIST", "per-channel standard deviation, given with --mean (default: computed from the training split)"),
        Option("--skip-bad", "decode every folder image first and skip those that fail, saying how many (default: an undecodable file is an error)"),
        Option("--train-limit", "N", "train on N images: the first N (class folders: N evenly spaced) (default: all)"),
        Option("--test-limit", "N", "evaluate on N test images after each epoch, chosen as --train-limit chooses (default: all)"),
        Option("--epochs", "N", "epochs of the whole run (default 30); with --resume, a larger N extends it"),
        Option("--batch-size", "B", "images per step (default 128)"),
        Option("--lr", "LR", "peak learning rate (default 0.05)"),
        Option("--warmup", "E", "epochs of linear warm-up, fractions allowed (default: the smaller of 1 and a tenth of --epochs)"),
        Option("--weight-decay", "WD", "L2 penalty on weights, not on batch-norm or bias (default 5e-4)"),
        Option("--seed", "S", "initialisation, shuffling and augmentation all derive from it (default 1)"),
        Option("--no-augment", "train on the images as they are, without random crop and flip (default: augment)"),
        Option("--feature-decay", "LAMBDA", "weight of the instance-wise l2,1 feature regulariser (default 0: plain training)"),
        Option("--decay-layers", "all|LIST", "maps it applies to: all, or comma-separated map names from 'isp info' (default all)"),
        Option("--bn-l1", "S", "Network Slimming: adds S * sum |gamma| over the batch-norm scales of the slimmable maps to the loss, for 'isp slim --by bn-scale' (default 0: none)"),
        Option("--sync-bn", "under mpirun: batch-norm statistics over the whole batch of all processes, so N processes train as one would (default: each process's own part, as PyTorch DDP)"),
        Option("--log-every", "N", "steps between progress lines (default 50)"),
        Option("--json", "print a final summary as one JSON object on stdout, progress on stderr (default: progress on stdout)"),
    ]

    /// What the user asked for; nil where a flag was not given.
    struct Request {
        var model: String?, width: Float?, dataset: String?, dataDirectory: String?
        var epochs: Int?, batchSize: Int?, learningRate: Float?, warmup: Double?, weightDecay: Float?, seed: UInt64?
        var featureDecay: Float?, decayLayers: String?, scaleSparsity: Float?, augment: Bool?, trainLimit: Int?, testLimit: Int?
        var inputSize: Int?, inputChannels: Int?, skipBad: Bool?, syncBatchNorm: Bool?
        var stem: ModelSpec.Stem?, initPath: String?
        var mean: [Float]?, std: [Float]?

        /// The run's options: `base` (defaults, or those stored in a checkpoint) with the given flags on top.
        func applied(to base: TrainingOptions) -> TrainingOptions {
            var o = base
            if let epochs { o.epochs = epochs }
            if let batchSize { o.batchSize = batchSize }
            if let learningRate { o.learningRate = learningRate }
            if let warmup { o.warmupEpochs = warmup }
            if let weightDecay { o.weightDecay = weightDecay }
            if let seed { o.seed = seed }
            if let featureDecay { o.featureDecay = featureDecay }
            if let scaleSparsity { o.scaleSparsity = scaleSparsity }
            if let decayLayers { o.decayLayers = decayLayers == "all" ? nil : decayLayers.split(separator: ",").map(String.init) }
            if let augment { o.augment = augment }
            if let trainLimit { o.trainLimit = trainLimit }
            if let testLimit { o.testLimit = testLimit }
            if let skipBad { o.skipBad = skipBad }
            if let syncBatchNorm { o.syncBatchNorm = syncBatchNorm }
            return o
        }

        /// Flag and metadata key of every option given, for the conflict check against a checkpoint.
        var given: [(flag: String, key: String)] {
            let all: [(String, String, Bool)] = [
                ("--batch-size", "train.batch_size", batchSize != nil), ("--lr", "train.lr", learningRate != nil),
                ("--warmup", "train.warmup_epochs", warmup != nil), ("--weight-decay", "train.weight_decay", weightDecay != nil),
                ("--seed", "train.seed", seed != nil), ("--feature-decay", "train.feature_decay", featureDecay != nil),
                ("--decay-layers", "train.decay_layers", decayLayers != nil), ("--bn-l1", "train.bn_l1", scaleSparsity != nil),
                ("--no-augment", "train.augment", augment != nil),
                ("--train-limit", "train.train_limit", trainLimit != nil), ("--test-limit", "train.test_limit", testLimit != nil),
                ("--skip-bad", "train.skip_bad", skipBad != nil), ("--sync-bn", "train.sync_bn", syncBatchNorm != nil),
            ]
            return all.filter(\.2).map { ($0.0, $0.1) }
        }
        /// The flags of `given` that take no value.
        static let switches: Set<String> = ["--no-augment", "--skip-bad", "--sync-bn"]
    }

    static func run(_ a: inout Arguments, engine: Engine) throws { try run(&a, processes: SingleProcess(), engine: engine) }

    static func run(_ a: inout Arguments, processes: ProcessGroup, engine: Engine) throws {
        guard let out = try a.option("--out") else { throw UsageError(message: "--out FILE is required") }
        let resume = try a.flag("--resume"), force = try a.flag("--force"), json = try a.flag("--json")
        var request = Request()
        request.model = try a.option("--model")
        request.width = try a.optionalNumber("--width", in: 0.0625...4)
        request.dataset = try a.optionalChoice("--dataset", from: DatasetLoader.names)
        request.dataDirectory = try a.option("--data-dir")
        request.epochs = try a.optionalNumber("--epochs", in: 1...10_000)
        request.batchSize = try a.optionalNumber("--batch-size", in: 1...4096)
        request.learningRate = try a.optionalNumber("--lr", in: 1e-6...10)
        request.weightDecay = try a.optionalNumber("--weight-decay", in: 0...1)
        request.seed = try a.optionalNumber("--seed", in: 0...UInt64.max)
        request.warmup = try a.optionalNumber("--warmup", in: 0...1000)
        request.featureDecay = try a.optionalNumber("--feature-decay", in: 0...100)
        request.decayLayers = try a.list("--decay-layers")?.joined(separator: ",")
        request.scaleSparsity = try a.optionalNumber("--bn-l1", in: 0...100)
        if try a.flag("--no-augment") { request.augment = false }
        request.trainLimit = try a.optionalNumber("--train-limit", in: 1...Int.max)
        request.testLimit = try a.optionalNumber("--test-limit", in: 1...Int.max)
        request.stem = try a.stem()
        request.initPath = try a.option("--init")
        request.inputSize = try a.optionalNumber("--input-size", in: 8...1024)
        request.inputChannels = try a.optionalNumber("--input-channels", in: 1...3)
        if try a.flag("--skip-bad") { request.skipBad = true }
        if try a.flag("--sync-bn") { request.syncBatchNorm = true }
        request.mean = try floatList(a.option("--mean"), flag: "--mean")
        request.std = try floatList(a.option("--std"), flag: "--std")
        let logEvery = try a.number("--log-every", default: 50, in: 1...1_000_000)
        try a.finish()
        if request.inputChannels == 2 { throw UsageError(message: "--input-channels must be 1 or 3") }
        if let size = request.inputSize, let model = request.model { try checkInputSize(size, for: model) }
        if request.dataset != "folder" && (request.inputSize != nil || request.inputChannels != nil || request.skipBad != nil) && !resume {
            throw UsageError(message: "--input-size, --input-channels and --skip-bad apply to --dataset folder only")
        }
        // Usage mistakes first, before the output probe and the data sets (seconds to load).
        if resume && force { throw UsageError(message: "--resume continues FILE and --force replaces it: give one of them") }
        if resume && (request.initPath != nil || request.stem != nil) { throw UsageError(message: "--resume continues FILE as it is: no --init or --stem") }
        if (request.mean == nil) != (request.std == nil) { throw UsageError(message: "--mean and --std go together") }
        if request.decayLayers != nil && request.featureDecay == nil && !resume {
            throw UsageError(message: "--decay-layers picks the maps of --feature-decay: give --feature-decay LAMBDA too")
        }
        if resume && request.mean != nil { throw UsageError(message: "--resume keeps FILE's normalisation: no --mean or --std") }
        if let std = request.std, !std.allSatisfy({ $0 > 0 }) { throw UsageError(message: "--std values must be positive") }
        if let model = request.model, !ModelSpec.architectures.contains(model) {
            throw UsageError(message: "unknown model '\(model)' (expected \(ModelSpec.architectures.joined(separator: ", ")))")
        }
        if let initPath = request.initPath, sameFile(out, initPath) {
            throw UsageError(message: "--out must not be the --init file: the run would replace what it starts from")
        }
        if !resume && request.model == nil && request.initPath == nil {
            throw UsageError(message: "--model is required (vgg16, resnet18 or mobilenetv2), or --init FILE to start from")
        }
        // Progress lines are part of the table output; with --json they must not mix into stdout.
        let log = commentary(json: json)

        log(BLASRuntime.summary(engine: engine))
        // Process 0 alone writes FILE; the others only read it to resume.
        if processes.isRoot { try checkOutputFile(out) }
        var run: Run
        if resume {
            run = try Run(resuming: out, request: request, engine: engine, log: log)
        } else {
            if processes.isRoot && FileManager.default.fileExists(atPath: out) && !force {
                throw InputError(out, "exists: pass --resume to continue it or --force to replace it")
            }
            run = try Run(starting: request, engine: engine, log: log)
        }
        if let wanted = run.options.decayLayers {
            let known = run.network.gates.map(\.label)
            if let bad = wanted.first(where: { !known.contains($0) }) {
                throw UsageError(message: "--decay-layers: '\(bad)' is not a map feeding a convolution; valid: all or \(known.joined(separator: ","))")
            }
        }
        try run.train(out: out, logEvery: logEvery, json: json, processes: processes, log: log)
    }

    /// One training run: its network, data and options, fresh or continued from a checkpoint.
    struct Run {
        var network: Network
        var options: TrainingOptions
        var data: DataSource
        var train: any DataSplit, test: any DataSplit
        var startEpoch = 0
        var velocity: [String: Tensor] = [:]
        /// The checkpoint a fine-tuning run started from, recorded with the run.
        var initPath: String? = nil

        init(starting r: Request, engine: Engine, log: (String) -> Void) throws {
            options = r.applied(to: TrainingOptions())
            let initial = try r.initPath.map { try Checkpoint.load(path: $0, engine: engine) }
            data = try DataSource(dataset: r.dataset ?? "fashion-mnist", directory: r.dataDirectory)
            if data.dataset == "folder" {
                // Fine-tuning keeps the file's input size and channels unless told otherwise, as it
                // keeps its width and stem: a 32x32 CIFAR-stem file trained at 224 ran 49 times its MACs.
                let size = r.inputSize ?? initial?.network.spec.inputSize ?? 224
                let channels = r.inputChannels ?? initial?.network.spec.inputChannels ?? 3
                data.folder = .init(preprocessing: Preprocessing(inputSize: size, channels: channels), skipBad: options.skipBad)
            }
            train = try data.open(.train, limit: options.trainLimit)
            test = try data.open(.test, limit: options.testLimit)
            log("data: \(data.description)")
            // Given statistics must fit the images; else the training split's own.
            if let mean = r.mean, mean.count != train.channels || r.std!.count != train.channels {
                throw UsageError(message: "--mean and --std need \(train.channels) value\(train.channels == 1 ? "" : "s") (the images' channels), got \(mean.count) and \(r.std!.count)")
            }
            let stats = try r.mean.map { (mean: $0, std: r.std!) } ?? train.channelStatistics()
            let architecture = r.model ?? initial!.network.spec.architecture
            if let initial, architecture != initial.network.spec.architecture {
                throw InputError(r.initPath!, "holds a \(initial.network.spec.architecture), not the --model \(architecture)")
            }
            var spec = ModelSpec(architecture: architecture, width: r.width ?? initial?.network.spec.width ?? 1,
                                 stem: r.stem ?? initial?.network.spec.stem, inputChannels: train.channels,
                                 inputSize: train.height, classes: train.classes, mean: stats.mean,
                                 std: stats.std.map { max($0, 1e-6) }, dataset: data.dataset, classNames: train.classNames,
                                 preprocessing: data.folder?.preprocessing.recipe, dataDirectory: data.directory)
            // A slimmed file fine-tunes at its own channels (at another width loadWeights refuses it).
            if let initial, initial.network.spec.width == spec.width { spec.channels = initial.network.spec.channels }
            network = try Network.make(spec, seed: options.seed, engine: engine)
            // Fine-tuning: every weight from the file; its classifier as the classes allow, and which.
            if let initial {
                let transfer = ClassifierTransfer(from: initial.network.spec, to: spec)
                try network.loadWeights(from: initial, classifier: transfer)
                let was = initial.network.spec.labelNames, now = spec.labelNames
                func names(_ n: [String]) -> String { n.prefix(4).joined(separator: ", ") + (n.count > 4 ? ", ... (\(n.count))" : "") }
                switch transfer {
                case .copied: log("classifier: \(r.initPath!)'s, for the same \(now.count) classes\(initial.network.spec.classNames.isEmpty && was != now ? " (the file names none)" : "")")
                case .reordered: log("classifier: \(r.initPath!)'s, its outputs reordered to the data's class order (\(names(now)); the file's: \(names(was)))")
                case .fresh: log("classifier: a fresh one: the data's classes (\(names(now))) are not \(r.initPath!)'s (\(names(was)))")
                }
            }
            initPath = r.initPath
        }

        init(resuming out: String, request r: Request, engine: Engine, log: (String) -> Void) throws {
            let loaded = try Checkpoint.load(path: out, engine: engine)
            let stored = try TrainingOptions(metadata: loaded.metadata, path: out)
            guard let done = loaded.metadata["train.epochs_completed"].flatMap(Int.init) else {
                throw InputError(out, "has no training state to resume (train.epochs_completed missing)")
            }
            guard (0...stored.epochs).contains(done) else {
                throw InputError(out, "training metadata 'train.epochs_completed' is \(done), outside 0...\(stored.epochs)")
            }
            guard loaded.velocity.count == loaded.network.parameters.count else {
                throw InputError(out, "has no optimizer state for \(loaded.network.parameters.count - loaded.velocity.count) of its \(loaded.network.parameters.count) weights (an inference copy from 'isp export'?): resume the training checkpoint")
            }
            let spec = loaded.network.spec
            // Anything given must agree with the stored run; only --epochs may change (to extend it),
            // and --data-dir when the recorded directory is gone (the data moved).
            func conflict(_ given: String, _ stored: String) -> UsageError {
                UsageError(message: "\(given) conflicts with \(stored) stored in \(out); --resume continues the stored run (start a new one with --force or another --out)")
            }
            if let m = r.model, m != spec.architecture { throw conflict("--model \(m)", spec.architecture) }
            if let w = r.width, w != spec.width { throw conflict("--width \(w)", "\(spec.width)") }
            if let d = r.dataset, d != spec.dataset { throw conflict("--dataset \(d)", spec.dataset) }
            let storedDirectory = spec.dataDirectory ?? DatasetLoader.defaultDirectory(for: spec.dataset)
            if let d = r.dataDirectory, DataSource.absolute(d) != storedDirectory {
                // Data that moved may be followed; data that is still there may not be swapped.
                if let storedDirectory, FileManager.default.fileExists(atPath: storedDirectory) {
                    throw conflict("--data-dir \(DataSource.absolute(d))", storedDirectory)
                }
            }
            options = r.applied(to: stored)
            for (flag, key) in r.given where options.metadata[key] != stored.metadata[key] {
                // A switch has no value of its own to quote ("--no-augment false" read as its opposite).
                throw Request.switches.contains(flag) ? conflict(flag, "\(key) \(stored.metadata[key]!)")
                    : conflict("\(flag) \(options.metadata[key]!)", stored.metadata[key]!)
            }
            if let epochs = r.epochs {
                guard epochs >= done else {
                    throw UsageError(message: "--epochs \(epochs) is fewer than the \(done) epochs \(out) has completed")
                }
            }
            guard done < options.epochs else {
                throw UsageError(message: "\(out) has completed all \(done) epochs of its run; give --epochs N (more than \(done)) to extend it")
            }
            if let size = r.inputSize, size != spec.inputSize { throw conflict("--input-size \(size)", "\(spec.inputSize)") }
            if let c = r.inputChannels, c != spec.inputChannels { throw conflict("--input-channels \(c)", "\(spec.inputChannels)") }
            data = try DataSource(dataset: nil, directory: r.dataDirectory, model: spec, path: out, skipBad: options.skipBad)
            train = try data.open(.train, limit: options.trainLimit)
            test = try data.open(.test, limit: options.testLimit)
            guard spec.inputChannels == train.channels, spec.inputSize == train.height, spec.classes == train.classes else {
                throw InputError(out, "was trained on \(spec.classes) classes of \(spec.inputChannels) x \(spec.inputSize) x \(spec.inputSize) inputs; the data gives \(train.classes) classes of \(train.channels) x \(train.height) x \(train.width)")
            }
            try LoadedModel.checkClassNames(spec, train, path: out)
            // The same classes may hold other images now (a class folder edited since): the run
            // would go on on other data. Checkpoints from before the counts were stored are not checked.
            for (key, split) in [("train.images", train), ("train.test_images", test)] {
                if let n = loaded.metadata[key].flatMap(Int.init), n != split.count {
                    throw InputError(out, "was trained with \(n) \(key == "train.images" ? "training" : "test") images; the data (\(data.directory)) now gives \(split.count): --resume continues the same data (start a new run with --force or another --out)")
                }
            }
            log("data: \(data.description)")
            network = loaded.network
            initPath = loaded.metadata["train.init"]
            startEpoch = done
            velocity = loaded.velocity
            log("resuming \(out) after epoch \(done) of \(options.epochs) with its stored options")
            if options.epochs != stored.epochs {
                let steps = (train.count + options.batchSize - 1) / options.batchSize
                func rate(_ o: TrainingOptions) -> Float {
                    LearningRateSchedule(peak: o.learningRate, warmupSteps: Int((o.resolvedWarmupEpochs * Double(steps)).rounded()),
                                         totalSteps: o.epochs * steps).rate(atStep: done * steps)
                }
                log(String(format: "extending the run from %d to %d epochs: the learning rate follows the %d-epoch schedule, %.4f at epoch %d (the %d-epoch schedule had %.4f)",
                           stored.epochs, options.epochs, options.epochs, rate(options), done + 1, stored.epochs, rate(stored)))
            }
        }

        func train(out: String, logEvery: Int, json: Bool, processes: ProcessGroup, log: (String) -> Void) throws {
            var options = self.options
            options.logEvery = logEvery
            // Each checkpoint of S bytes is written beside the file it replaces: the first needs S
            // free, later ones S beside the previous checkpoint, i.e. 2S minus what the existing file frees.
            let size = Checkpoint.estimatedBytes(network, withOptimizer: true)
            let later = options.epochs - startEpoch > 1
            if processes.isRoot { try checkOutputFile(out, bytesNeeded: later ? max(size, 2 * size - existingSize(out)) : size) }
            let trainer = Trainer(network: network, train: train, test: test, options: options, processes: processes)
            trainer.restoreVelocity(velocity)
            log("\(network.spec.summary), \(network.spec.stem.rawValue) stem: \(formatCount(network.parameterCount)) parameters, \(formatCount(network.macsPerImage)) MACs/image; \(train.count) training and \(test.count) test images; \(trainer.stepsPerEpoch) steps/epoch; warm-up \(options.resolvedWarmupEpochs) epochs")
            if processes.size > 1 {
                log("data parallel: \(processes.size) processes, each with its share of every batch of \(options.batchSize) and \(network.engine.threads) threads (process 0); batch norm \(options.syncBatchNorm ? "over the whole batch (--sync-bn)" : "per process")")
            }
            let stop = StopRequest()
            catchStopSignals(stop) { number in
                note("isp: \(number == SIGINT ? "SIGINT" : "SIGTERM") received, stopping after the current step (again to stop at once)")
            }
            var saved = startEpoch
            var last: EvaluationResult?
            let start = Date()
            do {
                try trainer.run(startEpoch: startEpoch, stop: stop, log: log) { epochs, result in
                    var meta = options.metadata
                    meta["train.epochs_completed"] = "\(epochs)"
                    meta["train.images"] = "\(train.count)"  // checked by --resume
                    meta["train.test_images"] = "\(test.count)"
                    meta["data_dir"] = data.directory  // where it was found this time, should the data have moved
                    meta["train.init"] = initPath
                    meta["test_accuracy"] = String(format: "%.4f", result.accuracy)
                    if processes.isRoot { try Checkpoint.save(network, to: out, metadata: meta, velocity: trainer.namedVelocity) }
                    saved = epochs
                    last = result
                }
            } catch let error as TrainingError {
                guard case let .interrupted(signal, _, _, _) = error else { throw error }
                let holds = saved > 0 && FileManager.default.fileExists(atPath: out)
                    ? "\(out) holds the checkpoint after epoch \(saved) of \(options.epochs), intact; continue with: isp train --resume --out \(out)"
                    : "no checkpoint was written (the first comes after epoch 1)"
                throw ExitError(message: "\(error); \(holds)", status: 128 + signal)
            }
            log("saved \(out)")
            if json, let last {
                let seconds = Date().timeIntervalSince(start)
                printJSON(["out": out, "architecture": network.spec.architecture, "width": jsonNumber(network.spec.width),
                           "dataset": data.dataset, "data_dir": data.directory,
                           "epochs": options.epochs, "epochs_trained": options.epochs - startEpoch,
                           "test_accuracy": last.accuracy, "test_loss": last.loss, "test_images": last.images,
                           "train_images": train.count, "seconds": seconds,
                           "images_per_s": Double((options.epochs - startEpoch) * train.count) / max(seconds, 1e-9),
                           "processes": processes.size, "threads_per_process": network.engine.threads,
                           "allreduce_ms_per_step": 1000 * trainer.allReduceSeconds / Double(max(trainer.steps, 1)),
                           "allreduce_bytes_per_step": processes.size > 1 ? 4 * network.parameterCount : 0,
                           "options": options.metadata])
            }
        }
    }

    /// "0.485,0.456,0.406" (or a JSON list) as numbers; nil when the flag was not given.
    static func floatList(_ text: String?, flag: String) throws -> [Float]? {
        guard let text else { return nil }
        let parts = text.trimmingCharacters(in: CharacterSet(charactersIn: "[] ")).split(separator: ",")
        let values = parts.compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count, values.allSatisfy(\.isFinite) else {
            throw UsageError(message: "\(flag) expects comma-separated numbers, got '\(text)'")
        }
        return values
    }

    static func existingSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }
}
