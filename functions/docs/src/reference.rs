//! The API reference in Markdown (`docs/api-reference.md`), rendered from
//! the OpenAPI document, so that the reference says what the document says
//! and nothing else: per tag its operations (route, summary, description,
//! authentication, parameters, body, responses), then every schema with its
//! fields. The prose in `docs/` explains the rules behind them and links
//! here.
//!
//! It reads the document as JSON (OpenAPI 3.1, as utoipa writes it): `$ref`s
//! become links to the schemas' sections, `oneOf`/`anyOf` read "or",
//! `allOf` reads "and". Anchors follow GitHub's heading slugs.

use std::{collections::BTreeSet, fmt::Write};

use serde_json::Value;

/// The HTTP methods of a path item, in the order the reference lists them.
const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "options", "head", "trace",
];

/// `docs/api-reference.md` for `doc`.
pub fn markdown(doc: &utoipa::openapi::OpenApi) -> String {
    let doc = serde_json::to_value(doc).expect("the OpenAPI document serialises");
    let mut out = String::new();
    header(&doc, &mut out);
    for tag in tags(&doc) {
        operations(&doc, &tag, &mut out);
    }
    schemas(&doc, &mut out);
    out
}

/// Every operation of the document: (tag, method, path, operation), in the
/// document's tag order, then path order, then [`METHODS`] order.
fn all_operations(doc: &Value) -> Vec<(String, &'static str, &str, &Value)> {
    let mut list = Vec::new();
    for tag in tags(doc) {
        for (path, item) in entries(&doc["paths"]) {
            for method in METHODS {
                let operation = &item[method];
                if operation.is_object() && operation_tag(operation) == tag {
                    list.push((tag.clone(), method, path.as_str(), operation));
                }
            }
        }
    }
    list
}

/// The tags in the document's order, then any an operation uses that the
/// document does not list (under "other" when it has none).
fn tags(doc: &Value) -> Vec<String> {
    let mut tags: Vec<String> = items(&doc["tags"])
        .filter_map(|tag| tag["name"].as_str().map(str::to_owned))
        .collect();
    for (_, item) in entries(&doc["paths"]) {
        for method in METHODS {
            if item[method].is_object() {
                let tag = operation_tag(&item[method]);
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
        }
    }
    tags
}

fn operation_tag(operation: &Value) -> String {
    operation["tags"][0].as_str().unwrap_or("other").to_owned()
}

fn header(doc: &Value, out: &mut String) {
    let info = &doc["info"];
    let _ = writeln!(out, "# API reference\n");
    let _ = writeln!(
        out,
        "<!-- Generated from docs/openapi.json by chatlogger_docs::reference; \
         do not edit. `make generated` rewrites it, `make check` fails when it is stale. -->\n"
    );
    let _ = writeln!(
        out,
        "{} {}, OpenAPI {} ([openapi.json](openapi.json), served at `GET /openapi.json`).\n",
        text(&info["title"]),
        text(&info["version"]),
        text(&doc["openapi"]),
    );
    paragraph(&info["description"], out);

    let _ = writeln!(out, "## Authentication\n");
    let _ = writeln!(out, "| scheme | type | sent in |\n|---|---|---|");
    for (name, scheme) in entries(&doc["components"]["securitySchemes"]) {
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} |",
            text(&scheme["type"]),
            scheme_location(scheme)
        );
    }
    out.push('\n');

    let _ = writeln!(out, "## Routes\n");
    let _ = writeln!(out, "| route | tag | summary |\n|---|---|---|");
    for (tag, method, path, operation) in all_operations(doc) {
        let route = route_heading(method, path);
        let _ = writeln!(
            out,
            "| [{route}](#{}) | [{tag}](#{}) | {} |",
            slug(&route),
            slug(&tag),
            cell(&first_sentence(&operation["summary"])),
        );
    }
    let _ = writeln!(out, "\nEvery schema is under [Schemas](#schemas).\n");
}

/// Where a security scheme's credential travels: `header x-...`, `cookie ...`.
fn scheme_location(scheme: &Value) -> String {
    match (scheme["in"].as_str(), scheme["name"].as_str()) {
        (Some(place), Some(name)) => format!("{place} `{name}`"),
        _ => text(&scheme["scheme"]),
    }
}

