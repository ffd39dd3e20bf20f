import Foundation
import InstanceSparsity

/// `--prune POLICY --alpha A`: the per-image threshold rule. Neither is ever filled in silently:
/// a policy without its alpha (or an alpha without a policy) is a usage error.
struct PolicyChoice {
    let kind: ThresholdPolicy.Kind
    let alpha: Float
    /// Where it came from, for the output: "given by --prune/--alpha", ...
    var origin = "given by --prune/--alpha"
}

/// What the pruning flags ask for: a policy given on the command line, or the operating point
/// stored in the model (`--prune stored`, written by `isp tune`).
enum PruningRequest {
    case given(PolicyChoice)
    case stored

    static let options = [
        Option("--prune", "stored|" + ThresholdPolicy.Kind.allCases.map(\.rawValue).joined(separator: "|"),
               "prune each image's channels: stored = the operating point saved in MODEL by 'isp tune', or a policy with --alpha (default: dense; demo, predict and serve: the stored point when MODEL has one)"),
        Option("--alpha", "A", "the policy's parameter, required with --prune POLICY: mean/max: multiple of the image's mean/max saliency; energy: share of squared saliency kept; absolute: threshold; static-topk: share of channels kept"),
    ]

    /// Reads both flags; nil when neither is given.
    static func read(_ a: inout Arguments) throws -> PruningRequest? {
        let name = try a.option("--prune")
        let alpha: Float? = try a.optionalNumber("--alpha", in: 0...1000)
        guard let name else {
            if alpha != nil { throw UsageError(message: "--alpha needs --prune POLICY (it is that policy's parameter)") }
            return nil
        }
        if name == "stored" {
            if alpha != nil { throw UsageError(message: "--prune stored uses the stored alpha: --alpha would contradict it") }
            return .stored
        }
        guard let kind = ThresholdPolicy.Kind(rawValue: name) else {
            throw UsageError(message: "--prune must be one of stored, \(ThresholdPolicy.Kind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
        }
        guard let alpha else { throw UsageError(message: "--prune \(name) needs --alpha A (no default: it decides how much is pruned)") }
        if (kind == .energy || kind == .staticTopK) && alpha > 1 {
            throw UsageError(message: "--alpha for \(name) is a share, at most 1, got \(alpha)")
        }
        return .given(PolicyChoice(kind: kind, alpha: alpha))
    }
}

/// A pruning plan with how it was arrived at, for reports.
struct ResolvedPruning {
    let plan: PruningPlan
    let choice: PolicyChoice
    /// How the maps were chosen: "auto (top half by CV)", "stored", ...
    let layerRule: String
    /// Calibration statistics when they were computed (not for a stored operating point).
    let stats: [LayerSaliency]?

    /// The plan `request` asks for on `model`: a stored operating point as it is (its maps were
    /// chosen when it was tuned, so --layers, --cv-min and --top-k would contradict it, and
    /// --calibration too unless the command uses calibration images for something else), or a
    /// given policy at the maps `selection` picks on calibration images.
    static func resolve(_ request: PruningRequest, model: LoadedModel, selection: LayerSelection,
                        calibrationUsedElsewhere: Bool = false, processes: ProcessGroup = SingleProcess()) throws -> ResolvedPruning {
        switch request {
        case .stored:
            let contradicting = LayerSelection.options.map(\.flag).filter { $0 != "--calibration" || !calibrationUsedElsewhere }
            if let flag = contradicting.first(where: selection.given.contains) {
                throw UsageError(message: "\(flag) contradicts --prune stored: the stored operating point has its own maps")
            }
            guard let point = model.operatingPoint else {
                throw InputError(model.path, "has no stored operating point: run 'isp tune \(model.path) --out FILE' or give --prune POLICY --alpha A")
            }
            return try stored(point, network: model.network, path: model.path)
        case .given(let choice):
            let (stats, gates) = try selection.select(model.network, calibration: model.calibrationSet(selection.calibration),
                                                      processes: processes)
            return ResolvedPruning(plan: try LayerSelection.plan(choice.kind, alpha: choice.alpha, stats: stats, gates: gates),
                                   choice: choice, layerRule: selection.rule, stats: stats)
        }
    }
}

extension ResolvedPruning {
    static func stored(_ point: OperatingPoint, network: Network, path: String) throws -> ResolvedPruning {
        let on = point.measured["images"].map { " on \($0)" } ?? ""
        return ResolvedPruning(plan: try point.plan(for: network),
                               choice: PolicyChoice(kind: point.policy.kind, alpha: point.policy.alpha, origin: "stored in \(path), tuned\(on)"),
                               layerRule: "stored", stats: nil)
    }

    /// For commands that have a model but no data (predict, serve, bench --random-inputs): the
    /// stored operating point, or a policy at maps that need no calibration images to choose
    /// (all, or listed by name) and no ranking (not static-topk).
    static func withoutCalibration(_ request: PruningRequest, network: Network, metadata: [String: String], path: String,
                                   selection: LayerSelection) throws -> ResolvedPruning {
        switch request {
        case .stored:
            if let flag = selection.given.first { throw UsageError(message: "\(flag) contradicts --prune stored: the stored operating point has its own maps") }
            guard let point = try OperatingPoint(metadata: metadata, network: network, path: path) else {
                throw InputError(path, "has no stored operating point: run 'isp tune \(path) --out FILE' or give --prune POLICY --alpha A --layers all")
            }
            return try stored(point, network: network, path: path)
        case .given(let choice):
            let labels = network.gates.map(\.label)
            let wanted = selection.layers == "all" ? labels : selection.layers.split(separator: ",").map(String.init)
            if !["auto", "lowest-cv"].contains(selection.layers) {
                for label in wanted { try LayerSelection.checkPrunable(label, among: labels) }
            }
            guard choice.kind != .staticTopK, selection.layers != "auto", selection.layers != "lowest-cv" else {
                throw UsageError(message: "without calibration images, prune with --layers all or a list of maps (\(labels.joined(separator: ","))) and a policy other than static-topk, or use --prune stored")
            }
            return ResolvedPruning(plan: try PruningPlan(policy: ThresholdPolicy(choice.kind, alpha: choice.alpha),
                                                     gates: Set(wanted.compactMap { labels.firstIndex(of: $0) }), ranking: nil),
                                   choice: choice, layerRule: selection.layers, stats: nil)
        }
    }
}

/// Which maps to prune and the calibration images (N of the training split as --train-limit picks them, never the
/// test split) behind the CV selection and the static ranking.
struct LayerSelection {
    var layers: String
    var calibration: Int
    var cvMin: Double?
    var topK: Int?
    /// The flags the user wrote (a stored operating point must not be combined with them).
    let given: Set<String>

