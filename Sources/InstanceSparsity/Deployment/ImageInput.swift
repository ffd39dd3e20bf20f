/// How one image becomes the network's normalised input, exactly as the model's data was
/// prepared: the recorded preprocessing recipe for class-folder models (torchvision's evaluation
/// transform), Fashion-MNIST's 28x28 gray images padded to 32x32, CIFAR-10's 32x32 RGB as is.
public struct ImageInput {
    public let spec: ModelSpec
    /// Images whose header declares more pixels are refused before decoding (a server lowers it:
    /// each pixel of a request costs several bytes while it is decoded).
    public var maxPixels = ImageDecoder.maxPixels
    private enum Kind { case recipe(Preprocessing), padded(side: Int, border: Int) }
    private let kind: Kind

    /// `path` names the model in errors.
    public init(spec: ModelSpec, path: String) throws {
        self.spec = spec
        if let recipe = spec.preprocessing {
            kind = .recipe(Preprocessing(inputSize: spec.inputSize, channels: spec.inputChannels, recipe: recipe))
        } else if spec.dataset == "fashion-mnist" && spec.inputChannels == 1 && spec.inputSize == 32 {
            kind = .padded(side: 28, border: 2)
        } else if spec.dataset == "cifar10" && spec.inputChannels == 3 && spec.inputSize == 32 {
            kind = .padded(side: 32, border: 0)
        } else {
            throw InputError(path, "records no image preprocessing (dataset '\(spec.dataset)', \(spec.inputChannels) x \(spec.inputSize) x \(spec.inputSize)), so images cannot be classified with it")
        }
    }

    /// What an image must be, for error messages and docs.
    public var expectation: String {
        switch kind {
        case .recipe(let p): return "any PNG or JPEG (\(p.summary))"
        case .padded(let side, _): return "\(side) x \(side) \(spec.inputChannels == 1 ? "gray" : "RGB") PNG or JPEG images"
        }
    }

    /// Decodes PNG or JPEG bytes and writes the C x S x S normalised input; `name` names the image
    /// (a file or a request) in errors.
    public func prepare(encoded bytes: [UInt8], name: String, into destination: UnsafeMutablePointer<Float>) throws {
        let image = try ImageDecoder.decode(bytes, path: name, channels: spec.inputChannels, maxPixels: maxPixels)
        let c = spec.inputChannels, s = spec.inputSize
        var pixels = [UInt8](repeating: 0, count: c * s * s)
        switch kind {
        case .recipe(let preprocessing):
            pixels.withUnsafeMutableBufferPointer { preprocessing.evaluationCrop(image, into: $0.baseAddress!) }
        case .padded(let side, let border):
            guard image.width == side && image.height == side else {
                throw InputError(name, "is \(image.width) x \(image.height); this model takes \(expectation)")
            }
            for y in 0..<side {
                for x in 0..<side {
                    for ch in 0..<c { pixels[((y + border) * s + x + border) * c + ch] = image.pixels[(y * side + x) * c + ch] }
                }
            }
        }
        ImageFolder.planes(pixels, channels: c, side: s, flip: false).withUnsafeBufferPointer {
            BatchMaker(spec: spec).copy($0.baseAddress!, to: destination, channels: c, height: s, width: s, shift: BatchMaker.noShift)
        }
    }
}
