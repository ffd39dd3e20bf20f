/// A dense Float32 array in row-major order; images are NCHW.
///
/// A reference type on purpose: layers keep their outputs and gradients between steps and
/// refill them in place, so a training step or an inference allocates nothing once warmed up.
public final class Tensor {
    public private(set) var shape: [Int]
    public private(set) var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    /// The allocation `data` lies in (see `allocateLines`); nil when the tensor borrows `data`.
    private var storage: UnsafeMutableRawPointer?

    public var count: Int { shape.reduce(1, *) }
    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: data, count: count) }

    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        capacity = max(shape.reduce(1, *), 1)
        (storage, data) = Tensor.allocateLines(capacity)
    }

    /// Zeroed storage for `n` floats starting on a cache line. The kernels load and store whole
    /// lines of 16 floats; from malloc's 16-byte alignment every such vector spanned two lines.
    /// VGG16 w0.5's first convolution (32 planes of 32x32 written a vector at a time), three
    /// alternations: 12.4-12.7 -> 9.7-10.4 us; the other steps within noise (isp bench --profile,
    /// Intel Xeon AVX-512).
    /// Each tensor also starts at its own offset within a 4 KB page (one of 64 lines, from the
    /// allocation's address): large allocations all began at the same offset, so a kernel's loads
    /// from one map and its stores to the next could match in their low 12 bits, and the CPU then
    /// holds the load back until the store it might alias has completed (4 KB aliasing).
    /// Two alternations, two cores, AMD Zen 5 AVX-512 (isp bench --no-train --runs 2000): VGG16
    /// w0.5 0.546-0.549 -> 0.536-0.544 ms, ResNet-18 w0.5 0.893-0.897 -> 0.880-0.886, MobileNetV2
    /// w0.5 0.583-0.584 -> 0.554-0.561 (its 8x8 depthwise layers 6.0 -> 5.5 us on one core).
    private static func allocateLines(_ n: Int) -> (UnsafeMutableRawPointer, UnsafeMutablePointer<Float>) {
        let page = 4096, line = 64
        let storage = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Float>.stride + page, alignment: line)
        let color = (UInt(bitPattern: storage) / UInt(page)) % UInt(page / line)
        let p = (storage + Int(color) * line).bindMemory(to: Float.self, capacity: n)
        p.initialize(repeating: 0, count: n)
        return (storage, p)
    }

    /// A tensor of `shape` over floats it neither owns nor frees (and cannot grow): the caller keeps
    /// them alive and unchanged while the tensor is in use. The batch-1 executor reads its input
    /// image so (see `SparseExecutor.forward`).
    init(borrowing data: UnsafeMutablePointer<Float>, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        capacity = shape.reduce(1, *)
        self.data = data
        storage = nil
    }

    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public convenience init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        data.update(repeating: value, count: count)
    }

    deinit { storage?.deallocate() }

    public var array: [Float] { Array(buffer) }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// Changes the shape, growing the storage only when needed (contents are then undefined).
    public func resize(_ newShape: [Int]) {
        let n = newShape.reduce(1, *)
        if n > capacity {
            precondition(storage != nil, "a borrowed tensor cannot grow")
            storage?.deallocate()
            capacity = n
            (storage, data) = Tensor.allocateLines(n)
        }
        shape = newShape
    }

    /// False if any element is NaN or infinite.
    public var allFinite: Bool {
        var sum: Float = 0
        for i in 0..<count { sum += data[i] * 0 }  // NaN or Inf anywhere makes this NaN
        return sum.isFinite
    }

    public func zero() { data.update(repeating: 0, count: count) }

    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        t.data.update(from: data, count: count)
        return t
    }

    public func copy(from other: Tensor) {
        resize(other.shape)
        data.update(from: other.data, count: count)
    }

    /// A tensor of `shape` reusing `existing` when given, so per-step buffers are allocated once.
    public static func reuse(_ existing: Tensor?, shape: [Int]) -> Tensor {
        guard let t = existing else { return Tensor(shape: shape) }
        t.resize(shape)
        return t
    }
}
