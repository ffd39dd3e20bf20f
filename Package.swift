// swift-tools-version:5.9
import PackageDescription

// No unsafeFlags anywhere: SwiftPM refuses them in a package resolved by version, so with them
// nobody could depend on this one (scripts/check-dependent.sh checks). Release builds are -O with
// whole-module optimisation already. Speed comes from the C kernels, which choose AVX-512 or
// AVX2 per function at run time, and from unsafe buffers in hot Swift loops.
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
        .target(name: "CImageCodecs", dependencies: ["CPNG", "CJPEG"],
                linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        // The convolution micro-kernels and hot plane loops, compiled for AVX-512 and AVX2 (target
        // attributes) and picked at run time. At SwiftPM's -O2 they run as fast as at -O3 (perf
        // samples per kernel, three models' training; see the pragmas in WeightGradient.c).
        .target(name: "CKernels"),
        .target(name: "InstanceSparsity", dependencies: ["COpenBLAS", "CZlib", "CPNG", "CImageCodecs", "CKernels"]),
        // `isp serve`: HTTP/1.1 from libmicrohttpd; its request protocol and variadic start stay in C.
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .target(name: "CHTTPServer", dependencies: ["CMicroHTTPD"], linkerSettings: [.linkedLibrary("microhttpd")]),
        .target(name: "InstanceSparsityServing", dependencies: ["InstanceSparsity", "CHTTPServer"]),
        // `mpirun -np N isp ...`: Open MPI behind the library's ProcessGroup. Only isp links it, so
        // the library (and a package depending on it) needs no MPI. Open MPI's MPI_COMM_WORLD,
        // MPI_FLOAT and MPI_SUM are macros over addresses of globals, which Swift cannot import:
        // the calls stay in a small C target.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CMPIShim", dependencies: ["CMPI"], linkerSettings: [.linkedLibrary("mpi")]),
        .target(name: "InstanceSparsityMPI", dependencies: ["InstanceSparsity", "CMPIShim"]),
        .executableTarget(name: "isp", dependencies: ["InstanceSparsity", "InstanceSparsityServing", "InstanceSparsityMPI"]),
        // Fixtures/: torchvision's logits and a converted file (benchmarks/make_torchvision_fixtures.py),
        // slimmed networks' logits and one converted file (benchmarks/make_slimmed_fixtures.py).
        .testTarget(name: "InstanceSparsityTests", dependencies: ["InstanceSparsity", "CKernels"], exclude: ["Fixtures"]),
    ]
)
