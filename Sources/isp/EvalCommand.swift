import Foundation
import InstanceSparsity

enum EvalCommand: Command {
    static let name = "eval"
    static let usage = "isp eval MODEL [--dataset fashion-mnist|cifar10] [--data-dir DIR] [--test-limit N] [--batch-size B] [--json]"
    static let help = """
    Test-set accuracy, mean cross-entropy and images/s of a checkpoint, in evaluation mode.
    The dataset defaults to the one recorded in the checkpoint.
    """

    static func run(_ a: inout Arguments) throws {
        let json = a.flag("--json")
        let datasetName = try a.option("--dataset")
        let dataDir = try a.option("--data-dir")
        let limit: Int? = try a.optionalNumber("--test-limit", in: 1...Int.max)
        let batchSize = try a.number("--batch-size", default: 256, in: 1...4096)
        guard let path = a.positional() else { throw UsageError(message: "MODEL (a .safetensors checkpoint) is required") }
        try a.finish()

        let network = try Checkpoint.load(path: path).network
        let test = try DatasetLoader.load(name: datasetName ?? network.spec.dataset, directory: dataDir, split: .test, limit: limit)
        try checkCompatible(network.spec, test, path: path)
        let r = evaluate(network, on: test, batchSize: batchSize)
        if json {
            printJSON(["model": path, "architecture": network.spec.architecture, "width": Double(network.spec.width),
                       "accuracy": r.accuracy, "loss": r.loss, "images": r.images, "images_per_s": r.imagesPerSecond])
        } else {
            print(BLASRuntime.summary)
            printTable(["model", "images", "accuracy", "loss", "images/s"],
                       [[path, "\(r.images)", String(format: "%.2f%%", 100 * r.accuracy), String(format: "%.4f", r.loss),
                         String(format: "%.0f", r.imagesPerSecond)]])
        }
    }

    static func checkCompatible(_ spec: ModelSpec, _ data: Dataset, path: String) throws {
        guard spec.inputChannels == data.channels, spec.inputSize == data.height, spec.classes >= data.classes else {
            throw InputError(path, "model expects \(spec.inputChannels)x\(spec.inputSize)x\(spec.inputSize) inputs and \(spec.classes) classes; dataset \(data.name) has \(data.channels)x\(data.height)x\(data.width) and \(data.classes)")
        }
    }
}