    static let layersOption = Option("--layers", "auto|all|lowest-cv|LIST",
                                     "maps to prune: auto (selected by CV on the calibration images), all, lowest-cv (the lowest CVs, a control) or comma-separated map names from 'isp info' (default auto)")
    /// For commands that read no calibration images (predict, serve): the same values, but auto
    /// and lowest-cv, which rank maps on calibration images, are refused there.
    static let uncalibratedLayersOption = Option("--layers", "auto|all|lowest-cv|LIST",
                                                 "with --prune POLICY (required there): the maps to prune, all or comma-separated map names from 'isp info' (auto and lowest-cv need calibration images, which this command does not read)")
    static let calibrationOptions = [
        Option("--calibration", "N", "N training images (the first N; class folders: N evenly spaced) for CV and the static ranking; never test images (default 1000)"),
        Option("--cv-min", "KAPPA", "select the maps with CV >= KAPPA (default: by --top-k)"),
        Option("--top-k", "K", "select the K maps of highest CV (lowest for lowest-cv) (default: half the maps)"),
    ]
    static let options = [layersOption] + calibrationOptions

    init(_ a: inout Arguments, readLayers: Bool = true) throws {
        given = Set(LayerSelection.options.map(\.flag).filter(a.contains))
        layers = readLayers ? try a.list("--layers")?.joined(separator: ",") ?? "auto" : "auto"
        calibration = try a.number("--calibration", default: 1000, in: 1...1_000_000)
        cvMin = try a.optionalNumber("--cv-min", in: 0...1000)
        topK = try a.optionalNumber("--top-k", in: 1...10_000)
        if cvMin != nil && topK != nil { throw UsageError(message: "--cv-min and --top-k are two selection rules: give one") }
        // A rule the chosen maps do not use is refused, not ignored.
        if layers != "auto" && (cvMin != nil || (topK != nil && layers != "lowest-cv")) {
            throw UsageError(message: "\(cvMin != nil ? "--cv-min" : "--top-k") selects maps by CV: it needs --layers auto\(cvMin != nil ? "" : " or lowest-cv"), not --layers \(layers)")
        }
    }

    /// Only `--layers` (commands without calibration images); nil means not given ("auto").
    init(layers: String?) {
        self.layers = layers ?? "auto"
        calibration = 0
        given = layers == nil ? [] : ["--layers"]
    }

    /// Calibration statistics and the gates to prune under `--layers`.
    func select(_ network: Network, calibration data: any DataSplit,
                processes: ProcessGroup = SingleProcess()) throws -> (stats: [LayerSaliency], gates: Set<Int>) {
        if let k = topK, k > network.gates.count {
            throw UsageError(message: "--top-k \(k) is more than the \(network.gates.count) prunable maps (all of them: --layers all)")
        }
        let progress = Progress("calibration", total: min(calibration, data.count), style: Output.progress)
        defer { progress.finish() }
        let stats = try ChannelSaliency.analyze(network, on: data, count: calibration, progress: progress, processes: processes)
        switch layers {
        case "auto": return (stats, Set(ChannelSaliency.select(stats, cvMin: cvMin, topK: topK)))
        case "all": return (stats, Set(stats.indices))
        case "lowest-cv":
            let k = topK ?? (stats.count + 1) / 2
            return (stats, Set(stats.indices.sorted { stats[$0].cv < stats[$1].cv }.prefix(k)))
        default:
            var chosen = Set<Int>()
            for label in layers.split(separator: ",").map(String.init) {
                try LayerSelection.checkPrunable(label, among: stats.map(\.label))
                chosen.insert(stats.firstIndex { $0.label == label }!)
            }
            return (stats, chosen)
        }
    }

    static func checkPrunable(_ label: String, among labels: [String]) throws {
        guard labels.contains(label) else {
            throw UsageError(message: "--layers: '\(label)' is not a prunable map; valid: \(labels.joined(separator: ","))")
        }
    }

    /// How the maps were chosen, for tables and JSON: "auto (top 6 by CV)", "all", ...
    var rule: String {
        switch layers {
        case "auto": return cvMin.map { "auto (CV >= \($0))" } ?? "auto (top \(topK.map(String.init) ?? "half") by CV)"
        case "lowest-cv": return "lowest-cv (\(topK.map(String.init) ?? "half") lowest CV)"
        default: return layers
        }
    }

    static func plan(_ kind: ThresholdPolicy.Kind, alpha: Float, stats: [LayerSaliency], gates: Set<Int>) throws -> PruningPlan {
        try PruningPlan(policy: ThresholdPolicy(kind, alpha: alpha), gates: gates,
                    ranking: kind == .staticTopK ? stats.map(\.ranking) : nil)
    }
}
