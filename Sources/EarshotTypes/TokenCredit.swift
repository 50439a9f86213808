/// Room in a pushed stream's budget, held by one queued token: the transport that writes the token to its client
/// calls ``tokenSent()`` then (or when it abandons the token), which frees room for more audio. This is how a pushed
/// stream gets backpressure without drops, on the socket and over gRPC alike.
package protocol TokenCredit: AnyObject, Sendable {
    /// The token is written (or abandoned): its room may take more audio. Called once per token, from any task.
    func tokenSent()
}
