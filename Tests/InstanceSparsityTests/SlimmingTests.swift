import Foundation
import InstanceSparsity
import XCTest

/// Static slimming (`isp slim`): silent channels go without changing the logits of the images
/// they are silent on, a slimmed network equals the original with the removed channels masked,
/// Network Slimming meets its MAC target, and per-map channel counts survive a checkpoint.
final class SlimmingTests: TemporaryDirectoryTestCase {
    /// Both MobileNetV2 stems; CIFAR variants of the others, 32x32 single-channel inputs.
    static let variants: [(String, ModelSpec.Stem)] = [("vgg16", .cifar), ("resnet18", .cifar), ("mobilenetv2", .cifar), ("mobilenetv2", .imagenet)]

    func network(_ arch: String, stem: ModelSpec.Stem, width: Float = 0.25) throws -> Network {
        try SparseExecutorTests.makeTrainedLikeNetwork(arch, width: width, inputChannels: 1, inputSize: 32, stem: stem)
    }

    func randomImages(_ count: Int, seed: UInt64) -> Dataset {
        var rng = SeededGenerator(seed: seed)
        let images = Tensor(shape: [count, 1, 32, 32])
        for i in 0..<images.count { images[i] = rng.normal() }
        return Dataset(images: images, labels: (0..<count).map { Int32($0 % 10) }, classes: 10, name: "noise")
    }

    func logits(_ net: Network, _ data: Dataset) -> [Float] {
        for gate in net.gates { gate.mask = nil }
        return net.forward(data.images, training: false).array
    }

    /// Channels made silent on purpose (a batch-norm offset of -1000 before the ReLU) are exactly
    /// the ones removed; the others (offset 2, statistics re-estimated) are active. On the calibration images
    /// (and any other, since these are silent everywhere) the slimmed network gives the same logits.
    func testSilentChannelsAreExactlyTheRemovedOnes() throws {
        for (arch, stem) in Self.variants {
            let net = try network(arch, stem: stem)
            var rng = SeededGenerator(seed: 5)
            var silenced: [String: Set<Int>] = [:]
            for gate in net.slimmableMaps {
                let norm = net.layer(at: gate.layout!.norm) as! BatchNorm2d
                silenced[gate.label] = Set((0..<norm.channels).filter { _ in rng.uniform() < 0.3 })
                for c in 0..<norm.channels { norm.bias.value[c] = silenced[gate.label]!.contains(c) ? -1000 : 2 }
            }
            // Running statistics for the changed network (momentum 0.1: 40 passes leave 1.5% of the old).
            let images = randomImages(8, seed: 4).images
            for _ in 0..<40 { _ = net.forward(images, training: true) }
            let calibration = randomImages(12, seed: 6)
            let kept = try ChannelSlimming.nonSilent(net, calibration: calibration, count: calibration.count)
            XCTAssertEqual(Set(kept.keys), Set(net.slimmableMaps.map(\.label)), arch)
            for gate in net.slimmableMaps {
                let expected = (0..<gate.layout!.channels).filter { !silenced[gate.label]!.contains($0) }
                XCTAssertEqual(kept[gate.label], expected, "\(arch) \(gate.label)")
            }
            let slim = try net.slimmed(keeping: kept)
            let changed = net.slimmableMaps.filter { kept[$0.label]!.count < $0.layout!.channels }
            XCTAssertEqual(slim.spec.channels, Dictionary(uniqueKeysWithValues: changed.map { ($0.label, kept[$0.label]!.count) }), arch)
            XCTAssertEqual(slim.slimmableMaps.map { $0.layout!.channels }, net.slimmableMaps.map { kept[$0.label]!.count }, arch)
            XCTAssertLessThan(slim.macsPerImage, net.macsPerImage, arch)
            assertClose(logits(slim, calibration), logits(net, calibration), "\(arch) \(stem) on the calibration images")
        }
    }

