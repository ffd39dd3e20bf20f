import Foundation
import InstanceSparsity
import XCTest

/// The ImageNet variants against torchvision itself, the stem a checkpoint records, and
/// fine-tuning from a checkpoint (`isp train --init`).
///
/// Fixtures come from benchmarks/make_torchvision_fixtures.py: torchvision's logits for weights
/// and an image made by a counter-based generator that `FixtureGenerator` repeats here bit for bit,
/// so no large weights are committed.
final class ImageNetVariantTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// torchvision's logits and the file it converted, from torchvision_logits.json.
    static let reference: [String: Any] = {
        let data = try! Data(contentsOf: fixtures.appendingPathComponent("torchvision_logits.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static func logits(_ entry: Any?) -> [Float] {
        ((entry as! [String: Any])["logits"] as! [NSNumber]).map(\.floatValue)
    }

    /// Within 1e-3 + 1e-4 |torchvision's| (torch.allclose with atol = 1e-3, rtol = 1e-4): the
    /// generated ResNet-18's logits reach 220, where float sums in another order differ by 1e-4.
    func assertClose(_ ours: [Float], _ theirs: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.count, theirs.count, what, file: file, line: line)
        var worst: Float = 0
        for (a, b) in zip(ours, theirs) {
            worst = max(worst, abs(a - b))
            XCTAssertLessThanOrEqual(abs(a - b), 1e-3 + 1e-4 * abs(b), "\(what): \(a) vs torchvision's \(b)", file: file, line: line)
        }
        print("\(what): max |logit difference| vs torchvision \(worst)")
    }

    /// torchvision's model with generated weights: the network (evaluation mode) and the batch-1
    /// executor both give torchvision's logits for the generated 224x224 image.
    func checkAgainstTorchvision(_ arch: String, torchvisionName: String) throws {
        let spec = ModelSpec(architecture: arch, stem: .imagenet, inputChannels: 3, inputSize: 224, classes: 1000)
        let network = try Network.make(spec)
        FixtureGenerator.fill(network)
        let image = FixtureGenerator.image(size: 224)
        let expected = Self.logits((Self.reference["models"] as! [String: Any])[torchvisionName])
        assertClose(network.forward(image, training: false).array, expected, "\(torchvisionName) network")
        assertClose(SparseExecutor(network).run(image.data).logits, expected, "\(torchvisionName) executor")
    }

    func testResNet18MatchesTorchvision() throws { try checkAgainstTorchvision("resnet18", torchvisionName: "resnet18") }
    func testMobileNetV2MatchesTorchvision() throws { try checkAgainstTorchvision("mobilenetv2", torchvisionName: "mobilenet_v2") }
    func testVGG16MatchesTorchvision() throws { try checkAgainstTorchvision("vgg16", torchvisionName: "vgg16_bn") }

    /// A file written by `convert.py from-torchvision` loads as a user would load it: ImageNet
    /// stem, normalisation and input size from the converter, classes from the weights, and
    /// torchvision's logits.
    func testConvertedTorchvisionCheckpoint() throws {
        let converted = Self.reference["converted"] as! [String: Any]
        let loaded = try Checkpoint.load(path: Self.fixtures.appendingPathComponent(converted["file"] as! String).path)
        let spec = loaded.network.spec
        XCTAssertEqual(spec.architecture, "mobilenetv2")
        XCTAssertEqual(spec.stem, .imagenet)
        XCTAssertEqual(spec.width, 0.25)
        XCTAssertEqual(spec.classes, 10)
        XCTAssertEqual(spec.inputSize, 224)
        XCTAssertEqual(spec.mean, [0.485, 0.456, 0.406])
        XCTAssertEqual(spec.std, [0.229, 0.224, 0.225])
        let image = FixtureGenerator.image(size: 224)
        assertClose(loaded.network.forward(image, training: false).array, Self.logits(converted), "converted mobilenet_v2 w0.25")
    }

    /// Slimmed networks (per-map channel counts, one map at a single channel) against
    /// benchmarks/torch_models.py at the same counts, loaded strictly by convert.py
    /// (make_slimmed_fixtures.py): the network and the executor give PyTorch's logits, and the
    /// file convert.py wrote loads as isp loads any checkpoint.
    func testSlimmedNetworksMatchPyTorch() throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("slimmed_logits.json"))
        let models = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["models"] as? [[String: Any]])
        XCTAssertEqual(models.count, 4)
        XCTAssertTrue(models.contains { $0["file"] is String }, "no converted file to load")
        for entry in models {
            let arch = entry["arch"] as! String, stem = ModelSpec.Stem(rawValue: entry["stem"] as! String)!
            let size = entry["input_size"] as! Int, channels = entry["channels"] as! [String: Int]
            var spec = ModelSpec(architecture: arch, width: (entry["width"] as! NSNumber).floatValue, stem: stem, inputChannels: 3,
                                 inputSize: size, classes: 10)
            spec.channels = channels
            let network = try Network.make(spec)
            XCTAssertEqual(network.slimmableMaps.map(\.label).sorted(), channels.keys.sorted(), arch)
            FixtureGenerator.fill(network)
            let image = FixtureGenerator.image(size: size), expected = Self.logits(entry)
            assertClose(network.forward(image, training: false).array, expected, "slimmed \(arch) \(stem.rawValue)")
            assertClose(SparseExecutor(network).run(image.data).logits, expected, "slimmed \(arch) \(stem.rawValue) executor")
            if let file = entry["file"] as? String {
                let loaded = try Checkpoint.load(path: Self.fixtures.appendingPathComponent(file).path).network
                XCTAssertEqual(loaded.spec.channels, channels)
                assertClose(loaded.forward(image, training: false).array, expected, "\(file) as isp loads it")
            }
        }
    }

    /// The generator itself, pinned to values numpy computed (make_torchvision_fixtures.uniforms):
    /// a drift here would show up only as unexplained logit differences.
    func testFixtureGeneratorMatchesPython() {
        XCTAssertEqual(FixtureGenerator.uniforms("input", count: 3) { $0 }, [0.09781831502914429, 0.6523603796958923, 0.20362424850463867])
    }

    // MARK: The stem in checkpoints

    func testStemIsRecordedAndOldFilesAreCIFAR() throws {
        for stem in ModelSpec.Stem.allCases {
            let spec = ModelSpec(architecture: "mobilenetv2", stem: stem, inputChannels: 3, inputSize: 224)
            XCTAssertEqual(spec.metadata["stem"], stem.rawValue)
            XCTAssertEqual(try ModelSpec(metadata: spec.metadata, path: "m.safetensors").stem, stem)
        }
        var old = ModelSpec(architecture: "resnet18", stem: .cifar).metadata
        old["stem"] = nil
        XCTAssertEqual(try ModelSpec(metadata: old, path: "old.safetensors").stem, .cifar)
        old["stem"] = "ImageNet"
        XCTAssertThrowsError(try ModelSpec(metadata: old, path: "bad.safetensors")) { error in
            XCTAssertEqual("\(error)", "bad.safetensors: metadata 'stem' has a bad value 'ImageNet' (expected imagenet or cifar)")
        }
        // The default: ImageNet variants above 64x64.
        XCTAssertEqual(ModelSpec(architecture: "vgg16", inputSize: 64).stem, .cifar)
        XCTAssertEqual(ModelSpec(architecture: "vgg16", inputSize: 96).stem, .imagenet)
    }

    /// MobileNetV2's variants have the same weights, names and shapes: only the recorded stem
    /// tells them apart, and a saved file comes back with the strides it was trained with.
    func testCheckpointKeepsTheStem() throws {
        let path = temporaryPath("stem.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cifar = try Network.make(ModelSpec(architecture: "mobilenetv2", width: 0.25, stem: .cifar, inputChannels: 3, inputSize: 96))
        let imagenet = try Network.make(ModelSpec(architecture: "mobilenetv2", width: 0.25, stem: .imagenet, inputChannels: 3, inputSize: 96))
        XCTAssertEqual(cifar.parameters.map { $0.parameter.value.shape }, imagenet.parameters.map { $0.parameter.value.shape })
        // 96x96: the blocks after the stem run on 16 times the pixels (final maps 12x12 and 3x3).
        XCTAssertGreaterThan(cifar.macsPerImage, 10 * imagenet.macsPerImage)
        try Checkpoint.save(cifar, to: path)
        XCTAssertEqual(try Checkpoint.load(path: path).network.spec.stem, .cifar)
        try Checkpoint.save(imagenet, to: path)
        XCTAssertEqual(try Checkpoint.load(path: path).network.spec.stem, .imagenet)
    }

    // MARK: Fine-tuning (`isp train --init`)

    /// Different class count: every weight and statistic but the classifier's comes from the
    /// file, the classifier keeps its fresh initialisation.
    func testInitReplacesClassifierAndKeepsOtherWeights() throws {
        let path = temporaryPath("init.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        for (arch, classifier) in [("resnet18", "fc."), ("vgg16", "classifier.6."), ("mobilenetv2", "classifier.1.")] {
            let source = try Network.make(ModelSpec(architecture: arch, width: 0.125, stem: .imagenet, inputChannels: 3,
                                                    inputSize: 32, classes: 5), seed: 1)
            FixtureGenerator.fill(source)  // statistics that differ from a fresh network's
            try Checkpoint.save(source, to: path)
            let target = try Network.make(ModelSpec(architecture: arch, width: 0.125, stem: .imagenet, inputChannels: 3,
                                                    inputSize: 32, classes: 10), seed: 2)
            let fresh = Dictionary(uniqueKeysWithValues: stateDict(target).map { ($0.0, $0.1.array) })
            try target.loadWeights(from: try Checkpoint.load(path: path), classifier: .fresh)
            let sourceState = Dictionary(uniqueKeysWithValues: stateDict(source).map { ($0.0, $0.1.array) })
            var copied = 0, kept = 0
            for (name, tensor) in stateDict(target) {
                if name.hasPrefix(classifier) {
                    XCTAssertEqual(tensor.array, fresh[name], "\(arch) \(name)")
                    kept += 1
                } else {
                    XCTAssertEqual(tensor.array, sourceState[name], "\(arch) \(name)")
                    XCTAssertNotEqual(tensor.array, fresh[name], "\(arch) \(name)")
                    copied += 1
                }
            }
            XCTAssertEqual(kept, 2, arch)
            XCTAssertGreaterThan(copied, 20, arch)
            // Not allowed to replace it: refused, naming the file.
            XCTAssertThrowsError(try target.loadWeights(from: try Checkpoint.load(path: path), classifier: .copied)) {
                XCTAssertEqual("\($0)", "\(path): has 5 classes, the network 10")
            }
        }
    }

    /// The same class names in another order (class folders sort by name) reorder the classifier's
    /// outputs, so each name keeps its logit; other names get a fresh classifier; a file that names
    /// no classes keeps its classifier for as many classes.
    func testInitMatchesTheClassifierToTheClassNames() throws {
        let path = temporaryPath("named.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        func spec(_ names: [String], classes: Int? = nil) -> ModelSpec {
            ModelSpec(architecture: "resnet18", width: 0.125, stem: .imagenet, inputChannels: 3, inputSize: 32,
                      classes: classes ?? names.count, dataset: "folder", classNames: names)
        }
        let was = ["cat", "dog", "bird", "fish"], sorted = ["bird", "cat", "dog", "fish"]
        XCTAssertEqual(ClassifierTransfer(from: spec(was), to: spec(was)), .copied)
        XCTAssertEqual(ClassifierTransfer(from: spec(was), to: spec(sorted)), .reordered([2, 0, 1, 3]))
        XCTAssertEqual(ClassifierTransfer(from: spec(was), to: spec(["cat", "dog", "bird", "frog"])), .fresh)
        XCTAssertEqual(ClassifierTransfer(from: spec(was), to: spec(["cat", "dog", "bird"])), .fresh)
        XCTAssertEqual(ClassifierTransfer(from: spec([], classes: 4), to: spec(sorted)), .copied, "no names: class i stays class i")
        XCTAssertEqual(ClassifierTransfer(from: spec([], classes: 5), to: spec(sorted)), .fresh)

        let source = try Network.make(spec(was), seed: 1)
        FixtureGenerator.fill(source)
        try Checkpoint.save(source, to: path)
        let target = try Network.make(spec(sorted), seed: 2)
        try target.loadWeights(from: try Checkpoint.load(path: path), classifier: ClassifierTransfer(from: source.spec, to: target.spec))
        let image = Tensor(shape: [1, 3, 32, 32])
        for i in 0..<image.count { image.data[i] = Float((i * 37) % 101) / 50 - 1 }
        let before = source.forward(image, training: false).array, after = target.forward(image, training: false).array
        for (i, name) in sorted.enumerated() { XCTAssertEqual(after[i], before[was.firstIndex(of: name)!], name) }
    }

    /// Weights of the right shapes for another variant are refused, not silently loaded.
    func testInitRefusesAnotherVariant() throws {
        let path = temporaryPath("variant.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint.save(try Network.make(ModelSpec(architecture: "mobilenetv2", width: 0.25, stem: .imagenet,
                                                       inputChannels: 3, inputSize: 32)), to: path)
        let cifar = try Network.make(ModelSpec(architecture: "mobilenetv2", width: 0.25, stem: .cifar, inputChannels: 3, inputSize: 32))
        XCTAssertThrowsError(try cifar.loadWeights(from: try Checkpoint.load(path: path), classifier: .fresh)) {
            XCTAssertEqual("\($0)", "\(path): holds mobilenetv2 width 0.25 with the imagenet stem and 3 input channels, but the network to train is mobilenetv2 width 0.25 with the cifar stem and 3 input channels")
        }
        let wider = try Network.make(ModelSpec(architecture: "mobilenetv2", width: 0.5, stem: .imagenet, inputChannels: 3, inputSize: 32))
        XCTAssertThrowsError(try wider.loadWeights(from: try Checkpoint.load(path: path), classifier: .fresh))
    }

    /// `isp train --init` with feature decay: fine-tunes a 5-class checkpoint on the 10 classes of
    /// Fashion-MNIST (network and width taken from the file), records where it started, and `isp
    /// info` shows the stem it kept; another stem or network than the file's is refused.
    func testTrainFromInitialWeights() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/t10k-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST is not installed (make deps)")
        }
        let directory = temporaryPath("init-run")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let size = try DatasetLoader.load(name: "fashion-mnist", directory: nil, split: .test, limit: 1).height
        let initial = "\(directory)/initial.safetensors", out = "\(directory)/tuned.safetensors"
        try Checkpoint.save(try Network.make(ModelSpec(architecture: "resnet18", width: 0.0625, stem: .imagenet,
                                                       inputChannels: 1, inputSize: size, classes: 5)), to: initial)
        let r = try ISP.run(["train", "--init", initial, "--feature-decay", "1e-4",
                             "--epochs", "1", "--train-limit", "64", "--test-limit", "32", "--batch-size", "32", "--out", out],
                            in: directory, timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("imagenet stem"), r.stdout)
        // The run says what became of the file's classifier: 5 unnamed classes, 10 named ones.
        XCTAssertTrue(r.stdout.contains("classifier: a fresh one: the data's classes (T-shirt/top, Trouser, Pullover, Dress, ... (10)) are not \(initial)'s (0, 1, 2, 3, ... (5))"), r.stdout)
        let again = try ISP.run(["train", "--init", out, "--epochs", "1", "--train-limit", "64", "--test-limit", "32", "--batch-size", "32",
                                 "--out", "\(directory)/again.safetensors"], in: directory, timeout: 120)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("classifier: \(out)'s, for the same 10 classes\n"), again.stdout)
        let tuned = try Checkpoint.load(path: out)
        XCTAssertEqual(tuned.network.spec.classes, 10)
        XCTAssertEqual(tuned.network.spec.stem, .imagenet)
        XCTAssertEqual(tuned.metadata["train.init"], initial)
        XCTAssertEqual(tuned.metadata["train.feature_decay"].flatMap(Float.init), 1e-4)
        let info = try ISP.run(["info", out], in: directory, timeout: 60)
        XCTAssertTrue(info.stdout.contains("resnet18 width 0.0625, imagenet stem, 1x\(size)x\(size) input"), info.stdout)
        // Another stem than the file's is refused in one line naming it.
        let refused = try ISP.run(["train", "--model", "resnet18", "--width", "0.0625", "--init", initial, "--stem", "cifar",
                                   "--epochs", "1", "--train-limit", "64", "--test-limit", "32", "--out", "\(directory)/x.safetensors"],
                                  in: directory, timeout: 60)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertEqual(refused.stderrLines.count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains(initial) && refused.stderr.contains("cifar stem"), refused.stderr)
        let otherNetwork = try ISP.run(["train", "--model", "vgg16", "--init", initial, "--epochs", "1", "--train-limit", "64",
                                        "--test-limit", "32", "--out", "\(directory)/y.safetensors"], in: directory, timeout: 60)
        XCTAssertEqual(otherNetwork.status, 1, otherNetwork.stderr)
        XCTAssertEqual(otherNetwork.stderrLines.count, 1, otherNetwork.stderr)
        XCTAssertTrue(otherNetwork.stderr.contains(initial) && otherNetwork.stderr.contains("resnet18"), otherNetwork.stderr)
    }

    func stateDict(_ network: Network) -> [(String, Tensor)] {
        network.parameters.map { ($0.name, $0.parameter.value) }
            + network.batchNorms.flatMap { [($0.name + ".running_mean", $0.layer.runningMean), ($0.name + ".running_var", $0.layer.runningVar)] }
    }

    func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("isp-\(UUID().uuidString)-\(name)").path
    }
}

