import XCTest
import InstanceSparsity

/// The vectorised depthwise kernel against a plain loop, on widths that exercise its 16-wide
/// vectors and scalar tail (16, 17, 33), both strides, 3x3 and 5x5, on both instruction sets.
/// (The gradient tests use small maps that only reach the scalar tail.)
final class KernelTests: XCTestCase {
    func testDepthwiseMatchesPlainLoop() {
        for avx512 in [true, false] {
            ConvolutionKernel.allowAVX512(avx512)
            defer { ConvolutionKernel.allowAVX512(true) }
            for width in [16, 17, 33] {
                for stride in [1, 2] {
                    for k in [3, 5] {
                        check(channels: 3, height: 5, width: width, kernel: k, stride: stride, isa: ConvolutionKernel.isa)
                    }
                }
            }
        }
    }

    func check(channels c: Int, height ih: Int, width iw: Int, kernel k: Int, stride s: Int, isa: String) {
        var rng = SeededGenerator(seed: 5)
        let conv = Conv2d(inChannels: c, outChannels: c, kernel: k, stride: s, padding: k / 2, groups: c, bias: true, rng: &rng)
        let x = Tensor(shape: [2, c, ih, iw])
        for i in 0..<x.count { x[i] = rng.normal() }
        let y = conv.forward(x, training: false)
        let oh = y.shape[2], ow = y.shape[3], p = k / 2
        for n in 0..<2 {
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var expected = conv.bias!.value[ch]
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let iy = oy * s + ky - p, ix = ox * s + kx - p
                                guard iy >= 0 && iy < ih && ix >= 0 && ix < iw else { continue }
                                expected += conv.weight.value[(ch * k + ky) * k + kx] * x[((n * c + ch) * ih + iy) * iw + ix]
                            }
                        }
                        let got = y[((n * c + ch) * oh + oy) * ow + ox]
                        XCTAssertEqual(got, expected, accuracy: 1e-4, "\(isa) width \(iw) stride \(s) k \(k) at (\(oy), \(ox))")
                    }
                }
            }
        }
    }
}
