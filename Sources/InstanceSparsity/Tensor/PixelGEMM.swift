/// Weights of a convolution arranged for `pixelGEMM`: output channels in tiles of 16, and within a
/// tile the rows (input channel, ky, kx) one after another, each row 16 contiguous floats. A tile's
/// weights are then one sequential stream, and an input channel's rows are one contiguous block.
struct WeightPanels {
    static let tile = 16
    let data: [Float]
    let rows: Int
    let outChannels: Int
    var tiles: Int { (outChannels + WeightPanels.tile - 1) / WeightPanels.tile }

    /// From row-major weights outChannels x rows (padding outputs to a multiple of 16 with zeros).
    init(weights w: [Float], outChannels: Int, rows: Int) {
        self.rows = rows; self.outChannels = outChannels
        let t = WeightPanels.tile, tiles = (outChannels + t - 1) / t
        var p = [Float](repeating: 0, count: tiles * rows * t)
        for o in 0..<outChannels {
            for r in 0..<rows { p[((o / t) * rows + r) * t + o % t] = w[o * rows + r] }
        }
        data = p
    }
}

/// out[o, p] = activation(bias[o] + sum_r W[o, r] * col[r, p]) for the output tiles in `tiles`,
/// where the rows r come from a list of input channels, each owning `rowsPerChannel` rows.
///
/// This is the batch-1 convolution kernel for small feature maps (few pixels, many channels),
/// where a general GEMM spends its time packing weights it then uses for a handful of columns.
/// Each weight panel is streamed once in order, and a dropped input channel is simply not in the
/// list: pruning costs nothing to gather.
@inline(__always)
func pixelGEMM(pixels: Int, panels: UnsafePointer<Float>, rows: Int, outChannels: Int, tiles: Range<Int>,
               channels: UnsafePointer<Int32>?, channelCount: Int, rowsPerChannel kk: Int,
               col: UnsafePointer<Float>, bias: UnsafePointer<Float>, cap: Float?, out: UnsafeMutablePointer<Float>) {
    typealias V = SIMD8<Float>
    let P = pixels
    let low = V(repeating: cap == nil ? -.infinity : 0), high = V(repeating: cap ?? .infinity)
    @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) func store(_ v: V, _ o0: Int, _ p: Int) {
        for j in 0..<8 where o0 + j < outChannels {
            let r = v[j] + bias[o0 + j]
            out[(o0 + j) * P + p] = Swift.min(Swift.max(r, low[0]), high[0])
        }
    }

    for tile in tiles {
        let o0 = tile * 16, panel = panels + tile * rows * 16
        var p0 = 0
        // 16 outputs x 4 pixels: 8 accumulators, two weight loads and four broadcasts per row.
        while p0 < P {
            let width = Swift.min(4, P - p0)
            var a0 = V(), a1 = V(), a2 = V(), a3 = V(), b0 = V(), b1 = V(), b2 = V(), b3 = V()
            for i in 0..<channelCount {
                let channel = channels.map { Int($0[i]) } ?? i
                let w = panel + channel * kk * 16, c = col + i * kk * P + p0
                if width == 4 {
                    for j in 0..<kk {
                        let w0 = load(w + j * 16), w1 = load(w + j * 16 + 8), cj = c + j * P
                        let x0 = V(repeating: cj[0]), x1 = V(repeating: cj[1]), x2 = V(repeating: cj[2]), x3 = V(repeating: cj[3])
                        a0 = a0.addingProduct(w0, x0); b0 = b0.addingProduct(w1, x0)
                        a1 = a1.addingProduct(w0, x1); b1 = b1.addingProduct(w1, x1)
                        a2 = a2.addingProduct(w0, x2); b2 = b2.addingProduct(w1, x2)
                        a3 = a3.addingProduct(w0, x3); b3 = b3.addingProduct(w1, x3)
                    }
                } else {
                    for j in 0..<kk {
                        let w0 = load(w + j * 16), w1 = load(w + j * 16 + 8), x0 = V(repeating: c[j * P])
                        a0 = a0.addingProduct(w0, x0); b0 = b0.addingProduct(w1, x0)
                    }
                }
            }
            let acc = [(a0, b0), (a1, b1), (a2, b2), (a3, b3)]
            for q in 0..<width {
                store(acc[q].0, o0, p0 + q); store(acc[q].1, o0 + 8, p0 + q)
            }
            p0 += width
        }
    }
}
