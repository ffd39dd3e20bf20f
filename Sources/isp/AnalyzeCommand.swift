import Foundation
import InstanceSparsity

enum AnalyzeCommand: Command {
    static let name = "analyze"
    static let synopsis = "MODEL"
    static let abstract = """
    Per prunable map (named by the convolution it feeds): channels, coefficient of variation of
    channel saliency across instances (CV), within-instance dispersion, mean saliency, and the
    share of (image, channel) pairs below 0.01, half the image's mean saliency, and the mean, and
    the channels silent on every calibration image ("dead": static pruning gets those for free;
    the MACs they cost are the part of any reduction that needs no per-image decision).
    Layers with high CV are where instance-wise pruning pays; they are selected by --cv-min or
    --top-k. Calibration uses --calibration training images of the data recorded in MODEL.
    Under mpirun the processes split the images and gather the sums: the same figures as one process.
    """
    /// No --test-limit: only training images are read.
    static let options = LayerSelection.calibrationOptions + [DataSource.datasetOption, DataSource.directoryOption, Option.json]

    static func run(_ a: inout Arguments, engine: Engine) throws { try run(&a, processes: SingleProcess(), engine: engine) }

    static func run(_ a: inout Arguments, processes: ProcessGroup, engine: Engine) throws {
        let json = try a.flag("--json")
        let selection = try LayerSelection(&a, readLayers: false)
        let model = try LoadedModel(&a, engine: engine)
        let calibration = try model.calibrationSet(selection.calibration)
        let (stats, chosen) = try selection.select(model.network, calibration: calibration, processes: processes)
        let selected = chosen
        var convMACs: [String: Int] = [:]  // each map is named after the convolution it feeds
        model.network.root.visit { path, layer in if layer is Conv2d { convMACs[path] = layer.macsPerImage } }
        let deadMACs = stats.reduce(0.0) { $0 + Double($1.deadChannels) / Double($1.channels) * Double(convMACs[$1.label] ?? 0) }
        let deadShare = deadMACs / Double(model.network.macsPerImage)
        let dead = stats.reduce(0) { $0 + $1.deadChannels }, channels = stats.reduce(0) { $0 + $1.channels }
        if json {
            printJSON(["model": model.path, "calibration_images": calibration.count, "dead_macs_share": deadShare,
                       "dataset": model.data.dataset, "data_dir": model.data.directory, "selection": selection.rule,
                       "selected": selected.sorted().map { stats[$0].label },
                       "layers": stats.enumerated().map { i, s in
                           ["layer": s.label, "channels": s.channels, "cv": s.cv, "dispersion": s.dispersion,
                            "mean_saliency": s.meanSaliency, "below_0.01": s.belowAbsolute,
                            "below_half_mean": s.belowHalfMean, "below_mean": s.belowMean, "dead_channels": s.deadChannels,
                            "selected": selected.contains(i)] as [String: Any]
                       }])
            return
        }
        printTable(["map (input of)", "channels", "CV", "dispersion", "mean s", "s<0.01", "s<mean/2", "s<mean", "dead", "selected"],
                   stats.enumerated().map { i, s in
                       [s.label, "\(s.channels)", String(format: "%.3f", s.cv), String(format: "%.3f", s.dispersion),
                        String(format: "%.4f", s.meanSaliency), String(format: "%.1f%%", 100 * s.belowAbsolute),
                        String(format: "%.1f%%", 100 * s.belowHalfMean), String(format: "%.1f%%", 100 * s.belowMean),
                        "\(s.deadChannels)", selected.contains(i) ? "yes" : ""]
                   })
        print(String(format: "dead (silent on all %d calibration images): %d of %d channels, %.1f%% of the MACs", calibration.count,
                     dead, channels, 100 * deadShare))
    }
}
