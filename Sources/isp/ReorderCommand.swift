import Foundation
import InstanceSparsity

enum ReorderCommand: Command {
    static let name = "reorder"
    static let synopsis = "MODEL --out FILE"
    static let abstract = """
    Reorders the channels of each map the stored operating point prunes (the slimmable ones: every
    VGG16 map, the map inside each ResNet-18 block, MobileNetV2's expanded maps), those it keeps
    on the most of --calibration training images first, so that the channels an image keeps lie
    in a few runs of the weights and its pruned passes read them faster. FILE computes what MODEL
    computes (up to the order of float sums) and keeps the same channels of every image: the
    operating point, accuracy and MACs are unchanged. FILE holds no optimizer state (as 'isp
    export' writes). Prints, per map, the runs an image's kept channels form before and after, and
    how far the two models' logits are apart on those images.
    """
    static let options = [
        Option("--out", "FILE", "the reordered model, written atomically (required; an existing FILE is replaced only with --force)"),
        Option("--calibration", "N", "the first N training images (class folders: N evenly spaced) (default 1000)"),
        Option("--force", "replace an existing FILE (default: refuse to)"),
        Option.json,
        DataSource.datasetOption, DataSource.directoryOption,  // no test images: reordering looks at none
    ]

    static func run(_ a: inout Arguments, engine: Engine) throws {
        guard let out = try a.option("--out") else { throw UsageError(message: "--out FILE is required") }
        let force = try a.flag("--force"), json = try a.flag("--json")
        let calibration = try a.number("--calibration", default: 1000, in: 1...10_000_000)
        let request = try LoadedModel.Request(&a)
        try checkNewOutput(out, force: force, model: request.path)
        let log = commentary(json: json)

        let model = try request.load(engine: engine)
        let loaded = try Checkpoint.load(path: request.path, engine: engine)  // for the metadata to carry over
        guard let point = model.operatingPoint else {
            throw InputError(request.path, "has no stored operating point to order the channels by: run 'isp tune \(request.path) --out FILE' first")
        }
        let original = model.network, plan = try point.plan(for: original)
        let set = try model.calibrationSet(calibration), images = min(calibration, set.count)
        let progress = Progress("calibration", total: images, style: Output.progress)
        let kept = try ChannelOrder.keptChannels(original, plan: plan, on: set, count: images, progress: progress)
        progress.finish()
        log("calibration: \(LoadedModel.describeSample(set, calibration, tail: false)) training images")
        guard !kept.isEmpty else {
            throw InputError(request.path, "its operating point prunes no map whose channels can be reordered (maps: \(point.layers.joined(separator: ",")))")
        }
        let order = ChannelOrder.mostOftenKeptFirst(kept)
        let reordered = try original.reordered(order)

        // The same function: logits of both on the calibration images.
        var largest: Float = 0, scale: Float = 0
        let maker = BatchMaker(spec: original.spec), batch = Tensor(shape: [0])
        var labels: [Int32] = []
        for indices in Array(0..<images).batches(of: 100) {
            try maker.fill(batch, labels: &labels, from: set, indices: indices, augmentation: nil)
            let x = original.forward(batch, training: false).array, y = reordered.forward(batch, training: false).array
            for (u, v) in zip(x, y) { largest = max(largest, abs(u - v)); scale = max(scale, abs(u)) }
        }

        var metadata = loaded.metadata
        metadata.merge(point.reordered(order, in: original).metadata) { _, new in new }
        metadata["reorder.from"] = request.path
        metadata["reorder.calibration_images"] = "\(images)"
        try Checkpoint.save(reordered, to: out, metadata: metadata)

        let maps = original.slimmableMaps.compactMap { gate in
            kept[gate.label].map { rows in
                (name: gate.label, channels: gate.layout!.channels, kept: Double(rows.reduce(0) { $0 + $1.filter { $0 }.count }) / Double(max(rows.count, 1)),
                 before: ChannelOrder.meanRuns(rows), after: ChannelOrder.meanRuns(rows, order: order[gate.label]!))
            }
        }
        if json {
            printJSON(["model": request.path, "out": out, "calibration_images": images,
                       "maps": maps.map { ["name": $0.name, "channels": $0.channels, "kept_mean": $0.kept, "runs_before": $0.before, "runs_after": $0.after] },
                       "largest_logit_difference": Double(largest), "largest_logit": Double(scale)].merging(model.dataJSON) { a, _ in a })
        } else {
            printTable(["map", "channels", "kept (mean)", "runs before", "runs after"],
                       maps.map { [$0.name, "\($0.channels)", String(format: "%.1f", $0.kept), String(format: "%.1f", $0.before), String(format: "%.1f", $0.after)] })
            print(String(format: "runs: the mean over the calibration images of the runs an image's kept channels form in the weights; logits of the two models differ by at most %.2g (largest %.3g)",
                         largest, scale))
            print("wrote \(out)")
        }
    }
}
