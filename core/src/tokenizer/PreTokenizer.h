// BPE pre-tokenizers: hand-written matchers equivalent to the regexes llama.cpp applies before byte-level
// BPE. They work on code points and on "segments" (runs of code points): each stage refines the segments of
// the previous one and never lets a match cross a segment boundary, which is how llama.cpp chains its
// regexes.
#pragma once

#include "declai/core/Tokenizer.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace declai::tokenizer::detail {

using Segments = std::vector<size_t>; // lengths in code points, in order, summing to the text length

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
Segments splitGpt2(const std::vector<uint32_t>& cpts, const Segments& segments);

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+   -- maxDigits 3 is Llama 3, maxDigits 1 is Qwen2.
Segments splitLlama3Style(const std::vector<uint32_t>& cpts, const Segments& segments, size_t maxDigits);

// Mistral's Tekken (contractions false, maxDigits 1) and GPT-4o's o200k (true, 3), as llama.cpp runs them
// (std::regex over text whose non-ASCII code points are collapsed to their category, so a non-ASCII letter
// counts as both upper and lower case and combining marks are not letters):
// [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+C?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+
// ((?=[\p{L}])([^A-Z]))*C?|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
// where C is (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]) with contractions, else nothing.
Segments splitCaseAware(const std::vector<uint32_t>& cpts, const Segments& segments, bool contractions,
                        size_t maxDigits);

// The full chain for a pre-tokenizer kind; returns UTF-8 words (before the GPT-2 byte mapping).
std::vector<std::string> preTokenizeToWords(PreTokenizerKind kind, std::string_view text);

} // namespace declai::tokenizer::detail
