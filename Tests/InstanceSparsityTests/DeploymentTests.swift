import Foundation
import InstanceSparsity
import XCTest

/// `isp predict` and the library's Classifier: an image file gives exactly the logits the
/// executor gives the same image from the data set, names its class, and bad images are refused
/// with one line naming them.
final class DeploymentTests: TemporaryDirectoryTestCase {

    override func setUpWithError() throws {
        try super.setUpWithError()
        _ = try ISP.requireBinary()
        try SyntheticFashionMNIST.write(to: directory)
    }

    /// A trained tiny model and the first test images as 28x28 gray PNG files.
    private func fixture() throws -> (model: String, images: [String], data: Dataset) {
        let model = "\(directory)/m.safetensors"
        let r = try ISP.run(["train", "--model", "vgg16", "--width", "0.125", "--batch-size", "32", "--epochs", "1",
                             "--data-dir", directory, "--out", model], in: directory)
        XCTAssertEqual(r.status, 0, r.stderr)
        let data = try FashionMNIST.load(directory: directory, split: .test, limit: 3)
        var images: [String] = []
        for i in 0..<3 {
            // The data set pads 28x28 to 32x32 with zeros: undo it to get the original pixels.
            var pixels = [UInt8]()
            for y in 2..<30 { for x in 2..<30 { pixels.append(UInt8((data.images[(i * 32 + y) * 32 + x] * 255).rounded())) } }
            let path = "\(directory)/image\(i).png"
            try PNG.write(path: path, width: 28, height: 28, channels: 1, pixels: pixels)
            images.append(path)
        }
        return (model, images, data)
    }

