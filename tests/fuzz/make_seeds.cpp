// Writes the fuzzers' seed corpora (tests/fuzz/corpus/<target>/) from the real encoders: a tiny llama GGUF
// built by tests/GgufBuilder.h, its shard manifest as the gateway serves it, one envelope of every message
// type, and a few tokenizer inputs. Run by hand after a format change:
//   build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus
#include "GgufBuilder.h"
#include "declai/core/GgufFile.h"
#include "declai/core/HiddenStates.h"
#include "declai/core/ShardManifest.h"
#include "declai/core/Version.h"
#include "declai/core/WireCodec.h"

#include <QJsonDocument>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using declai::testdata::GgufBuilder;

void write(const std::filesystem::path& path, const void* data, size_t size) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}
void write(const std::filesystem::path& path, const std::string& bytes) {
    write(path, bytes.data(), bytes.size());
}

// The whole literal, embedded NUL bytes included.
template <size_t N>
std::string literal(const char (&text)[N]) {
    return std::string(text, N - 1);
}

std::vector<float> ramp(size_t n) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 0.125f;
    return v;
}

// A one-layer llama with an 8-wide residual and a 16-token SentencePiece vocabulary, every tensor F32.
std::vector<uint8_t> tinyLlama() {
    constexpr uint64_t dim = 8, ffn = 16, vocab = 16;
    GgufBuilder b;
    b.addString("general.architecture", "llama");
    b.addString("general.name", "fuzz-seed");
    b.addU32("general.alignment", 32);
    b.addU32("llama.context_length", 64);
    b.addU32("llama.embedding_length", dim);
    b.addU32("llama.block_count", 1);
    b.addU32("llama.feed_forward_length", ffn);
    b.addU32("llama.attention.head_count", 2);
    b.addU32("llama.attention.head_count_kv", 1);
    b.addU32("llama.rope.dimension_count", 4);
    b.addF32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    b.addF32("llama.rope.freq_base", 10000.0f);
    b.addString("tokenizer.ggml.model", "llama");
    std::vector<std::string> tokens{"<unk>",
                                    "<s>",
                                    "</s>",
                                    "\xE2\x96\x81",
                                    "a",
                                    "b",
                                    "c",
                                    "\xE2\x96\x81"
                                    "a",
                                    "\xE2\x96\x81"
                                    "b",
                                    "ab",
                                    "<0x0A>",
                                    "<0xE2>",
                                    "<0x96>",
                                    "<0x81>",
                                    "!",
                                    " "};
    std::vector<float> scores;
    std::vector<int32_t> types;
    for (size_t i = 0; i < tokens.size(); ++i) {
        scores.push_back(-static_cast<float>(i));
        types.push_back(i < 3 ? 3 : (tokens[i].rfind("<0x", 0) == 0 ? 6 : 1));
    }
    types[0] = 2;
    b.addStringArray("tokenizer.ggml.tokens", tokens);
    b.addF32Array("tokenizer.ggml.scores", scores);
    b.addI32Array("tokenizer.ggml.token_type", types);
    b.addU32("tokenizer.ggml.bos_token_id", 1);
    b.addU32("tokenizer.ggml.eos_token_id", 2);
    b.addU32("tokenizer.ggml.unknown_token_id", 0);
    b.addBool("tokenizer.ggml.add_bos_token", true);
    b.addF32Tensor("token_embd.weight", {dim, vocab}, ramp(dim * vocab));
    b.addF32Tensor("blk.0.attn_norm.weight", {dim}, std::vector<float>(dim, 1.0f));
    b.addF32Tensor("blk.0.attn_q.weight", {dim, dim}, ramp(dim * dim));
    b.addF32Tensor("blk.0.attn_k.weight", {dim, dim / 2}, ramp(dim * dim / 2));
    b.addF32Tensor("blk.0.attn_v.weight", {dim, dim / 2}, ramp(dim * dim / 2));
    b.addF32Tensor("blk.0.attn_output.weight", {dim, dim}, ramp(dim * dim));
    b.addF32Tensor("blk.0.ffn_norm.weight", {dim}, std::vector<float>(dim, 1.0f));
    b.addF32Tensor("blk.0.ffn_gate.weight", {dim, ffn}, ramp(dim * ffn));
    b.addF32Tensor("blk.0.ffn_up.weight", {dim, ffn}, ramp(dim * ffn));
    b.addF32Tensor("blk.0.ffn_down.weight", {ffn, dim}, ramp(dim * ffn));
    b.addF32Tensor("output_norm.weight", {dim}, std::vector<float>(dim, 1.0f));
    b.addF32Tensor("output.weight", {dim, vocab}, ramp(dim * vocab));
    return b.build();
}

} // namespace

