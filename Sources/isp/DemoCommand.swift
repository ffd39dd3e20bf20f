import Foundation
import InstanceSparsity

enum DemoCommand: Command {
    static let name = "demo"
    static let usage = "isp demo [MODEL] [--out DIR] [--prune POLICY --alpha A] [--layers L] [--sweep-images N] [--data-dir DIR] [--json]"
    static let help = """
    The whole story on a trained model (default: the shipped models/vgg16-fd.safetensors on the
    Fashion-MNIST test set): dense vs pruned accuracy, MACs, batch-1 latency and speedup on all
    test images at the operating point, the CV per layer, and the accuracy-vs-FLOPs sweep on the
    first --sweep-images test images (default 1000). Writes DIR (default report/): results.json,
    cv.svg, sweep.svg, sweep.json, pruning-hist.svg, easy-hard.png.
    """
    static let defaultModel = "models/vgg16-fd.safetensors"
    /// The shipped model's operating point, chosen on training images (scripts/results.sh); see docs/RESULTS.md.
    static let defaultPolicy = "max", defaultAlpha: Float = 0.1, defaultLayers = "all"

    static func run(_ a: inout Arguments) throws {
        let json = try a.flag("--json")
        let out = try a.option("--out") ?? "report"
        let sweepImages = try a.number("--sweep-images", default: 1000, in: 1...1_000_000)
        var pruning = try PruningOptions(&a, defaultPolicy: defaultPolicy, defaultAlpha: defaultAlpha, defaultLayers: defaultLayers)
        let model = try LoadedModel(&a, defaultPath: defaultModel)
        try a.finish()
        try prepareOutputDirectory(out)  // before the work, not after it
        let network = model.network
        print(BLASRuntime.summary)

        let (stats, gates) = try pruning.selectLayers(network, calibration: model.calibrationSet(pruning.calibration))
        let chart = BarChart(title: "CV of channel saliency across \(pruning.calibration) calibration images",
                             xLabel: "map (input of)", yLabel: "CV", labels: stats.map(\.label), values: stats.map(\.cv))
        try writeTextAtomically(chart.render(), to: out + "/cv.svg")
        let plan = pruning.plan(pruning.policy ?? .mean, alpha: pruning.alpha, stats: stats, gates: gates)
        let evaluation = try PrunedEvaluator.evaluate(network, on: model.test, plan: plan)
        let latency = try PrunedEvaluator.latencies(network, on: model.test, plan: plan, images: 200)
        let report = PruningReport(model: model.path, network: network, plan: plan, stats: stats, evaluation: evaluation,
                                   latencyDense: latency.dense, latencySparse: latency.sparse)
        report.printReport()

        let subset = model.withTestImages(sweepImages)
        print("\nsweep over alpha on the first \(subset.test.count) test images:")
        let sweep = try SweepCommand.sweep(subset, pruning: &pruning, kinds: [.mean, .max, .energy, .staticTopK], out: out)
        var results = report.json
        results["cv"] = stats.map { ["layer": $0.label, "cv": $0.cv, "dispersion": $0.dispersion] as [String: Any] }
        results["sweep"] = sweep
        let data = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys, .prettyPrinted])
        try writeTextAtomically(String(decoding: data, as: UTF8.self), to: out + "/results.json")
        if json { printJSON(results) }
        print("\nwrote \(out)/: results.json, cv.svg, sweep.svg, sweep.json, pruning-hist.svg, easy-hard.png")
    }
}
