import CKernels

/// An inverted-residual block (MobileNetV2's: a 1x1 expansion, a 3x3 depthwise convolution, a 1x1
/// projection) run band by band of its output rows: each core takes a contiguous share of the rows
/// and, for a band of a few rows at a time, expands the input rows the band reads into a window of
/// its own, filters them into a second window, and projects those into the block's output. The
/// expanded map, the block's largest (96 x 112 x 112 floats, 4.8 MB, in mobilenet_v2 at 224), then
/// stays in the core's L2 from the step that writes it to the one that reads it: step by step,
/// each core wrote half of it out to L3 and read it back. One job a block instead of three, too.
/// torchvision mobilenet_v2 at 224, two cores, against step by step (`benchmarks/interleave.py`,
/// 30 blocks of 20 passes, AMD EPYC Zen 3, AVX2, 2026-12-07): 0.934x the time (block quartiles
/// 0.920-0.947); its stride-2 block on 112x112 maps 0.559 -> 0.534 ms in profiles.
///
/// Where it does not pay, the steps run one by one (`steps`): on one thread (one core, taskset:
/// 1.010x the time by bands), on maps under `bandedFloats` (mobilenet_v2 at 224's blocks on 28x28
/// and 14x14 maps took 0.15 -> 0.21-0.23 ms by bands: their maps fit in L2 already, and the bands'
/// calls are short), and on passes where a gate decides on one of the block's maps: the gate
/// needs the whole map before the next step may read it. The logits are those of the steps one by
/// one up to rounding (`BandedBlockTests`), not bit for bit: windows and bands of rows take other
/// paths through the kernels than whole maps.
///
/// Shapes: input Cin x H x W; expanded E x H x W; filtered E x OH x OW (stride s, padding 1);
/// output Cout x OH x OW. A band of output rows [r0, r1) reads expanded rows [r0 s - 1, (r1 - 1)
/// s + 2) (inside the map). Its window starts at expanded row lo s, lo = max(r0 - 1, 0), so that
/// the depthwise kernel, told the window is a map of its own, reads window row y s + ky - 1 for
/// its output row y = r - lo: the true rows, with zero padding above and below only where the
/// map has it (a window's last rows are zeroed where they lie past the map's last row).
final class BandedBlock: InferenceStep {
    var id = 0, label = ""
    let expansion: FusedConv, depthwise: FusedConv, projection: FusedConv
    /// The block's steps as compiled (its gates among them), run one by one when bands cannot.
    let steps: [InferenceStep]
    private let gates: [GateStep]
    /// Floats of expanded rows a band's window aims at (512 KB: Zen 3's L2). mobilenet_v2 at 224's
    /// stride-2 block on 112x112 maps, in profiles (two cores, Zen 3 AVX2): windows of 48K floats
    /// (one output row a band) 0.629 ms, 96K 0.548, 128K 0.534, 192K 0.541.
    static let windowFloats = 128 * 1024
    /// Expanded maps of at least this many floats go by bands: between mobilenet_v2 at 224's blocks
    /// on 28x28 maps (147K floats; slower by bands) and on 56x56 (452K; faster).
    static let bandedFloats = 256 * 1024
    /// Per share: the expanded window, the filtered window, the depthwise kernel's scratch.
    private var expanded: [Tensor] = [], filtered: [Tensor] = [], scratch: [Tensor] = []
    /// The kernels' input lists: where each input channel's plane starts, in the block's input
    /// (`offsets`) and in the filtered window; the weight rows (channel i, row i).
    private var offsets: [Int32] = [], filteredOffsets: [Int32] = [], identity: [Int32] = []
    private let tapOffset: [Int32] = [0]

    /// The block in `steps` (compiled in this order): the expansion, the depthwise convolution and
    /// the projection, with gates between them.
    init(steps: [InferenceStep], expansion: FusedConv, depthwise: FusedConv, projection: FusedConv) {
        self.steps = steps; self.expansion = expansion; self.depthwise = depthwise; self.projection = projection
        gates = steps.compactMap { $0 as? GateStep }
    }

