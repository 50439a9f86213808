import NIOSSL

/// A listener's TLS files, checked once at startup so a mistake is a clear error naming the option and the file: the
/// gRPC listener's and the live view's (`--grpc-tls-cert` …, `--http-tls-cert` …).
package enum TLSFiles {
    /// Loads the PEM certificate chain, the PEM private key and, for mutual TLS, the client CA. `optionPrefix`
    /// ("--grpc", "--http") names the options in the errors.
    package static func check(certificate: String, key: String, clientCA: String?, optionPrefix: String)
        throws(TLSFilesError) {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate)
            if chain.isEmpty { throw TLSFilesError("\(certificate): no certificate in the file") }
        } catch let error as TLSFilesError {
            throw error
        } catch {
            throw TLSFilesError("\(optionPrefix)-tls-cert \(certificate): cannot load a PEM certificate (\(error))")
        }
        do {
            _ = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw TLSFilesError("\(optionPrefix)-tls-key \(key): cannot load a PEM private key (\(error))")
        }
        if let clientCA {
            do {
                if try NIOSSLCertificate.fromPEMFile(clientCA).isEmpty {
                    throw TLSFilesError("\(clientCA): no certificate in the file")
                }
            } catch let error as TLSFilesError {
                throw error
            } catch {
                throw TLSFilesError("\(optionPrefix)-client-ca \(clientCA): cannot load a PEM certificate (\(error))")
            }
        }
    }
}

/// A TLS file that cannot be used, in one line naming the option and the file.
package struct TLSFilesError: Error, Sendable, Equatable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
