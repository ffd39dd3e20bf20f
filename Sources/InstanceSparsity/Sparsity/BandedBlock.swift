import CKernels

/// An inverted-residual block (MobileNetV2's: a 1x1 expansion, a 3x3 depthwise convolution, a 1x1
/// projection) run band by band of its output rows: each core takes a contiguous share of the rows
/// and, for a band of a few rows at a time, expands the input rows the band reads into a window of
/// its own, filters them into a second window, and projects those into the block's output. The
/// expanded map, the block's largest (96 x 112 x 112 floats, 4.8 MB, in mobilenet_v2 at 224), is
/// then read while the band that wrote it is in the core's cache: step by step, each core wrote
/// half of it out to L3 and read it back. One job a block instead of three, too. torchvision
/// mobilenet_v2 at 224, two cores, against step by step (`benchmarks/interleave.py`, 30 blocks of
/// 20 passes, AMD EPYC Zen 3, AVX2, 2026-12-07): 0.982x the time in a fast stretch (block
/// quartiles 0.974-0.995), 0.934x in a slow one (0.920-0.947), where the VM's L3 was slower.
///
/// Where it does not pay, the steps run one by one (`steps`): on one thread (one core, taskset:
/// 1.010x the time by bands), on maps under `bandedFloats` (mobilenet_v2 at 224's blocks on 28x28
/// and 14x14 maps took 0.15-0.18 -> 0.21-0.23 ms by bands: their maps fit in L2 already, and the
/// bands' calls are short), and on passes where a gate decides on one of the block's maps: the gate
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
    /// Floats of expanded rows a band's window aims at. mobilenet_v2 at 224's stride-2 block on
    /// 112x112 maps, in profiles (two cores, Zen 3 AVX2, 512 KB of L2): windows of 48K floats (one
    /// output row a band) 0.629 ms, 96K 0.548, 128K 0.534, 192K 0.541.
    static let windowFloats = 128 * 1024
    /// Expanded maps of at least this many floats go by bands: between mobilenet_v2 at 224's blocks
    /// on 28x28 maps (147K floats; slower by bands) and on 56x56 (452K; faster).
    static let bandedFloats = 256 * 1024
    /// The kernels' input lists: where each input channel's plane starts, in the block's input
    /// (`offsets`) and in the filtered window; the weight rows (channel i, row i).
    private var offsets: [Int32] = [], filteredOffsets: [Int32] = [], identity: [Int32] = []
    /// A 1x1 convolution's one tap.
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
        let decides = ctx.decide != nil
            && (gates.contains { ctx.decidedGates.contains($0.index) } || projection.gate.map { ctx.decidedGates.contains($0.index) } == true)
        guard shares > 1, !decides, ctx.keptCount == nil, let least = ctx.bandedFloats, e * ih * iw >= least,
              expansion.inferencePath(outputWidth: iw, engine: ctx.engine) == .tiled,
              depthwise.inferencePath(outputWidth: ow, engine: ctx.engine) == .depthwise,
              projection.inferencePath(outputWidth: ow, engine: ctx.engine) == .tiled,
              let expansionPanels = expansion.panels, let projectionPanels = projection.panels else {
            return steps.reduce(x) { ctx.execute($1, $0) }
        }
        let out = projection.out
        out.resize([1, projection.outChannels, oh, ow])
        // A band of b output rows reads (b - 1) s + 3 expanded rows (b + 2 at stride 1, 2b + 1 at
        // stride 2), from row r0 s - 1; its window starts there (stride 1) or a row above (stride 2),
        // holds b s + 2 rows, and as a map of its own gives the depthwise kernel (b s + 1) / s + 1
        // filtered rows.
        let bandRows = max(1, (ctx.bandWindowFloats / (e * iw) - 2) / s)
        let windowRows = bandRows * s + 2, filteredRows = (windowRows - 1) / s + 1
        let windows = ctx.bandWindows
        windows.prepare(shares: shares, expanded: e * windowRows * iw, filtered: e * filteredRows * ow)
        listChannels(plane: ih * iw, filteredPlane: filteredRows * ow)
        ctx.engine.forEachShare(of: oh, keepWarm: true) { rows, workspace in
            runBands(x, rows: rows, bandRows: bandRows, windows: windows, share: workspace.index, windowRows: windowRows,
                     filteredRows: filteredRows, height: ih, width: iw, outHeight: oh, outWidth: ow,
                     expansionPanels: expansionPanels, projectionPanels: projectionPanels, out: out, isa: ctx.engine.isa.kernel)
        }
        for gate in gates { gate.passes(channels: e, ctx) }
        ctx.macs += e * ih * iw * expansion.inChannels + e * oh * ow * 9 + projection.outChannels * oh * ow * e
        ctx.keptCount = nil
        ctx.mapSplit = .rows
        return out
    }

    /// The kernels' channel lists, for the input's planes `plane` floats apart and the filtered
    /// window's `filteredPlane`.
    private func listChannels(plane: Int, filteredPlane: Int) {
        let cin = expansion.inChannels, e = expansion.outChannels
        guard offsets.count != cin || offsets.last != Int32((cin - 1) * plane) || filteredOffsets.last != Int32((e - 1) * filteredPlane)
        else { return }
        identity = (0..<Int32(max(cin, e))).map { $0 }
        offsets = (0..<cin).map { Int32($0 * plane) }
        filteredOffsets = (0..<e).map { Int32($0 * filteredPlane) }
    }

    /// Output rows `rows` of the block, band after band, with share `share`'s windows: planes of
    /// `windowRows` expanded rows and of `filteredRows` filtered ones, whatever the band.
    private func runBands(_ x: Tensor, rows: Range<Int>, bandRows: Int, windows: BandWindows, share: Int, windowRows: Int,
                          filteredRows: Int, height ih: Int, width iw: Int, outHeight oh: Int, outWidth ow: Int,
                          expansionPanels: WeightPanels, projectionPanels: WeightPanels, out: Tensor, isa: isp_isa) {
        let s = depthwise.stride, e = expansion.outChannels
        let expandedWindow = windows.expanded[share].data, filteredWindow = windows.filtered[share].data
        let windowPlane = windowRows * iw
        // The expanded rows the window holds, from map row `heldStart` at its row 0.
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
            // The rest, read from the input's rows as if the input began at row `start`.
            let fresh = (reused.isEmpty ? first : reused.upperBound)..<end
            if !fresh.isEmpty {
                pointwise(expansion, input: UnsafePointer(x.data + start * iw), offsets: offsets, width: iw,
                          positions: ((fresh.lowerBound - start) * iw)..<((fresh.upperBound - start) * iw),
                          panels: expansionPanels, out: expandedWindow, plane: windowPlane, shift: 0, isa: isa)
            }
            held = first..<end; heldStart = start
            // Past the map's last row the depthwise kernel must read zeros, as it does past the window's.
            if end == ih && end - start < windowRows {
                for c in 0..<e {
                    (expandedWindow + c * windowPlane + (end - start) * iw).update(repeating: 0, count: (windowRows - end + start) * iw)
                }
            }
            depthwise.weight.withUnsafeBufferPointer { w in
                var args = depthwiseArguments(x: UnsafePointer(expandedWindow), out: filteredWindow, weights: w.baseAddress!,
                                              bias: depthwise.bias.data, kernel: 3, stride: s, padding: 1, inHeight: windowRows,
                                              inWidth: iw, outHeight: filteredRows, outWidth: ow, perImage: e, cap: depthwise.cap,
                                              shift: depthwise.outputShift.count == e ? UnsafePointer(depthwise.outputShift.data) : nil)
                isp_depthwise(isa, &args, 0, Int32(e), Int32(r0 - lo), Int32(r1 - lo), windows.scratch(share: share, floats: Int(isp_depthwise_scratch(&args))))
            }
            // Output rows [r0, r1): the filtered window's rows [r0 - lo, r1 - lo), written lo rows down.
            pointwise(projection, input: UnsafePointer(filteredWindow), offsets: filteredOffsets, width: ow,
                      positions: ((r0 - lo) * ow)..<((r1 - lo) * ow), panels: projectionPanels, out: out.data, plane: oh * ow,
                      shift: lo * ow, isa: isa)
            r0 = r1
        }
    }

    /// `conv` (a 1x1 convolution: its bias, activation and residual) at grid positions `positions`
    /// of the planes listed in `offsets` from `input` (rows `width` wide), written at those
    /// positions plus `shift` of planes of `plane` floats from `out`.
    private func pointwise(_ conv: FusedConv, input: UnsafePointer<Float>, offsets: [Int32], width: Int, positions: Range<Int>,
                           panels: WeightPanels, out: UnsafeMutablePointer<Float>, plane: Int, shift: Int, isa: isp_isa) {
        let (low, high) = clampBounds(conv.cap)
        offsets.withUnsafeBufferPointer { xOffset in
            identity.withUnsafeBufferPointer { channel in
                tapOffset.withUnsafeBufferPointer { taps in
                    var input = isp_conv_input(x: input, xOffset: xOffset.baseAddress, weightChannel: channel.baseAddress,
                                               channels: Int32(offsets.count), tapOffset: taps.baseAddress, taps: 1, pixelStride: 1,
                                               blockPitch: 0, rowWidth: 0, rowPitch: Int32(width), mapWidth: 0, imageStride: 0)
                    var output = isp_conv_output(out: out, plane: Int32(plane), bias: UnsafePointer(conv.bias.data), low: low,
                                                 high: high, residual: conv.residual.map { UnsafePointer($0.data) })
                    isp_conv_tiles(isa, &input, panels.data, Int32(panels.rows), Int32(panels.outChannels), 0, Int32(panels.tiles),
                                   Int32(positions.lowerBound), Int32(positions.upperBound), Int32(shift), &output)
                }
            }
        }
    }
}

/// Each share's windows for `BandedBlock`s, one set for all the blocks of an executor (they run
/// one after another): the expanded rows, the filtered rows, the depthwise kernel's scratch.
final class BandWindows {
    private(set) var expanded: [Tensor] = [], filtered: [Tensor] = []
    private var scratches: [Tensor] = []

    /// Makes each of `shares` shares' windows hold at least `expanded` and `filtered` floats.
    func prepare(shares: Int, expanded e: Int, filtered f: Int) {
        while expanded.count < shares {
            expanded.append(Tensor(shape: [0])); filtered.append(Tensor(shape: [0])); scratches.append(Tensor(shape: [0]))
        }
        for t in 0..<shares {
            if expanded[t].count < e { expanded[t].resize([e]) }
            if filtered[t].count < f { filtered[t].resize([f]) }
        }
    }

    /// Share `share`'s scratch of at least `floats` floats.
    func scratch(share: Int, floats: Int) -> UnsafeMutablePointer<Float> {
        if scratches[share].count < floats { scratches[share].resize([floats]) }
        return scratches[share].data
    }
}
