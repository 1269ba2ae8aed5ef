#include "declai/core/ShardProof.h"

#include <QByteArrayView>

namespace declai {

ShardProofHasher::ShardProofHasher(std::string_view nonce) {
    m_hash.addData(QByteArrayView("DECLAI-SHARD-PROOF-1"));
    m_hash.addData(QByteArrayView(nonce.data(), qsizetype(nonce.size())));
}

void ShardProofHasher::addRange(uint64_t offset, std::span<const std::byte> bytes) {
    const uint64_t header[2] = {offset, uint64_t(bytes.size())};
    m_hash.addData(QByteArrayView(reinterpret_cast<const char*>(header), qsizetype(sizeof header)));
    m_hash.addData(QByteArrayView(reinterpret_cast<const char*>(bytes.data()), qsizetype(bytes.size())));
}

std::string ShardProofHasher::result() {
    const QByteArray r = m_hash.result();
    return std::string(r.constData(), size_t(r.size()));
}

} // namespace declai
