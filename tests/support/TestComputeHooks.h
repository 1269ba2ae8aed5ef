// Test-only compute behaviours for tests/support/declai-test-node and the engine tests: a slow node
// (sleeps before each stage) and cheating nodes (what a lazy or malicious node might send instead of the
// real answer). Never linked into a shipped binary.
#pragma once

#include "ComputeHooks.h"

#include <QString>
#include <QThread>
#include <string>

namespace declai::testsupport {

class TestComputeHooks final : public node::ComputeHooks {
public:
    // cheat: "" (honest), "random" (random output), "skip" (returns its input unchanged), "stale" (replays
    // its previous answer), "sometimes" (wrong on 5% of stages).
    TestComputeHooks(int stageDelayMs, QString cheat)
        : m_stageDelayMs(stageDelayMs), m_cheat(std::move(cheat)) {}

    static bool isCheat(const QString& mode) {
        return mode == QStringLiteral("random") || mode == QStringLiteral("skip") ||
               mode == QStringLiteral("stale") || mode == QStringLiteral("sometimes");
    }

    void beforeStage(const wire::StageRequest&) override {
        if (m_stageDelayMs > 0)
            QThread::msleep(static_cast<unsigned long>(m_stageDelayMs));
    }

    void afterForward(uint64_t stageIndex, std::span<const float> input,
                      std::vector<float>& output) override {
        if (m_cheat == QStringLiteral("random") ||
            (m_cheat == QStringLiteral("sometimes") && stageIndex % 20 == 7)) {
            uint64_t state = stageIndex * 0x9E3779B97F4A7C15ull;
            for (float& v : output) {
                state ^= state << 13, state ^= state >> 7, state ^= state << 17;
                v = static_cast<float>(static_cast<int64_t>(state % 2001) - 1000) / 500.0f;
            }
        } else if (m_cheat == QStringLiteral("skip")) {
            output.assign(input.begin(), input.end());
        }
    }

    void beforeAnswer(wire::StageResponse& response) override {
        if (m_cheat != QStringLiteral("stale"))
            return;
        // Replays its previous answer when the shape allows (the first one is computed honestly).
        if (m_lastAnswer.size() == response.hidden().size())
            response.set_hidden(m_lastAnswer);
        else
            m_lastAnswer = response.hidden();
    }

private:
    int m_stageDelayMs;
    QString m_cheat;
    std::string m_lastAnswer; // compute thread only
};

} // namespace declai::testsupport
