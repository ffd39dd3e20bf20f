// Classifies image files with a trained checkpoint, pruning each image at the operating point
// stored in the model (`isp tune`), through the library's public API:
//   classify MODEL.safetensors IMAGE...
import Foundation
import InstanceSparsity

func classify(_ arguments: [String]) throws {
    guard arguments.count >= 2 else { throw InputError("usage", "classify MODEL.safetensors IMAGE...") }
    // The model with its preprocessing and (if stored) its operating point.
    let classifier = try Classifier(path: arguments[0], pruning: .storedIfAny)
    for image in arguments.dropFirst() {
        // Also: classify(encoded: bytes, name:) for PNG/JPEG bytes, classify(input:) for a normalised C x S x S array.
        let result = try classifier.classify(path: image, top: 3)
        let others = result.top.dropFirst().map { "\($0.label) \(String(format: "%.1f%%", 100 * $0.probability))" }
        print("\(image): \(result.label) \(String(format: "%.1f%%", 100 * result.probability)) (then \(others.joined(separator: ", "))), "
              + "\(result.macsExecuted) of \(result.macsDense) MACs")
    }
}

do {
    try classify(Array(CommandLine.arguments.dropFirst()))
} catch {
    FileHandle.standardError.write("classify: \(error)\n".data(using: .utf8)!)
    exit(1)
}
