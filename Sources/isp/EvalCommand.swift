import Foundation
import InstanceSparsity

enum EvalCommand: Command {
    static let name = "eval"
    static let usage = "isp eval MODEL [--dataset fashion-mnist|cifar10] [--data-dir DIR] [--test-limit N] [--batch-size B] \(PruningOptions.usage) [--latency-images N] [--json]"
    static let help = """
    Test-set accuracy, mean cross-entropy and images/s of a checkpoint (dataset defaults to the
    one recorded in it). With --prune, also runs every test image through the sparse executor:
    accuracy dense and pruned, MACs dense and executed (mean, p10, p90), FLOPs reduction, and
    batch-1 latency dense and sparse with measured and ideal speedup.

      --prune POLICY   mean | max | energy | absolute | static-topk
      --alpha A        mean/max: multiplier of the image's mean/max saliency; energy: share of
                       squared saliency kept; absolute: threshold; static-topk: share of channels kept
      --layers L       auto (layers selected by CV on the calibration set), all, lowest-cv, or
                       comma-separated conv names (see 'isp info')
      --calibration N  first N training images for CV and static ranking (default 1000)
      --cv-min K / --top-k K   the auto selection: CV >= K, or the K highest (default: half the layers)
      --latency-images N       images timed at batch 1 (default 200, each 3 times)
    """

    static func run(_ a: inout Arguments) throws {
        let json = try a.flag("--json")
        let batchSize = try a.number("--batch-size", default: 256, in: 1...4096)
        let latencyImages = try a.number("--latency-images", default: 200, in: 1...100_000)
        let pruning = try PruningOptions(&a)
        let model = try LoadedModel(&a)
        try a.finish()
        let network = model.network

        guard let kind = pruning.policy else {
            let r = try evaluate(network, on: model.test, batchSize: batchSize)
            if json {
                printJSON(["model": model.path, "architecture": network.spec.architecture, "width": Double(network.spec.width),
                           "accuracy": r.accuracy, "loss": r.loss, "images": r.images, "images_per_s": r.imagesPerSecond])
            } else {
                print(BLASRuntime.summary)
                printTable(["model", "images", "accuracy", "loss", "images/s"],
                           [[model.path, "\(r.images)", String(format: "%.2f%%", 100 * r.accuracy), String(format: "%.4f", r.loss),
                             String(format: "%.0f", r.imagesPerSecond)]])
            }
            return
        }
        let (stats, gates) = try pruning.selectLayers(network, calibration: model.calibrationSet(pruning.calibration))
        let plan = pruning.plan(kind, alpha: pruning.alpha, stats: stats, gates: gates)
        let r = try PrunedEvaluator.evaluate(network, on: model.test, plan: plan)
        let latency = try PrunedEvaluator.latencies(network, on: model.test, plan: plan, images: latencyImages)
        let report = PruningReport(model: model.path, network: network, plan: plan, stats: stats, evaluation: r,
                                   latencyDense: latency.dense, latencySparse: latency.sparse)
        if json { printJSON(report.json) } else { print(BLASRuntime.summary); report.printReport() }
    }

    static func checkCompatible(_ spec: ModelSpec, _ data: Dataset, path: String) throws {
        guard spec.inputChannels == data.channels, spec.inputSize == data.height, spec.classes >= data.classes else {
            throw InputError(path, "model expects \(spec.inputChannels)x\(spec.inputSize)x\(spec.inputSize) inputs and \(spec.classes) classes; dataset \(data.name) has \(data.channels)x\(data.height)x\(data.width) and \(data.classes)")
        }
    }
}

/// Dense vs pruned figures of one operating point, as a table and as JSON.
struct PruningReport {
    let model: String
    let network: Network
    let plan: PruningPlan
    let stats: [LayerSaliency]
    let evaluation: PrunedEvaluation
    let latencyDense: (median: Double, p90: Double)
    let latencySparse: (median: Double, p90: Double)

    var speedup: Double { latencyDense.median / latencySparse.median }
    var idealSpeedup: Double { Double(evaluation.macsDense) / evaluation.macsExecutedMean }
    var prunedLabels: [String] { plan.gates.sorted().map { stats[$0].label } }

    var json: [String: Any] {
        let e = evaluation
        return ["model": model, "architecture": network.spec.architecture, "width": Double(network.spec.width),
                "policy": plan.policy.kind.rawValue, "alpha": Double(plan.policy.alpha), "layers": prunedLabels,
                "images": e.images, "accuracy_dense": e.accuracyDense, "accuracy_pruned": e.accuracyPruned,
                "macs_dense": e.macsDense, "macs_executed_mean": e.macsExecutedMean,
                "macs_executed_p10": e.macsPercentile(0.1), "macs_executed_p90": e.macsPercentile(0.9),
                "flops_reduction": e.flopsReduction, "latency_ms_dense": latencyDense.median,
                "latency_ms_dense_p90": latencyDense.p90, "latency_ms_sparse": latencySparse.median,
                "latency_ms_sparse_p90": latencySparse.p90, "speedup": speedup, "ideal_speedup": idealSpeedup,
                "speedup_over_ideal": speedup / idealSpeedup, "blas": BLASRuntime.summary]
    }

    func printReport() {
        let e = evaluation
        print("\(network.spec.architecture) width \(network.spec.width), \(e.images) test images; policy \(plan.policy.kind.rawValue) alpha \(plan.policy.alpha) at \(plan.gates.count) of \(stats.count) maps: \(prunedLabels.joined(separator: ", "))")
        printTable(["", "accuracy", "MACs/image (mean)", "p10", "p90", "latency median", "latency p90"], [
            ["dense", String(format: "%.2f%%", 100 * e.accuracyDense), formatCount(e.macsDense), "", "",
             String(format: "%.3f ms", latencyDense.median), String(format: "%.3f ms", latencyDense.p90)],
            ["pruned", String(format: "%.2f%%", 100 * e.accuracyPruned), formatCount(Int(e.macsExecutedMean)),
             formatCount(e.macsPercentile(0.1)), formatCount(e.macsPercentile(0.9)),
             String(format: "%.3f ms", latencySparse.median), String(format: "%.3f ms", latencySparse.p90)],
        ])
        print(String(format: "FLOPs reduction %.1f%%, accuracy change %+.2f points, speedup %.2fx measured vs %.2fx ideal (%.0f%% of ideal)",
                     100 * e.flopsReduction, 100 * (e.accuracyPruned - e.accuracyDense), speedup, idealSpeedup,
                     100 * speedup / idealSpeedup))
    }
}
