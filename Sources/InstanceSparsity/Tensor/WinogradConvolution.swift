import CKernels

/// 3x3 convolutions at stride 1 and padding 1 by Winograd's F(2x2, 3x3) (Winograd.c), over any
/// subset of the input channels: the input's transforms V, the 16 products U[xi] V[xi] on the
/// tiled kernel as 1x1 convolutions whose grid positions are tiles, and the output transform,
/// which adds the bias and residual and applies the activation. 16 multiply-adds per input channel
/// for 4 output pixels instead of 36. One image split across the cores (`run`, batch-1 inference),
/// or many, each core taking whole images (`runImages`, training and batched evaluation), and the
/// weight gradient of many, summed over the tiles in the transformed domain
/// (`accumulateWeightGradient`).
///
/// The map goes in bands whose V and M (the products) take about `bandFloats`, so that the
/// products read V and the output transform reads M from L2: tile rows of one image, or, when a
/// whole image takes less, several images side by side, each band reading all of U once.
final class WinogradConvolution {
    let inChannels: Int, outChannels: Int
    /// U[xi] (outputs x inputs) as the tiled kernel's panels, one row per input channel.
    private let panels: [WeightPanels]
    /// Per thread: a band's V (16 x inChannels rows of `pitch` floats), then its M (16 x the band's
    /// tiles x `productPitch`: each tile's output channels, rounded up to whole vectors; for the
    /// weight gradient, the same floats hold A dy A^T in tiles of 16 channels, position-major).
    private var bands: [Tensor] = []
    private var layout = Layout()
    private let productPitch: Int
    /// Row i of V starts at offset[i] = i * pitch; allChannels[i] = i (no channel dropped); the
    /// products' one tap is at offset 0.
    private let offset: UnsafeMutablePointer<Int32>, allChannels: UnsafeMutablePointer<Int32>, tap: UnsafeMutablePointer<Int32>
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

    /// How maps of one size are cut into bands: `images` images of `rows` tile rows each (all of
    /// them when `images` > 1).
    private struct Layout: Equatable {
        var height = 0, width = 0, images = 0, rows = 0, pitch = 0
        var tilesPerRow: Int { Int(isp_winograd_tiles(Int32(width))) }
        var tileRows: Int { Int(isp_winograd_tiles(Int32(height))) }
    }

    /// U all zero until `load`.
    init(outChannels: Int, inChannels: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels
        panels = (0..<16).map { _ in WeightPanels(outChannels: outChannels, rows: inChannels) }
        offset = .allocate(capacity: inChannels); allChannels = .allocate(capacity: inChannels)
        tap = .allocate(capacity: 1); tap.initialize(to: 0)
        for i in 0..<inChannels { allChannels[i] = Int32(i) }
        productPitch = (outChannels + 15) / 16 * 16
    }

    /// `weights`: outChannels x inChannels x 3 x 3, batch norm folded in.
    convenience init(weights: [Float], outChannels: Int, inChannels: Int, engine: Engine) {
        self.init(outChannels: outChannels, inChannels: inChannels)
        weights.withUnsafeBufferPointer { load($0.baseAddress!, engine: engine) }
    }

    deinit { offset.deallocate(); allChannels.deallocate(); tap.deallocate() }

    /// U from weights outChannels x inChannels x 3 x 3 (training changes them every step), or with
    /// `flipped`, for the convolution that gives the input gradient of a layer whose weights are
    /// inChannels x outChannels x 3 x 3: inputs and outputs swapped, taps turned by 180 degrees.
    func load(_ weights: UnsafePointer<Float>, flipped: Bool = false, engine: Engine) {
        let matrix = outChannels * inChannels
        var u = [Float](repeating: 0, count: 16 * matrix)
        u.withUnsafeMutableBufferPointer { u in
            isp_winograd_weights(weights, Int32(outChannels), Int32(inChannels), flipped ? 1 : 0, u.baseAddress)
            for xi in 0..<16 { panels[xi].load(u.baseAddress! + xi * matrix, engine: engine) }
        }
    }

    /// Band buffers for `images` images (at most) of this size and `threads` threads.
    private func prepare(height: Int, width: Int, images: Int, threads: Int) {
        var l = Layout(height: height, width: width)
        // Every band streams all of U again: bands at least as large as U.
        let target = max(WinogradConvolution.bandFloats, 16 * inChannels * outChannels)
        let tileRow = 16 * (inChannels + productPitch) * l.tilesPerRow
        l.rows = min(max(1, target / tileRow), l.tileRows)
        l.images = l.rows == l.tileRows ? min(images, max(1, target / (tileRow * l.tileRows))) : 1
        l.pitch = (l.images * l.rows * l.tilesPerRow + 16 + 15) / 16 * 16  // a vector of slack (see isp_winograd_input)
        if l != layout {
            for i in 0..<inChannels { offset[i] = Int32(i * l.pitch) }
            bands = []
            layout = l
        }
        let floats = 16 * (vStride + mStride)
        while bands.count < threads { bands.append(Tensor(shape: [floats])) }
    }

