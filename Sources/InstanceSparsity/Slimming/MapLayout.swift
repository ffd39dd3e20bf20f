/// Where the channels of a map live in the weights, for a map whose channels can be removed from
/// the network for good (static slimming, `isp slim`): channel c of the map is output channel c
/// of the layers that make it (and of the channel-wise ones that carry it on), and input channel c
/// of the convolution that reads it, and of nothing else. That holds for VGG16's maps, ResNet-18's
/// map inside each block and MobileNetV2's expanded maps. It does not hold for ResNet-18's block
/// outputs: the residual adds tie a stage's block outputs to each other channel by channel, so
/// their gates have no layout (instance-wise pruning still drops their channels per image).
public struct MapLayout {
    /// Dotted layer paths: the convolution that makes the map and its batch norm (ReLU fused),
    /// whose scales Network Slimming ranks channels by.
    public let convolution: String, norm: String
    /// Channel-wise layers between the map and the convolution that reads it (MobileNetV2's
    /// depthwise convolution and its batch norm): a removed channel reaches the reader as the
    /// constant they make of a zero plane, which slimming folds into the reader's batch norm.
    public let carriers: [String]
    /// The convolution that reads the map, and (when there are carriers) the batch norm after it.
    public let reader: String, readerNorm: String?
    /// Channels of the map as built.
    public let channels: Int

    init(convolution: String, norm: String, carriers: [String] = [], reader: String, readerNorm: String? = nil, channels: Int) {
        precondition(carriers.isEmpty || readerNorm != nil, "a removed channel's constant needs a batch norm after the reader")
        self.convolution = convolution; self.norm = norm; self.carriers = carriers
        self.reader = reader; self.readerNorm = readerNorm; self.channels = channels
    }

    /// The layers whose output channels are the map's channels.
    var outputLayers: [String] { [convolution, norm] + carriers }
}
