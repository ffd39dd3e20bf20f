import XCTest
import CKernels
import InstanceSparsity

/// The vectorised depthwise kernels (forward and backward) against plain loops, on widths that
/// exercise their 16-wide vectors and scalar tail (16, 17, 33; 31 ends a stride-2 vector at the
/// plane's edge), both strides, 3x3 and 5x5, on both instruction sets. (The gradient tests use
/// small maps that only reach the scalar tail.) NaN propagation through every clamp. And several
/// images in one micro-kernel call against one at a time.
final class KernelTests: XCTestCase {
    /// On 2x2 and 4x4 maps one call of the micro-kernel takes several images side by side. Every
    /// output and input-gradient value is then summed in the same order as for one image alone, so
    /// a batch must give exactly what its images give one by one; the weight gradient sums the
    /// images in another order, so it agrees to rounding.
    func testImagesSideBySideMatchOneAtATime() {
        var rng = SeededGenerator(seed: 5)
        for isa in InstructionSet.supported {
            for (cin, cout, size, images) in [(5, 20, 2, 13), (3, 7, 4, 5)] {
                let conv = Conv2d(inChannels: cin, outChannels: cout, kernel: 3, padding: 1, bias: true, rng: &rng)
                conv.engine = Engine(isa: isa)
                let x = Tensor(shape: [images, cin, size, size]), dy = Tensor(shape: [images, cout, size, size])
                for i in 0..<x.count { x[i] = rng.normal() }
                for i in 0..<dy.count { dy[i] = rng.normal() }
                conv.weight.grad.zero()
                let y = conv.forward(x, training: true).copy(), dx = conv.backward(dy).copy(), dw = conv.weight.grad.copy()
                conv.weight.grad.zero()
                let inCount = x.count / images, outCount = dy.count / images
                for n in 0..<images {
                    let one = Tensor(shape: [1, cin, size, size], values: (0..<inCount).map { x[n * inCount + $0] })
                    let dyOne = Tensor(shape: [1, cout, size, size], values: (0..<outCount).map { dy[n * outCount + $0] })
                    let yOne = conv.forward(one, training: true)
                    for i in 0..<outCount { XCTAssertEqual(y[n * outCount + i], yOne[i], "\(isa) y image \(n)") }
                    let dxOne = conv.backward(dyOne)
                    for i in 0..<inCount { XCTAssertEqual(dx[n * inCount + i], dxOne[i], "\(isa) dx image \(n)") }
                }
                for i in 0..<dw.count {
                    XCTAssertEqual(dw[i], conv.weight.grad[i], accuracy: 1e-4 * (1 + abs(dw[i])), "\(isa) dw[\(i)]")
                }
            }
        }
    }

    /// Maps narrower than a vector (a vector of grid positions then spans several output rows),
    /// as wide as one, wider, and odd sizes at stride 2 (phases of unequal size).
    func testDepthwiseMatchesPlainLoops() {
        for isa in InstructionSet.supported {
            // 46x50: planes of 2048+ floats, whose kernels fetch the next plane or rows ahead;
            // 9x57: rows wide enough for AVX2's stride-2 rows kernel, 3x14 to 5x17 its rows of one
            // vector and more; up to 5x16 at stride 2 two output rows a vector with AVX-512, up to
            // 8x8 with AVX2 (an odd last row alone).
            // 6x8, 12x4, 3x14: whole planes as runs of vectors at stride 1, like 7x7 (AVX-512). 4x4 at
            // stride 1 and 8x8 at stride 2: the 256-bit kernels for MobileNetV2's last maps, which both
            // instruction sets run; 8x8 at stride 1 AVX2's rows of one vector, which both run too.
            // AVX2's stride-1 rows kernels: up to 8 wide (not 4) one vector a row, each input row's
            // taps made once (5x1 to 9x8), 5x16 two, 5x17 and 3x31 a last vector overlapping the
            // one before. AVX-512's stride-1 strips: rows of 9 to 64 one strip (a masked vector
            // alone in 4x9 and 3x14, a last one of a lane in 5x17), 3x70 two strips (2 and 3
            // vectors), 2x130 three of 3.
            for (height, width) in [(5, 1), (2, 2), (4, 4), (7, 7), (8, 8), (6, 8), (12, 4), (4, 9), (3, 14), (9, 8), (5, 16), (5, 17), (3, 31), (5, 33),
                                    (6, 40), (46, 50), (9, 57), (3, 70), (2, 130)] {
                for stride in [1, 2] {
                    for k in [3, 5] {
                        check(channels: 3, height: height, width: width, kernel: k, stride: stride, isa: isa)
                    }
                }
            }
        }
    }

