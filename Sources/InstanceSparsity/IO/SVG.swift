import Foundation

// Small, dependency-free SVG charts for training reports: enough to read a curve or a
// distribution in a browser, not a plotting library.

/// Line chart of one or more series; non-finite points break a line instead of spoiling the axes.
public struct LinePlot {
    public typealias Series = (name: String, points: [(x: Double, y: Double)], dashed: Bool)

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var width = 800
    public var height = 480
    /// Shows y only from here up (the range that matters); lower points run off the bottom edge,
    /// and the subtitle says so.
    public var yFloor: Double? = nil
    /// Labelled points drawn over the lines (e.g. the operating point).
    public var markers: [(x: Double, y: Double, label: String)] = []
    /// Lines of explanation under the x-axis label.
    public var notes: [String] = []

    public init(title: String, xLabel: String, yLabel: String, series: [Series] = []) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    public mutating func add(name: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
        series.append((name, points, dashed))
    }

    public func render() -> String {
        let finite = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        let xAxis = NiceAxis(finite.map(\.x))
        let shown = finite.map(\.y).filter { $0 >= (yFloor ?? -.infinity) }
        let yAxis = NiceAxis(shown + (yFloor.map { [$0] } ?? []))
        let extra = 16 * notes.count
        var frame = Frame(width: width, height: height + extra, legend: !series.isEmpty, bottomExtra: Double(extra))
        frame.drawChrome(title: title, xLabel: xLabel, yLabel: yLabel, xAxis: xAxis, yAxis: yAxis)
        let hidden = finite.count - finite.filter { $0.y >= yAxis.lower }.count
        if yFloor != nil, hidden > 0 {
            frame.addSubtitle("y from \(yAxis.label(yAxis.lower)) up: \(hidden) lower point\(hidden == 1 ? " is" : "s are") off the bottom edge")
        }
        for (i, text) in notes.enumerated() { frame.addNote(text, line: i) }
        frame.beginClip()

        for (index, line) in series.enumerated() {
            let color = palette[index % palette.count]
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            // Split at non-finite points so a diverged run shows as a gap.
            var runs: [[(x: Double, y: Double)]] = [[]]
            for p in line.points {
                if p.x.isFinite && p.y.isFinite { runs[runs.count - 1].append(p) } else if !runs[runs.count - 1].isEmpty { runs.append([]) }
            }
            for run in runs where !run.isEmpty {
                if run.count == 1 {
                    frame.add("<circle cx=\"\(f(frame.x(run[0].x, xAxis)))\" cy=\"\(f(frame.y(run[0].y, yAxis)))\" r=\"3\" fill=\"\(color)\"/>")
                } else {
                    let points = run.map { "\(f(frame.x($0.x, xAxis))),\(f(frame.y($0.y, yAxis)))" }.joined(separator: " ")
                    frame.add("<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>")
                }
            }
        }
        for m in markers where m.x.isFinite && m.y.isFinite {
            let px = frame.x(m.x, xAxis), py = frame.y(m.y, yAxis)
            frame.add("<circle cx=\"\(f(px))\" cy=\"\(f(py))\" r=\"6\" fill=\"none\" stroke=\"black\" stroke-width=\"2\"/>")
            frame.add("<text x=\"\(f(px + 9))\" y=\"\(f(py - 9))\" font-weight=\"bold\">\(escape(m.label))</text>")
        }
        frame.endClip()
        for (index, line) in series.enumerated() {
            frame.addLegendEntry(index: index, name: line.name, color: palette[index % palette.count], dashed: line.dashed, box: false)
        }
        if finite.isEmpty { frame.addNoData() }
        return frame.finish()
    }
}

/// Histogram of `values` in `bins` equal bins over `range` (default: the data's min...max).
/// Values outside the range are not drawn; their number is stated under the title.
public struct Histogram {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var values: [Double]
    public var bins: Int
    public var range: ClosedRange<Double>?
    public var width = 800
    public var height = 480

    public init(title: String, xLabel: String, yLabel: String = "count", values: [Double], bins: Int = 50,
                range: ClosedRange<Double>? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.values = values
        self.bins = bins
        self.range = range
    }

    /// Counts per bin and how many values fell outside the range (or were not finite).
    public func counts() -> (counts: [Int], lower: Double, upper: Double, excluded: Int) {
        let finite = values.filter(\.isFinite)
        let bins = max(bins, 1)
        var lower = range?.lowerBound ?? finite.min() ?? 0
        var upper = range?.upperBound ?? finite.max() ?? 1
        if upper <= lower { lower -= 0.5; upper += 0.5 }
        var counts = [Int](repeating: 0, count: bins)
        var excluded = values.count - finite.count
        let scale = Double(bins) / (upper - lower)
        for v in finite {
            guard v >= lower && v <= upper else { excluded += 1; continue }
            // The top edge belongs to the last bin, so the maximum is counted.
            counts[min(Int((v - lower) * scale), bins - 1)] += 1
        }
        return (counts, lower, upper, excluded)
    }

