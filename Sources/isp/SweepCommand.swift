import Foundation
import InstanceSparsity

enum SweepCommand: Command {
    static let name = "sweep"
    static let synopsis = "MODEL --out DIR"
    static let abstract = """
    Accuracy against FLOPs reduction over a grid of alpha values for each policy, at the selected
    maps, on the test images (or, with --on train, on --test-limit training images: the last ones,
    for class folders evenly spaced ones), for choosing an operating point without touching the
    test set. The operating point is --prune POLICY --alpha A or --prune stored (then the sweep
    runs at the stored maps), else the swept point with the largest FLOPs reduction whose accuracy
    is within 1 point of dense on these images, for the figures only ('isp tune' stores a point
    chosen within 0.5 points on training images). Writes into DIR:
      sweep.json        every point (policy, alpha, accuracy, FLOPs reduction, MACs), the data used
      sweep.svg         accuracy vs FLOPs reduction, one line per policy, static baseline dashed,
                        the operating point marked, the accuracy axis from 10 points below dense
      pruning-hist.svg  per-image FLOPs reduction at the operating point
      easy-hard.png     the 10 most and the 10 least pruned images at the operating point, each
                        with its class and FLOPs reduction
    Under mpirun the processes split the images and gather the results (the same figures as one
    process); process 0 writes DIR.
    """
    static let options = [
        Option("--out", "DIR", "the report directory, created if needed (required)"),
        Option("--policies", "LIST", "comma-separated policies to sweep (default mean,max,energy,static-topk)"),
        Option("--on", "test|train", "evaluate on the test split or on --test-limit training images, the last ones (class folders: evenly spaced) (default test)"),
    ] + PruningRequest.options + LayerSelection.options + LoadedModel.options + [Option.json]