    private var vStride: Int { inChannels * layout.pitch + WinogradConvolution.skew }
    private var mStride: Int { layout.images * layout.rows * layout.tilesPerRow * productPitch + WinogradConvolution.skew }

    /// V of the listed channels `c` (of `channels`) of image `x`, tile rows `rows`, into a band's V
    /// `tiles` tiles in (the images before it in the band). `cold`: x is not in this core's cache
    /// (a batch's images, written long before; or a map two cores wrote, see `run`), so its rows
    /// are prefetched two channels ahead.
    private func transformInput(_ x: UnsafePointer<Float>, _ channels: UnsafePointer<Int32>, _ c: Range<Int>, rows: Range<Int>,
                                into v: UnsafeMutablePointer<Float>, tiles: Int, cold: Bool, isa: isp_isa) {
        isp_winograd_input(isa, x, channels + c.lowerBound, Int32(c.count), Int32(layout.height), Int32(layout.width),
                           Int32(rows.lowerBound), Int32(rows.upperBound), v + c.lowerBound * layout.pitch + tiles, Int64(vStride),
                           Int32(layout.pitch), cold ? 2 : 0)
    }

    /// The products `xis` of a band's first `positions` tiles over the `kept` listed input channels.
    private func multiply(positions: Int, xis: Range<Int>, _ channels: UnsafePointer<Int32>, kept: Int,
                          _ v: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, isa: isp_isa) {
        for xi in xis {
            var input = isp_conv_input(x: v + xi * vStride, xOffset: offset, weightChannel: channels, channels: Int32(kept),
                                       tapOffset: tap, taps: 1, pixelStride: 1, blockPitch: 0, rowWidth: 0, rowPitch: 0,
                                       mapWidth: 0, imageStride: 0)
            isp_conv_products(isa, &input, panels[xi].data, Int32(inChannels), Int32(outChannels), 0, Int32(positions),
                              m + xi * mStride, Int32(productPitch))
        }
    }

    /// Output channels `o` of tile rows `rows` of one image from a band's M, `tiles` tiles in.
    private func transformOutput(_ m: UnsafeMutablePointer<Float>, tiles: Int, _ o: Range<Int>, rows: Range<Int>,
                                 _ final: isp_conv_output, isa: isp_isa) {
        let plane = layout.height * layout.width
        var part = final
        part.out += o.lowerBound * plane
        part.bias += o.lowerBound
        part.residual = part.residual.map { $0 + o.lowerBound * plane }
        isp_winograd_output(isa, m + tiles * productPitch + o.lowerBound, Int64(mStride), Int32(productPitch), Int32(o.count),
                            Int32(layout.height), Int32(layout.width), Int32(rows.lowerBound), Int32(rows.upperBound), &part)
    }

