//! The `[env]` tables as read from the file. Their values may be secrets, so a value of the
//! wrong type is refused with a message that names its type, never the value: these readers
//! take any TOML value and say what is wrong in words of their own (serde's usual
//! "invalid type: string \"…\"" would quote it).

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::secret_source::Secret;

/// Every message of these readers starts with this, so that the parse error handler knows
/// it holds no value and shows it whole.
pub(super) const OWN_PREFIX: &str = "[env.";

/// `[env.secrets]`: name = length (a whole number of characters), or a table naming where
/// the value comes from ([`super::secret_source`]).
pub(super) fn secret_lengths<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Secret>, D::Error> {
    let raw = BTreeMap::<String, toml::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(name, value)| match value {
            toml::Value::Integer(n) => usize::try_from(n).map(|n| (name.clone(), Secret::Generate(n))).map_err(|_| {
                D::Error::custom(format!(
                    "{OWN_PREFIX}secrets] {name}: a negative number is not a length; give the number of characters to generate (16–4096)"
                ))
            }),
            toml::Value::Table(table) => super::secret_source::from_table(&name, table)
                .map(|s| (name.clone(), s))
                .map_err(|e| D::Error::custom(format!("{OWN_PREFIX}secrets] {e}"))),
            toml::Value::String(_) => Err(D::Error::custom(format!(
                "{OWN_PREFIX}secrets] {name}: takes the length of the secret to generate (16–4096), not the secret itself; put a fixed value under [env.values], read it with {{ from_env = \"NAME\" }}, {{ from_file = \"path\" }} or {{ command = \"…\" }}, or leave it to pxdeploy"
            ))),
            other => Err(D::Error::custom(format!(
                "{OWN_PREFIX}secrets] {name}: {} is not a length; give the number of characters to generate (16–4096)",
                kind(&other)
            ))),
        })
        .collect()
}

/// `[env.values]`: name = text. Whole numbers and booleans are taken as their text
/// (`PORT = 8080` writes `PORT=8080`).
pub(super) fn value_texts<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, toml::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(name, value)| match value {
            toml::Value::String(s) => Ok((name, s)),
            toml::Value::Integer(n) => Ok((name, n.to_string())),
            toml::Value::Boolean(b) => Ok((name, b.to_string())),
            toml::Value::Float(_) => Err(D::Error::custom(format!(
                "{OWN_PREFIX}values] {name}: a number with a fraction would be rewritten (1.10 becomes 1.1); write it in quotes"
            ))),
            other => Err(D::Error::custom(format!(
                "{OWN_PREFIX}values] {name}: {} is not a value for .env; use text, a whole number or true/false",
                kind(&other)
            ))),
        })
        .collect()
}

/// The type of a value, in words (never the value).
fn kind(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "text",
        toml::Value::Integer(_) => "a whole number",
        toml::Value::Float(_) => "a number with a fraction",
        toml::Value::Boolean(_) => "true/false",
        toml::Value::Datetime(_) => "a date or time",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}
