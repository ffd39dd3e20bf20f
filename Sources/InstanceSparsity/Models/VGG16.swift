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
        var features: [(String, Layer)] = []
        var index = 0, channels = spec.inputChannels
        for entry in configuration {
            guard let c = entry else {
                features.append(("\(index)", MaxPool2d(kernel: 2, stride: 2)))
                index += 1
                continue
            }
            let out = scaled(c, spec.width)
            if index > 0 { features.append(("gate\(index)", ChannelGate(label: "features.\(index)"))) }
            features.append(("\(index)", Conv2d(inChannels: channels, outChannels: out, kernel: 3, padding: 1,
                                                 bias: spec.stem == .imagenet, rng: &rng)))
            features.append(("\(index + 1)", BatchNorm2d(channels: out)))
            features.append(("\(index + 2)", ReLU()))
            index += 3
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
