import CKernels

/// Weights of a convolution arranged for the tiled kernel (`isp_conv_tiles`): output channels in
/// tiles of 16, and within a tile the rows (input channel, ky, kx) one after another, each row 16
/// contiguous floats. A tile's weights are then one sequential stream, and an input channel's rows
/// are one contiguous block, so skipping a channel skips a block.
final class WeightPanels {
    static let tile = 16
    /// 64-byte aligned, so each 16-float row the kernel loads is exactly one cache line.
    let data: UnsafeMutablePointer<Float>
    let rows: Int
    let outChannels: Int
    var tiles: Int { (outChannels + WeightPanels.tile - 1) / WeightPanels.tile }

    /// From row-major weights outChannels x rows (padding outputs to a multiple of 16 with zeros).
    convenience init(weights w: [Float], outChannels: Int, rows: Int, engine: Engine) {
        self.init(outChannels: outChannels, rows: rows)
        w.withUnsafeBufferPointer { load($0.baseAddress!, engine: engine) }
    }

    /// All zero until `load`.
    init(outChannels: Int, rows: Int) {
        self.rows = rows; self.outChannels = outChannels
        let t = WeightPanels.tile, count = (outChannels + t - 1) / t * rows * t
        data = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        data.initialize(repeating: 0, count: count)
    }

    /// Re-arranges row-major weights outChannels x rows into the panels (training changes them every step).
    func load(_ w: UnsafePointer<Float>, engine: Engine) {
        let rows = rows, data = data, isa = engine.isa.kernel
        WeightPanels.splitTiles(outChannels: outChannels, rows: rows, engine: engine) { first, count in
            isp_transpose_tiles(isa, w + first * rows, Int32(count), Int32(rows), data + first * rows)
        }
    }

    /// The panels of the convolution that gives a stride-1 layer's input gradient, from the layer's
    /// weights w (layer outputs x `outChannels` x taps): their input and output channels swapped
    /// and the taps flipped, so row (o, t) of channel c's tile holds w[o][c][taps - 1 - t].
    func loadFlipped(_ w: UnsafePointer<Float>, layerOutputs: Int, taps: Int, engine: Engine) {
        let data = data, inputs = outChannels
        WeightPanels.splitTiles(outChannels: outChannels, rows: rows, engine: engine) { first, count in
            isp_flipped_panels(w, Int32(layerOutputs), Int32(inputs), Int32(taps), Int32(first), Int32(count), data)
        }
    }

    /// Runs `body(first channel, channels)` over ranges of whole tiles of `outChannels`, split across
    /// the engine's threads when the weights are large enough to be worth it: in training the
    /// re-arrangements run every step, between the layers' parallel passes.
    static func splitTiles(outChannels: Int, rows: Int, engine: Engine, _ body: (Int, Int) -> Void) {
        let tiles = (outChannels + tile - 1) / tile
        engine.forEachShare(of: tiles, minimumPerShare: max(1, (1 << 15) / (rows * tile))) { r, _ in
            let first = r.lowerBound * tile
            body(first, min(outChannels, r.upperBound * tile) - first)
        }
    }

    deinit { data.deallocate() }
}

/// How the tiled kernel sees a convolution's input. The kernel computes "grid positions" q and
/// reads the value under tap t of kept channel i at offset(i) + tapOffset[t] + q * pixelStride,
/// so the ways of laying out the input differ only in these numbers:
/// - `pointwise` (1x1, stride 1): the input planes themselves, grid = pixels.
/// - `padded` (outputs 8 wide and up): each plane copied into a zero-bordered (H+2p) x (W+2p)
///   plane; grid position q = oy * paddedWidth + ox (read at q * stride), so every tap is a fixed offset and
///   there is no im2col copy. The grid runs row by row, skipping the border positions between rows.
/// - `unrolled` (outputs under 8 wide): im2col rows (i, t), grid = output pixels, gathered from the
///   input plane through `gather`, so a 4x4 map runs as one block of 16 positions rather
///   than four weight-bound rows of 4. Up to `images` images share one kernel call, their pixels
///   one after another in every row (as if stacked into one taller image): a 2x2 map alone has 4
///   positions per weight loaded, eight of them 32.
///   Or, one image at a time, packed by the kernel's blocks of `packedBlock` positions
///   (`isp_conv_input.blockPitch`): block b holds, channel after channel and tap after tap, the
///   values of its positions, so each block of the kernel reads one run in order.
/// - `smallMap` (3x3 at stride 1 or 2 and padding 1 to the square maps the kernel of the instruction
///   set takes so: `isp_conv_reads_map`): the input planes themselves, grid = pixels of `images`
///   images one after another; the kernel knows each tap's offset (no `tapOffset`) and leaves out the products over
///   the border instead of reading unrolled zeros.
struct TiledLayout {
    enum Mode { case pointwise, padded, unrolled, smallMap }
    let mode: Mode
    let inputHeight: Int, inputWidth: Int
    /// Floats per kept channel in the kernel's input.
    let plane: Int
    /// Floats from one kept channel's values to the next's (`plane` unless packed).
    let channelPitch: Int
    /// `unrolled`, packed by blocks of this many positions; 0: unrolled rows.
    let packedBlock: Int
    /// Floats of one zero-bordered input plane (`padded`).
    let paddedPlane: Int
    /// Grid positions per output row and output rows (the grid is rows * rowPitch, less the tail).
    let rowPitch: Int, rows: Int, outputWidth: Int
    let pixelStride: Int
    let tapOffset: [Int32]
    /// `unrolled`: im2col entry (t, pixel) to its offset in the input plane, -1 in the padding.
    let gather: [Int32]

