/// The stream vocabulary (token flags, event kinds, options, output kinds) is part of the wire format; every user of
/// the protocol gets it with WireProtocol.
@_exported import EarshotTypes
