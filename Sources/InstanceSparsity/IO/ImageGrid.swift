/// A PNG contact sheet of dataset images: a title, then rows each under its own heading, every
/// tile captioned with lines of text (e.g. the class name and a pruning ratio). Text is drawn in a
/// built-in 3x5 pixel font (upper case, digits, a little punctuation), so no font library is needed.
public struct ImageGrid {
    public struct Row {
        public var heading: String
        public var tiles: [(image: Int, caption: [String])]

        public init(heading: String, tiles: [(image: Int, caption: [String])]) {
            self.heading = heading; self.tiles = tiles
        }
    }

    public var title = ""
    public var rows: [Row] = []
    /// Image pixels per data pixel.
    public var scale = 3

    public init() {}

    private static let glyphs: [Character: [String]] = [
        "0": ["111", "101", "101", "101", "111"], "1": ["010", "110", "010", "010", "111"],
        "2": ["111", "001", "111", "100", "111"], "3": ["111", "001", "111", "001", "111"],
        "4": ["101", "101", "111", "001", "001"], "5": ["111", "100", "111", "001", "111"],
        "6": ["111", "100", "111", "101", "111"], "7": ["111", "001", "010", "010", "010"],
        "8": ["111", "101", "111", "101", "111"], "9": ["111", "101", "111", "001", "111"],
        "A": ["010", "101", "111", "101", "101"], "B": ["110", "101", "110", "101", "110"],
        "C": ["011", "100", "100", "100", "011"], "D": ["110", "101", "101", "101", "110"],
        "E": ["111", "100", "110", "100", "111"], "F": ["111", "100", "110", "100", "100"],
        "G": ["011", "100", "101", "101", "011"], "H": ["101", "101", "111", "101", "101"],
        "I": ["111", "010", "010", "010", "111"], "J": ["001", "001", "001", "101", "010"],
        "K": ["101", "101", "110", "101", "101"], "L": ["100", "100", "100", "100", "111"],
        "M": ["101", "111", "111", "101", "101"], "N": ["110", "101", "101", "101", "101"],
        "O": ["010", "101", "101", "101", "010"], "P": ["110", "101", "110", "100", "100"],
        "Q": ["010", "101", "101", "110", "011"], "R": ["110", "101", "110", "101", "101"],
        "S": ["011", "100", "010", "001", "110"], "T": ["111", "010", "010", "010", "010"],
        "U": ["101", "101", "101", "101", "111"], "V": ["101", "101", "101", "101", "010"],
        "W": ["101", "101", "111", "111", "101"], "X": ["101", "101", "010", "101", "101"],
        "Y": ["101", "101", "010", "010", "010"], "Z": ["111", "001", "010", "100", "111"],
        ".": ["000", "000", "000", "000", "010"], "%": ["101", "001", "010", "100", "101"],
        "-": ["000", "000", "111", "000", "000"], " ": ["000", "000", "000", "000", "000"],
        "/": ["001", "001", "010", "100", "100"], ":": ["000", "010", "000", "010", "000"],
        "(": ["010", "100", "100", "100", "010"], ")": ["010", "001", "001", "001", "010"],
        ",": ["000", "000", "000", "010", "100"], "_": ["000", "000", "000", "000", "111"],
        "'": ["010", "010", "000", "000", "000"], "?": ["111", "001", "010", "000", "010"],
    ]

    /// Pixels a line of text takes at `size` pixels per font pixel (4 columns per character).
    static func textWidth(_ text: String, size: Int) -> Int { text.count * 4 * size }

    /// Writes `render(data:)` as an RGB PNG.
    public func write(to path: String, data: Dataset) throws {
        let image = render(data: data)
        try PNG.write(path: path, width: image.width, height: image.height, channels: 3, pixels: image.pixels)
    }

    /// The sheet as RGB pixels, with `data`'s images shown un-normalised ([0, 1] -> 0...255).
    public func render(data: Dataset) -> (width: Int, height: Int, pixels: [UInt8]) {
        let c = data.channels, h = data.height, w = data.width
        let tileW = w * scale, tileH = h * scale, gap = 8, small = 2, large = 3
        let captionLines = rows.flatMap { $0.tiles.map(\.caption.count) }.max() ?? 0
        let captionH = captionLines * 6 * small + 4
        let headingH = 6 * small + 8, titleH = title.isEmpty ? 0 : 6 * large + 12
        let columns = rows.map(\.tiles.count).max() ?? 0
        let width = max(columns * (tileW + gap) + gap, ImageGrid.textWidth(title, size: large) + 2 * gap,
                        (rows.map { ImageGrid.textWidth($0.heading, size: small) }.max() ?? 0) + 2 * gap)
        let rowH = headingH + tileH + captionH + gap
        let height = max(1, gap + titleH + rows.count * rowH)
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        func set(_ x: Int, _ y: Int, _ rgb: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let o = (y * width + x) * 3
            pixels[o] = rgb.0; pixels[o + 1] = rgb.1; pixels[o + 2] = rgb.2
        }
        /// Upper-cased, unknown characters as "?", cut to `maxWidth` pixels.
        func text(_ s: String, x: Int, y: Int, size: Int, color: (UInt8, UInt8, UInt8), maxWidth: Int? = nil) {
            var cx = x
            for ch in s.uppercased() {
                if let maxWidth, cx + 3 * size > x + maxWidth { break }
                let glyph = ImageGrid.glyphs[ch] ?? ImageGrid.glyphs["?"]!
                for (gy, line) in glyph.enumerated() {
                    for (gx, bit) in line.enumerated() where bit == "1" {
                        for dy in 0..<size { for dx in 0..<size { set(cx + gx * size + dx, y + gy * size + dy, color) } }
                    }
                }
                cx += 4 * size
            }
        }
        if !title.isEmpty { text(title, x: gap, y: gap, size: large, color: (0, 0, 0)) }
        for (r, row) in rows.enumerated() {
            let top = gap + titleH + r * rowH
            text(row.heading, x: gap, y: top, size: small, color: (40, 40, 140))
            for (col, tile) in row.tiles.enumerated() {
                let x0 = gap + col * (tileW + gap), y0 = top + headingH
                for y in 0..<tileH {
                    for x in 0..<tileW {
                        var rgb = [UInt8](repeating: 0, count: 3)
                        for k in 0..<3 {
                            let ch = c == 3 ? k : 0
                            let v = data.images[((tile.image * c + ch) * h + y / scale) * w + x / scale]
                            rgb[k] = UInt8(max(0, min(255, v * 255)))
                        }
                        set(x0 + x, y0 + y, (rgb[0], rgb[1], rgb[2]))
                    }
                }
                for (i, line) in tile.caption.enumerated() {
                    text(line, x: x0, y: y0 + tileH + 4 + i * 6 * small, size: small, color: i == 0 ? (200, 0, 0) : (0, 0, 0), maxWidth: tileW)
                }
            }
        }
        return (width, height, pixels)
    }
}
