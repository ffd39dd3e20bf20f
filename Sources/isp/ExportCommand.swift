import Foundation
import InstanceSparsity

enum ExportCommand: Command {
    static let name = "export"
    static let usage = "isp export MODEL --out FILE"
    static let help = """
    Writes an inference-only copy of a training checkpoint: the same tensors and metadata without
    the optimizer state (`_optimizer.*`), half the size, and loadable by PyTorch's
    `load_state_dict(strict=True)` as is.
    """

    static func run(_ a: inout Arguments) throws {
        guard let out = try a.option("--out") else { throw UsageError(message: "--out FILE is required") }
        guard let path = a.positional() else { throw UsageError(message: "MODEL is required") }
        try a.finish()
        try checkOutputFile(out)
        let loaded = try Checkpoint.load(path: path)
        try Checkpoint.save(loaded.network, to: out, metadata: loaded.metadata)
        print("wrote \(out) (\(loaded.network.parameterCount) parameters, no optimizer state)")
    }
}