    func testPredictMatchesTheExecutorOnTheSameImage() throws {
        let (model, images, data) = try fixture()
        let r = try ISP.run(["predict", model, "--dense", "--json", "--top", "3"] + images, in: directory)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("pruning: none (dense)"), r.stderr)
        let object = try r.json()
        let results = try XCTUnwrap(object["images"] as? [[String: Any]])
        XCTAssertEqual(results.count, 3)
        let network = try Checkpoint.load(path: model).network
        let executor = SparseExecutor(network)
        let batch = Tensor(shape: [0])
        var labels: [Int32] = []
        try BatchMaker(spec: network.spec).fill(batch, labels: &labels, from: data, indices: [0, 1, 2][...], augmentation: nil)
        for (i, result) in results.enumerated() {
            let expected = executor.run(batch.data + i * 32 * 32).logits
            // The same kernels run in both processes; compared up to float rounding all the same.
            let logits = try XCTUnwrap(result["logits"] as? [Double]).map(Float.init)
            XCTAssertEqual(logits.count, expected.count)
            for (a, b) in zip(logits, expected) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), "image \(i)") }
            let best = expected.indices.max { expected[$0] < expected[$1] }!
            XCTAssertEqual(result["class"] as? Int, best)
            XCTAssertEqual(result["label"] as? String, FashionMNIST.classNames[best])
            XCTAssertEqual((result["top"] as? [[String: Any]])?.count, 3)
            XCTAssertEqual(result["macs_dense"] as? Int, result["macs_executed"] as? Int)
        }
        // The library entry point gives the same answer.
        let classifier = try Classifier(path: model, pruning: .dense)
        let direct = try classifier.classify(path: images[0], top: 3)
        XCTAssertEqual(direct.logits, executor.run(batch.data).logits)
        // A prepared input must be exactly C x S x S values.
        XCTAssertEqual(try classifier.classify(input: Array(UnsafeBufferPointer(start: batch.data, count: 32 * 32))).logits, direct.logits)
        XCTAssertThrowsError(try classifier.classify(input: [Float](repeating: 0, count: 10))) { error in
            XCTAssertTrue("\(error)".contains("has 10 values; the model takes 1 x 32 x 32 = 1024"), "\(error)")
            XCTAssertEqual(error.localizedDescription, "\(error)", "an application's message says what is wrong")
        }
        var poisoned = [Float](repeating: 0, count: 32 * 32)
        for bad in [Float.nan, .infinity] {
            poisoned[7] = bad
            XCTAssertThrowsError(try classifier.classify(input: poisoned)) { error in
                XCTAssertEqual("\(error)", "input: value 7 is \(bad); every value must be finite")
            }
        }
        // .stored needs the operating point this model lacks; .plan runs the given plan, as the executor does.
        XCTAssertThrowsError(try Classifier(path: model, pruning: .stored)) { error in
            XCTAssertTrue("\(error)".contains("\(model): has no stored operating point"), "\(error)")
        }
        let plan = try PruningPlan(policy: ThresholdPolicy(.max, alpha: 0.5), gates: Set(network.gates.indices), ranking: nil)
        let pruned = SparseExecutor(network)
        plan.apply(to: pruned)
        let expectedPruned = pruned.run(batch.data)
        XCTAssertLessThan(expectedPruned.macs, classifier.macsDense, "alpha 0.5 of the max drops channels")
        XCTAssertEqual(try Classifier(path: model, pruning: .plan(plan)).classify(path: images[0], top: 3).logits, expectedPruned.logits)
        // A warm-up (every Classifier runs one) leaves no trace: no pass counted, the next image's
        // logits, MACs and kept channels as on a fresh executor.
        let warmed = SparseExecutor(network)
        plan.apply(to: warmed)
        warmed.warmUp()
        XCTAssertEqual(warmed.passes, 0)
        let afterWarmUp = warmed.run(batch.data)
        XCTAssertEqual(afterWarmUp.logits, expectedPruned.logits)
        XCTAssertEqual(afterWarmUp.macs, expectedPruned.macs)
        XCTAssertEqual(afterWarmUp.kept, expectedPruned.kept)
        // "-" reads the image from standard input: the same answer as from the file; nothing there is an error naming it.
        let piped = try ISP.run(["predict", model, "--dense", "--json", "--top", "3", "-"], in: directory, input: images[0])
        XCTAssertEqual(piped.status, 0, piped.stderr)
        let pipedImages = try XCTUnwrap(try piped.json()["images"] as? [[String: Any]])
        XCTAssertEqual(pipedImages.first?["logits"] as? [Double], results[0]["logits"] as? [Double])
        let empty = try ISP.run(["predict", model, "--dense", "-"], in: directory)
        XCTAssertEqual(empty.status, 1)
        XCTAssertTrue(empty.stderr.contains("standard input: empty file (0 bytes)"), empty.stderr)
        // The table lists the next classes only when --top asks for more than one.
        for (top, header) in [("1", ["image", "class", "probability", "MACs", "of", "dense"]),
                              ("2", ["image", "class", "probability", "next", "MACs", "of", "dense"])] {
            let table = try ISP.run(["predict", model, "--dense", "--top", top, images[0]], in: directory)
            XCTAssertEqual(table.status, 0, table.stderr)
            XCTAssertEqual(table.stdout.split(separator: "\n").first?.split(separator: " ").map(String.init), header, table.stdout)
        }
        // An unknown map in --layers is named.
        let unknown = try ISP.run(["predict", model, images[0], "--prune", "max", "--alpha", "0.1", "--layers", "bogus"], in: directory)
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("--layers: 'bogus' is not a prunable map"), unknown.stderr)
    }

    /// The table lines up in a terminal whatever the class names: CJK names take two columns a
    /// character (padded by characters, the columns after them came out one per ideograph short).
    func testPredictTableLinesUpWideClassNames() throws {
        XCTAssertEqual(terminalColumns("Coat"), 4)
        XCTAssertEqual(terminalColumns("外套"), 4)
        XCTAssertEqual(terminalColumns("e\u{301}te\u{301}"), 3, "a letter and its combining mark take one column")
        XCTAssertEqual(terminalColumns("ｺｰﾄ"), 3, "halfwidth katakana take one")
        let (model, images, _) = try fixture()
        var contents = try SafeTensors.read(path: model)
        let names = ["T恤", "裤子", "套头衫", "连衣裙", "外套", "凉鞋", "衬衫", "运动鞋", "包", "短靴"]
        contents.metadata["class_names"] = "[" + names.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let wide = directory + "/wide.safetensors"
        try SafeTensors.write(path: wide, tensors: contents.order.map { ($0, contents.tensors[$0]!) },
                              int64: contents.counters.map { ($0.key, [], [$0.value]) }, metadata: contents.metadata)
        let r = try ISP.run(["predict", wide, "--dense", "--top", "2"] + images, in: directory)
        XCTAssertEqual(r.status, 0, r.stderr)
        let table = r.stdout.split(separator: "\n").map(String.init).drop { !$0.hasPrefix("image") }
        XCTAssertEqual(table.count, 2 + images.count, r.stdout)
        XCTAssertTrue(table.contains { line in names.contains { line.contains($0) } }, r.stdout)
        XCTAssertEqual(Set(table.map(terminalColumns)).count, 1, "every line as wide:\n" + table.joined(separator: "\n"))
    }

    func testPredictRefusesBadImagesOneLineEach() throws {
        let (model, images, _) = try fixture()
        let text = "\(directory)/notes.png", wrongSize = "\(directory)/big.png"
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: text))
        try PNG.write(path: wrongSize, width: 30, height: 28, channels: 1, pixels: [UInt8](repeating: 9, count: 30 * 28))
        let r = try ISP.run(["predict", model, images[0], text, wrongSize, "\(directory)/missing.png"], in: directory)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains(images[0]), "the good image is still classified: \(r.stdout)")
        let errors = r.stderrLines.filter { $0.hasPrefix("isp predict: ") }
        XCTAssertEqual(errors.count, 4, r.stderr)
        XCTAssertTrue(errors[0].contains("\(text): not a PNG or JPEG file"), errors[0])
        XCTAssertTrue(errors[1].contains("\(wrongSize): is 30 x 28; this model takes 28 x 28 gray"), errors[1])
        XCTAssertTrue(errors[2].contains("missing.png: no such file"), errors[2])
        XCTAssertEqual(errors[3], "isp predict: 3 of 4 images could not be classified")
        // The JSON lists each failed image with its problem.
        let j = try ISP.run(["predict", model, images[0], text, "--json"], in: directory)
        XCTAssertEqual(j.status, 1)
        let object = try j.json()
        XCTAssertEqual(object["failed"] as? Int, 1)
        let listed = try XCTUnwrap(object["errors"] as? [[String: String]])
        XCTAssertEqual(listed.map { $0["image"] }, [text])
        XCTAssertTrue(listed[0]["error"]?.contains("not a PNG or JPEG file") ?? false, "\(listed)")
        // Usage: no image, contradicting flags, a policy without maps it can choose without data.
        XCTAssertEqual(try ISP.run(["predict", model], in: directory).status, 2)
        XCTAssertEqual(try ISP.run(["predict", model, images[0], "--dense", "--prune", "stored"], in: directory).status, 2)
        let auto = try ISP.run(["predict", model, images[0], "--prune", "max", "--alpha", "0.1"], in: directory)
        XCTAssertEqual(auto.status, 2, auto.stderr)
        XCTAssertTrue(auto.stderr.contains("--layers all"), auto.stderr)
        XCTAssertEqual(try ISP.run(["predict", model, images[0], "--prune", "max", "--alpha", "0.1", "--layers", "all"], in: directory).status, 0)
    }
}
