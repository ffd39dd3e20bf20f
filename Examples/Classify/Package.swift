// swift-tools-version:5.9
// An application that depends on InstanceSparsity by version, as any package would.
// OWNER: wherever the package is published. scripts/check-dependent.sh builds this example
// against a tagged copy of the checkout, pointing the URL there.
import PackageDescription

let package = Package(
    name: "Classify",
    dependencies: [
        .package(url: "https://github.com/OWNER/InstanceSparsity.git", from: "0.3.0"),
    ],
    targets: [
        .executableTarget(name: "classify", dependencies: [.product(name: "InstanceSparsity", package: "InstanceSparsity")]),
    ]
)
