import CKernels

/// One 3x3 convolution at stride 1 and padding 1 of one image by Winograd's F(2x2, 3x3)
/// (Winograd.c), over any subset of the input channels: the input's transforms V, the 16
/// products U[xi] V[xi] on the tiled kernel as 1x1 convolutions whose grid positions are tiles,
/// and the output transform, which adds the bias and residual and applies the activation. 16
/// multiply-adds per input channel for 4 output pixels instead of 36. Batch-1 inference only.
///
/// The map goes in bands of tile rows whose V and M (the products) take about `bandFloats`, so
/// that the products read V and the output transform reads M from L2; split across cores, each
/// core takes a share of the tile rows with a band buffer of its own, or, when one band holds the
/// whole map, a share of each step.
final class WinogradConvolution {
    let inChannels: Int, outChannels: Int
    /// U[xi] (outputs x inputs) as the tiled kernel's panels, one row per input channel.
    private let panels: [WeightPanels]
    /// Per thread: a band's V (16 x inChannels rows of `pitch` floats), then its M (16 x the band's
    /// tiles x `productPitch`: each tile's output channels, rounded up to whole vectors).
    private var bands: [Tensor] = []
    private var pitch = 0, bandRows = 0, geometry = (height: 0, width: 0)
    private let productPitch: Int
    /// Row i of V starts at offset[i] = i * pitch; allChannels[i] = i (no channel dropped).
    private let offset: UnsafeMutablePointer<Int32>, allChannels: UnsafeMutablePointer<Int32>
    /// How the last `run` left its output in the cores' caches.
    private(set) var outputSplit = MapSplit.mixed
    /// Floats added to the distance between the 16 parts of V and of M: a multiple of 4 KB apart,
    /// as 64 channels of a 56x56 map's tile row were, the input transform's 16 stores of a vector
    /// all went to one L1 set (benchmarks/winograd_bench.c, one core, AMD Zen 5 AVX-512: 64 -> 64
    /// channels at 56x56 160 -> 95 us, 128 -> 128 at 28x28 97 -> 59 us, 256 -> 256 at 14x14 113 ->
    /// 47 us).
    static let skew = 16
    /// Floats of V and M a band aims at (256 KB, a quarter of a Zen 5 core's L2), or U's floats
    /// when U is larger.
    static let bandFloats = 1 << 16

    /// `weights`: outChannels x inChannels x 3 x 3, batch norm folded in.
    init(weights: [Float], outChannels: Int, inChannels: Int, engine: Engine) {
        self.inChannels = inChannels; self.outChannels = outChannels
        let matrix = outChannels * inChannels
        var u = [Float](repeating: 0, count: 16 * matrix)
        weights.withUnsafeBufferPointer { w in
            u.withUnsafeMutableBufferPointer { isp_winograd_weights(w.baseAddress, Int32(outChannels), Int32(inChannels), $0.baseAddress) }
        }
        panels = (0..<16).map { xi in
            let p = WeightPanels(outChannels: outChannels, rows: inChannels)
            u.withUnsafeBufferPointer { p.load($0.baseAddress! + xi * matrix, engine: engine) }
            return p
        }
        offset = .allocate(capacity: inChannels); allChannels = .allocate(capacity: inChannels)
        for i in 0..<inChannels { allChannels[i] = Int32(i) }
        productPitch = (outChannels + 15) / 16 * 16
    }

    deinit { offset.deallocate(); allChannels.deallocate() }

    /// Band buffers for this map size and thread count.
    private func prepare(height: Int, width: Int, threads: Int) {
        if geometry != (height, width) {
            let tilesPerRow = Int(isp_winograd_tiles(Int32(width)))
            // Every band streams all of U again: bands at least as large as U.
            let target = max(WinogradConvolution.bandFloats, 16 * inChannels * outChannels)
            bandRows = max(1, target / (16 * (inChannels + productPitch) * tilesPerRow))
            bandRows = min(bandRows, Int(isp_winograd_tiles(Int32(height))))
            pitch = (bandRows * tilesPerRow + 16 + 15) / 16 * 16  // a vector of slack (see isp_winograd_input)
            for i in 0..<inChannels { offset[i] = Int32(i * pitch) }
            bands = []
            geometry = (height, width)
        }
        let floats = 16 * (inChannels * pitch + bandRows * Int(isp_winograd_tiles(Int32(width))) * productPitch + 2 * WinogradConvolution.skew)
        while bands.count < threads { bands.append(Tensor(shape: [floats])) }
    }

