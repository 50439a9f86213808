import EarshotTypes
import Foundation

/// The status as the socket's `statusReport` carries it: JSON with sorted keys.
package enum StatusJSON {
    package static func encode(_ status: DaemonStatus) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(status) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
