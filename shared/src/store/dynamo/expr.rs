//! One builder for every DynamoDB expression: conditions (on writes, and
//! the key conditions and filters of queries) and update expressions.
//! Attribute names and values always go through placeholders (`#n0`,
//! `:v0`), so reserved words (`name`, `role`, `status`) and user-supplied
//! names (counter names) need no special care, and no caller numbers
//! placeholders by hand.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Item, keys};

/// The placeholders of one request's expressions (a request's update,
/// condition, key condition and filter share them).
#[derive(Debug, Default)]
pub(super) struct Placeholders {
    names: HashMap<String, String>,
    values: Item,
}

impl Placeholders {
    /// The placeholder of an attribute name (one per distinct name).
    pub fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| *a == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// The maps to send; `None` when empty (DynamoDB refuses empty maps).
    pub fn into_maps(self) -> (Option<HashMap<String, String>>, Option<Item>) {
        let names = (!self.names.is_empty()).then_some(self.names);
        let values = (!self.values.is_empty()).then_some(self.values);
        (names, values)
    }
}

/// The expressions of one write request, with the placeholders they share.
#[derive(Debug, Default)]
pub(super) struct Expressions {
    pub condition: Option<String>,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<Item>,
}

impl Expressions {
    /// A condition alone (a put, a delete, a condition check).
    pub fn condition(condition: Option<&Cond>) -> Self {
        let mut p = Placeholders::default();
        let condition = condition.map(|c| c.render(&mut p));
        let (names, values) = p.into_maps();
        Self {
            condition,
            names,
            values,
        }
    }

    /// An update expression, and its condition.
    pub fn update(update: &Update) -> (String, Self) {
        let mut p = Placeholders::default();
        let (expression, condition) = update.render(&mut p);
        let (names, values) = p.into_maps();
        let expressions = Self {
            condition,
            names,
            values,
        };
        (expression, expressions)
    }
}

/// Sets an [`Expressions`]' condition and placeholders on an SDK write
/// builder: every one of them has these three setters, but no common trait.
macro_rules! with_condition {
    ($builder:expr, $expressions:expr) => {{
        let expressions: $crate::store::dynamo::expr::Expressions = $expressions;
        $builder
            .set_condition_expression(expressions.condition)
            .set_expression_attribute_names(expressions.names)
            .set_expression_attribute_values(expressions.values)
    }};
}
pub(super) use with_condition;

