/// The release this source tree is: `isp --version` prints it, and the git tag of a release
/// names it (semantic versioning: what a dependent package pins with `from:`).
public let instanceSparsityVersion = "0.3.0"