    /// The kernel reads the input planes themselves (nothing to pad or unroll).
    let readsInPlace: Bool
    /// Images one call can take (`unrolled`; 1 otherwise).
    let images: Int

    /// Grid positions of the other modes, whose grid runs straight through, for `count` images.
    func grid(images count: Int = 1) -> Int { (rows * count - 1) * rowPitch + outputWidth }
    /// Bordered planes run by output rows (`isp_conv_input.rowWidth`: the kernel skips each row's
    /// border, with AVX2 inside its blocks): the stride-2 grid is only valid that way, and a
    /// stride-1 grid run straight through would also compute each row's 2p border positions (6% of
    /// a 32x32 map, 12% of a 16x16 one). Row by row, and 8x8 maps padded instead of unrolled,
    /// measured 3% and 5-12% faster on VGG16 and ResNet-18.
    var rowByRow: Bool { mode == .padded }
    /// Work along the grid comes in output rows (else in blocks of positions).
    var unitsAreRows: Bool { mode == .padded || mode == .smallMap }

    /// The kernel input's `blockPitch` with `kept` channels listed.
    func blockPitch(kept: Int) -> Int { packedBlock > 0 ? kept * channelPitch : 0 }

    /// Whether `init` makes this layout for an ih x iw input asked to pack by `requested` (which
    /// only `unrolled` layouts keep): the test `TiledConvolution` reuses its layout by. Comparing
    /// `packedBlock` itself, AVX2's 6 never matched the 0 of the other modes: every batch-1 pass
    /// made those layouts anew, zeroing the padded layers' bordered staging and reallocating each
    /// core's. With AVX2 (AMD Zen 4, `ISP_ISA=avx2`), so: mobilenet_v2 at 224's first convolution
    /// (3 x 226 x 226 floats of staging) 192 -> 165 us on two cores (isp bench --profile, two
    /// alternations); VGG16 w0.5 on one core, its steps 1073 -> 1051 us (three alternations; each
    /// 2x2 and 4x4 layer 1.5-3.9 us less); whole passes on one core (benchmarks/interleave.py, 20
    /// blocks of 10) mobilenet_v2 at 224 0.986x (quartiles 0.981-0.999), ResNet-18 w0.5 0.968x.
    func isLayout(height ih: Int, width iw: Int, packedBlock requested: Int) -> Bool {
        inputHeight == ih && inputWidth == iw && packedBlock == (mode == .unrolled ? requested : 0)
    }

    /// `images`: how many images an `unrolled` call should take at most. `packedBlock`: pack an
    /// `unrolled` input (one image) by blocks of this many positions (0: no). `smallMaps`: read the
    /// maps the kernel of this instruction set takes in place as `smallMap` (nil: none).
    init(kernel k: Int, stride s: Int, padding p: Int, inputHeight ih: Int, inputWidth iw: Int, images: Int = 1,
         packedBlock: Int = 0, smallMaps: isp_isa? = nil) {
        precondition(packedBlock == 0 || images == 1, "a layout packed by blocks holds one image")
        inputHeight = ih; inputWidth = iw
        let oh = (ih + 2 * p - k) / s + 1, ow = (iw + 2 * p - k) / s + 1, hw = oh * ow
        let wp = iw + 2 * p
        rows = oh; outputWidth = ow
        paddedPlane = (ih + 2 * p) * wp
        if k == 1 && s == 1 && p == 0 {
            mode = .pointwise; plane = ih * iw; rowPitch = ow; pixelStride = 1; tapOffset = [0]; gather = []
            readsInPlace = true; self.images = 1
            channelPitch = plane; self.packedBlock = 0
        } else if let isa = smallMaps, k == 3 && p == 1 && ih == iw && ih == s * ow && isp_conv_reads_map(isa, Int32(ow), Int32(s)) != 0 {
            mode = .smallMap; plane = ih * iw; rowPitch = ow; pixelStride = s; gather = []
            tapOffset = []  // the kernel knows which taps reach which pixels
            readsInPlace = true; self.images = images
            channelPitch = plane; self.packedBlock = 0
        } else if ow >= 8 {
            mode = .padded; plane = paddedPlane; rowPitch = wp; pixelStride = s; gather = []
            readsInPlace = p == 0  // a border of width 0 is the plane itself
            self.images = 1
            tapOffset = (0..<(k * k)).map { Int32(($0 / k) * wp + $0 % k) }
            channelPitch = plane; self.packedBlock = 0
        } else {
            mode = .unrolled; rowPitch = ow; pixelStride = 1
            readsInPlace = false; self.images = images; self.packedBlock = packedBlock
            if packedBlock > 0 {
                channelPitch = k * k * packedBlock; plane = (hw + packedBlock - 1) / packedBlock * channelPitch
                tapOffset = (0..<(k * k)).map { Int32($0 * packedBlock) }
            } else {
                plane = k * k * hw * images; channelPitch = plane
                tapOffset = (0..<(k * k)).map { Int32($0 * hw * images) }
            }
            gather = (0..<(k * k * hw)).map { j in
                let t = j / hw, y = (j % hw) / ow * s + t / k - p, x = j % ow * s + t % k - p
                return y >= 0 && y < ih && x >= 0 && x < iw ? Int32(y * iw + x) : -1
            }
        }
    }
}
