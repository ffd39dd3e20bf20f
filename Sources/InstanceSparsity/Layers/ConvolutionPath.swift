import CKernels

/// The algorithms a convolution can run on.
public enum ConvolutionPath: String, CaseIterable {
    /// The micro-kernel (`TiledConvolution`, `isp_conv_tiles`): dense convolutions at stride 1 or 2.
    case tiled
    /// im2col and OpenBLAS GEMM: anything, the fallback.
    case gemm
    /// Direct loops per channel plane (`isp_depthwise`): groups == channels.
    case depthwise
    /// Winograd's F(2x2, 3x3) (`WinogradConvolution`): 3x3 convolutions at stride 1 and padding 1,
    /// in every direction.
    case winograd
}

/// How one convolution runs, per direction: the single place that decides, from the shape and the
/// width of the engine's vectors (`Engine.datapathFloats`), for training, batched evaluation and
/// batch-1 inference alike.
public struct ConvolutionPlan: Equatable {
    /// The forward pass in training and batched evaluation.
    public var forward: ConvolutionPath
    /// The forward pass of one image (`SparseExecutor`): the forward path, unless a test forces
    /// another (so that the masked dense network it compares with runs a different algorithm).
    public var inference: ConvolutionPath
    /// dL/dx: on the micro-kernel it is the forward convolution of dy with the weights
    /// transposed and flipped, which exists only at stride 1 (and padding below the kernel size).
    public var inputGradient: ConvolutionPath
    /// dL/dW: the micro-kernel's own weight-gradient kernel over the forward input layout, or, with
    /// a Winograd forward pass, the same kernel over the transformed tiles; 1x1 convolutions stay
    /// on GEMM over the image's pixels, which beat transposing dy for them.
    public var weightGradient: ConvolutionPath