    public func render() -> String {
        let (counts, lower, upper, excluded) = counts()
        let xAxis = NiceAxis([lower, upper])
        let yAxis = NiceAxis([0, Double(counts.max() ?? 0)], includeZero: true)
        var frame = Frame(width: width, height: height, legend: false, bottomExtra: 0)
        frame.drawChrome(title: title, xLabel: xLabel, yLabel: yLabel, xAxis: xAxis, yAxis: yAxis)
        let binWidth = (upper - lower) / Double(counts.count)
        for (i, count) in counts.enumerated() where count > 0 {
            let x0 = frame.x(lower + Double(i) * binWidth, xAxis), x1 = frame.x(lower + Double(i + 1) * binWidth, xAxis)
            let top = frame.y(Double(count), yAxis), bottom = frame.y(0, yAxis)
            frame.add("<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(max(x1 - x0, 0.5)))\" height=\"\(f(bottom - top))\" fill=\"\(palette[0])\" stroke=\"white\" stroke-width=\"0.5\"/>")
        }
        if excluded > 0 {
            frame.addSubtitle("\(excluded) of \(values.count) values outside [\(format(lower)), \(format(upper))] not shown")
        }
        if values.isEmpty { frame.addNoData() }
        return frame.finish()
    }
}

/// One bar per named category, e.g. a statistic per layer.
public struct BarChart {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var labels: [String]
    public var values: [Double]
    public var width = 800
    public var height = 480

    public init(title: String, xLabel: String, yLabel: String, labels: [String], values: [Double]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.labels = labels
        self.values = values
    }

    public func render() -> String {
        let n = min(labels.count, values.count)
        let finite = values.prefix(n).filter(\.isFinite)
        let yAxis = NiceAxis(finite, includeZero: true)
        // Long or many labels are drawn slanted; reserve room below the axis for them.
        let longest = labels.prefix(n).map(\.count).max() ?? 0
        let slanted = n > 8 || longest > 10
        let extra = slanted ? Int(Double(min(longest, 40)) * 4.6) : 0
        var frame = Frame(width: width, height: height + extra, legend: false, bottomExtra: Double(extra))
        frame.drawChrome(title: title, xLabel: xLabel, yLabel: yLabel, xAxis: nil, yAxis: yAxis)

        let slot = (frame.right - frame.left) / Double(max(n, 1))
        for i in 0..<n {
            let center = frame.left + slot * (Double(i) + 0.5)
            let value = values[i]
            if value.isFinite {
                let top = frame.y(max(value, 0), yAxis), bottom = frame.y(min(value, 0), yAxis)
                frame.add("<rect x=\"\(f(center - slot * 0.4))\" y=\"\(f(top))\" width=\"\(f(slot * 0.8))\" height=\"\(f(max(bottom - top, 0)))\" fill=\"\(palette[0])\"><title>\(escape(labels[i])): \(format(value))</title></rect>")
            }
            let label = escape(labels[i])
            if slanted {
                frame.add("<text x=\"\(f(center))\" y=\"\(f(frame.bottom + 14))\" text-anchor=\"end\" transform=\"rotate(-40 \(f(center)) \(f(frame.bottom + 14)))\">\(label)</text>")
            } else {
                frame.add("<text x=\"\(f(center))\" y=\"\(f(frame.bottom + 18))\" text-anchor=\"middle\">\(label)</text>")
            }
        }
        if n == 0 { frame.addNoData() }
        return frame.finish()
    }
}

// MARK: - Shared drawing

private let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

/// Coordinates with two decimals: enough on screen, and keeps files small.
private func f(_ v: Double) -> String { String(format: "%.2f", v) }

private func format(_ v: Double) -> String {
    let a = abs(v)
    if a != 0 && (a >= 1e6 || a < 1e-3) { return String(format: "%.3g", v) }
    return String(format: "%.4g", v)
}

private func escape(_ text: String) -> String {
    var result = ""
    for c in text {
        switch c {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&apos;"
        default: result.append(c)
        }
    }
    return result
}

/// An axis range widened to round numbers, with ticks at 1, 2 or 5 times a power of ten.
struct NiceAxis {
    var lower: Double
    var upper: Double
    var step: Double

