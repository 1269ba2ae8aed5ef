#include "declai/server/GatewayModel.h"

#include <QtGlobal>
#include <algorithm>

namespace declai::server {

Expected<std::unique_ptr<GatewayModel>> GatewayModel::create(std::string name, std::string digest,
                                                             std::shared_ptr<const GgufFile> file,
                                                             int gatewayLayers) {
    auto weights = ModelWeights::fromFile(std::move(file));
    if (!weights)
        return weights.error();
    auto tokenizer = Tokenizer::fromGguf((*weights)->file());
    if (!tokenizer)
        return tokenizer.error();
    // An unknown pre-tokenizer or an out-of-range special id still serves, but the operator must see it:
    // prompts may then be split into other ids than the model was trained on.
    for (const std::string& warning : (*tokenizer)->warnings())
        qWarning("model '%s': tokenizer: %s", name.c_str(), warning.c_str());
    std::unique_ptr<GatewayModel> model(new GatewayModel());
    model->m_name = std::move(name);
    model->m_digest = std::move(digest);
    model->m_gatewayLayers = std::clamp<int64_t>(gatewayLayers, 1, (*weights)->config().layerCount);
    // The gateway's own layers and the head run on its CPU every token: from huge pages (the verifier's
    // re-runs of the other layers read the file mapping).
    model->m_weights =
        ModelWeights::makeResident(std::move(*weights), {0, model->m_gatewayLayers}, true).weights;
    model->m_tokenizer = std::move(*tokenizer);
    for (int32_t id = 0; id < model->m_tokenizer->vocabSize(); ++id) {
        if (model->m_tokenizer->isEndOfGeneration(id))
            model->m_stopIds.insert(id);
    }
    return model;
}

uint64_t GatewayModel::bytesPerLayer() const {
    const int64_t layers = config().layerCount;
    uint64_t largest = 0;
    for (int64_t l = 0; l < layers; ++l)
        largest = std::max(largest, m_weights->layerBytes(LayerRange{l, l + 1}));
    return largest;
}

int64_t GatewayModel::parameterCount() const {
    int64_t total = 0;
    for (const GgufTensorInfo& t : m_weights->file().tensors())
        total += static_cast<int64_t>(t.elementCount());
    return total;
}

} // namespace declai::server
