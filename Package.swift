// swift-tools-version:5.9
import PackageDescription

// Release-mode flags for the numeric core: bounds checks stay in debug builds only, and SIMD code
// may use AVX2 and FMA (x86-64-v3, every x86 server CPU since 2013).
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo", "-Xfrontend", "-target-cpu", "-Xfrontend", "haswell"],
                                         .when(configuration: .release))]

let package = Package(
    name: "InstanceSparsity",
    products: [
        .library(name: "InstanceSparsity", targets: ["InstanceSparsity"]),
        .executable(name: "isp", targets: ["isp"]),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        // PNG and JPEG decoding: libpng's and libjpeg's setjmp error handling stays in C.
        .target(name: "CImageCodecs", dependencies: ["CPNG", "CJPEG"], cSettings: [.unsafeFlags(["-O2"])],
                linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        // The batch-1 convolution micro-kernel, compiled for AVX-512 and AVX2 and picked at run time.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "InstanceSparsity", dependencies: ["COpenBLAS", "CZlib", "CPNG", "CImageCodecs", "CKernels"],
                swiftSettings: fast),
        // `isp serve`: HTTP/1.1 from libmicrohttpd; its request protocol and variadic start stay in C.
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .target(name: "CHTTPServer", dependencies: ["CMicroHTTPD"], linkerSettings: [.linkedLibrary("microhttpd")]),
        .target(name: "InstanceSparsityServing", dependencies: ["InstanceSparsity", "CHTTPServer"]),
        .executableTarget(name: "isp", dependencies: ["InstanceSparsity", "InstanceSparsityServing"], swiftSettings: fast),
        // Fixtures/: torchvision's logits and a converted file (benchmarks/make_torchvision_fixtures.py).
        .testTarget(name: "InstanceSparsityTests", dependencies: ["InstanceSparsity"], exclude: ["Fixtures"]),
    ]
)
