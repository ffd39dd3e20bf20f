import Foundation
import InstanceSparsity

/// Tiny Fashion-MNIST IDX files for tests that run `isp` end to end: noise plus a bright bar whose
/// height depends on the class, so there is something to learn. 256 training and 64 test images.
enum SyntheticFashionMNIST {
    static let trainCount = 256, testCount = 64

    /// An IDX file: magic (type 0x08 = unsigned bytes), dimensions, data.
    static func idx(dims: [Int], data: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, type, UInt8(truncatingIfNeeded: dims.count)]
        for d in dims { bytes += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        return bytes + data
    }

    static func write(to directory: String) throws {
        var rng = SeededGenerator(seed: 42)
        for (prefix, count) in [("train", trainCount), ("t10k", testCount)] {
            var pixels: [UInt8] = [], labels: [UInt8] = []
            for i in 0..<count {
                let label = i % 10
                labels.append(UInt8(label))
                var image = (0..<784).map { _ in UInt8(rng.next() % 60) }
                for y in (4 + 2 * label)..<(10 + 2 * label) { for x in 6..<22 { image[y * 28 + x] = 200 } }
                pixels += image
            }
            try Data(Gzip.compress(idx(dims: [count, 28, 28], data: pixels)))
                .write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-images-idx3-ubyte.gz"))
            try Data(Gzip.compress(idx(dims: [count], data: labels)))
                .write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-labels-idx1-ubyte.gz"))
        }
    }
}
