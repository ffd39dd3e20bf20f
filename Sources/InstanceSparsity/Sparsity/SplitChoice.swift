/// Chooses, pass after pass, whether batch-1 inference splits its steps across the cores (the
/// engine's pool) or runs every share of every split on the calling thread (`Engine.onOneCore`),
/// by the time each way took on the last passes. Both give the same logits bit for bit, so the
/// choice changes only the speed.
///
/// Why: the 2-vCPU VMs this project runs on change under it. For stretches of seconds to minutes
/// the two vCPUs sit far apart (a cache line goes there and back in 420-440 ns instead of 76-140:
/// `benchmarks/pingpong.c`), or share one core (1000 ns, and both threads together reach one
/// core's multiply-add peak), and then a pass that hands dozens of small steps and their maps
/// from core to core runs slower on two cores than on one. MobileNetV2 w0.5 at 32x32, far apart
/// (AMD EPYC Zen 5, AVX-512, 2026-12-03, three rounds): always split 0.537-0.542 ms, choosing
/// 0.407-0.410 (on one core 86-97% of the passes), ONNX Runtime on two threads 0.570-0.589; close:
/// 0.265-0.276 against 0.263-0.268, ONNX Runtime 0.264-0.276 (`benchmarks/split_choice.py`).
///
/// The last `burst` passes of every `probeInterval` go the other way, so that the choice follows
/// the machine: 4 in 128, so the slower way costs the median and the 90th percentile nothing.
/// Only a pass that went the way of the pass before it is scored: the first after a change finds
/// the pool asleep and its data in the other core's cache (in the far stretches, another L3).
/// Scoring the single pass that went the other way every 32 kept the choice where it was: VGG16's
/// stored point ran its pruned passes on one core at 0.393 ms where two did 0.333. A pass is
/// scored by its time per multiply-add executed, so that images pruned to different sizes compare.
public struct SplitChoice {
    /// Passes in a cycle whose last `burst` go the way not chosen.
    public static let probeInterval = 128
    public static let burst = 4
    /// Scores kept of each way: their median decides, so one preempted pass cannot.
    public static let window = 5

    /// The way the next passes go (true: the pool).
    public private(set) var usesPool = true
    private var passes = 0
    private var scores: [Bool: [Double]] = [true: [], false: []]
    private var lastWay: Bool? = nil

    public init() {}

    /// The way of the next pass. Until each way has its window of scores, bursts alternate.
    public mutating func next() -> Bool {
        let cycle = scores[!usesPool]!.count < SplitChoice.window ? 2 * SplitChoice.burst : SplitChoice.probeInterval
        defer { passes += 1 }
        return passes % cycle < cycle - SplitChoice.burst ? usesPool : !usesPool
    }

    /// Records how long a pass that went `way` took for `macs` multiply-adds, and goes the other way
    /// from now on if that has been faster by 10% (the margin keeps two equal ways from flapping).
    public mutating func record(usesPool way: Bool, seconds: Double, macs: Int) {
        defer { lastWay = way }
        guard lastWay == way else { return }
        scores[way]!.append(seconds / Double(max(macs, 1)))
        if scores[way]!.count > SplitChoice.window { scores[way]!.removeFirst() }
        guard let mine = median(scores[usesPool]!), let other = median(scores[!usesPool]!),
              scores[!usesPool]!.count == SplitChoice.window else { return }
        if other < 0.9 * mine { usesPool.toggle() }
    }

    private func median(_ xs: [Double]) -> Double? { xs.isEmpty ? nil : xs.sorted()[xs.count / 2] }
}