/// The weights and image of benchmarks/make_torchvision_fixtures.py (see its docstring), bit for
/// bit: a counter-based hash of each tensor's name and element index, scaled per kind in Double
/// and rounded once to Float.
enum FixtureGenerator {
    static func uniforms(_ name: String, count: Int, _ value: (Double) -> Double) -> [Float] {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return (0..<count).map { k in
            var z = h &+ UInt64(k + 1) &* 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(value(Double(z >> 40) / Double(1 << 24)))
        }
    }

    static func fill(_ t: Tensor, _ name: String, _ value: (Double) -> Double) {
        let values = uniforms(name, count: t.count, value)
        t.data.update(from: values, count: t.count)
    }

    static func kaiming(_ fanIn: Int) -> (Double) -> Double { { u in (2 * u - 1) * (6 / Double(fanIn)).squareRoot() } }
    static let bias = { (u: Double) in 0.1 * (2 * u - 1) }

    /// Every convolution, linear layer and batch norm of the network, by its state_dict names.
    static func fill(_ network: Network) {
        network.root.visit { path, layer in
            func name(_ n: String) -> String { path.isEmpty ? n : path + "." + n }
            switch layer {
            case let conv as Conv2d:
                fill(conv.weight.value, name("weight"), kaiming(conv.inChannels / conv.groups * conv.kernel * conv.kernel))
                if let b = conv.bias { fill(b.value, name("bias"), bias) }
            case let linear as Linear:
                fill(linear.weight.value, name("weight"), kaiming(linear.weight.value.shape[1]))
                fill(linear.bias.value, name("bias"), bias)
            case let bn as BatchNorm2d:
                fill(bn.weight.value, name("weight")) { 0.5 + $0 }
                fill(bn.bias.value, name("bias")) { 0.2 * (2 * $0 - 1) }
                fill(bn.runningMean, name("running_mean")) { 0.2 * (2 * $0 - 1) }
                fill(bn.runningVar, name("running_var")) { 0.5 + 1.5 * $0 }
            default: break
            }
        }
    }

    /// The generated 1 x 3 x size x size input image.
    static func image(size: Int) -> Tensor {
        let t = Tensor(shape: [1, 3, size, size])
        fill(t, "input") { (2 * $0 - 1) * Double(3).squareRoot() }
        return t
    }
}