    /// A NaN in the input stays NaN through the clamp at the end of the micro-kernel and the
    /// depthwise kernel (a max/min that drops NaNs would turn it into the bound and could hide a
    /// diverged network), in the training layers and in the inference executor with its fused
    /// ReLU/ReLU6, on both instruction sets.
    func testNaNPropagates() throws {
        for isa in InstructionSet.supported {
            let engine = Engine(isa: isa)
            var rng = SeededGenerator(seed: 3)
            // Bordered planes, unrolled rows, depthwise (its scalar tail, then its 16-wide vectors).
            for (groups, size) in [(1, 8), (1, 4), (4, 8), (4, 16)] {
                let conv = Conv2d(inChannels: 4, outChannels: 4, kernel: 3, padding: 1, groups: groups, rng: &rng)
                conv.engine = engine
                let x = Tensor(shape: [1, 4, size, size])
                x[size + 1] = .nan  // channel 0, pixel (1, 1); every other input is 0
                let y = conv.forward(x, training: false)
                for o in 0..<4 {
                    for oy in 0..<size {
                        for ox in 0..<size {
                            let reads = oy <= 2 && ox <= 2 && (groups == 1 || o == 0)
                            XCTAssertEqual(y[(o * size + oy) * size + ox].isNaN, reads,
                                           "\(isa) groups \(groups) size \(size) at (\(o), \(oy), \(ox))")
                        }
                    }
                }
            }
            // Batch norm with its ReLU fused, 20 values a plane (a vector and a tail), eval mode.
            let normalized = Sequential([BatchNorm2d(channels: 1), ReLU()])
            let planes = Tensor(shape: [1, 1, 4, 5])
            planes[3] = .nan
            let out = normalized.forward(planes, training: false)
            for i in 0..<out.count { XCTAssertEqual(out[i].isNaN, i == 3, "\(isa) batch norm + ReLU at \(i)") }
            for arch in ModelSpec.architectures {
                let executor = SparseExecutor(try Network.make(ModelSpec(architecture: arch, width: 0.25), engine: engine))
                let image = Tensor(shape: [1, 1, 32, 32])
                image[33] = .nan
                XCTAssertTrue(executor.run(image.data).logits.allSatisfy(\.isNaN), "\(isa) \(arch)")
            }
        }
    }

    /// The max pools of inference (the vector kernels, 2x2 and 3x3 windows at stride 2: 16-, 8- and
    /// 4-wide steps, then a scalar tail; rows 2 and 4 wide four row pairs at a time, across planes
    /// when their height is even) against training's window-by-window loop that records winners, on
    /// widths and heights with vectors, tails and an odd last row or column; a NaN wins its windows
    /// (the loop's comparisons never pick it, so those outputs are not compared).
    func testMaxPoolVectorKernelMatchesWindowLoop() {
        var rng = SeededGenerator(seed: 9)
        for isa in InstructionSet.supported {
            for (kernel, stride, padding) in [(2, 2, 0), (3, 2, 1)] {
                for (height, width) in [(32, 32), (4, 4), (2, 2), (5, 7), (4, 12), (6, 34), (3, 66), (8, 17), (1, 1), (112, 112), (9, 41),
                                          (8, 2), (6, 4), (9, 2), (7, 4)] {
                    let pool = MaxPool2d(kernel: kernel, stride: stride, padding: padding)
                    guard pool.outputSize(height) > 0 && pool.outputSize(width) > 0 else { continue }
                    pool.engine = Engine(isa: isa)
                    let x = Tensor(shape: [1, 3, height, width])
                    for i in 0..<x.count { x[i] = rng.normal() }
                    x[min(height - 1, 1) * width + min(width - 1, 1)] = .nan  // channel 0, in window (0, 0)
                    let what = "\(isa) \(kernel)x\(kernel) stride \(stride) on \(height)x\(width)"
                    let fast = pool.forward(x, training: false).copy(), windows = pool.forward(x, training: true)
                    XCTAssertEqual(fast.shape, [1, 3, pool.outputSize(height), pool.outputSize(width)], what)
                    XCTAssertTrue(fast[0].isNaN, "\(what): NaN must win")
                    for i in 1..<fast.count where !fast[i].isNaN { XCTAssertEqual(fast[i], windows[i], "\(what) at \(i)") }
                }
            }
        }
    }