/// `` `GET /chats` ``: an operation's heading, and the text its anchor is made of.
fn route_heading(method: &str, path: &str) -> String {
    format!("`{} {path}`", method.to_uppercase())
}

fn operations(doc: &Value, tag: &str, out: &mut String) {
    let _ = writeln!(out, "## {tag}\n");
    if let Some(described) = items(&doc["tags"]).find(|t| t["name"] == tag) {
        paragraph(&described["description"], out);
    }
    for (_, method, path, operation) in all_operations(doc).into_iter().filter(|(t, ..)| t == tag) {
        let _ = writeln!(out, "### {}\n", route_heading(method, path));
        paragraph(&operation["summary"], out);
        paragraph(&operation["description"], out);

        let _ = writeln!(out, "- Authentication: {}", security(doc, operation));
        if let Some(id) = operation["operationId"].as_str() {
            let _ = writeln!(out, "- Operation id: `{id}`");
        }
        let body = &operation["requestBody"];
        if body.is_object() {
            let required = if body["required"] == true {
                "required"
            } else {
                "optional"
            };
            let _ = writeln!(
                out,
                "- Request body ({required}): {}",
                content(&body["content"])
            );
        }
        out.push('\n');

        let parameters: Vec<&Value> = items(&operation["parameters"]).collect();
        if !parameters.is_empty() {
            let _ = writeln!(
                out,
                "| parameter | in | type | required | description |\n|---|---|---|---|---|"
            );
            for parameter in parameters {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} |",
                    text(&parameter["name"]),
                    text(&parameter["in"]),
                    type_of(&parameter["schema"]),
                    yes_no(parameter["required"] == true),
                    cell(&text(&parameter["description"])),
                );
            }
            out.push('\n');
        }

        let _ = writeln!(out, "| status | description | body |\n|---|---|---|");
        for (status, response) in entries(&operation["responses"]) {
            let _ = writeln!(
                out,
                "| {status} | {} | {} |",
                cell(&text(&response["description"])),
                content(&response["content"]),
            );
        }
        out.push('\n');
    }
}

/// An operation's security requirements: alternatives joined by "or", the
/// schemes of one requirement by "and"; none means no credential.
fn security(doc: &Value, operation: &Value) -> String {
    let requirements = if operation["security"].is_array() {
        &operation["security"]
    } else {
        &doc["security"]
    };
    let alternatives: Vec<String> = items(requirements)
        .map(|requirement| {
            let schemes: Vec<String> = entries(requirement)
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            if schemes.is_empty() {
                "none".to_owned()
            } else {
                schemes.join(" and ")
            }
        })
        .collect();
    if alternatives.is_empty() {
        "none".to_owned()
    } else {
        alternatives.join(" or ")
    }
}

/// A request's or response's content: each media type's schema, the media
/// type named unless it is JSON; "-" for no body.
fn content(content: &Value) -> String {
    let bodies: Vec<String> = entries(content)
        .map(|(media, body)| {
            let schema = if body["schema"].is_object() {
                type_of(&body["schema"])
            } else {
                "any".to_owned()
            };
            if media == "application/json" {
                schema
            } else {
                format!("{schema} (`{media}`)")
            }
        })
        .collect();
    if bodies.is_empty() {
        "-".to_owned()
    } else {
        bodies.join("; ")
    }
}

