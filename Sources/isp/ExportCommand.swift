import Foundation
import InstanceSparsity

enum ExportCommand: Command {
    static let name = "export"
    static let synopsis = "MODEL --out FILE"
    static let abstract = """
    Writes an inference-only copy of a training checkpoint: the same tensors and metadata without
    the optimizer state (`_optimizer.*`), half the size, and loadable by PyTorch's
    `load_state_dict(strict=True)` as is.
    """
    static let options = [
        Option("--out", "FILE", "the copy, written atomically (required; an existing FILE is replaced only with --force)"),
        Option("--force", "replace an existing FILE (default: refuse to)"),
        Option.json,
    ]

    static func run(_ a: inout Arguments, engine: Engine) throws {
        guard let out = try a.option("--out") else { throw UsageError(message: "--out FILE is required") }
        let force = try a.flag("--force"), json = try a.flag("--json")
        guard let path = a.positional() else { throw UsageError(message: "MODEL is required") }
        try a.finish()
        try checkNewOutput(out, force: force, model: path)
        let loaded = try Checkpoint.load(path: path, engine: engine)
        try Checkpoint.save(loaded.network, to: out, metadata: loaded.metadata)
        if json {
            printJSON(["model": path, "out": out, "parameters": loaded.network.parameterCount, "bytes": TrainCommand.existingSize(out)])
        } else {
            print("wrote \(out) (\(loaded.network.parameterCount) parameters, no optimizer state)")
        }
    }
}