    static let grids: [ThresholdPolicy.Kind: [Float]] = [
        .mean: [0.1, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0],
        .max: [0.01, 0.03, 0.05, 0.07, 0.1, 0.12, 0.15, 0.2, 0.3, 0.4],
        .energy: [0.999, 0.995, 0.99, 0.985, 0.98, 0.97, 0.95, 0.9, 0.8],
        .absolute: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4],
        .staticTopK: [0.95, 0.85, 0.75, 0.65, 0.55, 0.45, 0.35, 0.25],
    ]

    static func run(_ a: inout Arguments, engine: Engine) throws { try run(&a, processes: SingleProcess(), engine: engine) }

    static func run(_ a: inout Arguments, processes: ProcessGroup, engine: Engine) throws {
        let json = try a.flag("--json")
        guard let out = try a.option("--out") else { throw UsageError(message: "--out DIR is required") }
        let policyList = try a.list("--policies") ?? ["mean", "max", "energy", "static-topk"]
        let on = try a.choice("--on", default: "test", from: ["test", "train"])
        let pruning = try PruningRequest.read(&a)
        let selection = try LayerSelection(&a)
        var kinds: [ThresholdPolicy.Kind] = []
        for name in policyList {
            guard let k = ThresholdPolicy.Kind(rawValue: name) else { throw UsageError(message: "--policies: unknown policy '\(name)'") }
            kinds.append(k)
        }
        let request = try LoadedModel.Request(&a)
        if processes.isRoot { try prepareOutputDirectory(out) }  // before the work, not after it
        var model = try request.load(engine: engine)
        if on == "train" { model = try model.onTrainingTail(model.test.count) }
        let result = try sweep(model, on: on, operating: pruning, selection: selection, kinds: kinds, out: out,
                               processes: processes, log: commentary(json: json))
        if json { printJSON(result) } else {
            print("wrote \(out)/sweep.json, sweep.svg, pruning-hist.svg, easy-hard.png")
        }
    }

    /// Runs the sweep and the operating point, writes the four files, returns the JSON object.
    static func sweep(_ model: LoadedModel, on split: String = "test", operating request: PruningRequest?, selection: LayerSelection,
                      kinds: [ThresholdPolicy.Kind], out: String, processes: ProcessGroup = SingleProcess(),
                      log: (String) -> Void) throws -> [String: Any] {
        let network = model.network, images = model.test
        var selection = selection
        var stored: ResolvedPruning? = nil
        if case .stored = request {
            stored = try ResolvedPruning.resolve(.stored, model: model, selection: selection, calibrationUsedElsewhere: true)
            selection.layers = stored!.plan.gates.sorted().map { network.gates[$0].label }.joined(separator: ",")  // the grid at the stored maps
        }
        let (stats, gates) = try selection.select(network, calibration: model.calibrationSet(selection.calibration), processes: processes)
        let points = kinds.reduce(0) { $0 + (grids[$1]?.count ?? 0) }
        let progress = Progress("sweep", total: (points + 3) * images.count, style: Output.progress)
        defer { progress.finish() }
        let dense = try PrunedEvaluator.run(network, on: images, plan: nil, progress: progress, processes: processes)
        log(String(format: "dense: accuracy %.2f%%, %@ MACs/image, %d %@ images; pruning %d of %d maps (%@)",
                   100 * dense.accuracy, formatCount(dense.macs.first ?? 0), images.count, split, gates.count, stats.count, selection.rule))
        func plan(_ kind: ThresholdPolicy.Kind, _ alpha: Float) throws -> PruningPlan {
            try LayerSelection.plan(kind, alpha: alpha, stats: stats, gates: gates)
        }
        // Channels silent on the image (saliency exactly 0) are dropped by every instance-wise
        // policy at any alpha, with no change to the output: where those curves start.
        let silent = try PrunedEvaluator.evaluate(network, on: images, plan: try plan(.absolute, 0), dense: dense, progress: progress,
                                                  processes: processes)

        var rows: [[String: Any]] = []
        var measured: [(kind: ThresholdPolicy.Kind, alpha: Float, evaluation: PrunedEvaluation)] = []
        var plot = LinePlot(title: "\(network.spec.architecture) width \(network.spec.width): accuracy vs FLOPs reduction (\(images.count) \(split) images)",
                            xLabel: "FLOPs reduction (%)", yLabel: "\(split) accuracy (%)")
        for kind in kinds {
            var line: [(x: Double, y: Double)] = []
            for alpha in grids[kind] ?? [] {
                let e = try PrunedEvaluator.evaluate(network, on: images, plan: try plan(kind, alpha), dense: dense, progress: progress,
                                                     processes: processes)
                // Padded here: Foundation on Linux ignores a width given to %@.
                log(String(format: "%@ alpha %-6g accuracy %.2f%% (dense %.2f%%)  FLOPs reduction %.1f%%",
                           kind.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0), alpha, 100 * e.accuracyPruned, 100 * e.accuracyDense, 100 * e.flopsReduction))
                rows.append(["policy": kind.rawValue, "alpha": jsonNumber(alpha), "accuracy": e.accuracyPruned,
                             "accuracy_dense": e.accuracyDense, "flops_reduction": e.flopsReduction,
                             "macs_executed_mean": e.macsExecutedMean, "macs_dense": e.macsDense])
                measured.append((kind, alpha, e))
                line.append((100 * e.flopsReduction, 100 * e.accuracyPruned))
            }
            plot.add(name: kind.rawValue, points: line.sorted { $0.x < $1.x }, dashed: kind == .staticTopK)
        }
        plot.add(name: "dense", points: [(0, 100 * dense.accuracy), (100, 100 * dense.accuracy)], dashed: true)

        // The operating point: as given, else the largest reduction within 1 point of dense.
        let chosen: (kind: ThresholdPolicy.Kind, alpha: Float, why: String)
        if let stored {
            chosen = (stored.choice.kind, stored.choice.alpha, stored.choice.origin)
        } else if case .given(let given) = request {
            chosen = (given.kind, given.alpha, given.origin)
        } else if let best = measured.filter({ $0.evaluation.accuracyPruned >= dense.accuracy - 0.01 })
                    .max(by: { $0.evaluation.flopsReduction < $1.evaluation.flopsReduction }) {
            chosen = (best.kind, best.alpha, "the largest FLOPs reduction within 1 point of dense on these \(split) images")
        } else {
            chosen = (.max, 0, "no swept point within 1 point of dense: only channels silent on the image are dropped")
        }
        let operating = try stored?.plan ?? plan(chosen.kind, chosen.alpha)
        let e = try PrunedEvaluator.evaluate(network, on: images, plan: operating, dense: dense, progress: progress,
                                             processes: processes)
        log(String(format: "operating point: %@ alpha %g (%@): accuracy %.2f%%, FLOPs reduction %.1f%%",
                   chosen.kind.rawValue, chosen.alpha, chosen.why, 100 * e.accuracyPruned, 100 * e.flopsReduction))

        plot.yFloor = 100 * dense.accuracy - 10
        plot.markers = [(100 * e.flopsReduction, 100 * e.accuracyPruned, "operating point: \(chosen.kind.rawValue) \(chosen.alpha)")]
        plot.notes = [
            String(format: "Instance-wise curves start near %.1f%%: channels silent on the image are dropped at any alpha, at no cost.",
                   100 * silent.flopsReduction),
            "Static top-k (dashed): the same channels for every image, ranked on \(selection.calibration) training images. Maps: \(selection.rule).",
        ]
        // Process 0 alone writes the files (every process has the same figures).
        if processes.isRoot { try writeTextAtomically(plot.render(), to: out + "/sweep.svg") }

        let reduction = e.perImageReduction
        let hist = Histogram(title: String(format: "Per-image FLOPs reduction, %@ alpha %g (mean %.1f%%)",
                                           chosen.kind.rawValue, chosen.alpha, 100 * e.flopsReduction),
                             xLabel: "FLOPs reduction of the image (%)", yLabel: "images",
                             values: reduction.map { 100 * $0 }, bins: 40)
        if processes.isRoot { try writeTextAtomically(hist.render(), to: out + "/pruning-hist.svg") }
        let order = reduction.indices.sorted { reduction[$0] > reduction[$1] }
        let k = min(10, order.count)
        let most = Array(order.prefix(k)), least = Array(order.suffix(k).reversed())
        var grid = ImageGrid()
        grid.title = "\(network.spec.architecture) \(chosen.kind.rawValue) \(chosen.alpha): easy and hard \(split) images"
        // Tiles refer to positions in `shown`: the most pruned images, then the least pruned.
        let shown = try Dataset(unnormalized: images, indices: most + least), labels = images.labels
        func tiles(_ indices: [Int], from offset: Int) -> [(image: Int, caption: [String])] {
            indices.enumerated().map { (offset + $0.offset, [String(format: "%.0f%%", 100 * reduction[$0.element]),
                                                             images.classNames[Int(labels[$0.element])]]) }
        }
        grid.rows = [ImageGrid.Row(heading: "most pruned (FLOPs reduction, class)", tiles: tiles(most, from: 0)),
                     ImageGrid.Row(heading: "least pruned (FLOPs reduction, class)", tiles: tiles(least, from: most.count))]
        if processes.isRoot { try grid.write(to: out + "/easy-hard.png", data: shown) }
        let result: [String: Any] = [
            "model": model.path, "images": images.count, "split": split, "layers": gates.sorted().map { stats[$0].label },
            "layer_selection": selection.rule, "calibration_images": selection.calibration,
            "accuracy_dense": dense.accuracy, "macs_dense": dense.macs.first ?? 0, "points": rows,
            "silent_flops_reduction": silent.flopsReduction,
            "operating_point": ["policy": chosen.kind.rawValue, "alpha": jsonNumber(chosen.alpha), "chosen_by": chosen.why,
                                "accuracy_pruned": e.accuracyPruned, "flops_reduction": e.flopsReduction,
                                "macs_executed_p10": e.macsPercentile(0.1), "macs_executed_p90": e.macsPercentile(0.9),
                                "most_pruned": most, "least_pruned": least] as [String: Any],
        ].merging(model.dataJSON) { a, _ in a }
        if processes.isRoot { try writeTextAtomically(jsonText(result), to: out + "/sweep.json") }
        return result
    }
}