    /// out = clamp(conv(x) + bias (+ residual), 0 if `cap` is set, cap) over the input channels
    /// `kept` (list and count, ascending; nil: all) of x (inChannels planes of height x width).
    /// `split`: the work shared across the engine's threads. Returns the MACs of the direct
    /// convolution it stands for (the measure of work all paths report).
    func run(_ x: UnsafePointer<Float>, height: Int, width: Int, kept: (UnsafePointer<Int32>, Int)?,
             out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, cap: Float?, residual: UnsafePointer<Float>?,
             engine: Engine, split: Bool) -> Int {
        let kc = kept?.1 ?? inChannels, channels = kept?.0 ?? UnsafePointer(allChannels)
        let macs = outChannels * height * width * kc * 9
        let tileRows = Int(isp_winograd_tiles(Int32(height))), tilesPerRow = Int(isp_winograd_tiles(Int32(width)))
        let threads = split && macs >= TiledConvolution.parallelThreshold ? min(engine.threads, tileRows) : 1
        prepare(height: height, width: width, threads: threads)
        let (low, high) = clampBounds(cap)
        let isa = engine.isa.kernel, pitch = pitch, bandRows = bandRows, offset = UnsafePointer(offset)
        let vStride = inChannels * pitch + WinogradConvolution.skew, productPitch = productPitch
        let mStride = bandRows * tilesPerRow * productPitch + WinogradConvolution.skew
        let final = isp_conv_output(out: out, plane: Int32(height * width), bias: bias, low: low, high: high, residual: residual)
        let tap: Int32 = 0
        withUnsafePointer(to: final) { final in
            withUnsafePointer(to: tap) { tap in
                // The three steps on the tile rows `rows` of a band whose V and M start at `v`, `m`:
                // V of the listed channels `c`, the products `xis`, the output channels `o` (whole vectors).
                let transformInput = { (rows: Range<Int>, c: Range<Int>, v: UnsafeMutablePointer<Float>) in
                    isp_winograd_input(isa, x, channels + c.lowerBound, Int32(c.count), Int32(height), Int32(width),
                                       Int32(rows.lowerBound), Int32(rows.upperBound), v + c.lowerBound * pitch, Int64(vStride),
                                       Int32(pitch))
                }
                let multiply = { (rows: Range<Int>, xis: Range<Int>, v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>) in
                    for xi in xis {
                        var input = isp_conv_input(x: v + xi * vStride, xOffset: offset, weightChannel: channels, channels: Int32(kc),
                                                   tapOffset: tap, taps: 1, pixelStride: 1, blockPitch: 0, rowWidth: 0, rowPitch: 0,
                                                   mapWidth: 0, imageStride: 0)
                        isp_conv_products(isa, &input, self.panels[xi].data, Int32(self.inChannels), Int32(self.outChannels), 0,
                                          Int32(rows.count * tilesPerRow), m + xi * mStride, Int32(productPitch))
                    }
                }
                let transformOutput = { (rows: Range<Int>, o: Range<Int>, m: UnsafeMutablePointer<Float>) in
                    var part = final.pointee
                    part.out += o.lowerBound * height * width
                    part.bias += o.lowerBound
                    part.residual = part.residual.map { $0 + o.lowerBound * height * width }
                    isp_winograd_output(isa, m + o.lowerBound, Int64(mStride), Int32(productPitch), Int32(o.count), Int32(height),
                                        Int32(width), Int32(rows.lowerBound), Int32(rows.upperBound), &part)
                }
                let all = 0..<tileRows, v = bands[0].data, m = bands[0].data + 16 * vStride
                let phased = threads > 1 && bandRows >= tileRows
                outputSplit = threads > 1 && !phased ? .rows : .mixed
                if phased {
                    // The map in one band: each step split across the cores, so that each reads half
                    // of U (a split by tile rows had each stream all of it: resnet18 at 224, two cores,
                    // its 14x14 layers (U 4 MB) 0.58-0.62 -> 0.73-0.79 ms against the direct convolution).
                    let groups = (outChannels + 15) / 16
                    engine.forEachShare(of: kc, keepWarm: true) { c, _ in transformInput(all, c, v) }
                    engine.forEachShare(of: 16, keepWarm: true) { xis, _ in multiply(all, xis, v, m) }
                    engine.forEachShare(of: groups, keepWarm: true) { g, _ in
                        transformOutput(all, (g.lowerBound * 16)..<min(self.outChannels, g.upperBound * 16), m)
                    }
                    return
                }
                engine.forEachShare(of: tileRows, minimumPerShare: tileRows / threads, keepWarm: split) { share, workspace in
                    let v = self.bands[workspace.index].data, m = v + 16 * vStride
                    var first = share.lowerBound
                    while first < share.upperBound {
                        let rows = first..<min(share.upperBound, first + bandRows)
                        transformInput(rows, 0..<kc, v)
                        multiply(rows, 0..<16, v, m)
                        transformOutput(rows, 0..<self.outChannels, m)
                        first = rows.upperBound
                    }
                }
            }
        }
        return macs
    }
}
