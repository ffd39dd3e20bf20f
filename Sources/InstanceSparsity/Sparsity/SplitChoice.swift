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
/// (AMD EPYC Zen 5, AVX-512, 2026-12-03): always split 0.537-0.542 ms, choosing 0.400-0.411 (on
/// one core 69-97% of the passes), ONNX Runtime on two threads 0.547-0.589; close: the same as
/// always split (0.249-0.259 ms), ONNX Runtime 0.250-0.315 (`benchmarks/split_choice.py`,
/// `benchmarks/peers.py`).
///
/// The last `burst` passes of every `probeInterval` go the other way, so that the choice follows
/// the machine: 4 in 128, so the slower way costs the median and the 90th percentile nothing.
/// After a change of way the cycle starts at `firstInterval` and doubles to `probeInterval`: a
/// stretch that slows one way for a while (another process's threads spinning on the other core)
/// must not keep the choice away from it for hundreds of passes once it is over. VGG16 w0.5 in
/// blocks of 20 passes 20 ms after ONNX Runtime's (whose worker spins about 45 ms after a run:
/// stop 59's `peers.py --interleave 20`), nine alternating runs: isp / ONNX Runtime 0.83-1.69
/// (median 1.13) with a fixed cycle, 0.74-1.42 (median 0.81) so; with blocks on a quiet machine
/// 0.72-0.96 and 0.73 in three pairs (AMD Zen 4, AVX-512).
///
/// While the other way stays at least `distantRatio` times slower (one core against two on a
/// network whose steps all gain from the split, with the vCPUs close), the cycle keeps doubling up
/// to `longestInterval`: at 4 in 128 those probes, each about twice a split pass's time, were the
/// slowest 3% of the passes and set the 99th percentile. VGG16 w0.5 dense, three alternating runs
/// of 10,000 passes (`isp bench --passes-on-request`, AMD Zen 4 AVX-512): passes on one core
/// 3.1-3.7% -> 0.9-1.7% (0.6% without a cut: the rest are cycles cut back to `probeInterval` when
/// the two ways' medians came within the ratio on this noisy VM); torchvision mobilenet_v2 at 224,
/// two runs of 5,000: 3.2-3.7% -> 0.8-1.5%, 99th percentile 8.45-8.61 -> 7.14-8.58 ms, mean
/// 4.28-4.70 -> 4.16-4.40 ms. A way within the ratio (a small network with the vCPUs far apart) is
/// still tried every `probeInterval`, and a chosen way that slows down brings the probes back at
/// once, so the choice follows the machine where it can change.
///
/// Only a pass that went the way of the pass before it is scored: the first after a change finds
/// the pool asleep and its data in the other core's cache (in the far stretches, another L3).
/// Scoring the single pass that went the other way every 32 kept the choice where it was: VGG16's
/// stored point ran its pruned passes on one core at 0.393 ms where two did 0.333. A pass is
/// scored by its time per multiply-add executed, so that images pruned to different sizes compare.
public struct SplitChoice {
    /// Passes in a cycle whose last `burst` go the way not chosen.
    public static let probeInterval = 128, firstInterval = 16, longestInterval = 1024
    /// How much slower the other way must be for the cycle to grow past `probeInterval`.
    public static let distantRatio = 1.5
    public static let burst = 4
    /// Scores whose median stands for each way: the way chosen, its last `window`; the other, its
    /// last `probeWindow` (from two bursts at least). A stretch of slow passes shorter than half
    /// the window does not switch: single split passes of 0.46-2.3 ms turned up among 0.26 ms ones
    /// (MobileNetV2 w0.5, the vCPUs close), the VM taking the second core away for a moment.
    public static let window = 15, probeWindow = 5
    /// The first passes all split, unscored: the pool and the caches are still warming up.
    /// MobileNetV2 w0.5 split its first four passes in 7.1, 0.67, 0.47 and 0.42 ms, its 9th to 12th
    /// in 0.41, 0.41, 4.6 and 0.45 (0.26 later; 0.41 on one core). Scored from the first pass, the
    /// choice went to one core and stayed there for about 250 passes: 23-45% of the timed passes
    /// on one core in three of 18 rounds of `benchmarks/split_choice.py` with the vCPUs close
    /// (0.292 ms against 0.255 always split, at worst); with the warm-up, 4% in each of 12 (the
    /// probes).
    public static let warmUp = 64

    /// The way the next passes go (true: the pool).
    public private(set) var usesPool = true
    private var passes = 0
    /// Passes into the current cycle, and the length of a cycle once both ways have their scores.
    private var inCycle = 0, interval = SplitChoice.probeInterval
    /// The longest cycle for now: `longestInterval` while the other way is `distantRatio` slower.
    private var cycleLimit = SplitChoice.probeInterval
    private var scores: [Bool: [Double]] = [true: [], false: []]
    private var lastWay: Bool? = nil

    public init() {}

    /// The way of the next pass. Until the other way has its `probeWindow` of scores, bursts alternate.
    public mutating func next() -> Bool {
        if passes < SplitChoice.warmUp { passes += 1; return true }
        passes += 1
        let cycle = scores[!usesPool]!.count < SplitChoice.probeWindow ? 2 * SplitChoice.burst : interval
        let way = inCycle < cycle - SplitChoice.burst ? usesPool : !usesPool
        inCycle += 1
        if inCycle >= cycle { inCycle = 0; interval = min(2 * interval, cycleLimit) }  // >=: `interval` may have shrunk
        return way
    }

    /// Records how long a pass that went `way` took for `macs` multiply-adds, and goes the other way
    /// from now on if that has been faster by 10% (the margin keeps two equal ways from flapping).
    public mutating func record(usesPool way: Bool, seconds: Double, macs: Int) {
        defer { lastWay = way }
        guard lastWay == way, passes > SplitChoice.warmUp else { return }
        scores[way]!.append(seconds / Double(max(macs, 1)))
        if scores[way]!.count > SplitChoice.window { scores[way]!.removeFirst() }
        let other = scores[!usesPool]!.suffix(SplitChoice.probeWindow)
        guard other.count == SplitChoice.probeWindow, let mine = median(scores[usesPool]![...]) else { return }
        let theirs = median(other)!
        if theirs < 0.9 * mine {
            usesPool.toggle(); inCycle = 0; interval = SplitChoice.firstInterval; cycleLimit = SplitChoice.probeInterval
        } else {
            cycleLimit = theirs >= SplitChoice.distantRatio * mine ? SplitChoice.longestInterval : SplitChoice.probeInterval
            interval = min(interval, cycleLimit)
        }
    }

    private func median(_ xs: ArraySlice<Double>) -> Double? { xs.isEmpty ? nil : xs.sorted()[xs.count / 2] }
}