fn schemas(doc: &Value, out: &mut String) {
    let _ = writeln!(out, "## Schemas\n");
    for (name, schema) in entries(&doc["components"]["schemas"]) {
        let _ = writeln!(out, "### {name}\n");
        paragraph(&schema["description"], out);
        let composed: Vec<&Value> = items(&schema["allOf"]).collect();
        let parts = if composed.is_empty() {
            vec![schema]
        } else {
            composed
        };
        let mut fields = Vec::new();
        let mut bases = Vec::new();
        let mut refuses_unknown = false;
        for part in parts {
            if is_object(part) {
                fields.extend(object_fields(part, ""));
                refuses_unknown |= part["additionalProperties"] == false;
            } else {
                bases.push(type_of(part));
            }
        }
        if !bases.is_empty() && (fields.is_empty() && schema["allOf"].is_null()) {
            let _ = writeln!(out, "Type: {}.\n", bases.join(" and "));
        } else if !bases.is_empty() {
            let _ = writeln!(out, "Every field of {}, and:\n", bases.join(" and "));
        }
        if let Some(example) = schema.get("example") {
            let _ = writeln!(out, "Example: `{example}`.\n");
        }
        if !fields.is_empty() {
            let _ = writeln!(
                out,
                "| field | type | required | description |\n|---|---|---|---|"
            );
            for field in fields {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} |",
                    field.name,
                    field.kind,
                    yes_no(field.required),
                    cell(&field.description),
                );
            }
            out.push('\n');
        } else if is_object(schema) && schema["allOf"].is_null() {
            let _ = writeln!(out, "Type: object (free-form).\n");
        }
        if refuses_unknown {
            let _ = writeln!(out, "Unknown fields are refused.\n");
        }
    }
}

/// One row of a schema's field table.
struct Field {
    name: String,
    kind: String,
    required: bool,
    description: String,
}

/// Whether `schema` is an object with fields of its own (not a `$ref`).
fn is_object(schema: &Value) -> bool {
    schema["$ref"].is_null()
        && (schema["type"] == "object" || schema["properties"].is_object())
        && schema["allOf"].is_null()
}

/// The fields of an object schema, and of the objects written inline in it
/// (`item.id`, `items[].id`), which have no section of their own.
fn object_fields(schema: &Value, prefix: &str) -> Vec<Field> {
    let required: BTreeSet<&str> = items(&schema["required"])
        .filter_map(Value::as_str)
        .collect();
    let mut fields = Vec::new();
    for (name, property) in entries(&schema["properties"]) {
        let path = format!("{prefix}{name}");
        fields.push(Field {
            name: path.clone(),
            kind: type_of(property),
            required: required.contains(name.as_str()),
            description: description(property),
        });
        let (inline, nested) = if property["type"] == "array" {
            (&property["items"], format!("{path}[]."))
        } else {
            (property, format!("{path}."))
        };
        for part in std::iter::once(inline).chain(items(&inline["allOf"])) {
            if is_object(part) && part["properties"].is_object() {
                fields.extend(object_fields(part, &nested));
            }
        }
    }
    fields
}

/// A property's description: its own, or that of the schema it is
/// `oneOf` null or (utoipa puts it there).
fn description(property: &Value) -> String {
    if let Some(own) = property["description"].as_str() {
        return own.to_owned();
    }
    items(&property["oneOf"])
        .chain(items(&property["allOf"]))
        .find_map(|part| part["description"].as_str())
        .unwrap_or("")
        .to_owned()
}

/// A schema as a type: `string (date-time)`, a link to a named schema,
/// `array of ...`, alternatives joined by "or" (null last).
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("[{name}](#{})", slug(name));
    }
    for (key, joiner) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
        if let Some(list) = schema[key].as_array() {
            let mut kinds: Vec<String> = list.iter().map(type_of).collect();
            kinds.sort_by_key(|kind| kind == "null");
            return kinds.join(joiner);
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| format!("`{}`", text(v))).collect();
        return format!("one of {}", values.join(", "));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return "any".to_owned();
    }
    let mut kinds: Vec<String> = types
        .into_iter()
        .map(|kind| match kind {
            "array" => format!("array of {}", type_of(&schema["items"])),
            "null" => "null".to_owned(),
            scalar => scalar_type(scalar, schema),
        })
        .collect();
    kinds.sort_by_key(|kind| kind == "null");
    kinds.join(" or ")
}

/// `integer (int32, 1 to 100)`, `string (date-time)`, `string (pattern `...`)`.
fn scalar_type(kind: &str, schema: &Value) -> String {
    let mut notes = Vec::new();
    if let Some(format) = schema["format"].as_str() {
        notes.push(format.to_owned());
    }
    match (schema.get("minimum"), schema.get("maximum")) {
        (Some(min), Some(max)) => notes.push(format!("{min} to {max}")),
        (Some(min), None) => notes.push(format!("≥ {min}")),
        (None, Some(max)) => notes.push(format!("≤ {max}")),
        (None, None) => {}
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        notes.push(format!("pattern `{pattern}`"));
    }
    if notes.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({})", notes.join(", "))
    }
}

