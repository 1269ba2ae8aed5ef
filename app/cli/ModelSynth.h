// `declai-cli model synth`: writes a llama GGUF v3 with random weights in a chosen format, so speed can be
// measured on real model shapes without downloading checkpoints. The file is streamed: rows are
// generated, quantised and written in batches, so a multi-gigabyte model never sits in memory.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/GgufFile.h"
#include "declai/core/TensorType.h"

#include <QStringList>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace declai::cli {

// A sequential GGUF v3 writer: metadata and tensor infos are collected first, then writeHeader() emits
// the header and tensor data follows in declaration order through writeTensorBytes().
class GgufWriter {
public:
    explicit GgufWriter(uint64_t alignment = 32) : m_alignment(alignment) {}

    void addString(const std::string& key, const std::string& value);
    void addUInt32(const std::string& key, uint32_t value);
    void addFloat32(const std::string& key, float value);
    void addStringArray(const std::string& key, const std::vector<std::string>& values);
    void addFloat32Array(const std::string& key, const std::vector<float>& values);
    void addInt32Array(const std::string& key, const std::vector<int32_t>& values);
    // Copies a value read from another GGUF (nested arrays are not supported and return false).
    bool addValue(const std::string& key, const GgufValue& value);

    // shape[0] is the row length, as in ggml. Returns the tensor's byte size (0 if shape/type mismatch).
    uint64_t addTensor(const std::string& name, TensorType type, const std::vector<uint64_t>& shape);

    Expected<void> open(const std::string& path);
    Expected<void> writeHeader();
    // Appends data of the current tensor; padding between tensors is inserted automatically.
    Expected<void> writeTensorBytes(const void* data, size_t bytes);
    Expected<void> finish();

private:
    struct TensorInfo {
        std::string name;
        TensorType type;
        std::vector<uint64_t> shape;
        uint64_t bytes = 0;
        uint64_t offset = 0;
    };
    Expected<void> writeRaw(const void* data, size_t bytes);
    Expected<void> padTo(uint64_t alignment);

    uint64_t m_alignment;
    std::vector<std::byte> m_kv; // serialised key/value pairs
    uint64_t m_kvCount = 0;
    std::vector<TensorInfo> m_tensors;
    uint64_t m_dataBytes = 0;
    std::FILE* m_file = nullptr;
    std::string m_path;
    uint64_t m_written = 0; // bytes written to the file so far
    uint64_t m_dataStart = 0;
    size_t m_currentTensor = 0;
    uint64_t m_currentWritten = 0;

public:
    ~GgufWriter();
    GgufWriter(const GgufWriter&) = delete;
    GgufWriter& operator=(const GgufWriter&) = delete;
};

// Runs `model SUBCOMMAND ...` (args include the leading "model").
int runModelCommand(const QStringList& args, std::FILE* out, std::FILE* err);

} // namespace declai::cli