    /// Saliency (`isp_plane_norms`) bit for bit against its definition written out in Swift: row
    /// by row, eight fused running sums from zero (a row's last values past a multiple of 8 in one
    /// more step), added pairwise into the row's sum, the rows' sums added in order within blocks
    /// of `isp_saliency_block()` rows and the blocks' sums in order; on
    /// planes below 64 values with rows of up to 8 (side by side, gathered; 37 planes leave some
    /// for the plane-by-plane path) and others, on both instruction sets. Training and the executor
    /// share it, so they decide alike.
    func testSaliencyIsTheSameArithmeticOnEveryPath() {
        var rng = SeededGenerator(seed: 13)
        for isa in InstructionSet.supported {
            for (height, width) in [(1, 1), (1, 3), (2, 2), (4, 4), (7, 7), (3, 8), (8, 8), (1, 9), (3, 17), (1, 63), (14, 14),
                                    (5, 28), (32, 32), (1, 100), (21, 2), (12, 3)] {
                let gate = ChannelGate(label: "g")
                gate.engine = Engine(isa: isa)
                gate.featureDecay = 1
                let x = Tensor(shape: [1, 37, height, width])
                for i in 0..<x.count { x[i] = rng.normal() }
                _ = gate.forward(x, training: true)
                let blockRows = Int(isp_saliency_block())
                for c in 0..<37 {
                    var sum: Float = 0, block: Float = 0
                    for r in 0..<height {
                        var s = [Float](repeating: 0, count: 8)
                        for j in 0..<width {
                            let v = x[(c * height + r) * width + j]
                            s[j % 8] = s[j % 8].addingProduct(v, v)
                        }
                        block += ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
                        if r % blockRows == blockRows - 1 || r == height - 1 { sum += block; block = 0 }
                    }
                    XCTAssertEqual(gate.saliency[c], sum.squareRoot() * (1 / Float(height * width).squareRoot()),
                                   "\(isa) \(height)x\(width), plane \(c)")
                }
            }
        }
    }

    /// A map the cores wrote by rows is measured by each core on its rows, the blocks of rows it
    /// holds whole (`isp_block_square_sums`), the others row by row (`isp_row_square_sums`), and
    /// added up after (`isp_norms_from_row_sums`): bit for bit the whole planes' saliency
    /// (`isp_plane_norms`, side by side or plane by plane, on both instruction sets) wherever the
    /// rows are cut, and with every row measured apart too, so that a channel right at a threshold
    /// is decided alike split or not.
    func testSaliencyOfRowsMeasuredApartIsTheWholePlanes() {
        var rng = SeededGenerator(seed: 14)
        let planes = 37, b = Int(isp_saliency_block())
        for (height, width) in [(2, 2), (4, 4), (7, 7), (8, 8), (3, 17), (14, 14), (9, 28), (32, 32), (17, 5), (5, 100)] {
            let n = height * width, scale = 1 / Float(n).squareRoot()
            var x = [Float](repeating: 0, count: planes * n)
            for i in x.indices { x[i] = rng.normal() }
            for isa in InstructionSet.supported {
                var whole = [Float](repeating: 0, count: planes)
                isp_plane_norms(isa == .avx512 ? ISP_AVX512 : ISP_AVX2, x, Int32(planes), Int32(height), Int32(width), scale, &whole)
                for cut in 0...height {
                    for blocks in [true, false] {
                        var sums = [Float](repeating: .nan, count: height * planes), split = [Float](repeating: 0, count: planes)
                        var wholeBlocks = [Float](repeating: 0, count: (height + b - 1) / b)
                        x.withUnsafeBufferPointer { x in
                            sums.withUnsafeMutableBufferPointer { sums in
                                func rows(_ r: Range<Int>) {
                                    guard !r.isEmpty else { return }
                                    isp_row_square_sums(x.baseAddress! + r.lowerBound * width, Int32(planes), Int64(n), Int32(r.count),
                                                        Int32(width), sums.baseAddress! + r.lowerBound * planes, Int64(planes))
                                }
                                for share in [0..<cut, cut..<height] where !share.isEmpty {
                                    let start = (share.lowerBound + b - 1) / b * b
                                    let end = max(start, share.upperBound == height ? height : share.upperBound / b * b)
                                    guard blocks && start < end else { rows(share); continue }
                                    isp_block_square_sums(x.baseAddress! + start * width, Int32(planes), Int64(n), Int32(end - start),
                                                          Int32(width), sums.baseAddress! + start * planes, Int64(planes))
                                    for block in (start / b)..<((end + b - 1) / b) { wholeBlocks[block] = 1 }
                                    rows(share.lowerBound..<start)
                                    rows(end..<share.upperBound)
                                }
                            }
                        }
                        isp_norms_from_row_sums(sums, wholeBlocks, Int32(planes), Int32(height), scale, &split)
                        XCTAssertEqual(split, whole, "\(isa) \(height)x\(width), rows cut at \(cut), blocks \(blocks)")
                    }
                }
            }
        }
    }

