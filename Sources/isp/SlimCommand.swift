import Foundation
import InstanceSparsity

enum SlimCommand: Command {
    static let name = "slim"
    static let synopsis = "MODEL --out FILE [--by silent|bn-scale]"
    static let abstract = """
    Static channel pruning: removes channels of the slimmable maps for good and writes a smaller
    dense model whose per-map channel counts are in its metadata ('isp info' shows them); every
    command evaluates, prunes (instance-wise, on top) and fine-tunes it ('isp train --init'), and
    benchmarks/convert.py loads it into PyTorch. Slimmable maps are those whose channels can be
    removed one by one: every VGG16 map between convolutions, the map inside each ResNet-18 block
    (its block outputs are tied across a stage by the residual adds), MobileNetV2's expanded maps.
    --by silent removes the channels that are zero on every one of --calibration training
    images (the first ones; class folders: evenly spaced ones): the slimmed model computes the
    same logits on those images, and on other images wherever those channels stay zero. --by bn-scale is Network Slimming (Liu et al.,
    ICCV 2017; train with --bn-l1 first): the channels with the smallest batch-norm scales across
    all slimmable maps go until the MACs are at most --macs-target of the original's, keeping at
    least a tenth of each map's channels. Prints the channels of each map and the MACs before and
    after, and both models' accuracy on the test split.
    """
    static let options = [
        Option("--out", "FILE", "the slimmed model, written atomically (required; an existing FILE is replaced only with --force)"),
        Option("--by", "silent|bn-scale", "which channels go: those silent on the calibration images, or the smallest batch-norm scales (default silent)"),
        Option("--calibration", "N", "with --by silent: the first N training images (class folders: N evenly spaced) (default 1000)"),
        Option("--macs-target", "F", "with --by bn-scale: MACs per image at most F times the original's, 0 < F <= 1 (required there)"),
        Option("--force", "replace an existing FILE (default: refuse to)"),
        Option.json,
    ] + LoadedModel.options

    static func run(_ a: inout Arguments, engine: Engine) throws {
        guard let out = try a.option("--out") else { throw UsageError(message: "--out FILE is required") }
        let force = try a.flag("--force"), json = try a.flag("--json")
        let criterion = try a.choice("--by", default: "silent", from: ["silent", "bn-scale"])
        let calibration: Int? = try a.optionalNumber("--calibration", in: 1...10_000_000)
        let target: Double? = try a.optionalNumber("--macs-target", in: 1e-6...1)
        let request = try LoadedModel.Request(&a)
        if criterion == "silent" && target != nil { throw UsageError(message: "--macs-target is for --by bn-scale") }
        if criterion == "bn-scale" && calibration != nil { throw UsageError(message: "--calibration is for --by silent") }
        if criterion == "bn-scale" && target == nil { throw UsageError(message: "--by bn-scale needs --macs-target F") }
        try checkNewOutput(out, force: force, model: request.path)
        let log = commentary(json: json)

        let model = try request.load(engine: engine)
        let loaded = try Checkpoint.load(path: request.path, engine: engine)  // for the metadata to carry over
        let original = model.network
        let kept: ChannelSlimming.Selection
        var provenance = ["slim.from": request.path, "slim.by": criterion]
        if let target {
            kept = try ChannelSlimming.largestScales(original, macsFraction: target)
            provenance["slim.macs_target"] = "\(target)"
        } else {
            let set = try model.calibrationSet(calibration ?? 1000)
            let progress = Progress("calibration", total: set.count, style: Output.progress)
            kept = try ChannelSlimming.nonSilent(original, calibration: set, count: set.count, progress: progress)
            progress.finish()
            provenance["slim.calibration_images"] = "\(set.count)"
            log("calibration: \(LoadedModel.describeSample(set, set.count, tail: false)) training images")
        }
        let slim = try original.slimmed(keeping: kept)
        let macs = (original: original.macsPerImage, slimmed: slim.macsPerImage)
        let progress = Progress("test", total: model.test.count, style: Output.progress)
        let c = try ChannelSlimming.compare(original, slim, kept: kept, on: model.test, progress: progress)
        progress.finish()

        // The training state and a stored operating point describe the original's channels: dropped.
        var metadata = loaded.metadata.filter { !$0.key.hasPrefix(OperatingPoint.prefix) && $0.key != "train.epochs_completed" && $0.key != "test_accuracy" }
        metadata.merge(provenance) { _, new in new }
        metadata["slim.test_accuracy_original"] = String(format: "%.4f", c.accuracyOriginal)
        metadata["test_accuracy"] = String(format: "%.4f", c.accuracySlimmed)
        try Checkpoint.save(slim, to: out, metadata: metadata)
        if loaded.metadata.keys.contains(where: { $0.hasPrefix(OperatingPoint.prefix) }) {
            note("isp slim: \(out) has no stored operating point (\(request.path)'s was for its channels): choose one with 'isp tune \(out)'")
        }

        let maps = original.slimmableMaps.map { (name: $0.label, before: $0.layout!.channels, after: kept[$0.label]!.count) }
        let before = maps.reduce(0) { $0 + $1.before }, after = maps.reduce(0) { $0 + $1.after }
        if json {
            printJSON(["model": request.path, "out": out, "by": criterion, "macs_target": target.map { $0 as Any } ?? NSNull(),
                       "calibration_images": provenance["slim.calibration_images"].flatMap(Int.init).map { $0 as Any } ?? NSNull(),
                       "maps": maps.map { ["name": $0.name, "channels_before": $0.before, "channels_after": $0.after] },
                       "channels_before": before, "channels_after": after,
                       "macs_before": macs.original, "macs_after": macs.slimmed,
                       "params_before": original.parameterCount, "params_after": slim.parameterCount,
                       "test_images": c.images, "accuracy_original": c.accuracyOriginal, "accuracy_slimmed": c.accuracySlimmed,
                       "agreement": c.agreement, "images_with_active_removed_channels": c.activeRemoved].merging(model.dataJSON) { a, _ in a })
        } else {
            printTable(["map", "channels", "slimmed", "removed"],
                       maps.map { [$0.name, "\($0.before)", "\($0.after)", String(format: "%.0f%%", 100 * Double($0.before - $0.after) / Double($0.before))] })
            print("channels: \(before) -> \(after) over \(maps.count) slimmable maps (the others are unchanged)")
            print(String(format: "MACs per image: %@ -> %@ (%.1f%% fewer); parameters %@ -> %@", formatCount(macs.original), formatCount(macs.slimmed),
                         100 * (1 - Double(macs.slimmed) / Double(macs.original)), formatCount(original.parameterCount), formatCount(slim.parameterCount)))
            print(String(format: "test accuracy on %d images: original %.2f%%, slimmed %.2f%%; same prediction on %.2f%%; a removed channel was active on %.2f%% of them",
                         c.images, 100 * c.accuracyOriginal, 100 * c.accuracySlimmed, 100 * c.agreement, 100 * c.activeRemoved))
            print("wrote \(out)")
        }
    }
}
