// Classifies the first test images of a model's dataset with a trained checkpoint:
//   classify MODEL.safetensors [COUNT]
// using the library's public API only: load the checkpoint, normalise the images as the model
// was trained, run each one through the SparseExecutor (dense here), print class and MACs.
import Foundation
import InstanceSparsity

func classify(_ arguments: [String]) throws {
    guard (1...2).contains(arguments.count), let count = arguments.count == 2 ? Int(arguments[1]) : 3, count >= 1 else {
        throw InputError("usage", "classify MODEL.safetensors [COUNT]")
    }
    let model = try Checkpoint.load(path: arguments[0])
    let spec = model.network.spec
    let test = try DatasetLoader.load(name: spec.dataset, directory: nil, split: .test, limit: count)
    let images = Tensor(shape: [0])
    var labels: [Int32] = [], rng = SeededGenerator(seed: 0)
    BatchMaker(spec: spec).fill(images, labels: &labels, from: test, indices: Array(0..<test.count)[...], augment: false, rng: &rng)

    let executor = SparseExecutor(model.network)
    let floatsPerImage = images.count / test.count
    for i in 0..<test.count {
        let result = executor.run(images.data + i * floatsPerImage)
        let predicted = result.logits.indices.max { result.logits[$0] < result.logits[$1] }!
        print("image \(i): class \(predicted) (label \(labels[i])), \(result.macs) MACs")
    }
}

do {
    try classify(Array(CommandLine.arguments.dropFirst()))
} catch {
    FileHandle.standardError.write("classify: \(error)\n".data(using: .utf8)!)
    exit(1)
}