int main(int argc, char** argv) {
    using namespace declai;
    using namespace declai::wire;
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    const std::filesystem::path root = argv[1];

    const std::vector<uint8_t> model = tinyLlama();
    write(root / "gguf" / "tiny-llama", model.data(), model.size()); // no .gguf: not a model to keep
    auto file =
        GgufFile::fromMemory({reinterpret_cast<const std::byte*>(model.data()), model.size()}, "seed");
    if (!file) {
        std::fprintf(stderr, "seed model does not parse: %s\n", file.error().message.c_str());
        return 1;
    }
    auto manifest = ShardManifest::compute(*file);
    if (!manifest) {
        std::fprintf(stderr, "seed manifest: %s\n", manifest.error().message.c_str());
        return 1;
    }
    write(root / "manifest" / "tiny-llama.json", QJsonDocument(manifest->toJson()).toJson().toStdString());

    const std::filesystem::path envelopes = root / "envelope";
    Hello hello;
    hello.set_role(NODE);
    hello.set_min_protocol_version(kMinProtocolVersion);
    hello.set_max_protocol_version(kProtocolVersion);
    hello.set_software(declai::softwareName("declai-node"));
    write(envelopes / "hello", encodeEnvelope(HELLO, 1, hello));
    NodeStatus status;
    auto* held = status.add_shards();
    held->set_model("fuzz-seed");
    held->set_layer_begin(0);
    held->set_layer_end(1);
    write(envelopes / "node-status", encodeEnvelope(NODE_STATUS, 2, status));
    const std::vector<float> hidden = ramp(16);
    StageRequest request;
    request.set_session_id(7);
    request.set_step(1);
    request.set_model("fuzz-seed");
    request.set_layer_end(1);
    request.set_n_tokens(2);
    request.set_hidden_size(8);
    request.set_encoding(F32);
    request.set_hidden(encodeHidden(hidden, F32));
    write(envelopes / "stage-request", encodeEnvelope(STAGE_REQUEST, 3, request));
    StageResponse response;
    response.set_session_id(7);
    response.set_step(1);
    response.set_n_tokens(2);
    response.set_hidden_size(8);
    response.set_encoding(F16);
    response.set_hidden(encodeHidden(hidden, F16));
    write(envelopes / "stage-response", encodeEnvelope(STAGE_RESPONSE, 4, response, std::string(64, 's')));
    StageBatch batch;
    *batch.add_requests() = request;
    request.set_session_id(8);
    *batch.add_requests() = request;
    write(envelopes / "stage-batch", encodeEnvelope(STAGE_BATCH, 6, batch));
    StageBatchResponse answers;
    *answers.add_responses() = response;
    response.set_session_id(8);
    *answers.add_responses() = response;
    write(envelopes / "stage-batch-response",
          encodeEnvelope(STAGE_BATCH_RESPONSE, 7, answers, std::string(64, 's')));
    Submit submit;
    submit.set_model("fuzz-seed");
    submit.set_prompt("Once upon a time");
    submit.set_max_tokens(16);
    write(envelopes / "submit", encodeEnvelope(SUBMIT, 5, submit));
    ShardChallenge challenge;
    challenge.set_challenge_id(9);
    challenge.set_model("fuzz-seed");
    challenge.set_layer_begin(1);
    challenge.set_layer_end(2);
    challenge.set_nonce(std::string(32, 'n'));
    auto* span = challenge.add_ranges();
    span->set_offset(4096);
    span->set_length(1024);
    write(envelopes / "shard-challenge", encodeEnvelope(SHARD_CHALLENGE, 7, challenge));
    ShardProof proof;
    proof.set_challenge_id(9);
    proof.set_proof(std::string(32, 'p'));
    write(envelopes / "shard-proof", encodeEnvelope(SHARD_PROOF, 8, proof, std::string(64, 's')));
    Failed failed;
    failed.set_reason("no chain covers all layers");
    write(envelopes / "failed", encodeEnvelope(FAILED, 6, failed));

    const std::filesystem::path texts = root / "tokenizer";
    write(texts / "spm-text", literal("\x00Hello world! \xE2\x96\x81 <s> caf\xC3\xA9"));
    write(texts / "bpe-special", literal("\x61<|endoftext|> Hello\n\n  world 123"));
    write(texts / "gpt2-bytes", literal("\x02\xF0\x9F\x98\x80\xFF\xFE tabs\tand\r\nlines"));
    write(texts / "ids", literal("\x80\x00\x00\x00\x01\x00\x00\x01\x00\xFF\xFF\xFF\xFF\x00\x00\x7F\x00"));
    return 0;
}
