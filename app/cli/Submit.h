// declai-cli submit: sends one prompt to a declai-server and streams the continuation as it arrives.
#pragma once

#include <QStringList>
#include <cstdio>

namespace declai::cli {

// args[0] is "submit". Needs a running QCoreApplication (main.cpp makes one).
int runSubmit(const QStringList& args, std::FILE* out, std::FILE* err);

} // namespace declai::cli