    /// `steps` with every run of [1x1 convolution, gates, 3x3 depthwise convolution, gates, 1x1
    /// convolution] inside `BandedBlock`s made by `make` (which names them).
    static func grouping(_ steps: [InferenceStep], make: (BandedBlock) -> InferenceStep) -> [InferenceStep] {
        func pointwise(_ s: InferenceStep?) -> FusedConv? {
            guard let c = s as? FusedConv, c.kernel == 1, c.stride == 1, c.padding == 0, c.groups == 1 else { return nil }
            return c
        }
        var result: [InferenceStep] = [], i = 0
        while i < steps.count {
            var j = i + 1
            while j < steps.count && steps[j] is GateStep { j += 1 }
            var k = j + 1
            while k < steps.count && steps[k] is GateStep { k += 1 }
            if let expansion = pointwise(steps[i]), j < steps.count, let dw = steps[j] as? FusedConv, dw.isDepthwise,
               dw.kernel == 3, dw.stride <= 2, dw.inChannels == expansion.outChannels, expansion.cap != nil,
               let projection = pointwise(k < steps.count ? steps[k] : nil), projection.inChannels == dw.outChannels {
                result.append(make(BandedBlock(steps: Array(steps[i...k]), expansion: expansion, depthwise: dw, projection: projection)))
                i = k + 1
            } else {
                result.append(steps[i])
                i += 1
            }
        }
        return result
    }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let ih = x.shape[2], iw = x.shape[3], s = depthwise.stride, oh = (ih - 1) / s + 1, ow = (iw - 1) / s + 1
        let e = expansion.outChannels, shares = ctx.useAllCores ? ctx.engine.threads : 1
        let decides = ctx.decide != nil && (gates + [projection.gate].compactMap { $0 }).contains { ctx.decidedGates.contains($0.index) }
        guard shares > 1, !decides, ctx.keptCount == nil, let least = ctx.bandedFloats, e * ih * iw >= least,
              expansion.inferencePath(outputWidth: iw, engine: ctx.engine) == .tiled,
              depthwise.inferencePath(outputWidth: ow, engine: ctx.engine) == .depthwise,
              projection.inferencePath(outputWidth: ow, engine: ctx.engine) == .tiled,
              let expansionPanels = expansion.panels, let projectionPanels = projection.panels else {
            return steps.reduce(x) { ctx.execute($1, $0) }
        }
        let out = projection.out
        out.resize([1, projection.outChannels, oh, ow])
        // A band of b output rows reads b s + 2 expanded rows; the window, a map of that height to
        // the depthwise kernel, gives (b s + 1) / s + 1 filtered rows (one or two unused).
        let bandRows = max(1, (BandedBlock.windowFloats / (e * iw) - 2) / s)
        let windowRows = bandRows * s + 2, filteredRows = (windowRows - 1) / s + 1
        prepare(shares: shares, expandedFloats: e * windowRows * iw, filteredFloats: e * filteredRows * ow, planes: ih * iw,
                filteredPlane: filteredRows * ow)
        let band = { (rows: Range<Int>, share: Int) in
            self.runBands(x, rows: rows, bandRows: bandRows, share: share, windowRows: windowRows, filteredRows: filteredRows,
                          height: ih, width: iw, outHeight: oh, outWidth: ow, expansionPanels: expansionPanels,
                          projectionPanels: projectionPanels, out: out, isa: ctx.engine.isa.kernel)
        }
        ctx.engine.forEachShare(of: oh, keepWarm: true) { rows, workspace in band(rows, workspace.index) }
        for gate in gates { gate.passes(channels: e, ctx) }
        ctx.macs += e * ih * iw * expansion.inChannels + e * oh * ow * 9 + projection.outChannels * oh * ow * e
        ctx.keptCount = nil
        ctx.mapSplit = .rows
        return out
    }

    /// Each share's windows, and the kernels' channel lists: the input's planes `plane` floats
    /// apart, the filtered window's `filteredPlane`.
    private func prepare(shares: Int, expandedFloats: Int, filteredFloats: Int, planes plane: Int, filteredPlane: Int) {
        while expanded.count < shares {
            expanded.append(Tensor(shape: [0])); filtered.append(Tensor(shape: [0])); scratch.append(Tensor(shape: [0]))
        }
        for t in 0..<shares {
            if expanded[t].count < expandedFloats { expanded[t].resize([expandedFloats]) }
            if filtered[t].count < filteredFloats { filtered[t].resize([filteredFloats]) }
        }
        let cin = expansion.inChannels, e = expansion.outChannels
        guard offsets.count != cin || offsets.last != Int32((cin - 1) * plane) || filteredOffsets.last != Int32((e - 1) * filteredPlane)
        else { return }
        identity = (0..<Int32(max(cin, e))).map { $0 }
        offsets = (0..<cin).map { Int32($0 * plane) }
        filteredOffsets = (0..<e).map { Int32($0 * filteredPlane) }
    }

    /// Output rows `rows` of the block, band after band, with share `share`'s windows: planes of
    /// `windowRows` expanded rows and of `filteredRows` filtered ones, whatever the band.
    private func runBands(_ x: Tensor, rows: Range<Int>, bandRows: Int, share: Int, windowRows: Int, filteredRows: Int,
                          height ih: Int, width iw: Int, outHeight oh: Int, outWidth ow: Int, expansionPanels: WeightPanels,
                          projectionPanels: WeightPanels, out: Tensor, isa: isp_isa) {
        let s = depthwise.stride, e = expansion.outChannels
        let expandedWindow = expanded[share].data, filteredWindow = filtered[share].data
        let windowPlane = windowRows * iw
        // The expanded rows the window holds, from map row `start` at its row 0.
        var held = 0..<0, heldStart = 0
        var r0 = rows.lowerBound
        while r0 < rows.upperBound {
            let r1 = min(rows.upperBound, r0 + bandRows)
            let lo = max(r0 - 1, 0), start = lo * s, first = max(r0 * s - 1, 0), end = min(ih, (r1 - 1) * s + 2)
            // The rows the last band expanded that this one reads move up to their new place, row
            // by row in order (each row's new place is above its old one).
            let from = max(first, held.lowerBound), to = min(end, held.upperBound)
            let reused = from < to ? from..<to : first..<first
            for row in reused {
                for c in 0..<e {
                    (expandedWindow + c * windowPlane + (row - start) * iw)
                        .update(from: expandedWindow + c * windowPlane + (row - heldStart) * iw, count: iw)
                }
            }
            expand(x, rows: (reused.isEmpty ? first : reused.upperBound)..<end, windowStart: start, windowPlane: windowPlane,
                   width: iw, height: ih, panels: expansionPanels, into: expandedWindow, isa: isa)
            held = first..<end; heldStart = start
            // Past the map's last row the depthwise kernel must read zeros, as it does past the window's.
            if end == ih && end - start < windowRows {
                for c in 0..<e { (expandedWindow + c * windowPlane + (end - start) * iw).update(repeating: 0, count: (windowRows - end + start) * iw) }
            }
            var args = depthwiseArguments(x: UnsafePointer(expandedWindow), out: filteredWindow, weights: depthwise.weight,
                                          bias: depthwise.bias.data, kernel: 3, stride: s, padding: 1, inHeight: windowRows,
                                          inWidth: iw, outHeight: filteredRows, outWidth: ow, perImage: e, cap: depthwise.cap,
                                          shift: depthwise.outputShift.count == e ? UnsafePointer(depthwise.outputShift.data) : nil)
            let need = Int(isp_depthwise_scratch(&args))
            if scratch[share].count < need { scratch[share].resize([need]) }
            isp_depthwise(isa, &args, 0, Int32(e), Int32(r0 - lo), Int32(r1 - lo), scratch[share].data)
            project(window: UnsafePointer(filteredWindow), windowPlane: filteredRows * ow, rows: (r0 - lo)..<(r1 - lo), lo: lo,
                    outHeight: oh, outWidth: ow, panels: projectionPanels, out: out, isa: isa)
            r0 = r1
        }
    }

    /// Expanded rows `rows` into the window (planes of `windowPlane` floats, its row 0 the map's
    /// row `windowStart`).
    private func expand(_ x: Tensor, rows: Range<Int>, windowStart: Int, windowPlane: Int, width iw: Int, height ih: Int,
                        panels: WeightPanels, into window: UnsafeMutablePointer<Float>, isa: isp_isa) {
        guard !rows.isEmpty else { return }
        let cin = expansion.inChannels, plane = ih * iw
        let (low, high) = clampBounds(expansion.cap)
        offsets.withUnsafeBufferPointer { xOffset in
            identity.withUnsafeBufferPointer { channel in
                tapOffset.withUnsafeBufferPointer { taps in
                    var input = isp_conv_input(x: UnsafePointer(x.data), xOffset: xOffset.baseAddress, weightChannel: channel.baseAddress,
                                               channels: Int32(cin), tapOffset: taps.baseAddress, taps: 1, pixelStride: 1,
                                               blockPitch: 0, rowWidth: 0, rowPitch: Int32(iw), mapWidth: 0,
                                               imageStride: Int32(cin * plane))
                    var output = isp_conv_output(out: window, plane: Int32(windowPlane), bias: UnsafePointer(expansion.bias.data),
                                                 low: low, high: high, residual: nil)
                    isp_conv_tiles(isa, &input, panels.data, Int32(panels.rows), Int32(panels.outChannels), 0, Int32(panels.tiles),
                                   Int32(rows.lowerBound * iw), Int32(rows.upperBound * iw), Int32(-windowStart * iw), &output)
                }
            }
        }
    }

    /// The block's output rows lo + `rows` from the filtered window (planes of `windowPlane`
    /// floats, its row 0 the map's row `lo`), with the residual the block adds, if any.
    private func project(window: UnsafePointer<Float>, windowPlane: Int, rows: Range<Int>, lo: Int, outHeight oh: Int,
                         outWidth ow: Int, panels: WeightPanels, out: Tensor, isa: isp_isa) {
        let e = projection.inChannels
        let (low, high) = clampBounds(projection.cap)
        filteredOffsets.withUnsafeBufferPointer { xOffset in
            identity.withUnsafeBufferPointer { channel in
                tapOffset.withUnsafeBufferPointer { taps in
                    var input = isp_conv_input(x: window, xOffset: xOffset.baseAddress, weightChannel: channel.baseAddress,
                                               channels: Int32(e), tapOffset: taps.baseAddress, taps: 1, pixelStride: 1,
                                               blockPitch: 0, rowWidth: 0, rowPitch: Int32(ow), mapWidth: 0,
                                               imageStride: Int32(e * windowPlane))
                    var output = isp_conv_output(out: out.data, plane: Int32(oh * ow), bias: UnsafePointer(projection.bias.data),
                                                 low: low, high: high, residual: projection.residual.map { UnsafePointer($0.data) })
                    isp_conv_tiles(isa, &input, panels.data, Int32(panels.rows), Int32(panels.outChannels), 0, Int32(panels.tiles),
                                   Int32(rows.lowerBound * ow), Int32(rows.upperBound * ow), Int32(lo * ow), &output)
                }
            }
        }
    }
}