    /// Narrowest output the micro-kernel takes. Measured on VGG16 w0.5 (`isp bench --train-steps
    /// 20`): moving the 4x4 and 2x2 maps off GEMM took training from 252-284 to 269-303 images/s on
    /// two cores; the 2x2 weight gradients followed once calls took 8 images each (one core: each
    /// 2x2 backward pass 21 -> 15 ms a step). 1-wide outputs were never measured there.
    public static let narrowestTiledOutput = 2
    /// Narrowest output that runs on Winograd's F(2x2, 3x3), by the floats the FMA
    /// units take per instruction (`Engine.datapathFloats`): a tile row of 4 tiles fills a quarter
    /// of a 16-float vector and half of an 8-float one, while the direct kernel gains the full width.
    /// 16 (AVX-512, AMD Zen 5), one core, alternating (isp bench --profile): torchvision resnet18 at
    /// 224, its 3x3 layers at 56x56 1.21-1.52 -> 0.67-0.94 ms, 28x28 1.15-1.33 -> 0.72-0.97, 14x14
    /// 1.13-1.26 -> 0.78-1.22 (the whole network 19.4-21.7 -> 17.4-19.8 ms); VGG16 w0.5's 32x32 and
    /// 16x16 layers 0.12-0.13 -> 0.09-0.12 ms, but its 8x8 ones 0.07-0.13 -> 0.09-0.20 ms (U, 16/9
    /// the direct weights, is read for 16 tiles; the direct kernel has since read 8x8 maps in place,
    /// 0.77-0.81x its time there: see SMALL_MAPS in ConvTiles.c). 8 (AVX2, AMD Zen 3): VGG16 w0.5's
    /// 8x8 layers 0.195 -> 0.142 and 0.395 -> 0.253 ms (one core, isp bench --profile, two
    /// alternations), the whole pass 0.886x one core and 0.924x two, ResNet-18 w0.5 0.931x and 0.919x
    /// (benchmarks/interleave.py, 30 blocks of 20 passes, upper quartiles 0.95-0.97); from 7 wide,
    /// torchvision resnet18 at 224's 7x7 layers 3.83-4.06 -> 3.36-3.39 ms each, the pass 0.939x one
    /// core and 0.889x two (20 blocks of 10). From 4 wide (the 4x4 layers too) 0.94-0.99x of the
    /// 8-wide rule on VGG16 and ResNet-18 w0.5, within the VM's noise: not taken. 8 too on AMD Zen 4
    /// with AVX-512 (two 256-bit halves), from 7 instead of 14 wide, with the direct kernel as fast
    /// as it runs there (see the epilogue in ConvBlock.h): VGG16 w0.5 0.928 two cores, 0.970 one;
    /// ResNet-18 w0.5 1.005 two, 0.916 one; torchvision resnet18 at 224 0.946 two (interleave.py,
    /// 30 blocks of 20; 224: 20 of 10). (The Zen 5 figures above are from before that fix, which
    /// can only have made its direct kernel faster, so 14 stays.) Training takes the same rule, its
    /// forward pass and input gradient measured on AMD Zen 4 (two cores, `isp bench --train-steps
    /// 15`, alternating, images/s): against the direct kernel, ResNet-18 w0.5 215-216 -> 250-251,
    /// VGG16 w0.5 403-422 -> 444-491; from 16 wide instead of 7, 237-241 and 455-457; from 4 wide,
    /// 232-233 (against 245-247) and 449-456 (445-484).
    public static func narrowestWinogradOutput(datapathFloats: Int) -> Int { datapathFloats >= 16 ? 14 : 7 }
    /// Whether the micro-kernel takes a convolution of this grouping and stride at all (from
    /// `narrowestTiledOutput` wide): dense ones at stride 1 or 2, the strides its blocks read.
    /// The executor arranges weight panels for exactly these (`FusedConv`).
    public static func tiles(groups: Int, stride: Int) -> Bool { groups == 1 && stride <= 2 }
    /// And only with this many input channels: the products sum over them, and with one (VGG16
    /// w0.5's first convolution) the transforms were all the work: 15-20 -> 45-52 us.
    public static let fewestWinogradInputs = 16

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int, outputWidth: Int,
                datapathFloats: Int) {
        // The depthwise kernel runs "same" padding (all MobileNetV2 has); other depthwise shapes
        // run as grouped GEMM.
        if groups > 1 && groups == inChannels && groups == outChannels && kernel % 2 == 1 && padding == kernel / 2
            && kernel * kernel <= Int(ISP_DEPTHWISE_MAX_TAPS) {
            self.init(forward: .depthwise, inputGradient: .depthwise, weightGradient: .depthwise)
            return
        }
        let tiled = ConvolutionPlan.tiles(groups: groups, stride: stride) && outputWidth >= ConvolutionPlan.narrowestTiledOutput
        // The input gradient is the same shape of convolution with the channels swapped.
        let winograd = groups == 1 && kernel == 3 && stride == 1 && padding == 1
            && outputWidth >= ConvolutionPlan.narrowestWinogradOutput(datapathFloats: datapathFloats)
        let forward: ConvolutionPath = winograd && inChannels >= ConvolutionPlan.fewestWinogradInputs ? .winograd : tiled ? .tiled : .gemm
        self.init(forward: forward,
                  inputGradient: winograd && outChannels >= ConvolutionPlan.fewestWinogradInputs ? .winograd
                      : tiled && stride == 1 && padding < kernel ? .tiled : .gemm,
                  weightGradient: forward == .winograd ? .winograd : tiled && kernel > 1 ? .tiled : .gemm)
    }

    /// A plan given path by path (tests force each one; a path must be able to run the shape).
    /// `inference`: the forward path unless given.
    public init(forward: ConvolutionPath, inputGradient: ConvolutionPath, weightGradient: ConvolutionPath,
                inference: ConvolutionPath? = nil) {
        self.forward = forward; self.inputGradient = inputGradient; self.weightGradient = weightGradient
        self.inference = inference ?? forward
    }
}