/// A description as its own paragraph, when there is one.
fn paragraph(value: &Value, out: &mut String) {
    if let Some(text) = value.as_str().map(str::trim).filter(|t| !t.is_empty()) {
        let _ = writeln!(out, "{text}\n");
    }
}

/// The first sentence of a description, on one line.
fn first_sentence(value: &Value) -> String {
    let text = text(value).split_whitespace().collect::<Vec<_>>().join(" ");
    match text.find(". ") {
        Some(end) => text[..=end].to_owned(),
        None => text,
    }
}

/// Text for a table cell: on one line, its pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn yes_no(yes: bool) -> &'static str {
    if yes { "yes" } else { "no" }
}

/// A string value as is; anything else as JSON; nothing as "".
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn entries(value: &Value) -> impl Iterator<Item = (&String, &Value)> {
    value.as_object().into_iter().flatten()
}

fn items(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// The anchor GitHub gives a heading: lower case, spaces as hyphens, and
/// nothing else but letters, digits, `-` and `_`.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;

    fn reference() -> String {
        markdown(&crate::full_openapi())
    }

    /// Every heading's anchor, as a Markdown viewer makes them.
    fn anchors(markdown: &str) -> Vec<String> {
        markdown
            .lines()
            .filter(|line| line.starts_with('#'))
            .map(|line| slug(line.trim_start_matches('#').trim()))
            .collect()
    }

    #[test]
    fn every_route_and_schema_has_a_section() {
        let doc = serde_json::to_value(crate::full_openapi()).unwrap();
        let reference = reference();
        for (path, item) in entries(&doc["paths"]) {
            for method in METHODS {
                if item[method].is_object() {
                    let heading = format!("### {}\n", route_heading(method, path));
                    assert!(reference.contains(&heading), "{heading}");
                }
            }
        }
        for (name, _) in entries(&doc["components"]["schemas"]) {
            assert!(reference.contains(&format!("\n### {name}\n")), "{name}");
        }
    }

    #[test]
    fn every_link_lands_on_a_heading_and_no_two_headings_share_an_anchor() {
        let reference = reference();
        let anchors = anchors(&reference);
        let unique: BTreeSet<&String> = anchors.iter().collect();
        assert_eq!(unique.len(), anchors.len(), "duplicate anchors");
        for link in reference.split("](#").skip(1) {
            let target = &link[..link.find(')').unwrap()];
            assert!(unique.contains(&target.to_owned()), "#{target}");
        }
    }

    #[test]
    fn types_read_as_words_with_links_to_schemas() {
        let nullable_ref =
            json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/ChatTitle"}]});
        assert_eq!(type_of(&nullable_ref), "[ChatTitle](#chattitle) or null");
        let time = json!({"type": ["string", "null"], "format": "date-time"});
        assert_eq!(type_of(&time), "string (date-time) or null");
        let page = json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 100});
        assert_eq!(type_of(&page), "integer (int32, 1 to 100)");
        let roles = json!({"type": "array", "items": {"$ref": "#/components/schemas/UserRole"}});
        assert_eq!(type_of(&roles), "array of [UserRole](#userrole)");
        assert_eq!(
            type_of(&json!({"enum": ["csv", "json"]})),
            "one of `csv`, `json`"
        );
    }

    #[test]
    fn an_operation_says_how_to_authenticate() {
        let reference = reference();
        let section = reference
            .split("### `POST /api/v1/orgs/{slug}/chats`")
            .nth(1)
            .unwrap();
        let section = &section[..section.find("\n### ").unwrap()];
        assert!(
            section.contains("- Authentication: `org_api_key`"),
            "{section}"
        );
        assert!(section.contains("| `slug` | path |"), "{section}");
        assert!(section.contains("[CreateChatRequest](#createchatrequest)"));
        let login = reference.split("### `POST /auth/login`").nth(1).unwrap();
        assert!(login.contains("- Authentication: none"));
    }
}
