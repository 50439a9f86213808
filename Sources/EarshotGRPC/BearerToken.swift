import ConnectionAdmission
import Foundation
import GRPCCore

/// Refuses calls without metadata `authorization: Bearer <token>` (UNAUTHENTICATED). The health service is exempt:
/// load balancers probe it without credentials, and it tells only whether the daemon serves.
package struct BearerTokenInterceptor: ServerInterceptor {
    private let expected: [UInt8]

    package init(token: String) {
        expected = Array("Bearer \(token)".utf8)
    }

    package func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if context.descriptor.service.fullyQualifiedService == Grpc_Health_V1_Health.descriptor.fullyQualifiedService {
            return try await next(request, context)
        }
        let presented = request.metadata[stringValues: "authorization"].first(where: { _ in true })
        guard let presented, BearerToken.constantTimeEqual(Array(presented.utf8), expected) else {
            throw RPCError(code: .unauthenticated, message: "a valid 'authorization: Bearer <token>' is required")
        }
        return try await next(request, context)
    }

    /// A token file's token: its text without surrounding whitespace (a trailing newline is usual). Empty is an error.
    package static func readToken(file path: String) throws(GRPCConfigurationError) -> String {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw GRPCConfigurationError("\(path): cannot read the token file (\((error as NSError).localizedDescription))")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw GRPCConfigurationError("\(path): the token file is empty") }
        guard !token.contains(where: { $0.isNewline || $0 == " " }) else {
            throw GRPCConfigurationError("\(path): a token is one word (no spaces or line breaks)")
        }
        return token
    }
}

/// Adds `authorization: Bearer <token>` to every call (the client side of ``BearerTokenInterceptor``).
package struct BearerTokenClientInterceptor: ClientInterceptor {
    private let value: String

    package init(token: String) { value = "Bearer \(token)" }

    package func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>, context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.addString(value, forKey: "authorization")
        return try await next(request, context)
    }
}
