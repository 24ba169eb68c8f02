//! How a key binding is read from YAML.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::KeyBinding;

/// Keys may be written unquoted as numbers (`focus_logs: 2`); booleans are
/// refused with a hint because YAML would have turned the key into `true`.
impl<'de> Deserialize<'de> for KeyBinding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BindingVisitor)
    }
}

struct BindingVisitor;

const BINDING_EXPECTED: &str = "a key such as \"d\" or \"ctrl-c\", or a list of keys";

impl<'de> Visitor<'de> for BindingVisitor {
    type Value = KeyBinding;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(BINDING_EXPECTED)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyBinding, E> {
        Ok(KeyBinding::One(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<KeyBinding, E> {
        Ok(KeyBinding::One(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyBinding, E> {
        Ok(KeyBinding::One(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyBinding, E> {
        Ok(KeyBinding::One(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyBinding, E> {
        Err(E::custom(format!(
            "`{v}` was read as a boolean: quote the key, e.g. \"{v}\"",
        )))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyBinding, A::Error> {
        let mut keys = Vec::new();
        while let Some(KeyName(k)) = seq.next_element()? {
            keys.push(k);
        }
        Ok(KeyBinding::Many(keys))
    }
}

struct KeyName(String);

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(BindingVisitor)? {
            KeyBinding::One(k) => Ok(KeyName(k)),
            KeyBinding::Many(_) => Err(de::Error::custom(
                "expected a key such as \"d\", found a nested list",
            )),
        }
    }
}