    init(_ values: [Double], includeZero: Bool = false, targetTicks: Double = 6) {
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if includeZero { lo = min(lo, 0); hi = max(hi, 0) }
        if !(hi > lo) {
            // A single value still needs a visible range around it.
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= includeZero && lo == 0 ? 0 : pad
            hi += pad
        }
        let rough = (hi - lo) / targetTicks
        let magnitude = pow(10, floor(log10(rough)))
        let fraction = rough / magnitude
        step = (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * magnitude
        lower = floor(lo / step) * step
        upper = ceil(hi / step) * step
    }

    var ticks: [Double] {
        let n = Int(((upper - lower) / step).rounded())
        return (0...n).map { lower + Double($0) * step }
    }

    func label(_ v: Double) -> String {
        if abs(v) < step * 1e-6 { return "0" }
        if step >= 1e6 || step < 1e-4 { return String(format: "%g", v) }
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", v)
    }
}

private struct Frame {
    let width: Int, height: Int
    let left = 78.0, top = 56.0
    let right: Double, bottom: Double
    private var elements: [String] = []
    private var legendCount = 0

    init(width: Int, height: Int, legend: Bool, bottomExtra: Double) {
        self.width = width
        self.height = height
        right = Double(width) - (legend ? 190 : 28)
        bottom = Double(height) - 60 - bottomExtra
    }

    func x(_ v: Double, _ axis: NiceAxis) -> Double { left + (v - axis.lower) / (axis.upper - axis.lower) * (right - left) }
    func y(_ v: Double, _ axis: NiceAxis) -> Double { bottom - (v - axis.lower) / (axis.upper - axis.lower) * (bottom - top) }

    mutating func add(_ element: String) { elements.append(element) }

    mutating func drawChrome(title: String, xLabel: String, yLabel: String, xAxis: NiceAxis?, yAxis: NiceAxis) {
        add("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        add("<text x=\"\(f((left + right) / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(escape(title))</text>")
        for t in yAxis.ticks {
            let py = y(t, yAxis)
            add("<line x1=\"\(f(left))\" y1=\"\(f(py))\" x2=\"\(f(right))\" y2=\"\(f(py))\" stroke=\"#e0e0e0\"/>")
            add("<text x=\"\(f(left - 8))\" y=\"\(f(py + 4))\" text-anchor=\"end\">\(yAxis.label(t))</text>")
        }
        if let xAxis {
            for t in xAxis.ticks {
                let px = x(t, xAxis)
                add("<line x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(bottom))\" stroke=\"#e0e0e0\"/>")
                add("<text x=\"\(f(px))\" y=\"\(f(bottom + 18))\" text-anchor=\"middle\">\(xAxis.label(t))</text>")
            }
        }
        add("<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#333\"/>")
        add("<text x=\"\(f((left + right) / 2))\" y=\"\(height - 14)\" text-anchor=\"middle\">\(escape(xLabel))</text>")
        let cy = (top + bottom) / 2
        add("<text x=\"20\" y=\"\(f(cy))\" text-anchor=\"middle\" transform=\"rotate(-90 20 \(f(cy)))\">\(escape(yLabel))</text>")
    }

    mutating func addSubtitle(_ text: String) {
        add("<text x=\"\(f((left + right) / 2))\" y=\"44\" text-anchor=\"middle\" fill=\"#666\">\(escape(text))</text>")
    }

    /// Everything drawn between these two stays inside the plot area.
    mutating func beginClip() {
        add("<clipPath id=\"plot\"><rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\"/></clipPath>")
        add("<g clip-path=\"url(#plot)\">")
    }

    mutating func endClip() { add("</g>") }

    mutating func addNote(_ text: String, line: Int) {
        add("<text x=\"\(f(left))\" y=\"\(f(bottom + 40 + 16 * Double(line)))\" fill=\"#444\">\(escape(text))</text>")
    }

    mutating func addNoData() {
        add("<text x=\"\(f((left + right) / 2))\" y=\"\(f((top + bottom) / 2))\" text-anchor=\"middle\" fill=\"#999\">no data</text>")
    }

    mutating func addLegendEntry(index: Int, name: String, color: String, dashed: Bool, box: Bool) {
        let ly = top + 10 + Double(legendCount) * 20
        legendCount += 1
        let dash = dashed ? " stroke-dasharray=\"6 4\"" : ""
        add("<line x1=\"\(f(right + 14))\" y1=\"\(f(ly))\" x2=\"\(f(right + 42))\" y2=\"\(f(ly))\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>")
        add("<text x=\"\(f(right + 48))\" y=\"\(f(ly + 4))\">\(escape(name))</text>")
    }

    func finish() -> String {
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        for element in elements { svg += "  " + element + "\n" }
        return svg + "</svg>\n"
    }
}