    /// Convolutions with a short reduction (1-3 input channels, 3x3) run pixel-major on rows of a
    /// multiple of 16 pixels and on the tiled blocks otherwise: both against plain loops, with
    /// output channels that fill a group of four and that do not, on both instruction sets. At
    /// stride 2 from each row's even and odd columns copied apart: rows of whole vectors (32 and
    /// 16 wide, from an input of odd height whose last row is read, and of odd width), with a
    /// tail in blocks (17 and 33 wide), and a 5x5 kernel (25 taps); rows over 248 wide (256 of
    /// a 511-wide input) in blocks.
    func testShortReductionConvolutionsMatchPlainLoops() {
        var rng = SeededGenerator(seed: 21)
        for isa in InstructionSet.supported {
            for (cin, cout, size) in [(1, 32, 32), (3, 7, 16), (2, 20, 48), (1, 5, 12)] {
                assertMatchesPlainLoops(cin, cout, size: size, stride: 1, isa: isa, rng: &rng)
            }
            for (cin, cout, height, width) in [(3, 32, 64, 64), (3, 20, 31, 32), (2, 8, 40, 31), (1, 5, 34, 34), (3, 9, 20, 65),
                                               (2, 6, 4, 511)] {
                assertMatchesPlainLoops(cin, cout, height: height, width: width, kernel: 3, stride: 2, isa: isa, rng: &rng)
            }
            assertMatchesPlainLoops(1, 12, height: 40, width: 64, kernel: 5, stride: 2, isa: isa, rng: &rng)
        }
    }

    /// The micro-kernel's blocks of every width (1 to 14 positions, one tile and two, stride 1 and
    /// 2, 3x3 and 1x1; rows of bordered planes from 8 wide, unrolled maps below), with and without the weight
    /// prefetches, reductions whole and in chunks, against plain loops.
    func testEveryBlockWidthMatchesPlainLoops() {
        var rng = SeededGenerator(seed: 22)
        for isa in InstructionSet.supported {
            for size in [3, 4, 7, 8, 11, 13, 14, 15, 19, 28, 29] {
                assertMatchesPlainLoops(5, 40, size: size, stride: 1, isa: isa, rng: &rng)
            }
            for size in [9, 16, 28, 31] { assertMatchesPlainLoops(5, 40, size: size, stride: 2, isa: isa, rng: &rng) }
            // 1x1 at stride 2 (ResNet's shortcuts): in place row by row from outputs 8 wide, unrolled below.
            for out in [4, 8, 13, 14, 28] {
                assertMatchesPlainLoops(20, 40, height: 2 * out, width: 2 * out, kernel: 1, stride: 2, isa: isa, rng: &rng)
            }
            // More than 2048 weight rows (input channels x taps): the kernel that prefetches weights.
            for (size, stride) in [(7, 1), (14, 1), (14, 2)] { assertMatchesPlainLoops(240, 40, size: size, stride: stride, isa: isa, rng: &rng) }
            // A tile's weights and input over 512 KB on a grid of at most 64 positions (7x7, 4x4): the AVX2
            // kernel sums them in chunks of 16 input channels, here with a shorter last chunk.
            for (cin, size, stride) in [(300, 7, 1), (300, 13, 2), (460, 4, 1)] {
                assertMatchesPlainLoops(cin, 40, size: size, stride: stride, isa: isa, rng: &rng)
            }
            // Output planes of 4096+ floats, whose blocks fetch the lines ahead they will store to.
            for (size, stride) in [(65, 1), (130, 2)] { assertMatchesPlainLoops(3, 20, size: size, stride: stride, isa: isa, rng: &rng) }
        }
    }