/// A condition on an item (or, in a query, on its key or attributes).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cond {
    /// The item exists (`attribute_exists(pk)`).
    Exists,
    /// No item has this key yet.
    IsNew,
    Lacks(&'static str),
    Eq(&'static str, AttributeValue),
    Lt(&'static str, AttributeValue),
    Ge(&'static str, AttributeValue),
    BeginsWith(&'static str, AttributeValue),
    /// Between the two values, both included.
    Between(&'static str, AttributeValue, AttributeValue),
    Contains(&'static str, AttributeValue),
    In(&'static str, Vec<AttributeValue>),
    /// A list (or string, set, map) has this many elements.
    SizeEq(&'static str, AttributeValue),
    /// A number attribute (named at run time) is absent or at most the value.
    AbsentOrAtMost(String, AttributeValue),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

impl Cond {
    pub fn and(self, other: Cond) -> Cond {
        match self {
            Cond::And(mut all) => {
                all.push(other);
                Cond::And(all)
            }
            first => Cond::And(vec![first, other]),
        }
    }

    pub fn or(self, other: Cond) -> Cond {
        Cond::Or(vec![self, other])
    }

    pub fn render(&self, p: &mut Placeholders) -> String {
        let binary = |p: &mut Placeholders, attribute: &str, op: &str, value: &AttributeValue| {
            format!("{} {op} {}", p.name(attribute), p.value(value.clone()))
        };
        let join = |p: &mut Placeholders, parts: &[Cond], op: &str| {
            let parts: Vec<String> = parts.iter().map(|c| format!("({})", c.render(p))).collect();
            parts.join(op)
        };
        match self {
            Cond::Exists => format!("attribute_exists({})", p.name(keys::PK)),
            Cond::IsNew => format!("attribute_not_exists({})", p.name(keys::PK)),
            Cond::Lacks(attribute) => format!("attribute_not_exists({})", p.name(attribute)),
            Cond::Eq(attribute, value) => binary(p, attribute, "=", value),
            Cond::Lt(attribute, value) => binary(p, attribute, "<", value),
            Cond::Ge(attribute, value) => binary(p, attribute, ">=", value),
            Cond::BeginsWith(attribute, value) => {
                format!(
                    "begins_with({}, {})",
                    p.name(attribute),
                    p.value(value.clone())
                )
            }
            Cond::Between(attribute, from, to) => format!(
                "{} BETWEEN {} AND {}",
                p.name(attribute),
                p.value(from.clone()),
                p.value(to.clone())
            ),
            Cond::Contains(attribute, value) => {
                format!(
                    "contains({}, {})",
                    p.name(attribute),
                    p.value(value.clone())
                )
            }
            Cond::SizeEq(attribute, value) => {
                format!("size({}) = {}", p.name(attribute), p.value(value.clone()))
            }
            Cond::In(attribute, values) => {
                let name = p.name(attribute);
                let values: Vec<String> = values.iter().map(|v| p.value(v.clone())).collect();
                format!("{name} IN ({})", values.join(", "))
            }
            Cond::AbsentOrAtMost(attribute, value) => {
                let name = p.name(attribute);
                format!(
                    "attribute_not_exists({name}) OR {name} <= {}",
                    p.value(value.clone())
                )
            }
            Cond::And(parts) => join(p, parts, " AND "),
            Cond::Or(parts) => join(p, parts, " OR "),
        }
    }
}

/// An `UpdateExpression`, with the condition it applies under.
#[derive(Debug, Default, Clone)]
pub(super) struct Update {
    set: Vec<(String, Assign)>,
    add: Vec<(String, AttributeValue)>,
    remove: Vec<(String, Option<usize>)>,
    condition: Option<Cond>,
}

#[derive(Debug, Clone)]
enum Assign {
    To(AttributeValue),
    /// Keeps an existing value (`if_not_exists`).
    IfAbsent(AttributeValue),
    /// Adds to a number that starts from zero (`if_not_exists(a, 0) + n`).
    Increment(AttributeValue),
    /// Appends to a list that starts empty (`list_append(if_not_exists(a, []), l)`).
    Append(AttributeValue),
}

impl Update {
    pub fn set(mut self, attribute: impl Into<String>, value: AttributeValue) -> Self {
        self.set.push((attribute.into(), Assign::To(value)));
        self
    }

    pub fn set_some(self, attribute: &str, value: Option<AttributeValue>) -> Self {
        match value {
            Some(value) => self.set(attribute, value),
            None => self,
        }
    }

    pub fn set_if_absent(mut self, attribute: &str, value: AttributeValue) -> Self {
        self.set.push((attribute.into(), Assign::IfAbsent(value)));
        self
    }

    pub fn increment(mut self, attribute: &str, by: i64) -> Self {
        self.set
            .push((attribute.into(), Assign::Increment(number(by))));
        self
    }

    /// Appends the elements of the list `values` to a list attribute
    /// (created empty).
    pub fn append(mut self, attribute: &str, values: AttributeValue) -> Self {
        self.set.push((attribute.into(), Assign::Append(values)));
        self
    }

    /// `ADD`: adds to a number (created at zero) or to a set.
    pub fn add(mut self, attribute: impl Into<String>, value: AttributeValue) -> Self {
        self.add.push((attribute.into(), value));
        self
    }

    pub fn remove(mut self, attribute: &str) -> Self {
        self.remove.push((attribute.into(), None));
        self
    }

    /// Removes element `index` of a list attribute (indexes are those
    /// before the update: removing several shifts nothing mid-way).
    pub fn remove_element(mut self, attribute: &str, index: usize) -> Self {
        self.remove.push((attribute.into(), Some(index)));
        self
    }

    /// Applies only when `condition` holds.
    pub fn when(mut self, condition: Cond) -> Self {
        self.condition = Some(condition);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// The update and condition expressions, sharing `p`'s placeholders.
    pub fn render(&self, p: &mut Placeholders) -> (String, Option<String>) {
        let mut clauses = Vec::new();
        if !self.set.is_empty() {
            let assignments: Vec<String> = self
                .set
                .iter()
                .map(|(attribute, assign)| {
                    let name = p.name(attribute);
                    match assign {
                        Assign::To(value) => format!("{name} = {}", p.value(value.clone())),
                        Assign::IfAbsent(value) => {
                            format!("{name} = if_not_exists({name}, {})", p.value(value.clone()))
                        }
                        Assign::Increment(by) => format!(
                            "{name} = if_not_exists({name}, {}) + {}",
                            p.value(number(0)),
                            p.value(by.clone())
                        ),
                        Assign::Append(values) => format!(
                            "{name} = list_append(if_not_exists({name}, {}), {})",
                            p.value(AttributeValue::L(Vec::new())),
                            p.value(values.clone())
                        ),
                    }
                })
                .collect();
            clauses.push(format!("SET {}", assignments.join(", ")));
        }
        if !self.add.is_empty() {
            let adds: Vec<String> = self
                .add
                .iter()
                .map(|(attribute, value)| {
                    format!("{} {}", p.name(attribute), p.value(value.clone()))
                })
                .collect();
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        if !self.remove.is_empty() {
            let names: Vec<String> = self
                .remove
                .iter()
                .map(|(attribute, index)| match index {
                    Some(index) => format!("{}[{index}]", p.name(attribute)),
                    None => p.name(attribute),
                })
                .collect();
            clauses.push(format!("REMOVE {}", names.join(", ")));
        }
        let condition = self.condition.as_ref().map(|c| c.render(p));
        (clauses.join(" "), condition)
    }
}

/// A string attribute value.
pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute value.
pub(super) fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The number attribute `name` of `item`, if it has one; one that is not a
/// whole number means the table is corrupt.
pub(super) fn number_of(item: &super::Item, name: &str) -> crate::store::StoreResult<Option<u64>> {
    item.get(name)
        .map(|v| {
            v.as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| crate::store::StoreError::Corrupt(format!("attribute {name}")))
        })
        .transpose()
}

/// A timestamp as the items store it (RFC 3339 text).
pub(super) fn rfc3339(at: time::OffsetDateTime) -> crate::store::StoreResult<AttributeValue> {
    at.format(&time::format_description::well_known::Rfc3339)
        .map(AttributeValue::S)
        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_render_with_placeholders_only() {
        let update = Update::default()
            .set("name", s("Acme"))
            .increment("revision", 1)
            .set_if_absent("deleted_at", s("2026-11-22T00:00:00Z"))
            .add("tag:vip", number(2))
            .remove("gsi1pk")
            .when(Cond::Exists.and(Cond::Lacks("deleted_at")));
        let mut p = Placeholders::default();
        let (expression, condition) = update.render(&mut p);
        assert_eq!(
            expression,
            "SET #n0 = :v0, #n1 = if_not_exists(#n1, :v1) + :v2, \
             #n2 = if_not_exists(#n2, :v3) ADD #n3 :v4 REMOVE #n4"
        );
        assert_eq!(
            condition.as_deref(),
            Some("(attribute_exists(#n5)) AND (attribute_not_exists(#n2))")
        );
        let (names, values) = p.into_maps();
        let names = names.unwrap();
        assert_eq!(names["#n0"], "name");
        assert_eq!(names["#n3"], "tag:vip");
        assert_eq!(names["#n5"], "pk");
        assert_eq!(values.unwrap()[":v2"], number(1));
    }

    #[test]
    fn conditions_nest_and_reuse_names() {
        let condition = Cond::Exists.and(
            Cond::Eq("status", s("queued"))
                .or(Cond::Eq("status", s("running")).and(Cond::Lt("lease", number(5)))),
        );
        let mut p = Placeholders::default();
        assert_eq!(
            condition.render(&mut p),
            "(attribute_exists(#n0)) AND ((#n1 = :v0) OR ((#n1 = :v1) AND (#n2 < :v2)))"
        );
        let mut p = Placeholders::default();
        assert_eq!(
            Cond::In("status", vec![s("a"), s("b")]).render(&mut p),
            "#n0 IN (:v0, :v1)"
        );
        assert_eq!(Placeholders::default().into_maps(), (None, None));
    }
}
