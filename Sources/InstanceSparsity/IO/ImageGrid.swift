/// A PNG contact sheet of dataset images in rows, each tile captioned with a number
/// (e.g. a pruning ratio "63%") in a built-in 3x5 pixel font, so no font library is needed.
public struct ImageGrid {
    public var scale = 3
    public var rows: [[(image: Int, caption: String)]] = []

    public init() {}

    private static let glyphs: [Character: [String]] = [
        "0": ["111", "101", "101", "101", "111"], "1": ["010", "110", "010", "010", "111"],
        "2": ["111", "001", "111", "100", "111"], "3": ["111", "001", "111", "001", "111"],
        "4": ["101", "101", "111", "001", "001"], "5": ["111", "100", "111", "001", "111"],
        "6": ["111", "100", "111", "101", "111"], "7": ["111", "001", "010", "010", "010"],
        "8": ["111", "101", "111", "101", "111"], "9": ["111", "101", "111", "001", "111"],
        ".": ["000", "000", "000", "000", "010"], "%": ["101", "001", "010", "100", "101"],
        "-": ["000", "000", "111", "000", "000"], " ": ["000", "000", "000", "000", "000"],
    ]

    /// Renders the rows of `data` images (shown un-normalised, [0, 1] -> 0...255) and writes RGB PNG.
    public func write(to path: String, data: Dataset) throws {
        let c = data.channels, h = data.height, w = data.width
        let tileW = w * scale, tileH = h * scale, captionH = 5 * 2 + 6, gap = 6
        let columns = rows.map(\.count).max() ?? 0
        let width = max(1, columns * (tileW + gap) + gap), height = max(1, rows.count * (tileH + captionH + gap) + gap)
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        func set(_ x: Int, _ y: Int, _ rgb: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let o = (y * width + x) * 3
            pixels[o] = rgb.0; pixels[o + 1] = rgb.1; pixels[o + 2] = rgb.2
        }
        for (r, row) in rows.enumerated() {
            for (col, item) in row.enumerated() {
                let x0 = gap + col * (tileW + gap), y0 = gap + r * (tileH + captionH + gap)
                for y in 0..<tileH {
                    for x in 0..<tileW {
                        var rgb = [UInt8](repeating: 0, count: 3)
                        for k in 0..<3 {
                            let ch = c == 3 ? k : 0
                            let v = data.images[((item.image * c + ch) * h + y / scale) * w + x / scale]
                            rgb[k] = UInt8(max(0, min(255, v * 255)))
                        }
                        set(x0 + x, y0 + y, (rgb[0], rgb[1], rgb[2]))
                    }
                }
                var cx = x0
                for ch in item.caption {
                    guard let glyph = ImageGrid.glyphs[ch] else { continue }
                    for (gy, line) in glyph.enumerated() {
                        for (gx, bit) in line.enumerated() where bit == "1" {
                            for dy in 0..<2 { for dx in 0..<2 { set(cx + gx * 2 + dx, y0 + tileH + 4 + gy * 2 + dy, (200, 0, 0)) } }
                        }
                    }
                    cx += 8
                }
            }
        }
        try PNG.write(path: path, width: width, height: height, channels: 3, pixels: pixels)
    }
}