    /// 1x1 convolutions on maps whose planes are a multiple of 2 KB (32x32, 16x32), where the
    /// kernel goes through its row buffer in runs, and from a copy of the inputs pixel-major when
    /// the reduction is short (up to 32 input channels); and expansions of up to 32 channels on
    /// grids of 256 positions or more of any size, pixel-major from copies of runs of 256, with a
    /// tail of less than a vector (37x41, 19x19) and a last run shorter than the others (20x20);
    /// a reduction on such a grid (32 -> 40 at 30x30) stays in blocks; expansions of up to 64
    /// channels to 4x as many on grids of 64-255 positions, pixel-major in place with a tail (48 ->
    /// 192 at 14x14, 16 -> 64 at 13x13, 24 -> 100 at 9x9) or without (48 -> 288 at 8x8), and on a
    /// 4x4 grid in blocks (32 -> 128); projections to up to 24 channels from any number, pixel-major
    /// in place on such grids (96 -> 24 at 28x28, 144 -> 16 at 9x9, 16 -> 8 at 32x32, 48 -> 20 at
    /// 8x8; AVX2 in groups of 6 when 6 divides the outputs: 96 -> 24, 144 -> 18 at 9x9), not from
    /// 4x4 (72 -> 24); a weight set over 512 KB, on the kernel that prefetches the weights (320 ->
    /// 480 at 7x7; with AVX2 from a block-major packed copy of the input), and one whose tile's
    /// weights and input pass 512 KB, which the AVX2 kernel sums in chunks of input channels (2100 ->
    /// 20 at 7x7). Against plain loops, with
    /// output channels that fill the pixel-major groups and that do not, on both instruction sets.
    func testPointwiseConvolutionsOnAliasedPlanesAndLongRunsMatchPlainLoops() {
        var rng = SeededGenerator(seed: 23)
        for isa in InstructionSet.supported {
            for (cin, cout, height, width) in [(16, 96, 32, 32), (3, 18, 32, 32), (32, 20, 16, 32), (40, 24, 32, 32),
                                               (16, 96, 37, 41), (24, 144, 20, 20), (32, 64, 19, 19), (32, 40, 30, 30),
                                               (48, 192, 14, 14), (16, 64, 13, 13), (24, 100, 9, 9), (48, 288, 8, 8),
                                               (32, 128, 4, 4), (96, 24, 28, 28), (144, 16, 9, 9), (16, 8, 32, 32),
                                               (48, 20, 8, 8), (144, 18, 9, 9), (72, 24, 4, 4), (320, 480, 7, 7),
                                               (2100, 20, 7, 7)] {
                assertMatchesPlainLoops(cin, cout, height: height, width: width, kernel: 1, stride: 1, isa: isa, rng: &rng)
            }
        }
    }

    /// A k x k convolution (k odd, padding k / 2) on one random image, against plain loops.
    func assertMatchesPlainLoops(_ cin: Int, _ cout: Int, size: Int, stride s: Int, isa: InstructionSet, rng: inout SeededGenerator) {
        assertMatchesPlainLoops(cin, cout, height: size, width: size, kernel: 3, stride: s, isa: isa, rng: &rng)
    }