    /// out = clamp(conv(x) + bias (+ residual), 0 if `cap` is set, cap) over the input channels
    /// `kept` (list and count, ascending; nil: all) of one image x (inChannels planes of height x
    /// width). `split`: the work shared across the engine's threads. `saliency`: the gate this map
    /// feeds, measured by the cores while what they wrote is in their caches: whole planes (on one
    /// thread, or a map in one band), or each share's rows of every plane (split by tile rows).
    /// Returns the MACs of the direct convolution it stands for (the measure of work all paths report).
    func run(_ x: UnsafePointer<Float>, height: Int, width: Int, kept: (UnsafePointer<Int32>, Int)?,
             out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, cap: Float?, residual: UnsafePointer<Float>?,
             saliency: OutputSaliency?, engine: Engine, split: Bool) -> Int {
        let kc = kept?.1 ?? inChannels, channels = kept?.0 ?? UnsafePointer(allChannels)
        let macs = outChannels * height * width * kc * 9
        let tileRows = Int(isp_winograd_tiles(Int32(height))), tilesPerRow = Int(isp_winograd_tiles(Int32(width)))
        let threads = split && macs >= TiledConvolution.parallelThreshold ? min(engine.threads, tileRows) : 1
        prepare(height: height, width: width, images: 1, threads: threads)
        let (low, high) = clampBounds(cap)
        let isa = engine.isa.kernel, bandRows = layout.rows, vStride = vStride
        let final = isp_conv_output(out: out, plane: Int32(height * width), bias: bias, low: low, high: high, residual: residual)
        let all = 0..<tileRows, v = bands[0].data, m = bands[0].data + 16 * vStride
        // A map in one band goes in phases only when U is larger than a band; a smaller U each core
        // streams whole from its L2, and a split by tile rows keeps each core on the rows it wrote
        // the step before, where the phases hand V and M from core to core twice. ResNet-18 w0.25
        // (its 16x16 layers in one band, U 64 KB), two cores, always split (benchmarks/interleave.py,
        // 30 blocks of 25, AMD Zen 5 AVX-512, 2026-12-07): 0.934x the time with the vCPUs far apart
        // (13 runs, 0.914-0.959; 0.339 -> 0.318 ms), 0.988x close (180 runs); the shipped models,
        // whose one-band maps all have a larger U, unchanged.
        let phased = threads > 1 && bandRows >= tileRows && 16 * inChannels * outChannels > WinogradConvolution.bandFloats
        outputSplit = threads > 1 && !phased ? .rows : .mixed
        func measure(_ o: Range<Int>) {
            guard let saliency else { return }
            ChannelGate.measure(out, planes: o, height: height, width: width, into: saliency.norms.data, isa: engine.isa)
        }
        if threads > 1 && !phased, let saliency {
            saliency.expectRows(of: out, channels: outChannels, height: height, width: width)
        } else {
            saliency?.map = out
        }
        if phased {
            // The map in one band: each step split across the cores, so that each reads half of U
            // (a split by tile rows had each stream all of it: resnet18 at 224, two cores, its
            // 14x14 layers (U 4 MB) 0.58-0.62 -> 0.73-0.79 ms against the direct convolution).
            let groups = (outChannels + 15) / 16, positions = tileRows * tilesPerRow
            // Each core's channels, prefetched: the step before may have split otherwise. Against
            // none (interleave.py, 20 blocks of 10, always split, Zen 5 AVX-512, 2026-12-07): resnet18
            // at 224 0.991x close (34 runs), 0.995x far (4); ResNet-18 w1.0 at 32x32 0.994x, 0.982x (6).
            engine.forEachShare(of: kc, keepWarm: true) { c, _ in
                self.transformInput(x, channels, c, rows: all, into: v, tiles: 0, cold: true, isa: isa)
            }
            engine.forEachShare(of: 16, keepWarm: true) { xis, _ in
                self.multiply(positions: positions, xis: xis, channels, kept: kc, v, m, isa: isa)
            }
            engine.forEachShare(of: groups, keepWarm: true) { g, _ in
                let o = (g.lowerBound * 16)..<min(self.outChannels, g.upperBound * 16)
                self.transformOutput(m, tiles: 0, o, rows: all, final, isa: isa)
                measure(o)
            }
            return macs
        }
        engine.forEachShare(of: tileRows, minimumPerShare: tileRows / threads, keepWarm: split) { share, workspace in
            let v = self.bands[workspace.index].data, m = v + 16 * vStride
            var first = share.lowerBound
            while first < share.upperBound {
                let rows = first..<min(share.upperBound, first + bandRows)
                // Split, a share's rows of each channel come partly from the other core (the rows
                // around its band, and all of them after a step split otherwise), a few lines a plane:
                // prefetched, their fetches overlap. Against none, two cores always split
                // (benchmarks/interleave.py, 30 blocks of 25, AMD Zen 5 AVX-512, 2026-12-07), the
                // vCPUs far apart: ResNet-18 w0.5 0.966x the time (8 runs), its stored point 0.969x
                // (7), VGG16 w0.5 0.977x (7); close 0.994-0.995x (41-42 runs each). Four channels
                // ahead instead of two gained nothing more (0.988-1.006x).
                self.transformInput(x, channels, 0..<kc, rows: rows, into: v, tiles: 0, cold: threads > 1, isa: isa)
                self.multiply(positions: rows.count * tilesPerRow, xis: 0..<16, channels, kept: kc, v, m, isa: isa)
                self.transformOutput(m, tiles: 0, 0..<self.outChannels, rows: rows, final, isa: isa)
                first = rows.upperBound
            }
            // The rows this share wrote, of every plane, while they are in its core's cache.
            if threads > 1, let saliency {
                let top = 2 * share.lowerBound, bottom = min(height, 2 * share.upperBound)
                saliency.measureRows(of: out, channels: self.outChannels, pixels: (top * width)..<(bottom * width))
            }
        }
        if threads == 1 { measure(0..<outChannels) }
        return macs
    }

