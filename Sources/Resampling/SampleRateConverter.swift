import CSampleRate

/// The one owner of a libsamplerate `SRC_STATE*` (mono), freed in `deinit`.
///
/// One shim per C call; every return code goes through ``ResamplingError/check(_:during:)``.
/// Not thread-safe: use it from one thread at a time, like the ``Resampler`` that owns it.
final class SampleRateConverter {
    private let state: OpaquePointer

    /// The corresponding C function is `src_new`.
    init(converterType: Int32) throws(ResamplingError) {
        var error: Int32 = 0
        guard let state = src_new(converterType, 1, &error) else {
            try ResamplingError.check(error == 0 ? -1 : error, during: "src_new")
            fatalError("unreachable: src_new failed without an error code")
        }
        self.state = state
    }

    deinit {
        src_delete(state)
    }

    /// One call of `src_process`: converts from `input` into `output` at `ratio` (output rate / input rate).
    /// Returns how many input frames were used and how many output frames were generated.
    /// `input` must not be NULL even for zero frames: the sinc converters skip the end-of-input flush when it is.
    func process(
        _ input: UnsafePointer<Float>, frames inputFrames: Int,
        into output: UnsafeMutablePointer<Float>, capacity outputFrames: Int,
        ratio: Double, endOfInput: Bool
    ) throws(ResamplingError) -> (used: Int, generated: Int) {
        var data = SRC_DATA()
        data.data_in = input
        data.input_frames = inputFrames
        data.data_out = output
        data.output_frames = outputFrames
        data.end_of_input = endOfInput ? 1 : 0
        data.src_ratio = ratio
        try ResamplingError.check(src_process(state, &data), during: "src_process")
        return (data.input_frames_used, data.output_frames_gen)
    }

    /// The corresponding C function is `src_reset`: clears the filter history.
    func reset() throws(ResamplingError) {
        try ResamplingError.check(src_reset(state), during: "src_reset")
    }

    /// The corresponding C function is `src_is_valid_ratio`.
    static func isValidRatio(_ ratio: Double) -> Bool {
        src_is_valid_ratio(ratio) != 0
    }
}