    func assertMatchesPlainLoops(_ cin: Int, _ cout: Int, height: Int, width: Int, kernel k: Int, stride s: Int, isa: InstructionSet,
                                 rng: inout SeededGenerator) {
        let conv = Conv2d(inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: k / 2, bias: true, rng: &rng)
        conv.engine = Engine(isa: isa)
        let x = Tensor(shape: [1, cin, height, width])
        for i in 0..<x.count { x[i] = rng.normal() }
        assertClose(conv.forward(x, training: false), plainLoops(conv, x), "\(isa) \(cin) -> \(cout) \(k)x\(k) at \(height)x\(width) stride \(s)")
    }

    /// `conv` (any groups) of `x` by plain loops, in the order the reference sums: bias, then
    /// input channel, row and column of the kernel.
    func plainLoops(_ conv: Conv2d, _ x: Tensor) -> Tensor {
        let n = x.shape[0], ih = x.shape[2], iw = x.shape[3], k = conv.kernel, s = conv.stride, p = conv.padding
        let oh = (ih + 2 * p - k) / s + 1, ow = (iw + 2 * p - k) / s + 1
        let cig = conv.inChannels / conv.groups, cog = conv.outChannels / conv.groups
        let y = Tensor(shape: [n, conv.outChannels, oh, ow])
        for b in 0..<n { for o in 0..<conv.outChannels { for oy in 0..<oh { for ox in 0..<ow {
            var sum = conv.bias?.value[o] ?? 0
            for ci in 0..<cig {
                let c = o / cog * cig + ci
                for ky in 0..<k { for kx in 0..<k {
                    let iy = oy * s + ky - p, ix = ox * s + kx - p
                    guard iy >= 0 && iy < ih && ix >= 0 && ix < iw else { continue }
                    sum += conv.weight.value[((o * cig + ci) * k + ky) * k + kx] * x[((b * conv.inChannels + c) * ih + iy) * iw + ix]
                } }
            }
            y[((b * conv.outChannels + o) * oh + oy) * ow + ox] = sum
        } } } }
        return y
    }

    /// The same shape and every value within 1e-4.
    func assertClose(_ got: Tensor, _ expected: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.shape, expected.shape, what, file: file, line: line)
        for i in 0..<min(got.count, expected.count) {
            XCTAssertEqual(got[i], expected[i], accuracy: 1e-4, "\(what), value \(i)", file: file, line: line)
        }
    }

    func check(channels c: Int, height ih: Int, width iw: Int, kernel k: Int, stride s: Int, isa: InstructionSet) {
        var rng = SeededGenerator(seed: 5)
        let conv = Conv2d(inChannels: c, outChannels: c, kernel: k, stride: s, padding: k / 2, groups: c, bias: true, rng: &rng)
        conv.engine = Engine(isa: isa)
        let x = Tensor(shape: [2, c, ih, iw])
        for i in 0..<x.count { x[i] = rng.normal() }
        let y = conv.forward(x, training: false)
        let oh = y.shape[2], ow = y.shape[3], p = k / 2
        assertClose(y, plainLoops(conv, x), "\(isa) \(ih)x\(iw) stride \(s) k \(k)")

        let dy = Tensor(shape: y.shape)
        for i in 0..<dy.count { dy[i] = rng.normal() }
        conv.weight.grad.zero()
        let dx = conv.backward(dy)
        let expectedDx = Tensor(shape: x.shape), expectedDw = Tensor(shape: conv.weight.value.shape)
        for n in 0..<2 {
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let g = dy[((n * c + ch) * oh + oy) * ow + ox]
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let iy = oy * s + ky - p, ix = ox * s + kx - p
                                guard iy >= 0 && iy < ih && ix >= 0 && ix < iw else { continue }
                                let at = ((n * c + ch) * ih + iy) * iw + ix, tap = (ch * k + ky) * k + kx
                                expectedDx[at] += g * conv.weight.value[tap]
                                expectedDw[tap] += g * x[at]
                            }
                        }
                    }
                }
            }
        }
        for i in 0..<x.count { XCTAssertEqual(dx[i], expectedDx[i], accuracy: 1e-4, "\(isa) width \(iw) stride \(s) k \(k) dx[\(i)]") }
        for i in 0..<expectedDw.count {
            XCTAssertEqual(conv.weight.grad[i], expectedDw[i], accuracy: 1e-3, "\(isa) width \(iw) stride \(s) k \(k) dw[\(i)]")
        }
    }
}