    /// Any channels, silent or not: the slimmed network is the original with the removed channels
    /// masked to zero, on every image (for MobileNetV2 through the constants its depthwise norms
    /// make of a zero plane, folded into the projection's running mean).
    func testSlimmedNetworkEqualsMaskedOriginal() throws {
        for (arch, stem) in Self.variants {
            let net = try network(arch, stem: stem, width: 0.3)
            var rng = SeededGenerator(seed: 7)
            var kept: ChannelSlimming.Selection = [:]
            for gate in net.slimmableMaps {
                let some = (0..<gate.layout!.channels).filter { _ in rng.uniform() < 0.5 }
                kept[gate.label] = some.isEmpty ? [0] : some
            }
            let slim = try net.slimmed(keeping: kept)
            let images = randomImages(4, seed: 8)
            let reference = logits(slim, images)
            for gate in net.gates {
                let channels = gate.layout?.channels ?? 0
                guard let keep = kept[gate.label] else { continue }
                let row = (0..<channels).map { keep.contains($0) ? Float(1) : 0 }
                gate.mask = Tensor(shape: [4, channels], values: Array((0..<4).map { _ in row }.joined()))
            }
            let masked = net.forward(images.images, training: false).array
            assertClose(reference, masked, "\(arch) \(stem)")
            XCTAssertNotEqual(reference, logits(net, images), "\(arch): removing active channels changes something")
        }
    }

    /// Reordering permutes a map's channels everywhere they live: the network gives the same
    /// logits (to rounding), each gate's saliency moves with its channel, and the pruned executor
    /// keeps as many channels at every gate, with the same logits.
    func testReorderedNetworkComputesTheSameAndKeepsTheSameChannels() throws {
        for (arch, stem) in Self.variants {
            let net = try network(arch, stem: stem, width: 0.3)
            var rng = SeededGenerator(seed: 13)
            var order: ChannelSlimming.Selection = [:]
            for gate in net.slimmableMaps { order[gate.label] = Array(0..<gate.layout!.channels).shuffled(using: &rng) }
            let reordered = try net.reordered(order)
            XCTAssertEqual(reordered.spec, net.spec, arch)
            let images = randomImages(4, seed: 14)
            assertClose(logits(reordered, images), logits(net, images), "\(arch) \(stem)")
            for (a, b) in zip(net.gates, reordered.gates) {
                let c = a.saliency.shape[1], p = order[a.label] ?? Array(0..<c)
                for i in 0..<4 {
                    assertClose((0..<c).map { b.saliency[i * c + $0] }, (0..<c).map { a.saliency[i * c + p[$0]] }, "\(arch) \(a.label) image \(i)")
                }
            }
            let runs = [net, reordered].map { n in
                let executor = SparseExecutor(n)
                executor.policy = ThresholdPolicy(.mean, alpha: 1)
                executor.prunedGates = Set(n.gates.indices)
                return (0..<4).map { executor.run(images.images.data + $0 * 32 * 32) }
            }
            for (x, y) in zip(runs[0], runs[1]) {
                XCTAssertEqual(y.kept, x.kept, "\(arch) \(stem)")
                assertClose(y.logits, x.logits, "\(arch) \(stem) pruned")
            }
            XCTAssert(runs[0].contains { $0.kept != net.gates.map { $0.saliency.shape[1] } }, "\(arch): the policy prunes")
        }
    }

    /// The channels most often kept come first (ties by index), and `meanRuns` counts the runs an
    /// image's kept channels form in a given order.
    func testMostOftenKeptChannelsComeFirst() {
        let rows: [[Bool]] = [[false, true, false, true], [true, true, false, true], [false, true, false, false]]
        XCTAssertEqual(ChannelOrder.mostOftenKeptFirst(["m": rows, "n": [[false, false], [false, false]]]), ["m": [1, 3, 0, 2], "n": [0, 1]])
        XCTAssertEqual(ChannelOrder.meanRuns(rows), 5.0 / 3)
        XCTAssertEqual(ChannelOrder.meanRuns(rows, order: [1, 3, 0, 2]), 1)
        XCTAssertEqual(ChannelOrder.meanRuns([]), 0)
    }

