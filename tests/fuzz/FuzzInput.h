// Splits a fuzzer's input into the values a target needs, without reading past its end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace declai::fuzz {

class FuzzInput {
public:
    FuzzInput(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}

    bool empty() const { return m_offset >= m_size; }
    uint8_t byte() { return empty() ? 0 : m_data[m_offset++]; }
    uint32_t u32() {
        uint32_t value = 0;
        for (int i = 0; i < 4; ++i)
            value = (value << 8) | byte();
        return value;
    }
    // Up to `maxBytes` bytes, as much as is left.
    std::string_view bytes(size_t maxBytes) {
        const size_t n = std::min(maxBytes, m_size - std::min(m_offset, m_size));
        std::string_view out(reinterpret_cast<const char*>(m_data) + m_offset, n);
        m_offset += n;
        return out;
    }
    std::string_view rest() { return bytes(m_size); }

private:
    const uint8_t* m_data;
    size_t m_size;
    size_t m_offset = 0;
};

} // namespace declai::fuzz
