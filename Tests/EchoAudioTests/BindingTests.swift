@testable import EchoAudio
import Foundation
import Testing

/// Strict binding: a checkpoint that does not hold exactly the encoder's tensors is refused, naming the tensor.
@Suite struct BindingTests {
    /// Copies the `base` fixture directory with its tensors edited by `edit`, loads it, and returns the error.
    private func loadError(_ edit: (inout [(name: String, shape: [Int], values: [Float])]) -> Void,
                           fixture: String = "base") throws -> EchoError? {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = EchoFixtures.modelPath(fixture)
        for file in [EchoModel.DirectoryFile.marker, EchoModel.DirectoryFile.dimensions] {
            try FileManager.default.copyItem(atPath: "\(source)/\(file)", toPath: "\(directory)/\(file)")
        }
        var tensors = try readSafetensors("\(source)/\(EchoModel.DirectoryFile.weights)")
        edit(&tensors)
        try writeSafetensors(tensors, to: "\(directory)/\(EchoModel.DirectoryFile.weights)")
        do {
            _ = try EchoModel.load(path: directory)
            return nil
        } catch let error as EchoError {
            return error
        }
    }

    @Test func rewrittenCheckpointLoads() throws {
        #expect(try loadError { _ in } == nil)
        #expect(try loadError({ _ in }, fixture: "zerokey") == nil)
    }

    @Test func missingTensorIsNamed() throws {
        let error = try #require(try loadError { $0.removeAll { $0.name == "blockA.1.attna.rotary.inv_freq" } })
        #expect(error.kind == .invalidWeights)
        #expect(error.tensor == "blockA.1.attna.rotary.inv_freq")
        #expect(error.description.contains("is missing (expected shape [4])"))
    }

