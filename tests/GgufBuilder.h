// Builds GGUF images byte by byte for tests: valid files, and files broken on purpose.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace declai::testdata {

class GgufBuilder {
public:
    struct Tensor {
        std::string name;
        std::vector<uint64_t> shape;
        uint32_t type = 0; // F32
        std::vector<uint8_t> data;
    };

    explicit GgufBuilder(uint32_t version = 3) : m_version(version) {}

    void addU32(const std::string& key, uint32_t v) { kv(key, 4, &v, 4); }
    void addI32(const std::string& key, int32_t v) { kv(key, 5, &v, 4); }
    void addF32(const std::string& key, float v) { kv(key, 6, &v, 4); }
    void addBool(const std::string& key, bool v) {
        const uint8_t b = v ? 1 : 0;
        kv(key, 7, &b, 1);
    }
    void addString(const std::string& key, const std::string& v) {
        std::vector<uint8_t> bytes;
        putString(bytes, v);
        kv(key, 8, bytes.data(), bytes.size());
    }
    void addStringArray(const std::string& key, const std::vector<std::string>& values) {
        std::vector<uint8_t> bytes;
        put<uint32_t>(bytes, 8);
        put<uint64_t>(bytes, values.size());
        for (const auto& v : values)
            putString(bytes, v);
        kv(key, 9, bytes.data(), bytes.size());
    }
    void addF32Array(const std::string& key, const std::vector<float>& values) {
        std::vector<uint8_t> bytes;
        put<uint32_t>(bytes, 6);
        put<uint64_t>(bytes, values.size());
        for (float v : values)
            put<float>(bytes, v);
        kv(key, 9, bytes.data(), bytes.size());
    }
    void addI32Array(const std::string& key, const std::vector<int32_t>& values) {
        std::vector<uint8_t> bytes;
        put<uint32_t>(bytes, 5);
        put<uint64_t>(bytes, values.size());
        for (int32_t v : values)
            put<int32_t>(bytes, v);
        kv(key, 9, bytes.data(), bytes.size());
    }
    void addTensor(Tensor t) { m_tensors.push_back(std::move(t)); }
    void addF32Tensor(const std::string& name, std::vector<uint64_t> shape,
                      const std::vector<float>& values) {
        Tensor t{name, std::move(shape), 0, {}};
        t.data.resize(values.size() * 4);
        std::memcpy(t.data.data(), values.data(), t.data.size());
        m_tensors.push_back(std::move(t));
    }

    // Layout offsets of the last build(), for tests that corrupt specific fields.
    struct Layout {
        size_t tensorInfoStart = 0;
        std::vector<size_t> tensorOffsetField; // byte position of each tensor's offset field
        std::vector<size_t> tensorTypeField;
        size_t dataStart = 0;
    };

    std::vector<uint8_t> build(Layout* layout = nullptr, uint32_t alignment = 32) const {
        std::vector<uint8_t> out;
        append(out, "GGUF", 4);
        put<uint32_t>(out, m_version);
        put<uint64_t>(out, m_tensors.size());
        put<uint64_t>(out, m_kvCount);
        append(out, m_kv.data(), m_kv.size());
        Layout l;
        l.tensorInfoStart = out.size();
        uint64_t offset = 0;
        std::vector<uint64_t> offsets;
        for (const Tensor& t : m_tensors) {
            putString(out, t.name);
            put<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
            for (uint64_t d : t.shape)
                put<uint64_t>(out, d);
            l.tensorTypeField.push_back(out.size());
            put<uint32_t>(out, t.type);
            l.tensorOffsetField.push_back(out.size());
            put<uint64_t>(out, offset);
            offsets.push_back(offset);
            offset += (t.data.size() + alignment - 1) / alignment * alignment;
        }
        while (out.size() % alignment)
            out.push_back(0);
        l.dataStart = out.size();
        for (size_t i = 0; i < m_tensors.size(); ++i) {
            out.resize(l.dataStart + offsets[i]);
            append(out, m_tensors[i].data.data(), m_tensors[i].data.size());
        }
        if (layout)
            *layout = l;
        return out;
    }

    // resize + memcpy rather than insert(): GCC 12 warns falsely (-Wstringop-overflow) on byte inserts.
    static void append(std::vector<uint8_t>& out, const void* data, size_t size) {
        const size_t at = out.size();
        out.resize(at + size);
        if (size)
            std::memcpy(out.data() + at, data, size);
    }
    template <class T>
    static void put(std::vector<uint8_t>& out, T v) {
        append(out, &v, sizeof(T));
    }
    static void putString(std::vector<uint8_t>& out, const std::string& s) {
        put<uint64_t>(out, s.size());
        append(out, s.data(), s.size());
    }
    template <class T>
    static void patch(std::vector<uint8_t>& bytes, size_t at, T v) {
        std::memcpy(bytes.data() + at, &v, sizeof(T));
    }

private:
    void kv(const std::string& key, uint32_t type, const void* value, size_t size) {
        putString(m_kv, key);
        put<uint32_t>(m_kv, type);
        append(m_kv, value, size);
        ++m_kvCount;
    }

    uint32_t m_version;
    uint64_t m_kvCount = 0;
    std::vector<uint8_t> m_kv;
    std::vector<Tensor> m_tensors;
};

} // namespace declai::testdata
