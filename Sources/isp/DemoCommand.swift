import Foundation
import InstanceSparsity

enum DemoCommand: Command {
    static let name = "demo"
    static let synopsis = "[MODEL]"
    static let abstract = """
    The whole story on a trained model: dense vs pruned accuracy, MACs, batch-1 latency and
    speedup on the test images at the operating point, the CV per map, and the accuracy-vs-FLOPs
    sweep on --sweep-limit of them. Without MODEL it runs the shipped
    vgg16-fd.safetensors (found next to the isp executable: PREFIX/share/isp/models after 'make
    install', or models/ of the source tree it was built in). Without --prune it uses the
    operating point stored in the model ('isp tune' writes one; the shipped models carry theirs),
    and asks for --prune POLICY --alpha A when there is none. Writes DIR: results.json, cv.svg,
    sweep.svg, sweep.json, pruning-hist.svg, easy-hard.png.
    """
    static let options = [
        Option("--out", "DIR", "the report directory, created if needed (default report)"),
        Option("--sweep-limit", "N", "sweep on N of the test images: the first N (class folders: N evenly spaced) (default 1000)"),
    ] + PruningRequest.options + LayerSelection.options + LoadedModel.options + [Option.json]

    static let shippedModel = "vgg16-fd.safetensors"

    /// Where the shipped models are, relative to the executable (never the working directory):
    /// PREFIX/share/isp/models for an installed isp, else models/ in a directory above it (the
    /// source tree of a `swift build`).
    static func findShippedModel() throws -> String {
        let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                             ?? CommandLine.arguments[0]).standardizedFileURL
        var candidates = [executable.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("share/isp/models/\(shippedModel)").path]
        var directory = executable.deletingLastPathComponent()
        while directory.path != "/" {
            directory = directory.deletingLastPathComponent()
            candidates.append(directory.appendingPathComponent("models/\(shippedModel)").path)
        }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw InputError(shippedModel, "the shipped model is not in \(candidates[0]) nor in models/ above \(executable.path); pass MODEL")
        }
        return found
    }

    static func run(_ a: inout Arguments, engine: Engine) throws {
        let json = try a.flag("--json")
        let out = try a.option("--out") ?? "report"
        let sweepLimit = try a.number("--sweep-limit", default: 1000, in: 1...1_000_000)
        let given = try PruningRequest.read(&a)
        let selection = try LayerSelection(&a)
        let request = try LoadedModel.Request(&a, defaultPath: findShippedModel)
        try prepareOutputDirectory(out)  // before the work, not after it
        let model = try request.load(engine: engine)
        if given == nil && model.operatingPoint == nil {
            throw UsageError(message: "\(model.path) has no stored operating point: give --prune POLICY --alpha A, or store one with 'isp tune \(model.path) --out FILE'")
        }
        let pruning = try ResolvedPruning.resolve(given ?? .stored, model: model, selection: selection, calibrationUsedElsewhere: true)
        let network = model.network
        let log = commentary(json: json)
        log(BLASRuntime.summary(engine: engine))

        let report = try PruningReport.measure(model, pruning: pruning, latencyImages: 200)
        let stats = try pruning.stats ?? selection.select(network, calibration: model.calibrationSet(selection.calibration)).stats
        let chart = BarChart(title: "\(network.spec.architecture): CV of channel saliency across \(selection.calibration) training images",
                             xLabel: "map (input of)", yLabel: "CV", labels: stats.map(\.label), values: stats.map(\.cv))
        try writeTextAtomically(chart.render(), to: out + "/cv.svg")
        if !json { report.printReport() }

        let subset = model.withTestImages(sweepLimit)
        log("\nsweep over alpha on \(LoadedModel.describeSample(model.test, sweepLimit, tail: false)) test images:")
        let sweep = try SweepCommand.sweep(subset, operating: given ?? .stored, selection: selection, kinds: [.mean, .max, .energy, .staticTopK],
                                           out: out, log: log)
        var results = report.json
        results["cv"] = stats.map { ["layer": $0.label, "cv": $0.cv, "dispersion": $0.dispersion] as [String: Any] }
        results["sweep"] = sweep
        try writeTextAtomically(jsonText(results), to: out + "/results.json")
        if json { printJSON(results) }
        log("\nwrote \(out)/: results.json, cv.svg, sweep.svg, sweep.json, pruning-hist.svg, easy-hard.png")
    }
}
