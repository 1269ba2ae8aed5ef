// libFuzzer target: the JSON bodies of POST /v1/completions and POST /v1/chat/completions as the HTTP API
// parses them (api::parseCompletionRequest, the function CompletionsHandler calls), chat prompts rendered
// with a real chat template. Input: one byte (bit 0: chat; bits 1-2: which template the model has), then the
// body. A parsed request must be one the handler can run: a model, sampler values in range.
#include "FuzzInput.h"
#include "api/CompletionsHandler.h"

#include <QByteArray>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>

namespace {

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_completions: %s\n", what);
        std::abort();
    }
}

// Templates as models carry them (tokenizer.chat_template): none, ChatML, Llama 3, and one no family matches.
const char* const kTemplates[] = {
    "",
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% "
    "endif %}",
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' "
    "+ message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{{ content }}"
    "{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}",
    "{{ messages | tojson }}",
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace declai::server::api;
    declai::fuzz::FuzzInput in(data, size);
    const uint8_t mode = in.byte();
    const bool chat = (mode & 1) != 0;
    const std::string chatTemplate = kTemplates[(mode >> 1) & 3];
    const std::string_view body = in.rest();
    const auto parsed =
        parseCompletionRequest(QByteArray(body.data(), static_cast<qsizetype>(body.size())), chat,
                               [&chatTemplate](const std::string&) { return chatTemplate; });
    if (const auto* p = std::get_if<CompletionParams>(&parsed)) {
        check(!p->model.empty(), "accepted without a model");
        check(p->chat == chat, "chat flag changed");
        check(static_cast<bool>(declai::validate(p->sampler)), "accepted sampler values the sampler refuses");
        check(p->maxTokens >= 1 && p->maxTokens <= 1000000, "max_tokens outside [1, 1000000]");
        for (const auto& stop : p->stop)
            check(!stop.empty(), "an empty stop string");
        for (const auto& range : p->promptMarkup)
            check(range.begin <= range.end && range.end <= p->prompt.size(), "markup outside the prompt");
    } else {
        check(!std::get<ApiError>(parsed).message.isEmpty(), "refused without a message");
    }
    return 0;
}
