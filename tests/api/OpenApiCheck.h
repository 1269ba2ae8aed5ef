// Checks a live JSON answer against a schema of docs/api/openapi.yaml: required properties present, types
// as declared (object, array, string, integer, number, boolean; nullable), enums, array items and $refs
// followed. Returns the problems found ("" when it conforms). Enough to catch a document that drifted from
// the server; not a full JSON Schema validator (oneOf/allOf are not checked).
#pragma once

#include <QJsonArray>
#include <QJsonObject>
#include <QString>

namespace declai::testdata {

inline QJsonObject resolveRef(const QJsonObject& doc, QJsonObject schema) {
    for (int depth = 0; depth < 8 && schema.contains(QStringLiteral("$ref")); ++depth) {
        const QString ref = schema.value(QStringLiteral("$ref")).toString(); // #/components/schemas/X
        QJsonValue v = doc;
        for (const QString& part : ref.mid(2).split(QLatin1Char('/')))
            v = v.toObject().value(part);
        schema = v.toObject();
    }
    return schema;
}

inline QString checkAgainstSchema(const QJsonObject& doc, const QJsonObject& schemaIn,
                                  const QJsonValue& value, const QString& where) {
    const QJsonObject schema = resolveRef(doc, schemaIn);
    if (value.isNull())
        return schema.value(QStringLiteral("nullable")).toBool() || schema.isEmpty()
                   ? QString()
                   : where + QStringLiteral(" is null but not nullable\n");
    const QString type = schema.value(QStringLiteral("type")).toString();
    const bool typeOk = type.isEmpty() || (type == QStringLiteral("object") && value.isObject()) ||
                        (type == QStringLiteral("array") && value.isArray()) ||
                        (type == QStringLiteral("string") && value.isString()) ||
                        (type == QStringLiteral("boolean") && value.isBool()) ||
                        (type == QStringLiteral("number") && value.isDouble()) ||
                        (type == QStringLiteral("integer") && value.isDouble() &&
                         value.toDouble() == static_cast<double>(value.toInteger()));
    if (!typeOk)
        return where + QStringLiteral(" is not of type %1\n").arg(type);
    QString problems;
    if (schema.contains(QStringLiteral("enum")) &&
        !schema.value(QStringLiteral("enum")).toArray().contains(value))
        problems += where + QStringLiteral(" is not one of the enum values\n");
    if (value.isObject()) {
        const QJsonObject o = value.toObject();
        for (const QJsonValue& required : schema.value(QStringLiteral("required")).toArray())
            if (!o.contains(required.toString()))
                problems += where + QStringLiteral(" lacks required '%1'\n").arg(required.toString());
        const QJsonObject properties = schema.value(QStringLiteral("properties")).toObject();
        for (auto it = o.begin(); it != o.end(); ++it)
            if (properties.contains(it.key()))
                problems += checkAgainstSchema(doc, properties.value(it.key()).toObject(), it.value(),
                                               where + QLatin1Char('.') + it.key());
    }
    if (value.isArray()) {
        const QJsonObject items = schema.value(QStringLiteral("items")).toObject();
        int i = 0;
        for (const QJsonValue& item : value.toArray())
            problems += checkAgainstSchema(doc, items, item, where + QStringLiteral("[%1]").arg(i++));
    }
    return problems;
}

// The schema of `path`/`method`'s answer with `status` (application/json).
inline QJsonObject responseSchema(const QJsonObject& doc, const QString& path, const QString& method,
                                  const QString& status) {
    return doc.value(QStringLiteral("paths"))
        .toObject()
        .value(path)
        .toObject()
        .value(method)
        .toObject()
        .value(QStringLiteral("responses"))
        .toObject()
        .value(status)
        .toObject()
        .value(QStringLiteral("content"))
        .toObject()
        .value(QStringLiteral("application/json"))
        .toObject()
        .value(QStringLiteral("schema"))
        .toObject();
}

} // namespace declai::testdata
