import Foundation
import InstanceSparsity

enum SweepCommand: Command {
    static let name = "sweep"
    static let usage = "isp sweep MODEL --out DIR [--on test|train] [--policies LIST] [--layers auto|all|LIST] [--prune POLICY --alpha A] [--calibration N] [--test-limit N] [--dataset NAME] [--data-dir DIR] [--json]"
    static let help = """
    Accuracy against FLOPs reduction over a grid of alpha values for each policy (default: mean,
    max, energy, static-topk), at the selected layers. `--on train` evaluates on the last
    --test-limit training images instead of the test split (for choosing an operating point
    without touching the test set). Writes into DIR:
      sweep.json        every point (policy, alpha, accuracy, FLOPs reduction, MACs)
      sweep.svg         accuracy vs FLOPs reduction, one line per policy, static baseline dashed
      pruning-hist.svg  per-image FLOPs reduction at the operating point (--prune/--alpha, default mean 0.5)
      easy-hard.png     top row: the 10 most pruned test images; bottom row: the 10 least pruned,
                        each captioned with its FLOPs reduction
    """

    static let grids: [ThresholdPolicy.Kind: [Float]] = [
        .mean: [0.1, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0],
        .max: [0.01, 0.03, 0.05, 0.07, 0.1, 0.12, 0.15, 0.2, 0.3, 0.4],
        .energy: [0.999, 0.995, 0.99, 0.985, 0.98, 0.97, 0.95, 0.9, 0.8],
        .absolute: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4],
        .staticTopK: [0.95, 0.85, 0.75, 0.65, 0.55, 0.45, 0.35, 0.25],
    ]

    static func run(_ a: inout Arguments) throws {
        let json = try a.flag("--json")
        guard let out = try a.option("--out") else { throw UsageError(message: "--out DIR is required") }
        let policyList = try a.option("--policies") ?? "mean,max,energy,static-topk"
        let on = try a.choice("--on", default: "test", from: ["test", "train"])
        var pruning = try PruningOptions(&a)
        var model = try LoadedModel(&a)
        try a.finish()
        if on == "train" { model = try model.onTrainingTail(model.test.count) }
        var kinds: [ThresholdPolicy.Kind] = []
        for name in policyList.split(separator: ",") {
            guard let k = ThresholdPolicy.Kind(rawValue: String(name)) else { throw UsageError(message: "--policies: unknown policy '\(name)'") }
            kinds.append(k)
        }
        try prepareOutputDirectory(out)  // before the work, not after it
        let result = try sweep(model, pruning: &pruning, kinds: kinds, out: out)
        if json { printJSON(result) } else {
            print("wrote \(out)/sweep.json, sweep.svg, pruning-hist.svg, easy-hard.png")
        }
    }

    /// Runs the sweep and the operating point, writes the four files, returns the JSON object.
    static func sweep(_ model: LoadedModel, pruning: inout PruningOptions, kinds: [ThresholdPolicy.Kind], out: String,
                      log: (String) -> Void = { print($0) }) throws -> [String: Any] {
        let network = model.network
        let (stats, gates) = try pruning.selectLayers(network, calibration: model.calibrationSet(pruning.calibration))
        let dense = try PrunedEvaluator.run(network, on: model.test, plan: nil)
        log(String(format: "dense: accuracy %.2f%%, %@ MACs/image, %d images; pruning %d of %d maps",
                   100 * dense.accuracy, formatCount(dense.macs.first ?? 0), model.test.count, gates.count, stats.count))
        var points: [[String: Any]] = []
        var plot = LinePlot(title: "\(network.spec.architecture) width \(network.spec.width): accuracy vs FLOPs reduction",
                            xLabel: "FLOPs reduction (%)", yLabel: "test accuracy (%)")
        for kind in kinds {
            var line: [(x: Double, y: Double)] = []
            for alpha in grids[kind] ?? [] {
                let e = try PrunedEvaluator.evaluate(network, on: model.test, plan: pruning.plan(kind, alpha: alpha, stats: stats, gates: gates), dense: dense)
                log(String(format: "%-12@ alpha %-6g accuracy %.2f%% (dense %.2f%%)  FLOPs reduction %.1f%%",
                           kind.rawValue, alpha, 100 * e.accuracyPruned, 100 * e.accuracyDense, 100 * e.flopsReduction))
                points.append(["policy": kind.rawValue, "alpha": Double(alpha), "accuracy": e.accuracyPruned,
                               "accuracy_dense": e.accuracyDense, "flops_reduction": e.flopsReduction,
                               "macs_executed_mean": e.macsExecutedMean, "macs_dense": e.macsDense])
                line.append((100 * e.flopsReduction, 100 * e.accuracyPruned))
            }
            plot.add(name: kind.rawValue, points: line.sorted { $0.x < $1.x }, dashed: kind == .staticTopK)
        }
        plot.add(name: "dense", points: [(0, 100 * dense.accuracy), (100, 100 * dense.accuracy)], dashed: true)
        try writeTextAtomically(plot.render(), to: out + "/sweep.svg")

        // The operating point: histogram of per-image reduction and the easy/hard images.
        let operating = pruning.plan(pruning.policy ?? .mean, alpha: pruning.alpha, stats: stats, gates: gates)
        let e = try PrunedEvaluator.evaluate(network, on: model.test, plan: operating, dense: dense)
        let reduction = e.perImageReduction
        let hist = Histogram(title: String(format: "Per-image FLOPs reduction, %@ alpha %g (mean %.1f%%)",
                                           operating.policy.kind.rawValue, operating.policy.alpha, 100 * e.flopsReduction),
                             xLabel: "FLOPs reduction of the image (%)", yLabel: "images",
                             values: reduction.map { 100 * $0 }, bins: 40)
        try writeTextAtomically(hist.render(), to: out + "/pruning-hist.svg")
        let order = reduction.indices.sorted { reduction[$0] > reduction[$1] }
        var grid = ImageGrid()
        let k = min(10, order.count)
        grid.rows = [Array(order.prefix(k)), Array(order.suffix(k).reversed())].map { row in
            row.map { (image: $0, caption: String(format: "%.0f%%", 100 * reduction[$0])) }
        }
        try grid.write(to: out + "/easy-hard.png", data: model.test)
        let result: [String: Any] = [
            "model": model.path, "images": model.test.count, "layers": gates.sorted().map { stats[$0].label },
            "accuracy_dense": dense.accuracy, "macs_dense": dense.macs.first ?? 0, "points": points,
            "operating_point": ["policy": operating.policy.kind.rawValue, "alpha": Double(operating.policy.alpha),
                                "accuracy_pruned": e.accuracyPruned, "flops_reduction": e.flopsReduction,
                                "macs_executed_p10": e.macsPercentile(0.1), "macs_executed_p90": e.macsPercentile(0.9),
                                "most_pruned": Array(order.prefix(k)), "least_pruned": Array(order.suffix(k).reversed())] as [String: Any],
        ]
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted])
        try writeTextAtomically(String(decoding: data, as: UTF8.self), to: out + "/sweep.json")
        return result
    }
}
