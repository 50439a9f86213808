import Foundation

/// The live view's files (Sources/LiveView/Assets), compiled into the binary by LiveViewAssetsPlugin. A request
/// path is looked up in this table and nowhere else: there is no directory to list and no path to escape from.
package enum LiveViewAssets {
    package struct Asset: Sendable {
        package let mediaType: String
        package let bytes: [UInt8]
    }

    /// Request path → asset: `/` is `index.html`, every file is also at `/<its name>`.
    package static let byPath: [String: Asset] = {
        var table: [String: Asset] = [:]
        for (name, mediaType, base64) in generated {
            guard let data = Data(base64Encoded: base64) else { preconditionFailure("asset \(name) is not base64") }
            table["/" + name] = Asset(mediaType: mediaType, bytes: [UInt8](data))
        }
        table["/"] = table["/index.html"]
        return table
    }()
}
