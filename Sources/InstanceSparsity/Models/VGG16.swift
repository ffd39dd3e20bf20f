/// VGG16 with batch norm, CIFAR style: thirteen 3x3 convolutions in five stages, each stage
/// ending in a 2x2 max pool, then global average pooling and one linear classifier.
/// Names follow `features.<index>` as in torchvision's `vgg16_bn`.
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
            features.append(("\(index)", Conv2d(inChannels: channels, outChannels: out, kernel: 3, padding: 1, rng: &rng)))
            features.append(("\(index + 1)", BatchNorm2d(channels: out)))
            features.append(("\(index + 2)", ReLU()))
            index += 3
            channels = out
        }
        return Sequential([("features", Sequential(features)), ("avgpool", GlobalAvgPool()),
                           ("classifier", Linear(inFeatures: channels, outFeatures: spec.classes, rng: &rng))])
    }
}
