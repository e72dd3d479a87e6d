// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Souk",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "souk", targets: ["souk"]),
        .library(name: "SoukCore", targets: ["SoukCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .target(name: "SoukCrypto", dependencies: ["CSodium"]),
        .target(name: "SoukCore", dependencies: ["SoukCrypto"]),
        .target(
            name: "SoukWire",
            dependencies: [
                "SoukCore", "SoukCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SoukStore",
            dependencies: [
                "SoukCore", "SoukCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "SoukNode",
            dependencies: [
                "SoukCore", "SoukCrypto", "SoukStore", "SoukWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SoukRPC",
            dependencies: [
                "SoukCore", "SoukCrypto", "SoukStore", "SoukWire", "SoukNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("openrpc.json")]
        ),
        .executableTarget(
            name: "souk",
            dependencies: [
                "SoukCore", "SoukCrypto", "SoukStore", "SoukNode", "SoukRPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            plugins: ["BuildInfoPlugin"]
        ),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .executableTarget(
            name: "souk-bench",
            dependencies: ["SoukCore", "SoukCrypto", "SoukStore"],
            path: "Benchmarks/souk-bench"
        ),
        .testTarget(name: "SoukCryptoTests", dependencies: ["SoukCrypto"]),
        .testTarget(name: "SoukCoreTests", dependencies: ["SoukCore", "SoukCrypto"]),
        .testTarget(
            name: "SoukWireTests",
            dependencies: [
                "SoukWire", "SoukCore", "SoukCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SoukStoreTests", dependencies: ["SoukStore", "SoukCore", "SoukCrypto"], exclude: ["Fixtures"]),
        .testTarget(
            name: "SoukRPCTests",
            dependencies: [
                "SoukRPC", "SoukNode", "SoukStore", "SoukCore", "SoukCrypto",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "SoukNodeTests", dependencies: ["SoukNode", "SoukStore", "SoukCore", "SoukCrypto"]),
        .testTarget(name: "SoukEndToEndTests", dependencies: ["SoukCore", "SoukRPC"]),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .system && target.type != .plugin {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
