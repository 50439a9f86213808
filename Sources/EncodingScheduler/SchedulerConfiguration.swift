import Gemma4Audio
import VoiceActivity

/// Voice activity on every stream: the weights every stream shares and `VADIterator`'s settings.
package struct VoiceActivityConfiguration: Sendable {
    package var weights: SileroVADWeights
    package var events: SpeechEventConfiguration

    package init(weights: SileroVADWeights, events: SpeechEventConfiguration = SpeechEventConfiguration()) {
        self.weights = weights
        self.events = events
    }
}

/// How the scheduler batches and buffers.
package struct SchedulerConfiguration: Sendable {
    /// Tokens per encoder pass per stream (`Gemma4AudioConfiguration.blockTokensRange`): a token waits for its
    /// block. 12 by default.
    package var blockTokens = 12
    /// Dedicated compute threads (each with its own scratch).
    package var computeThreads = 1
    /// Threads each compute thread's matrix products split their columns over (itself and `productThreads` − 1
    /// workers). Results do not depend on it in f32; more threads lower one pass's latency.
    package var productThreads = 1
    /// Most streams one compute thread claims per turn and stacks into its passes; others wait for another thread
    /// or the next turn.
    package var maxBatchStreams = 8
    /// Live streams: unencoded audio held before the oldest is discarded and reported as an `overrun`.
    package var liveBacklogSamples = 16_000 * 4
    /// Pushed streams: audio not yet turned into tokens plus tokens not yet sent (in 16 kHz samples) before the
    /// pusher waits. A stream holds at most this plus one piece (or, if larger, what the encoder needs to complete a
    /// block).
    package var pushBudgetSamples = 16_000 * 2
    /// Pushed audio enters the stream in pieces of at most this many 16 kHz samples' worth, each waiting for room:
    /// however large a chunk (or however much resampling multiplies it), the stream never takes more at once.
    package var pushPieceSamples = 16_000 / 4
    /// Gaps in live audio up to this many samples are filled with zeros; longer ones start a new segment.
    package var maxGapFillSamples = 16_000
    /// Silero VAD on every stream's 16 kHz samples (speech events, the `speech` flag); nil runs none.
    package var voiceActivity: VoiceActivityConfiguration?

    package init() {}
}