    /// out = conv(x) + bias for `count` images (inChannels planes of height x width each, one after
    /// another), each core taking whole images.
    func runImages(_ x: UnsafePointer<Float>, count: Int, height: Int, width: Int, out: UnsafeMutablePointer<Float>,
                   bias: UnsafePointer<Float>, engine: Engine) {
        guard count > 0 else { return }
        prepare(height: height, width: width, images: count, threads: engine.threads)
        let isa = engine.isa.kernel, inCount = inChannels * height * width, outCount = outChannels * height * width
        let channels = UnsafePointer(allChannels), bands = (count + layout.images - 1) / layout.images
        engine.forEachPiece(of: count, pieces: max(bands, min(count, 2 * engine.threads))) { images, workspace in
            self.forEachBand(of: images, workspace) { band, rows, v, m in
                let tiles = rows.count * self.layout.tilesPerRow
                for (j, i) in band.enumerated() {
                    self.transformInput(x + i * inCount, channels, 0..<self.inChannels, rows: rows, into: v, tiles: j * tiles,
                                        cold: true, isa: isa)
                }
                self.multiply(positions: band.count * tiles, xis: 0..<16, channels, kept: self.inChannels, v, m, isa: isa)
                for (j, i) in band.enumerated() {
                    let final = isp_conv_output(out: out + i * outCount, plane: Int32(height * width), bias: bias, low: -.infinity,
                                                high: .infinity, residual: nil)
                    self.transformOutput(m, tiles: j * tiles, 0..<self.outChannels, rows: rows, final, isa: isa)
                }
            }
        }
    }

    /// Adds dL/dW (outChannels x inChannels x 3 x 3) of `count` images (`x` as for `runImages`, `dy`
    /// outChannels planes each) to `gradient`: per band, dU[xi] += (A dy A^T)[xi] V[xi]^T summed
    /// over the band's tiles on the weight-gradient kernel (a 1x1 convolution's, the tiles as
    /// pixels), and at the end dW = G^T dU G. Each core sums a fixed share of the images, so the
    /// result does not depend on timing.
    func accumulateWeightGradient(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, count: Int, height: Int, width: Int,
                                  into gradient: UnsafeMutablePointer<Float>, engine: Engine) {
        guard count > 0 else { return }
        prepare(height: height, width: width, images: count, threads: engine.threads)
        let isa = engine.isa.kernel, inCount = inChannels * height * width, outCount = outChannels * height * width
        let channels = UnsafePointer(allChannels), outputTiles = productPitch / 16, xiStride = outputTiles * inChannels * 16
        engine.forEachShare(of: count) { images, workspace in
            let sums = workspace.weightGradient(16 * xiStride)
            self.forEachBand(of: images, workspace) { band, rows, v, m in
                let tiles = rows.count * self.layout.tilesPerRow, positions = band.count * tiles
                for (j, i) in band.enumerated() {
                    self.transformInput(x + i * inCount, channels, 0..<self.inChannels, rows: rows, into: v, tiles: j * tiles,
                                        cold: true, isa: isa)
                    isp_winograd_output_gradient(isa, dy + i * outCount, Int32(self.outChannels), Int32(height), Int32(width),
                                                 Int32(rows.lowerBound), Int32(rows.upperBound), m, Int64(self.mStride),
                                                 Int32(positions), Int32(j * tiles))
                }
                for xi in 0..<16 {
                    var args = isp_weight_gradient_args(x: v + xi * self.vStride, rowOffset: self.offset,
                                                        weightRows: Int32(self.inChannels), outputRows: 1, rowPitch: 0,
                                                        outputWidth: Int32(positions), pixelStride: 1, dyT: m + xi * self.mStride,
                                                        pixels: Int32(positions), gradient: sums + xi * xiStride)
                    isp_conv_weight_gradient(isa, &args, 0, Int32(outputTiles))
                }
            }
        }
        // The shares' sums into the first share's, in share order, then back through G.
        let total = UnsafeMutablePointer(mutating: engine.workspaces[0].weightGradientSums)
        engine.sumWeightGradients(into: total, count: 16 * xiStride, shares: min(count, engine.threads))
        isp_winograd_weight_gradient(total, Int64(xiStride), Int32(outChannels), Int32(inChannels), gradient)
    }

    /// Runs `body(images, tile rows, V, M)` for each band of `images` on the band buffers of
    /// `workspace`'s thread: several whole images at a time, or one image's tile rows in parts.
    private func forEachBand(of images: Range<Int>, _ workspace: Workspace,
                             _ body: (Range<Int>, Range<Int>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let l = layout, v = bands[workspace.index].data, m = v + 16 * vStride
        if l.rows == l.tileRows {
            var first = images.lowerBound
            while first < images.upperBound {
                let band = first..<min(images.upperBound, first + l.images)
                body(band, 0..<l.tileRows, v, m)
                first = band.upperBound
            }
            return
        }
        for i in images {
            var first = 0
            while first < l.tileRows {
                let rows = first..<min(l.tileRows, first + l.rows)
                body(i..<(i + 1), rows, v, m)
                first = rows.upperBound
            }
        }
    }
}
