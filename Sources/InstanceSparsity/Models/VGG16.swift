/// VGG16 with batch norm: thirteen 3x3 convolutions in five stages, each stage ending in a 2x2
/// max pool. The ImageNet variant is torchvision's `vgg16_bn`: convolutions with biases (redundant
/// before batch norm, but in its weights), adaptive average pooling to 7x7,
/// then Linear(512*7*7, 4096)-ReLU-Dropout-Linear(4096, 4096)-ReLU-Dropout-Linear(4096, classes)
/// (the 4096 scale with the width like the channels). The CIFAR variant pools globally into one
/// linear classifier. Names follow torchvision (`features.<index>`, `classifier.<index>`).
enum VGG16 {
    static let configuration: [Int?] = [64, 64, nil, 128, 128, nil, 256, 256, 256, nil,
                                        512, 512, 512, nil, 512, 512, 512, nil]  // nil = max pool

    static func make(_ spec: ModelSpec, rng: inout SeededGenerator) -> Sequential {
        // Where each convolution sits in `features` (a convolution takes three entries, a pool one):
        // a map is named after the convolution it feeds, so a convolution's output count is
        // looked up under the next one's index.
        var convolutionIndices: [Int] = [], position = 0
        for entry in configuration {
            if entry != nil { convolutionIndices.append(position) }
            position += entry == nil ? 1 : 3
        }
        var features: [(String, Layer)] = []
        var index = 0, channels = spec.inputChannels, made = 0
        for entry in configuration {
            guard let c = entry else {
                features.append(("\(index)", MaxPool2d(kernel: 2, stride: 2)))
                index += 1
                continue
            }
            let map = made + 1 < convolutionIndices.count ? "features.\(convolutionIndices[made + 1])" : nil
            let out = map.map { spec.channels(of: $0, standard: scaled(c, spec.width)) } ?? scaled(c, spec.width)
            if index > 0 {
                let producer = convolutionIndices[made - 1]
                let layout = MapLayout(convolution: "features.\(producer)", norm: "features.\(producer + 1)",
                                       reader: "features.\(index)", channels: channels)
                features.append(("gate\(index)", ChannelGate(label: "features.\(index)", layout: layout)))
            }
            features.append(("\(index)", Conv2d(inChannels: channels, outChannels: out, kernel: 3, padding: 1,
                                                 bias: spec.stem == .imagenet, rng: &rng)))
            features.append(("\(index + 1)", BatchNorm2d(channels: out)))
            features.append(("\(index + 2)", ReLU()))
            index += 3
            made += 1
            channels = out
        }
        guard spec.stem == .imagenet else {
            return Sequential([("features", Sequential(features)), ("avgpool", GlobalAvgPool()),
                               ("classifier", Linear(inFeatures: channels, outFeatures: spec.classes, rng: &rng))])
        }
        let pooled = 7, hidden = scaled(4096, spec.width)
        let classifier = Sequential([
            Linear(inFeatures: channels * pooled * pooled, outFeatures: hidden, rng: &rng), ReLU(),
            Dropout(p: 0.5, seed: rng.next()),
            Linear(inFeatures: hidden, outFeatures: hidden, rng: &rng), ReLU(), Dropout(p: 0.5, seed: rng.next()),
            Linear(inFeatures: hidden, outFeatures: spec.classes, rng: &rng),
        ])
        return Sequential([("features", Sequential(features)), ("avgpool", AdaptiveAvgPool2d(size: pooled)),
                           ("classifier", classifier)])
    }
}
