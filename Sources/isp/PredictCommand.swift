import Foundation
import InstanceSparsity

enum PredictCommand: Command {
    static let name = "predict"
    static let synopsis = "MODEL IMAGE..."
    static let abstract = """
    Classifies PNG or JPEG images one at a time through the sparse executor, prepared as the
    model's data was (Fashion-MNIST models: 28x28 gray images padded to 32x32; CIFAR-10: 32x32 RGB;
    class-folder and torchvision models: their resize and centre crop). Per image: the --top
    classes by name with their probabilities, and the MACs executed against the dense network's;
    the JSON adds the logits, and lists each image that failed with its problem. Pruning: the
    operating point stored in MODEL when it has one, else dense (said which on stderr). An image
    that cannot be read is a one-line error naming it; the others are still classified, and the
    exit status is 1. An IMAGE of - is read from standard input.
    """
    static let options = PruningRequest.options + [
        LayerSelection.uncalibratedLayersOption,
        Option("--dense", "run every channel even if MODEL has a stored operating point (default: the stored point if any)"),
        Option("--top", "K", "classes listed per image, at most the model's (default 5, or all if it has fewer)"),
        Option.json,
    ]

    static func run(_ a: inout Arguments, engine: Engine) throws {
        let json = try a.flag("--json"), dense = try a.flag("--dense")
        let givenTop: Int? = try a.optionalNumber("--top", in: 1...100_000)
        let request = try PruningRequest.read(&a)
        let layers = try a.list("--layers")?.joined(separator: ",")
        guard let path = a.positional() else { throw UsageError(message: "MODEL (a .safetensors checkpoint) is required") }
        var images: [String] = []
        while let image = a.positional() { images.append(image) }
        try a.finish()
        guard !images.isEmpty else { throw UsageError(message: "give at least one IMAGE") }
        if images.filter({ $0 == "-" }).count > 1 { throw UsageError(message: "- (standard input) can be given once") }
        if dense && request != nil { throw UsageError(message: "--dense and --prune contradict each other") }
        if layers != nil && request == nil { throw UsageError(message: "--layers needs --prune POLICY") }

        let classifier = try makeClassifier(path: path, request: request, layers: layers, defaultStored: !dense,
                                            splitAcrossCores: true, engine: engine)
        let top = try classesPerAnswer(givenTop, of: classifier, path: path)
        var results: [[String: Any]] = [], rows: [[String]] = [], failed: [[String: Any]] = []
        for image in images {
            do {
                let r = image == "-"
                    ? try classifier.classify(encoded: [UInt8](FileHandle.standardInput.readDataToEndOfFile()), name: "standard input", top: top)
                    : try classifier.classify(path: image, top: top)
                results.append(r.jsonObject.merging(["image": image]) { a, _ in a })
                let next = r.top.dropFirst().map { "\($0.label) \(String(format: "%.1f%%", 100 * $0.probability))" }.joined(separator: ", ")
                rows.append([image, r.label, String(format: "%.1f%%", 100 * r.probability)] + (top > 1 ? [next] : [])
                            + [formatCount(r.macsExecuted), String(format: "%.0f%%", 100 * Double(r.macsExecuted) / Double(r.macsDense))])
            } catch let error as InputError {
                note("isp predict: \(error)")
                failed.append(["image": image, "error": error.problem])
            }
        }
        if json {
            printJSON(["model": path, "images": results, "failed": failed.count, "errors": failed])
        } else if !rows.isEmpty {
            printTable(["image", "class", "probability"] + (top > 1 ? ["next"] : []) + ["MACs", "of dense"], rows)
        }
        if !failed.isEmpty { throw ExitError(message: "\(failed.count) of \(images.count) images could not be classified", status: 1) }
    }

    /// The classifier for `path` with the pruning the flags ask for; without flags the stored
    /// operating point if there is one (`defaultStored`), else dense, running on `engine`. Says
    /// which on stderr.
    /// `--top`: up to 5 by default; more than the model has, asked for, is refused rather than cut.
    static func classesPerAnswer(_ given: Int?, of classifier: Classifier, path: String) throws -> Int {
        let classes = classifier.network.spec.classes
        if let top = given, top > classes { throw UsageError(message: "--top \(top) is more than the \(classes) classes of \(path)") }
        return given ?? min(5, classes)
    }

    static func makeClassifier(path: String, request: PruningRequest?, layers: String?, defaultStored: Bool,
                               splitAcrossCores: Bool, engine: Engine) throws -> Classifier {
        let loaded = try Checkpoint.load(path: path, engine: engine)
        let input = try ImageInput(spec: loaded.network.spec, path: path)
        let chosen: PruningRequest? = request ?? (defaultStored && loaded.metadata[OperatingPoint.prefix + "policy"] != nil ? .stored : nil)
        guard let chosen else {
            note("pruning: none (dense)")
            return Classifier(network: loaded.network, plan: nil, input: input, splitAcrossCores: splitAcrossCores)
        }
        let pruning = try ResolvedPruning.withoutCalibration(chosen, network: loaded.network, metadata: loaded.metadata, path: path,
                                                             selection: LayerSelection(layers: layers))
        note("pruning: \(pruning.choice.kind.rawValue) alpha \(pruning.choice.alpha) at \(pruning.plan.gates.count) of \(loaded.network.gates.count) maps (\(pruning.choice.origin))")
        return Classifier(network: loaded.network, plan: pruning.plan, input: input, splitAcrossCores: splitAcrossCores)
    }
}
