// libFuzzer target: the contributor's settings file (NodeSettings::load: QSettings INI, then every key
// checked, [rules] through ContributionRules). Input: the file's bytes. A file that loads and validates must
// save and load again to the same budgets and rules (what the desktop app does with it).
#include "NodeSettings.h"

#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace {

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_node_settings: %s\n", what);
        std::abort();
    }
}

std::unique_ptr<QTemporaryDir> g_dir;
uint64_t g_files = 0;

// QSettings caches a file by name, size and modification time: a fresh name per input reads it anew.
QString freshPath() {
    return g_dir->filePath(QStringLiteral("node-%1.ini").arg(++g_files));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_dir = std::make_unique<QTemporaryDir>();
    if (!g_dir->isValid()) {
        std::fprintf(stderr, "fuzz_node_settings: no temporary folder\n");
        std::exit(1);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace declai::node;
    const QString path = freshPath();
    {
        QFile file(path);
        check(file.open(QIODevice::WriteOnly), "cannot write the input file");
        file.write(reinterpret_cast<const char*>(data), static_cast<qint64>(size));
    }
    const auto loaded = NodeSettings::load(path);
    QFile::remove(path);
    if (!loaded) {
        check(!loaded.error().message.empty(), "refused without a message");
        return 0;
    }
    check(static_cast<bool>(loaded->budgets.validate()), "loaded budgets that do not validate");
    if (!loaded->validate())
        return 0;
    const QString again = freshPath();
    check(static_cast<bool>(loaded->save(again)), "a valid settings file could not be saved");
    const auto reloaded = NodeSettings::load(again);
    QFile::remove(again);
    check(static_cast<bool>(reloaded), "saved settings do not load again");
    check(reloaded->budgets == loaded->budgets, "budgets changed by save and load");
    check(reloaded->rules == loaded->rules, "rules changed by save and load");
    return 0;
}