    /// Network Slimming: the smallest |gamma| go first across maps, down to the MAC target and no
    /// further than the last channel needed, never below a tenth of a map; an unreachable target
    /// is an error.
    func testScaleSelectionMeetsTheMACTarget() throws {
        for (arch, stem) in Self.variants {
            let net = try network(arch, stem: stem)
            var rng = SeededGenerator(seed: 9)
            for gate in net.slimmableMaps {
                let gamma = (net.layer(at: gate.layout!.norm) as! BatchNorm2d).weight.value
                for c in 0..<gamma.count { gamma[c] = (rng.uniform() < 0.5 ? -1 : 1) * rng.uniform() }
            }
            let original = net.macsPerImage
            for target in [0.8, 0.6] {
                let kept = try ChannelSlimming.largestScales(net, macsFraction: target)
                let slim = try net.slimmed(keeping: kept)
                XCTAssertLessThanOrEqual(Double(slim.macsPerImage), target * Double(original), "\(arch) \(target)")
                // One channel less removed would miss the target: within the largest per-channel saving.
                XCTAssertGreaterThan(Double(slim.macsPerImage), (target - 0.03) * Double(original), "\(arch) \(target)")
                var largestRemoved: Float = 0, smallestKept = Float.infinity
                for gate in net.slimmableMaps {
                    let gamma = (net.layer(at: gate.layout!.norm) as! BatchNorm2d).weight.value, keep = kept[gate.label]!
                    XCTAssertGreaterThanOrEqual(keep.count, ChannelSlimming.scaleFloor(channels: gamma.count))
                    for c in 0..<gamma.count where !keep.contains(c) { largestRemoved = max(largestRemoved, abs(gamma[c])) }
                    if keep.count > ChannelSlimming.scaleFloor(channels: gamma.count) {
                        for c in keep { smallestKept = min(smallestKept, abs(gamma[c])) }
                    }
                }
                XCTAssertLessThanOrEqual(largestRemoved, smallestKept, "\(arch): a kept scale is smaller than a removed one")
            }
            XCTAssertThrowsError(try ChannelSlimming.largestScales(net, macsFraction: 0.01)) {
                XCTAssertTrue("\($0)".contains("keeping a tenth of each slimmable map's channels"), "\($0)")
            }
        }
    }

    /// Per-map channel counts go into the file (in network order) and come back; a file whose
    /// tensors or counts do not fit is refused in one line naming it.
    func testChannelCountsRoundTripAndMismatchesAreRefused() throws {
        let net = try network("vgg16", stem: .cifar)
        var kept: ChannelSlimming.Selection = [:]
        for gate in net.slimmableMaps { kept[gate.label] = Array(stride(from: 0, to: gate.layout!.channels, by: 2)) }
        kept["features.40"] = [3]
        let slim = try net.slimmed(keeping: kept)
        let path = directory + "/slim.safetensors"
        try Checkpoint.save(slim, to: path)
        let recorded = try SafeTensors.read(path: path).metadata["channels"]
        XCTAssertEqual(recorded, "features.3=8,features.7=8,features.10=16,features.14=16,features.17=32,features.20=32,features.24=32,"
                       + "features.27=64,features.30=64,features.34=64,features.37=64,features.40=1")
        let loaded = try Checkpoint.load(path: path).network
        XCTAssertEqual(loaded.spec.channels, slim.spec.channels)
        let images = randomImages(2, seed: 3)
        XCTAssertEqual(logits(loaded, images), logits(slim, images))

        let bad = directory + "/bad.safetensors"
        try Checkpoint.save(slim, to: bad, metadata: ["channels": recorded!.replacingOccurrences(of: "features.3=8", with: "features.3=7")])
        assertInputError(bad, "tensor 'features.0.weight' has shape [8, 1, 3, 3], but vgg16 width 0.25 slimmed to its recorded channels needs [7, 1, 3, 3]") {
            _ = try Checkpoint.load(path: bad)
        }
        // More channels than the tensors hold: refused by size before anything that large is built.
        try Checkpoint.save(slim, to: bad, metadata: ["channels": recorded!.replacingOccurrences(of: "features.3=8", with: "features.3=9")])
        assertInputError(bad, "but vgg16 width 0.25 slimmed to its recorded channels with 10 classes needs 161387") { _ = try Checkpoint.load(path: bad) }
        let full = try network("vgg16", stem: .cifar)
        for (channels, problem) in [("features.4=3", "names 'features.4', not a map whose channels can be removed"),
                                    ("features.3=999", "gives 'features.3' 999 channels, more than the 16 of vgg16 width 0.25"),
                                    ("features.3=abc", "metadata 'channels' should be distinct NAME=COUNT pairs"),
                                    ("features.3=4,features.3=4", "metadata 'channels' should be distinct NAME=COUNT pairs")] {
            try Checkpoint.save(full, to: bad, metadata: ["channels": channels])
            assertInputError(bad, problem) { _ = try Checkpoint.load(path: bad) }
        }
        // ResNet-18's block outputs are tied by the residual adds: not slimmable.
        let resnet = try network("resnet18", stem: .cifar)
        XCTAssertEqual(resnet.slimmableMaps.map(\.label), resnet.gates.map(\.label).filter { $0.hasSuffix(".conv2") })
        try Checkpoint.save(resnet, to: bad, metadata: ["channels": "layer2.0.conv1=4"])
        assertInputError(bad, "names 'layer2.0.conv1', not a map whose channels can be removed") { _ = try Checkpoint.load(path: bad) }
    }
}