    @Test func wrongShapeIsNamed() throws {
        let error = try #require(try loadError { tensors in
            let i = tensors.firstIndex { $0.name == "we.2.weight" }!
            tensors[i].shape = [32, 32 * 5, 1]
        })
        #expect(error.tensor == "we.2.weight")
        #expect(error.description.contains("has shape [32, 160, 1], expected [32, 32, 5]"))
    }

    @Test func unusedTensorIsNamed() throws {
        let error = try #require(try loadError {
            $0.append(("blockA.2.lna.weight", [32], .init(repeating: 1, count: 32)))
        })
        #expect(error.tensor == "blockA.2.lna.weight")
        #expect(error.description.contains("is not part of Echo's AudioEncoder"))
    }

    @Test func nonFiniteWeightIsNamed() throws {
        let error = try #require(try loadError { tensors in
            let i = tensors.firstIndex { $0.name == "se.0.bias" }!
            tensors[i].values[3] = .nan
        })
        #expect(error.tensor == "se.0.bias")
        #expect(error.description.contains("element 3"))
    }

    /// A full Echo state_dict: only `encoder.*` is the encoder's; there, strictness applies as to a bare one.
    @Test func fullEchoStateDictIsStrictUnderEncoder() throws {
        let unused = try #require(try loadError({ $0.append(("encoder.extra", [1], [0])) }, fixture: "zerokey"))
        #expect(unused.tensor == "encoder.extra")
        let missing = try #require(try loadError({ $0.removeAll { $0.name == "encoder.ln_enc.weight" } },
                                                 fixture: "zerokey"))
        #expect(missing.tensor == "encoder.ln_enc.weight")
        // The decoder's tensors are not the encoder's business.
        #expect(try loadError({ $0.removeAll { $0.name.hasPrefix("decoder.") } }, fixture: "zerokey") == nil)
    }

    @Test func dimensionsAreChecked() throws {
        func error(_ json: String) -> String? {
            do {
                _ = try EchoConfiguration(dimensionsJSON: Data(json.utf8), path: "d.json")
                return nil
            } catch { return "\(error)" }
        }
        let good = #"{"mels": 16, "audio_ctx": 48, "audio_dims": 32, "audio_head": 4, "encoder_idx": 2, "act": "gelu"}"#
        #expect(error(good) == nil)
        #expect(error(#"{"mels": 16, "audio_ctx": 48, "audio_dims": 32, "audio_head": 4, "act": "gelu"}"#)
                == "d.json: has no \"encoder_idx\"")
        #expect(error(good.replacingOccurrences(of: "\"audio_dims\": 32", with: "\"audio_dims\": \"32\""))
                == "d.json: \"audio_dims\" is not an integer")
        #expect(error(good.replacingOccurrences(of: "\"audio_head\": 4", with: "\"audio_head\": 3"))?
                    .contains("is not \"audio_head\" 3 heads of an even width") == true)
        #expect(error(good.replacingOccurrences(of: "\"audio_ctx\": 48", with: "\"audio_ctx\": 5000"))
                == "d.json: \"audio_ctx\" is 5000, outside 1...4096")
    }

    /// The seed's `act_map.get(act, nn.GELU())`: an unknown name is GELU, as the seed builds it.
    @Test func unknownActivationIsTheSeedsGELU() {
        #expect(EchoActivation(seedName: "swish") == .gelu)
        #expect(EchoActivation(seedName: "leaky_relu") == .leakyReLU)
    }

    @Test func notAnEchoDirectory() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(!EchoModel.isEchoModel(path: directory))
        #expect(EchoModel.isEchoModel(path: "random:echo"))
        #expect(EchoModel.isEchoModel(path: EchoFixtures.modelPath("base")))
        #expect(throws: EchoError.self) { try EchoModel.load(path: directory) }
    }

    /// Products, softmax rows, activations and log-mel frames split over threads give the same bits as one thread.
    @Test func threadCountDoesNotChangeTheResult() throws {
        // ctx 300: enough rows that every row loop splits (their grain is 64 rows).
        let model = try EchoModel(randomWeights: EchoConfiguration(melBins: 16, context: 300, width: 32, headCount: 4,
                                                                    layerCount: 2, activation: "gelu"))
        let c = model.configuration
        let audio = Array(try EchoFixtures.audio("speech").prefix(c.frontend.windowSamples))
        var one = [Float](repeating: 0, count: c.context * c.width), two = one
        audio.withUnsafeBufferPointer {
            model.encodeWindow($0, inputs: .fused, scratch: EchoScratch(model: model, threads: 1), into: &one)
            model.encodeWindow($0, inputs: .fused, scratch: EchoScratch(model: model, threads: 2), into: &two)
        }
        #expect(one == two)
    }

    /// Attention in blocks of 256 query rows, each scoring only the keys before its end (the rest have logit 0),
    /// agrees with every score computed and multiplied by the mask; ctx 600 makes three blocks, the last ragged.
    @Test func skippingMaskedScoresKeepsTheResult() throws {
        let model = try EchoModel(randomWeights: EchoConfiguration(melBins: 16, context: 600, width: 32, headCount: 4,
                                                                    layerCount: 2, activation: "gelu"))
        let c = model.configuration
        let audio = Array(try EchoFixtures.audio("speech").prefix(c.frontend.windowSamples))
        let (blocked, everyScore) = (EchoScratch(model: model, threads: 2), EchoScratch(model: model, threads: 2))
        everyScore.skipsMaskedScores = false
        for inputs in [EchoInputs.mel, .waveform, .fused] {
            var fast = [Float](repeating: 0, count: c.context * c.width), full = fast
            audio.withUnsafeBufferPointer {
                model.encodeWindow($0, inputs: inputs, scratch: blocked, into: &fast)
                model.encodeWindow($0, inputs: inputs, scratch: everyScore, into: &full)
            }
            let worst = zip(fast, full).map { abs($0 - $1) }.max() ?? .nan
            let largest = full.map(\.magnitude).max() ?? .nan
            print("[echo] blocked attention vs every score, \(inputs): max abs \(worst) (max |x| \(largest))")
            #expect(fast.allSatisfy(\.isFinite) && worst <= 2e-6 * max(1, largest))
            #expect(fast != full, "the blocks sum in another order: equal bits would mean the skip never ran")
        }
    }

    /// Where a score can overflow, the blocked attention must not skip: the seed's `scores * mask` turns an infinite
    /// future score into NaN (∞ · 0), and Earshot must too. A one-layer copy of `base` at ctx 600 (three blocks of
    /// query rows, so the skip would run), whose query is a huge constant — weight zeroed, bias `c` — and key weight
    /// ×100, makes some scores overflow. Over a range of `c`, each that leaves some rows finite and makes others NaN
    /// is checked: the result has the bits of scoring every key, NaN rows included. (Guard removed, the blocked rows
    /// whose overflow lies only in their future come out finite, and this fails.)
    @Test func anOverflowingFutureScoreIsNaNAsInTheSeed() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = EchoFixtures.modelPath("base")
        try FileManager.default.copyItem(atPath: "\(source)/\(EchoModel.DirectoryFile.marker)",
                                         toPath: "\(directory)/\(EchoModel.DirectoryFile.marker)")
        let dimensions = try String(contentsOfFile: "\(source)/\(EchoModel.DirectoryFile.dimensions)", encoding: .utf8)
        try dimensions.replacingOccurrences(of: "\"encoder_idx\": 2", with: "\"encoder_idx\": 1")
            .replacingOccurrences(of: "\"audio_ctx\": 48", with: "\"audio_ctx\": 600")
            .write(toFile: "\(directory)/\(EchoModel.DirectoryFile.dimensions)", atomically: true, encoding: .utf8)
        var base = try readSafetensors("\(source)/\(EchoModel.DirectoryFile.weights)")
            .filter { !$0.name.hasPrefix("blockA.1.") }
        for i in base.indices where base[i].name == "positional_embedding" {
            // 600 rows: the 48 stored ones over and over (any values do here: both paths see the same).
            let rows = base[i].values
            base[i].shape = [600, 32]
            base[i].values = (0..<600 * 32).map { rows[$0 % rows.count] }
        }
        let audio = try EchoFixtures.audio("speech")
        var checked = 0
        for c in (0..<40).map({ Float(5e35 * pow(1.05, Double($0))) }) {
            var tensors = base
            for i in tensors.indices {
                switch tensors[i].name {
                case "blockA.0.attna.query.weight": tensors[i].values = tensors[i].values.map { _ in 0 }
                case "blockA.0.attna.query.bias": tensors[i].values = tensors[i].values.map { _ in c }
                case "blockA.0.attna.key.weight": tensors[i].values = tensors[i].values.map { $0 * 100 }
                default: break
                }
            }
            try writeSafetensors(tensors, to: "\(directory)/\(EchoModel.DirectoryFile.weights)")
            let model = try EchoModel.load(path: directory)
            let (t, d) = (model.configuration.context, model.configuration.width)
            let window = Array(audio.prefix(model.configuration.frontend.windowSamples))
            let (blocked, everyScore) = (EchoScratch(model: model), EchoScratch(model: model))
            everyScore.skipsMaskedScores = false
            var fast = [Float](repeating: 0, count: t * d), full = fast
            window.withUnsafeBufferPointer {
                model.encodeWindow($0, inputs: .mel, scratch: blocked, into: &fast)
                model.encodeWindow($0, inputs: .mel, scratch: everyScore, into: &full)
            }
            let nanRows = (0..<t).filter { row in full[(row * d)..<((row + 1) * d)].contains { $0.isNaN } }
            guard !nanRows.isEmpty, nanRows.count < t else { continue }
            checked += 1
            #expect(fast.map(\.bitPattern) == full.map(\.bitPattern), "query bias \(c): \(nanRows.count) NaN rows")
        }
        print("[echo] overflowing scores: \(checked) query biases with some rows NaN, others finite")
        #expect(checked > 0, "no query bias made some rows overflow and left others finite")
    }

    /// `random:echo`: the seed's Dimensions, deterministic weights.
    @Test func randomWeightsAtTheSeedsDimensions() throws {
        let model = try EchoModel(randomWeights: EchoConfiguration(melBins: 16, context: 48, width: 32, headCount: 4,
                                                                    layerCount: 2, activation: "gelu"))
        let twin = try EchoModel(randomWeights: model.configuration)
        let scratch = EchoScratch(model: model)
        let samples = (0..<7000).map { Float(sin(Double($0) * 0.05)) * 0.3 }
        var a = [Float](repeating: 0, count: 48 * 32), b = a
        samples.withUnsafeBufferPointer {
            model.encodeWindow($0, inputs: .fused, scratch: scratch, into: &a)
            twin.encodeWindow($0, inputs: .fused, scratch: scratch, into: &b)
        }
        #expect(a == b)
        #expect(a.allSatisfy { $0.isFinite })
        #expect(EchoConfiguration.seed.context == 1500 && EchoConfiguration.seed.width == 512)
    }
}

/// The seed's activations against PyTorch's modules, within a float32 ulp or two.
@Suite struct ActivationTests {
    @Test(arguments: ActivationReference.outputs.map(\.0))
    func matchesPyTorch(name: String) throws {
        let activation = try #require(EchoActivation(rawValue: name))
        let expected = ActivationReference.outputs.first { $0.0 == name }!.1
        var values = ActivationReference.inputs
        values.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, count: $0.count) }
        for (got, want) in zip(values, expected) {
            #expect(abs(got - want) <= 2 * max(want.ulp, Float.leastNormalMagnitude), "\(name): \(got) vs \(want)")
        }
    }
}
