import Foundation

/// How images of any size become network inputs of `inputSize` x `inputSize`: torchvision's
/// standard recipes, on PIL images (see `Resample` for the resizing).
///
/// - `resizedCrop` (ImageNet style): training RandomResizedCrop(S, scale 0.08-1, ratio 3/4-4/3)
///   and RandomHorizontalFlip; evaluation Resize(round(S / 0.875)) of the shorter side and
///   CenterCrop(S).
/// - `paddedCrop` (CIFAR style, the default up to 64 pixels, where cropping 8% of an image
///   leaves too little): evaluation Resize(S) and CenterCrop(S), which leaves S x S images as they
///   are; training adds the in-memory data sets' augmentation (random crop from the image
///   zero-padded by 4, random horizontal flip; see `BatchMaker`).
public struct Preprocessing: Equatable {
    public enum Recipe: String, CaseIterable {
        case resizedCrop = "resized-crop"
        case paddedCrop = "padded-crop"
    }

    public var inputSize: Int
    public var channels: Int
    public var recipe: Recipe

    public init(inputSize: Int, channels: Int, recipe: Recipe? = nil) {
        precondition(inputSize >= 1 && (channels == 1 || channels == 3), "bad preprocessing \(inputSize) x \(channels)")
        self.inputSize = inputSize; self.channels = channels
        self.recipe = recipe ?? (inputSize <= 64 ? .paddedCrop : .resizedCrop)
    }

    /// The shorter side before the evaluation centre crop.
    public var evaluationResize: Int {
        recipe == .resizedCrop ? Int((Double(inputSize) / 0.875).rounded()) : inputSize
    }

    /// For people and logs, e.g. in checkpoint metadata.
    public var summary: String {
        let s = inputSize, gray = channels == 1 ? "L" : "RGB"
        switch recipe {
        case .resizedCrop:
            return "PIL \(gray); train RandomResizedCrop(\(s), scale=(0.08, 1), ratio=(3/4, 4/3)) + RandomHorizontalFlip; eval Resize(\(evaluationResize)) + CenterCrop(\(s)); bilinear, antialiased"
        case .paddedCrop:
            return "PIL \(gray); eval Resize(\(s)) + CenterCrop(\(s)), bilinear, antialiased; train adds RandomCrop(\(s), padding=4) + RandomHorizontalFlip"
        }
    }

    /// torchvision's Resize(size) output for an int size: the shorter side becomes `size`, the
    /// longer int(size * long / short) (truncated, computed in floating point as Python does).
    static func resizedSize(width: Int, height: Int, shorter size: Int) -> (width: Int, height: Int) {
        if width <= height { return (size, Int(Double(size * height) / Double(width))) }
        return (Int(Double(size * width) / Double(height)), size)
    }

    /// The evaluation transform: resize the shorter side, then crop the centre (torchvision's
    /// center_crop offsets round half to even, as Python's round does). Writes S x S x channels.
    public func evaluationCrop(_ image: Image8, into destination: UnsafeMutablePointer<UInt8>) {
        let s = inputSize
        let (w, h) = Self.resizedSize(width: image.width, height: image.height, shorter: evaluationResize)
        let top = Int((Double(h - s) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(w - s) / 2).rounded(.toNearestOrEven))
        image.pixels.withUnsafeBufferPointer { source in
            Resample.bilinear(source.baseAddress!, width: image.width, height: image.height, rowStride: image.width * channels,
                              channels: channels, outWidth: w, outHeight: h, window: (left, top, s, s), into: destination)
        }
    }

    /// torchvision's RandomResizedCrop.get_params: ten tries at a random area share and log-uniform
    /// aspect ratio that fits, else the centre crop clamped to the ratio range. Returns the crop
    /// (top, left, height, width). Draws come from `rng`; the algorithm is torchvision's, the
    /// random numbers are ours.
    public static func randomResizedCropBox(width: Int, height: Int, rng: inout SeededGenerator,
                                            scale: ClosedRange<Double> = 0.08...1,
                                            ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3))
        -> (top: Int, left: Int, height: Int, width: Int) {
        func uniform(_ r: ClosedRange<Double>) -> Double {
            r.lowerBound + (r.upperBound - r.lowerBound) * Double(rng.next() >> 11) * 0x1p-53
        }
        func roundHalfEven(_ v: Double) -> Int { Int(v.rounded(.toNearestOrEven)) }
        let area = Double(width * height)
        let logRatio = log(ratio.lowerBound)...log(ratio.upperBound)
        for _ in 0..<10 {
            let targetArea = area * uniform(scale)
            let aspect = exp(uniform(logRatio))
            let w = roundHalfEven((targetArea * aspect).squareRoot())
            let h = roundHalfEven((targetArea / aspect).squareRoot())
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = Int(rng.next() % UInt64(height - h + 1))
                let left = Int(rng.next() % UInt64(width - w + 1))
                return (top, left, h, w)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = roundHalfEven(Double(w) / ratio.lowerBound)
        } else if inRatio > ratio.upperBound {
            w = roundHalfEven(Double(h) * ratio.upperBound)
        }
        return ((height - h) / 2, (width - w) / 2, h, w)
    }

    /// torchvision's resized_crop: the box cut out (as PIL's crop makes a new image, the filter
    /// does not reach outside it) and resized to S x S. Writes S x S x channels.
    public func resizedCrop(_ image: Image8, box: (top: Int, left: Int, height: Int, width: Int),
                            into destination: UnsafeMutablePointer<UInt8>) {
        let s = inputSize, stride = image.width * channels
        image.pixels.withUnsafeBufferPointer { source in
            Resample.bilinear(source.baseAddress! + box.top * stride + box.left * channels, width: box.width,
                              height: box.height, rowStride: stride, channels: channels,
                              outWidth: s, outHeight: s, window: (0, 0, s, s), into: destination)
        }
    }
}
